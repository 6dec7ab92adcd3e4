/*-------------------------------------------------------------------------
 *
 * hashring.h
 *	  Private declarations shared by the hashring source files.
 *
 * A ring image (HashringImage) is the immutable, flat, position-independent
 * form of one ring version: a header, a node table, the node names, the
 * sorted 64-bit point positions, their owners (node indexes), and a prefix
 * index over the positions.  It contains offsets, never pointers, so the same
 * bytes serve from backend-local memory or from shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HASHRING_H
#define HASHRING_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/snapshot.h"

#define HASHRING_RING_NAME_MAX 63 /* bytes; also enforced by the catalog triggers */
#define HASHRING_NODE_NAME_MAX 255
#define HASHRING_MAX_POINTS	   16777216 /* per ring; 2^24 */

#define HASHRING_IMAGE_MAGIC 0x48524931 /* "HRI1" */

typedef enum HashringAlgorithm
{
	HASHRING_ALGO_VNODE = 1
} HashringAlgorithm;

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
	uint32 state;  /* HashringNodeState */
	uint32 points; /* configured points (also for down nodes) */
} HashringImageNode;

/*
 * One point: its 64-bit position split in two 32-bit halves, so that the
 * record is 12 bytes with 4-byte alignment and position and owner share a
 * cache line.
 */
typedef struct HashringPoint
{
	uint32 pos_hi;
	uint32 pos_lo;
	uint32 owner; /* node index */
} HashringPoint;

#define HR_POINT_POS(p) (((uint64) (p)->pos_hi << 32) | (p)->pos_lo)

typedef struct HashringImage
{
	uint32 magic;
	uint32 algorithm;
	/* identity: see "Versions" in cache.c */
	Oid			  dboid;
	TransactionId xmin; /* of the ring row version built from */
	int64		  ring_id;
	int64		  version;
	uint64		  total_bytes;
	uint32		  nnodes;
	uint32		  nlive;	  /* active nodes */
	uint32		  npoints;	  /* points of active nodes, in the arrays */
	uint32		  index_bits; /* prefix index has 2^index_bits + 1 entries */
	uint32		  vnodes;
	uint32		  replicas;
	uint64		  off_nodes;  /* HashringImageNode[nnodes] */
	uint64		  off_points; /* HashringPoint[npoints], ascending */
	uint64		  off_index;  /* uint32[2^index_bits] */
	char		  ring[HASHRING_RING_NAME_MAX + 1];
} HashringImage;

#define HR_IMAGE_NODES(img)	 ((const HashringImageNode *) ((const char *) (img) + (img)->off_nodes))
#define HR_IMAGE_POINTS(img) ((const HashringPoint *) ((const char *) (img) + (img)->off_points))
#define HR_IMAGE_INDEX(img)	 ((const uint32 *) ((const char *) (img) + (img)->off_index))

/* An index entry with this bit set is an empty bucket; the rest is the owner. */
#define HR_INDEX_EMPTY		  0x80000000U
#define HR_IMAGE_NAME(img, n) ((const char *) (img) + HR_IMAGE_NODES(img)[n].name_off)

/* A ring definition as read from the catalog (backend-local, palloc'd). */
typedef struct HashringDefNode
{
	char			 *name;
	int				  name_len;
	float4			  weight;
	HashringNodeState state;
} HashringDefNode;

typedef struct HashringDef
{
	char			  ring[HASHRING_RING_NAME_MAX + 1];
	int64			  ring_id;
	int64			  version;
	HashringAlgorithm algorithm;
	int32			  vnodes;
	int32			  replicas;
	bool			  private_version; /* version row written by this transaction */
	TransactionId	  xmin;			   /* the version row's xmin */
	int				  nnodes;
	HashringDefNode	 *nodes;
} HashringDef;

/* in hashring.c */
extern char	 *hashring_default_ring;
extern double hashring_balance_alert_ratio;
extern int	  hashring_shared_memory_kb;
extern bool	  hashring_preloaded;

/* in hash.c */
extern uint64 hashring_hash_bytes(const void *data, size_t len);
extern uint64 hashring_point_position(const char *node, int node_len, uint32 index);
extern int64  hashring_points_for_weight(float4 weight, int32 vnodes);

/* in catalog.c */
extern bool	  hashring_read_ring(const char *ring, bool with_nodes, HashringDef *def);
extern void	  hashring_register_invalidation(void);
extern uint64 hashring_inval_epoch;

/* in image.c */
extern HashringImage *hashring_image_build(const HashringDef *def, MemoryContext cxt);
extern uint32		  hashring_image_find(const HashringImage *img, uint64 h);
extern uint32		  hashring_image_owner(const HashringImage *img, uint64 h);
extern int			  hashring_image_walk(const HashringImage *img, uint64 h, int n, uint32 *out);
extern void			  hashring_image_shares(const HashringImage *img, double *shares);

/* in cache.c */
extern const HashringImage *hashring_get_image(const char *name, int len, FmgrInfo *flinfo);
extern void					hashring_shmem_request(void);
extern void					hashring_shmem_startup(void);
extern Datum				hashring_cache_info_rows(FunctionCallInfo fcinfo);

#endif /* HASHRING_H */
