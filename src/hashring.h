/*-------------------------------------------------------------------------
 *
 * hashring.h
 *	  Private declarations shared by the hashring source files.
 *
 * A ring image (HashringImage) is the immutable, flat, position-independent
 * form of one ring version: a header, a node table sorted by name, the node
 * names, and the algorithm's own data (for vnode: sorted points and a
 * prefix index; for maglev: the lookup table; ...).  It contains offsets,
 * never pointers, so the same bytes serve from backend-local memory or from
 * shared memory.
 *
 * Every algorithm implements HashringAlgo (one algo_*.c file each); image.c
 * builds the common part and dispatches.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HASHRING_H
#define HASHRING_H

#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/snapshot.h"

#include "settings.h"

#define HASHRING_RING_NAME_MAX	 63 /* bytes; also enforced by the catalog triggers */
#define HASHRING_NODE_NAME_MAX	 255
#define HASHRING_MAX_POINTS		 16777216 /* per ring; 2^24 */
#define HASHRING_NODE_ID_LEN	 20		  /* xor: 160-bit ids */
#define HASHRING_SLOTS			 16384	  /* slots: Redis Cluster */
#define HASHRING_MAGLEV_MAX_SIZE 16777213 /* largest prime table_size, < 2^24 */
#define HASHRING_MAX_NODE_TOKENS 100000	  /* murmur3: explicit tokens per node, as vnodes */

#define HASHRING_IMAGE_MAGIC 0x48524935 /* "HRI5": 0.8 added zone member lists */
#define HASHRING_MAX_PINS	 1000000	/* per ring */
#define HASHRING_PIN_KEY_MAX 1024		/* bytes; also enforced by the pins trigger */

typedef enum HashringNodeState
{
	HASHRING_NODE_ACTIVE = 0,
	HASHRING_NODE_DOWN = 1
} HashringNodeState;

/* One node in an image's node table; nodes are sorted by name (bytewise). */
typedef struct HashringImageNode
{
	uint32 name_off; /* offset of the name from the image start */
	uint32 name_len;
	float4 weight;
	uint32 state;	 /* HashringNodeState */
	uint32 rank;	 /* position in node order (by ordinal), 0-based */
	uint32 points;	 /* points, table entries or slots configured for it */
	uint32 zone;	 /* index in the zone table */
	uint32 zone_pos; /* position among its zone's nodes, in node order */
} HashringImageNode;

/*
 * One zone of an image's zone table: zones sorted by name (bytewise), the
 * nodes without a zone last, as one zone whose name_len is
 * HR_ZONE_UNNAMED.
 */
typedef struct HashringImageZone
{
	uint32 name_off;
	uint32 name_len;
	uint32 first; /* its nodes: zone_nodes[first .. first + count - 1], */
	uint32 count; /* node indexes in node order (down ones too) */
} HashringImageZone;

#define HR_ZONE_UNNAMED PG_UINT32_MAX

/*
 * One slot of an image's pin table: open addressing over a power-of-two
 * number of slots (at least twice the pins), probed linearly from the key's
 * hash; key_len HR_PIN_EMPTY marks an empty slot.
 */
typedef struct HashringImagePin
{
	uint32 hash;	/* low 32 bits of hashring_hash_bytes(key) */
	uint32 node;	/* node index of the pinned node */
	uint32 key_off; /* offset of the key's bytes from the image start */
	uint32 key_len;
} HashringImagePin;

#define HR_PIN_EMPTY PG_UINT32_MAX

/*
 * One vnode point: its 64-bit position split in two 32-bit halves, so that
 * the record is 12 bytes with 4-byte alignment and position and owner share
 * a cache line.
 */
typedef struct HashringPoint
{
	uint32 pos_hi;
	uint32 pos_lo;
	uint32 owner; /* node index */
} HashringPoint;

#define HR_POINT_POS(p) (((uint64) (p)->pos_hi << 32) | (p)->pos_lo)

/*
 * What identifies an image: the ring row version it is built from (see
 * "Versions" in cache.c).  Read with the ring row (HashringDef), copied
 * into the image header, and the key of the shared directory; flat, as it
 * is part of the image.
 */
typedef struct HashringImageId
{
	Oid			  dboid; /* the database whose catalog it was read from */
	TransactionId xmin;	 /* of the ring row version */
	int64		  ring_id;
	int64		  version;
} HashringImageId;

static inline bool
hashring_image_id_equal(const HashringImageId *a, const HashringImageId *b)
{
	return a->dboid == b->dboid && a->xmin == b->xmin && a->ring_id == b->ring_id && a->version == b->version;
}

typedef struct HashringImage
{
	uint32			magic;
	uint32			algorithm; /* index in the registry (algorithms.c) */
	HashringImageId id;
	uint64			total_bytes;
	uint32			nnodes;
	uint32			nlive; /* active nodes */
	uint32			vnodes;
	uint32			replicas;
	uint32			nzones;			 /* zones of all nodes */
	uint32			nlive_zones;	 /* zones with an active node */
	bool			zone_replicas;	 /* ring_nodes spreads replicas over zones */
	bool			zone_spread;	 /* 0.8: and over each zone's nodes (zone_cell) */
	uint64			off_nodes;		 /* HashringImageNode[nnodes] */
	uint64			off_rank;		 /* uint32[nnodes]: node index of each rank */
	uint64			off_zones;		 /* HashringImageZone[nzones] */
	uint64			off_zone_nodes;	 /* uint32[nnodes]: node indexes by zone */
	uint32			npins;			 /* pinned keys */
	uint32			pin_mask;		 /* pin slots - 1 (0 without pins) */
	uint64			off_pins;		 /* HashringImagePin[pin_mask + 1] */
	uint32			pin_filter_mask; /* filter words - 1 (0 without pins) */
	uint64			off_pin_filter;	 /* uint64[pin_filter_mask + 1] */
	/* algorithm data; meaning per algo_*.c */
	uint64 off_data;
	uint64 off_index;
	uint32 npoints;	   /* vnode, ketama: points in the lookup array */
	uint32 data_count; /* entries in the data array */
	uint32 index_bits;
	uint32 param;
	char   ring[HASHRING_RING_NAME_MAX + 1];
} HashringImage;

#define HR_IMAGE_NODES(img)		 ((const HashringImageNode *) ((const char *) (img) + (img)->off_nodes))
#define HR_IMAGE_RANK(img)		 ((const uint32 *) ((const char *) (img) + (img)->off_rank))
#define HR_IMAGE_DATA(img)		 ((const void *) ((const char *) (img) + (img)->off_data))
#define HR_IMAGE_INDEX(img)		 ((const uint32 *) ((const char *) (img) + (img)->off_index))
#define HR_IMAGE_POINTS(img)	 ((const HashringPoint *) HR_IMAGE_DATA(img))
#define HR_IMAGE_ZONES(img)		 ((const HashringImageZone *) ((const char *) (img) + (img)->off_zones))
#define HR_NODE_ZONE(img, n)	 (HR_IMAGE_NODES(img)[n].zone)
#define HR_IMAGE_ZONE_NODES(img) ((const uint32 *) ((const char *) (img) + (img)->off_zone_nodes))
#define HR_IMAGE_PINS(img)		 ((const HashringImagePin *) ((const char *) (img) + (img)->off_pins))
#define HR_IMAGE_PIN_FILTER(img) ((const uint64 *) ((const char *) (img) + (img)->off_pin_filter))

/* An index entry with this bit set is an empty bucket; the rest is the owner. */
#define HR_INDEX_EMPTY		  0x80000000U
#define HR_IMAGE_NAME(img, n) ((const char *) (img) + HR_IMAGE_NODES(img)[n].name_off)
#define HR_NODE_LIVE(img, n)  (HR_IMAGE_NODES(img)[n].state == HASHRING_NODE_ACTIVE)

/* A ring definition as read from the catalog (backend-local, palloc'd). */
typedef struct HashringDefNode
{
	char			 *name;
	int				  name_len;
	float4			  weight;
	HashringNodeState state;
	int32			  ordinal;
	bool			  has_id; /* xor: node_id given */
	uint8			  id[HASHRING_NODE_ID_LEN];
	int32			  ntokens; /* murmur3: explicit tokens (0: generated) */
	int64			 *tokens;
	char			 *zone; /* NULL: no zone */
	int				  zone_len;
} HashringDefNode;

typedef struct HashringSlotRange
{
	int32 first;
	int32 last;
	char *node;
} HashringSlotRange;

typedef struct HashringDefPin
{
	char *key;
	int	  key_len;
	char *node;
} HashringDefPin;

typedef struct HashringDef
{
	char			   ring[HASHRING_RING_NAME_MAX + 1];
	HashringImageId	   id;		  /* of the ring row read */
	uint32			   algorithm; /* index in the registry (algorithms.c) */
	int32			   vnodes;
	int32			   replicas;
	int32			   table_size;		/* maglev; 0 = default */
	bool			   zone_replicas;	/* 0.7: replicas spread over zones */
	bool			   zone_spread;		/* 0.8: and over each zone's nodes */
	bool			   private_version; /* version row written by this transaction */
	int				   nnodes;
	HashringDefNode	  *nodes;
	int				   nranges; /* slots: explicit ranges */
	HashringSlotRange *ranges;
	int				   npins; /* 0.7: hashring.pins */
	HashringDefPin	  *pins;
} HashringDef;

/*
 * A key as the algorithms see it: its bytes (text, bytea, or the text form of
 * other types), and the original value with its type for pg_hash.
 */
typedef struct HashringKey
{
	const char *data;
	size_t		len;
	Datum		value;
	Oid			type;
	Oid			collation;
} HashringKey;

/*
 * State while building an image: the nodes sorted by name (node index i is
 * nodes[i]) and their ranks in node order.
 */
typedef struct HashringBuild
{
	const HashringDef *def;
	HashringDefNode	 **nodes;	/* by node index */
	uint32			  *rank;	/* node index -> rank */
	uint32			  *by_rank; /* rank -> node index */
	MemoryContext	   scratch;
	void			  *state;	   /* the algorithm's, from plan to fill */
	bool			   check_only; /* validate only: plan may stop before the costly part */
} HashringBuild;

/* Position and owner of point i of an algorithm's sorted point array. */
typedef uint64 (*HashringPointPos)(const HashringImage *img, uint32 i);
typedef uint32 (*HashringPointOwner)(const HashringImage *img, uint32 i);

/*
 * ring_diff's state while an algorithm's diff runs: the two images, their
 * key space, and the flows found so far (diff.c).
 */
typedef struct HashringDiff
{
	const HashringImage *a;		   /* "from" version */
	const HashringImage *b;		   /* "to" version */
	uint128				 space;	   /* positions or entries in the key space */
	void				*flows;	   /* diff.c's */
	int					 replicas; /* > 0: flows of replica placements (ring_diff's
									 * replicas), which only the cell sweeps report */
	bool				 swept;	   /* hashring_diff_points or _entries ran */
	uint32				*lists;	   /* with replicas: 4 x replicas node indexes, diff_cells' */
} HashringDiff;

/* A flow's missing end: a copy made (no from) or dropped (no to). */
#define HR_DIFF_NO_NODE PG_UINT32_MAX

/*
 * Everything that is particular to one algorithm.  Each algo_*.c file
 * defines one of these and algorithms.c lists them; nothing outside the
 * algorithm's own file asks which algorithm a ring uses.  SQL learns these
 * properties from hashring.ring_algorithms().
 */
typedef struct HashringAlgo
{
	const char *name;
	bool		weighted;		  /* weights other than 1 are meaningful */
	bool		has_points;		  /* node table `points` means something */
	bool		typed_keys;		  /* integer, bigint and uuid keys reach it as their
							  * value (key->value, key->type), not their text */
	bool		slot_ranges;	  /* reads hashring.slot_ranges (def->ranges) */
	bool		node_tokens;	  /* reads hashring.nodes.tokens (node->tokens) */
	bool		whole_weights;	  /* weights are whole numbers up to 2^24 */
	bool		fixed_order;	  /* nodes join and leave only at the end of node
							  * order, and keep their ordinals */
	const char *parameter;		  /* the ring column it reads beyond the common
							  * ones (vnodes, table_size), or NULL */
	int			key_space_bits;	  /* ring_diff's positions: 2^bits hash values;
								 * 0: the entries of the data table */
	bool		signed_positions; /* positions are signed tokens t stored as
								   * t XOR 2^63 (murmur3): ring_diff shows t */

	/*
	 * plan: compute everything the image needs in b->scratch, set the node
	 * table's `points` (points[i] for node index i) and return the number of
	 * data bytes; fill: write the data at `data` (MAXALIGNed) and set the
	 * header fields it uses (off_data is set by the caller).  Both NULL: no
	 * data beyond the common image.
	 */
	Size (*plan)(HashringBuild *b, uint32 *points);
	void (*fill)(HashringBuild *b, HashringImage *img, char *data);

	/* node index owning the key (the image has a live node) */
	uint32 (*owner)(const HashringImage *img, const HashringKey *key);
	/* first n live nodes of the key's preference list; returns how many */
	int (*walk)(const HashringImage *img, const HashringKey *key, int n, uint32 *out);
	/*
	 * The key space as cells whose keys all have one preference list, for
	 * exact zone balance and replica flows: how many cells, cell c's share
	 * of the key space, and its walk (as walk).  NULL: not enumerable
	 * (sampled).  Point-array algorithms use hashring_point_cell_*, those
	 * that walk node order from a rank hashring_rank_cell_walk.
	 */
	uint32 (*cells)(const HashringImage *img);
	double (*cell_share)(const HashringImage *img, uint32 cell);
	int (*cell_walk)(const HashringImage *img, uint32 cell, int n, uint32 *out);
	/*
	 * Zone replicas of an algorithm whose walk follows node order or slot
	 * order, where the first node of each zone in the walk is nearly always
	 * the same few nodes (docs/routing-spec.md, "Zones"): the number c of the
	 * key (key) or of cell `cell` (key NULL) whose preference list `owner`
	 * leads; each further zone gives its node c mod (its nodes).  NULL: the
	 * zone's first node in the walk.
	 */
	uint32 (*zone_cell)(const HashringImage *img, const HashringKey *key, uint32 cell, uint32 owner);
	/* share of the key space per node index; down nodes 0 */
	void (*shares)(const HashringImage *img, double *shares);
	/* the key's position under the ring's hash (ring_hash) */
	int64 (*key_hash)(const HashringImage *img, const HashringKey *key);
	/*
	 * ring_diff: every flow from d->a to d->b, given to hashring_diff_add
	 * (both images are of this algorithm and have a live node).
	 */
	void (*diff)(HashringDiff *d);

	/*
	 * Algorithms whose data is a sorted point array (a key goes to the first
	 * point >= its position): its accessors.  Then hashring_arc_shares and
	 * hashring_diff_points serve as shares and diff.
	 */
	HashringPointPos   point_pos;
	HashringPointOwner point_owner;

	/* constants of code that serves several entries (the ketama variants) */
	const void *config;
} HashringAlgo;

/*
 * Defines an algorithm's table in its algo_*.c file, declared there too
 * (only algorithms.c refers to it):
 *	  HASHRING_ALGORITHM(hashring_algo_vnode) = {.name = "vnode", ...};
 */
#define HASHRING_ALGORITHM(sym)    \
	extern const HashringAlgo sym; \
	const HashringAlgo		  sym

/* in hash.c */
extern uint64 hashring_hash_bytes(const void *data, size_t len);
extern uint64 hashring_hash_bytes_seed(const void *data, size_t len, uint64 seed);
extern uint64 hashring_point_position(const char *node, int node_len, uint32 index);
extern int64  hashring_points_for_weight(float4 weight, int32 vnodes);
extern bool	  hashring_is_prime(uint32 n);
extern int64  hashring_cassandra_token(const void *data, size_t len);

/* in catalog.c */
extern bool hashring_read_ring(const char *ring, int64 version, bool with_nodes, HashringDef *def);
extern bool hashring_catalog_relation_invalidated(Oid relid);

/* in algorithms.c: the registry */
extern const HashringAlgo *hashring_algo(uint32 algorithm);
extern int				   hashring_algo_id(const char *name);

/* in image.c */
extern HashringImage *hashring_image_build(const HashringDef *def, MemoryContext cxt);
extern void			  hashring_image_check(const HashringDef *def);
extern uint32		  hashring_owner_by_rank(const HashringImage *img, uint32 rank);
extern int			  hashring_preference(const HashringImage *img, const HashringKey *key, int n, uint32 *out);
extern uint32		  hashring_pin_lookup(const HashringImage *img, const char *data, size_t len);
extern bool			  hashring_pin_key(const HashringImage *img, uint32 slot, HashringKey *key);
extern uint32		  hashring_pinned_owner(const HashringImage *img, const HashringKey *key);
extern int			  hashring_cell_preference(const HashringImage *img, uint32 cell, int n, uint32 *out);
extern int			  hashring_walk_by_rank(const HashringImage *img, uint32 first_rank, int n, uint32 *out);
extern uint32		  hashring_zone_cell_owner(const HashringImage *img, const HashringKey *key, uint32 cell, uint32 owner);
extern void			  hashring_shares_by_rank(const HashringImage *img, const double *rank_share, double *shares);
extern void			  hashring_next_live(const HashringImage *img, const uint32 *owner, uint32 *eff, uint32 count);

/*
 * The key's owner: its pinned node while that node is live, else the
 * algorithm's owner (docs/routing-spec.md, "Pins").  Inline: every
 * ring_node runs it, and a ring without pins pays one predictable branch.
 */
static inline uint32
hashring_owner(const HashringImage *img, const HashringKey *key)
{
	if (unlikely(img->npins > 0))
		return hashring_pinned_owner(img, key);
	return hashring_algo(img->algorithm)->owner(img, key);
}

/*
 * Add node index `node` to out[0..found) if it is live and not there yet;
 * returns the new count.  `seen` (nnodes flags) may be NULL for small n.
 * Inline: it runs once per point walked by ring_nodes.
 */
static inline int
hashring_collect(const HashringImage *img, uint32 node, int n, uint32 *out, int found, bool *seen)
{
	if (found >= n || !HR_NODE_LIVE(img, node))
		return found;
	if (seen)
	{
		if (seen[node])
			return found;
		seen[node] = true;
	}
	else
	{
		for (int i = 0; i < found; i++)
			if (out[i] == node)
				return found;
	}
	out[found++] = node;
	return found;
}

/*
 * A preference walk's distinct live owners: init, add owners in preference
 * order until add returns true (n found), then done returns how many.  Up
 * to 16 wanted (zone walks take 2n), a linear scan of out[] beats clearing
 * per-node flags.
 */
typedef struct HashringCollector
{
	const HashringImage *img;
	uint32				*out;
	int					 n;
	int					 found;
	bool				*seen;
} HashringCollector;

static inline void
hashring_collector_init(HashringCollector *c, const HashringImage *img, int n, uint32 *out)
{
	c->img = img;
	c->out = out;
	c->n = n;
	c->found = 0;
	c->seen = n > 16 ? palloc0(sizeof(bool) * img->nnodes) : NULL;
}

static inline bool
hashring_collector_add(HashringCollector *c, uint32 node)
{
	c->found = hashring_collect(c->img, node, c->n, c->out, c->found, c->seen);
	return c->found >= c->n;
}

static inline int
hashring_collector_done(HashringCollector *c)
{
	if (c->seen)
		pfree(c->seen);
	return c->found;
}

/*
 * The preference walk over an array of `count` owners (uint32 node indexes,
 * `stride` bytes apart, the first at `owners`) from entry `start`, wrapping
 * once around: the first n distinct live owners.  Inline: ring_nodes
 * runs it once per lookup, with a constant stride.
 */
static inline int
hashring_walk_owners(const HashringImage *img, const void *owners, size_t stride, uint32 count,
					 uint32 start, int n, uint32 *out)
{
	HashringCollector c;

	hashring_collector_init(&c, img, n, out);
	for (uint32 step = 0, e = start; step < count; step++)
	{
		CHECK_FOR_INTERRUPTS();
		if (hashring_collector_add(&c, *(const uint32 *) ((const char *) owners + (size_t) e * stride)))
			break;
		if (++e == count)
			e = 0;
	}
	return hashring_collector_done(&c);
}

/* in image.c: helpers shared by several algorithms */
extern int64  hashring_key_xxh3(const HashringImage *img, const HashringKey *key);
extern void	  hashring_arc_shares(const HashringImage *img, double *shares);
extern uint64 hashring_point_array_pos(const HashringImage *img, uint32 i);
extern uint32 hashring_point_array_owner(const HashringImage *img, uint32 i);
extern uint32 hashring_point_cells(const HashringImage *img);
extern double hashring_point_cell_share(const HashringImage *img, uint32 cell);
extern int	  hashring_point_cell_walk(const HashringImage *img, uint32 cell, int n, uint32 *out);
extern uint32 hashring_rank_cells(const HashringImage *img);
extern int	  hashring_rank_cell_walk(const HashringImage *img, uint32 cell, int n, uint32 *out);
extern uint32 hashring_table_cells(const HashringImage *img);
extern double hashring_table_cell_share(const HashringImage *img, uint32 cell);

/*
 * Memory is proportional to the flows (node pairs): bounded, so that any
 * role that may route cannot make a backend allocate without limit.
 */
#define HASHRING_DIFF_MAX_FLOWS 100000

/* in diff.c, for the algorithms' diff functions */
extern void hashring_diff_add(HashringDiff *d, uint32 from, uint32 to, uint128 amount, uint64 lo, uint64 hi,
							  bool closed_lo);
extern void hashring_diff_too_many(void);
extern void hashring_diff_points(HashringDiff *d);
extern void hashring_diff_entries(HashringDiff *d, const char *what);

/* in digest.c */
extern void	  hashring_md5(const void *data, size_t len, uint8 out[16]);
extern void	  hashring_sha1(const void *data, size_t len, uint8 out[20]);
extern uint32 hashring_one_at_a_time(const void *data, size_t len);

/* in algo_slots.c */
extern int32 hashring_key_slot(const char *key, size_t len);

/* in cache.c */
/*
 * A caller's memory of its cache entry (kept in fn_extra): the entry and its
 * incarnation, so that an entry evicted meanwhile is never used.
 */
typedef struct HashringCacheHint
{
	void  *entry;
	uint64 incarnation;
} HashringCacheHint;

extern const HashringImage *hashring_get_image(const char *name, int len, int64 version, HashringCacheHint *hint);
extern void					hashring_register_invalidation(void);
extern void					hashring_register_xact_callback(void);
extern void					hashring_shmem_request(void);
extern void					hashring_shmem_startup(void);
extern Datum				hashring_cache_info_rows(FunctionCallInfo fcinfo);

/* in checker.c: the health checker background worker */
extern void hashring_checker_register(void);
extern void hashring_checker_shmem_request(void);
extern void hashring_checker_shmem_startup(void);

/*
 * in stats.c: routing statistics.  A call site's hint keeps the pending
 * counts of the image it last counted for.
 */
typedef struct HashringStatsHint
{
	HashringImageId id;
	uint64			generation;
	void		   *pending;
} HashringStatsHint;

extern void hashring_stats_init(void);
extern void hashring_stats_shmem_request(void);
extern void hashring_stats_shmem_startup(void);
extern void hashring_stats_count(HashringStatsHint *hint, const HashringImage *img, uint32 node);

/*
 * in hotkeys.c: the hottest keys per ring.  `type` is InvalidOid for a key
 * routed by its bytes, else the type of a typed key (given as its text).
 */
extern void hashring_hotkeys_init(void);
extern void hashring_hotkeys_shmem_request(void);
extern void hashring_hotkeys_shmem_startup(void);
extern void hashring_hotkeys_count(const HashringImage *img, const char *data, uint32 len, Oid type);

#endif /* HASHRING_H */
