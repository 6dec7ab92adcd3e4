/*-------------------------------------------------------------------------
 *
 * image.c
 *	  Building a ring image: the part common to every algorithm (header,
 *	  node table, names, node order), the preference-list completion, and
 *	  the helpers that several algorithms share.
 *
 * Layout of an image (all offsets from the image start, MAXALIGNed):
 *
 *	  HashringImage header
 *	  HashringImageNode[nnodes]   sorted by name, bytewise; a node's index
 *	                              in this array is its "node index"
 *	  uint32 by_rank[nnodes]      node index of each rank in node order
 *	                              (the order nodes were added: ordinal)
 *	  HashringImageZone[nzones]   sorted by name, no zone last
 *	  uint32[nnodes]              each zone's node indexes in node order
 *	  node and zone names         not NUL-terminated
 *	  algorithm data              see the algo_*.c file
 *	  HashringImagePin[slots]     the pin table (pins only): open
 *	                              addressing on the key's hash
 *	  uint64 filter[words]        the pin filter (pins only): a blocked
 *	                              Bloom filter of the pinned keys' hashes
 *	  pinned keys' bytes
 *
 * Shared helpers: walks and shares along node order (jump, pg_hash), over
 * an owner array (vnode, ketama, maglev), arc shares of a sorted point
 * array (vnode, ketama), the XXH3 ring_hash.  The registry of algorithms
 * is algorithms.c.
 *
 * Images are immutable once built; this file has no shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/memutils.h"

/* Bytewise name order, a shorter name first when it is a prefix. */
static int
image_name_cmp(const void *a, const void *b)
{
	const HashringDefNode *na = *(HashringDefNode *const *) a;
	const HashringDefNode *nb = *(HashringDefNode *const *) b;
	int					   c = memcmp(na->name, nb->name, Min(na->name_len, nb->name_len));

	if (c != 0)
		return c;
	return (na->name_len > nb->name_len) - (na->name_len < nb->name_len);
}

/* Zone order: bytewise by name, a shorter name first when it is a prefix; no zone last. */
static int
image_zone_cmp(const void *a, const void *b)
{
	const HashringDefNode *na = *(HashringDefNode *const *) a;
	const HashringDefNode *nb = *(HashringDefNode *const *) b;
	int					   c;

	if (na->zone == NULL || nb->zone == NULL)
		return (na->zone == NULL) - (nb->zone == NULL);
	c = memcmp(na->zone, nb->zone, Min(na->zone_len, nb->zone_len));
	if (c != 0)
		return c;
	return (na->zone_len > nb->zone_len) - (na->zone_len < nb->zone_len);
}

/* The node index of the node named `name` (b->nodes sorted by name), or -1. */
static int
image_node_index(const HashringBuild *b, int n, const char *name)
{
	HashringDefNode	  key;
	HashringDefNode	 *keyp = &key;
	HashringDefNode **found;

	key.name = (char *) name;
	key.name_len = (int) strlen(name);
	found = bsearch(&keyp, b->nodes, n, sizeof(HashringDefNode *), image_name_cmp);
	return found ? (int) (found - b->nodes) : -1;
}

/* Slots of the pin table for npins pins: a power of two, at least 2 npins. */
static uint32
image_pin_slots(uint32 npins)
{
	uint32 slots = 2;

	if (npins == 0)
		return 0;
	while (slots < npins * 2)
		slots <<= 1;
	return slots;
}

/*
 * Words of the pin filter for npins pins: a power of two with at least 16
 * bits a pin.  An unpinned key reads one word of it; with two of 64 bits
 * set a pin and 16 bits a pin, about 0.6% of unpinned keys pass it and
 * probe the pin table (docs/design.md, "Pins").  10,000 pins: 32 kB.
 */
static uint32
image_pin_filter_words(uint32 npins)
{
	uint32 words = 1;

	if (npins == 0)
		return 0;
	while ((uint64) words * 4 < npins)
		words <<= 1;
	return words;
}

/* The filter word and its bits of a key's 64-bit hash. */
static inline uint64
image_pin_filter_bits(uint64 hash)
{
	return (UINT64CONST(1) << (hash & 63)) | (UINT64CONST(1) << ((hash >> 6) & 63));
}

#define HR_PIN_FILTER_WORD(img, hash) ((uint32) ((hash) >> 32) & (img)->pin_filter_mask)

/*
 * Check the pins of `def` (every pin names a node of the ring, a key of at
 * most HASHRING_PIN_KEY_MAX bytes, no more than HASHRING_MAX_PINS, an
 * algorithm that routes keys by their bytes) and return the node index of
 * each.  A key pinned twice is found while filling the table.
 */
static uint32 *
image_pin_nodes(const HashringBuild *b, const HashringAlgo *algo, int n)
{
	const HashringDef *def = b->def;
	uint32			  *nodes = palloc(sizeof(uint32) * Max(def->npins, 1));

	if (def->npins == 0)
		return nodes;
	if (algo->typed_keys)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ring \"%s\" uses the %s algorithm, whose keys cannot be pinned", def->ring, algo->name),
				 errhint("Unpin its keys (DELETE FROM hashring.pins WHERE ring = '%s') or keep its algorithm.",
						 def->ring)));
	if (def->npins > HASHRING_MAX_PINS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring \"%s\" would have %d pinned keys", def->ring, def->npins),
				 errdetail("A ring has at most %d pinned keys.", HASHRING_MAX_PINS)));
	for (int p = 0; p < def->npins; p++)
	{
		int node = image_node_index(b, n, def->pins[p].node);

		if (node < 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("ring \"%s\" pins key \"%s\" to node \"%s\", which is not in the ring", def->ring,
							def->pins[p].key, def->pins[p].node)));
		if (def->pins[p].key_len > HASHRING_PIN_KEY_MAX)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("ring \"%s\" has a pinned key of %d bytes", def->ring, def->pins[p].key_len),
					 errdetail("A pinned key is at most %d bytes long.", HASHRING_PIN_KEY_MAX)));
		nodes[p] = (uint32) node;
	}
	return nodes;
}

/*
 * Write the pin table (at img->off_pins, img->pin_mask + 1 slots) and the
 * keys of `def` (from off_keys).
 */
static void
image_fill_pins(const HashringDef *def, const uint32 *pin_node, HashringImage *img, Size off_keys)
{
	HashringImagePin *table = (HashringImagePin *) ((char *) img + img->off_pins);
	uint64			 *filter = (uint64 *) ((char *) img + img->off_pin_filter);
	Size			  off = off_keys;

	for (uint32 s = 0; s <= img->pin_mask; s++)
		table[s].key_len = HR_PIN_EMPTY;
	for (int p = 0; p < def->npins; p++)
	{
		const HashringDefPin *pin = &def->pins[p];
		uint64				  hash64 = hashring_hash_bytes(pin->key, pin->key_len);
		uint32				  hash = (uint32) hash64;
		uint32				  s = hash & img->pin_mask;

		filter[HR_PIN_FILTER_WORD(img, hash64)] |= image_pin_filter_bits(hash64);

		while (table[s].key_len != HR_PIN_EMPTY)
		{
			if (table[s].key_len == (uint32) pin->key_len &&
				memcmp((char *) img + table[s].key_off, pin->key, pin->key_len) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("ring \"%s\" pins key \"%s\" twice", def->ring, pin->key)));
			s = (s + 1) & img->pin_mask;
		}
		table[s].hash = hash;
		table[s].node = pin_node[p];
		table[s].key_off = (uint32) off;
		table[s].key_len = (uint32) pin->key_len;
		memcpy((char *) img + off, pin->key, pin->key_len);
		off += pin->key_len;
	}
	img->npins = (uint32) def->npins;
}

/* Node order: ordinal, then name. */
static const HashringBuild *image_sort_build;

static int
image_rank_cmp(const void *a, const void *b)
{
	uint32 ia = *(const uint32 *) a;
	uint32 ib = *(const uint32 *) b;
	int32  oa = image_sort_build->nodes[ia]->ordinal;
	int32  ob = image_sort_build->nodes[ib]->ordinal;

	if (oa != ob)
		return oa < ob ? -1 : 1;
	return (ia > ib) - (ia < ib);
}

/*
 * Each zone's nodes in node order (down ones too): zone z's are
 * zone_nodes[first .. first + count - 1] (the zone-spread walk picks one by
 * position).  by_rank: node index of each rank; zone_of: zone of each node.
 */
static void
image_fill_zone_nodes(HashringImage *img, const uint32 *by_rank, const uint32 *zone_of)
{
	HashringImageZone *zones = (HashringImageZone *) ((char *) img + img->off_zones);
	uint32			  *zone_nodes = (uint32 *) ((char *) img + img->off_zone_nodes);
	uint32			   first = 0;

	for (uint32 r = 0; r < img->nnodes; r++)
		zones[zone_of[by_rank[r]]].count++;
	for (uint32 z = 0; z < img->nzones; z++)
	{
		zones[z].first = first;
		first += zones[z].count;
		zones[z].count = 0;
	}
	for (uint32 r = 0; r < img->nnodes; r++)
	{
		HashringImageZone *zone = &zones[zone_of[by_rank[r]]];

		((HashringImageNode *) ((char *) img + img->off_nodes))[by_rank[r]].zone_pos = zone->count;
		zone_nodes[zone->first + zone->count++] = by_rank[r];
	}
}

/*
 * Build the image of `def` in memory context `cxt`, or with check_only, only
 * validate it (everything a build would raise, without computing points or
 * tables) and return NULL.  Scratch memory lives in a temporary context that
 * is deleted before returning.
 */
static HashringImage *
image_build(const HashringDef *def, MemoryContext cxt, bool check_only)
{
	const HashringAlgo *algo = hashring_algo(def->algorithm);
	HashringBuild		b;
	MemoryContext		oldcxt;
	uint32			   *points;
	uint32				nlive = 0;
	Size				names_bytes = 0;
	Size				data_bytes;
	Size				off, off_nodes, off_rank, off_zones, off_zone_nodes, off_names, off_data, off_pins, off_pin_filter,
		off_pin_keys, total;
	Size			   pin_key_bytes = 0;
	uint32			   pin_slots = image_pin_slots((uint32) def->npins);
	uint32			   pin_filter_words = image_pin_filter_words((uint32) def->npins);
	uint32			  *pin_node;
	HashringDefNode	 **by_zone;
	uint32			  *zone_of; /* node index -> zone index */
	uint32			   nzones = 0;
	uint32			   nlive_zones = 0;
	bool			  *zone_live;
	HashringImage	  *img;
	HashringImageNode *inodes;
	int				   n = def->nnodes;

	memset(&b, 0, sizeof(b));
	b.def = def;
	b.check_only = check_only;
	b.scratch = AllocSetContextCreate(CurrentMemoryContext, "hashring build",
									  ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(b.scratch);

	b.nodes = palloc(sizeof(HashringDefNode *) * Max(n, 1));
	for (int i = 0; i < n; i++)
		b.nodes[i] = &def->nodes[i];
	qsort(b.nodes, n, sizeof(HashringDefNode *), image_name_cmp);
	for (int i = 1; i < n; i++)
		if (image_name_cmp(&b.nodes[i - 1], &b.nodes[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("ring \"%s\" lists node \"%s\" twice", def->ring, b.nodes[i]->name)));

	b.by_rank = palloc(sizeof(uint32) * Max(n, 1));
	b.rank = palloc(sizeof(uint32) * Max(n, 1));
	for (int i = 0; i < n; i++)
		b.by_rank[i] = (uint32) i;
	image_sort_build = &b;
	qsort(b.by_rank, n, sizeof(uint32), image_rank_cmp);
	image_sort_build = NULL;
	for (int r = 0; r < n; r++)
		b.rank[b.by_rank[r]] = (uint32) r;

	for (int i = 0; i < n; i++)
	{
		names_bytes += b.nodes[i]->name_len;
		if (b.nodes[i]->state == HASHRING_NODE_ACTIVE)
			nlive++;
	}

	/* zones: the distinct zone names, sorted; node i's is zone_of[i] */
	by_zone = palloc(sizeof(HashringDefNode *) * Max(n, 1));
	memcpy(by_zone, b.nodes, sizeof(HashringDefNode *) * n);
	qsort(by_zone, n, sizeof(HashringDefNode *), image_zone_cmp);
	zone_of = palloc(sizeof(uint32) * Max(n, 1));
	zone_live = palloc0(sizeof(bool) * Max(n, 1));
	for (int z = 0; z < n; z++)
		if (z == 0 || image_zone_cmp(&by_zone[z - 1], &by_zone[z]) != 0)
		{
			by_zone[nzones++] = by_zone[z];
			if (by_zone[z]->zone)
				names_bytes += by_zone[z]->zone_len;
		}
	for (int i = 0; i < n; i++)
	{
		HashringDefNode **z = bsearch(&b.nodes[i], by_zone, nzones, sizeof(HashringDefNode *), image_zone_cmp);

		zone_of[i] = (uint32) (z - by_zone);
		if (b.nodes[i]->state == HASHRING_NODE_ACTIVE && !zone_live[zone_of[i]])
		{
			zone_live[zone_of[i]] = true;
			nlive_zones++;
		}
	}

	pin_node = image_pin_nodes(&b, algo, n);
	for (int p = 0; p < def->npins; p++)
		pin_key_bytes += def->pins[p].key_len;

	points = palloc0(sizeof(uint32) * Max(n, 1));
	data_bytes = algo->plan ? algo->plan(&b, points) : 0;
	if (check_only)
	{
		MemoryContextSwitchTo(oldcxt);
		MemoryContextDelete(b.scratch);
		return NULL;
	}

	off = MAXALIGN(sizeof(HashringImage));
	off_nodes = off;
	off += MAXALIGN(sizeof(HashringImageNode) * n);
	off_rank = off;
	off += MAXALIGN(sizeof(uint32) * n);
	off_zones = off;
	off += MAXALIGN(sizeof(HashringImageZone) * nzones);
	off_zone_nodes = off;
	off += MAXALIGN(sizeof(uint32) * n);
	off_names = off;
	off += MAXALIGN(names_bytes);
	off_data = off;
	off += MAXALIGN(data_bytes);
	off_pins = off;
	off += MAXALIGN(sizeof(HashringImagePin) * pin_slots);
	off_pin_filter = off;
	off += sizeof(uint64) * pin_filter_words;
	off_pin_keys = off;
	off += MAXALIGN(pin_key_bytes);
	total = off;

	img = MemoryContextAllocExtended(cxt, total, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	img->magic = HASHRING_IMAGE_MAGIC;
	img->algorithm = def->algorithm;
	img->id = def->id;
	img->total_bytes = total;
	img->nnodes = n;
	img->nlive = nlive;
	img->vnodes = def->vnodes;
	img->replicas = def->replicas;
	img->nzones = nzones;
	img->nlive_zones = nlive_zones;
	img->zone_replicas = def->zone_replicas;
	img->zone_spread = def->zone_spread;
	img->off_nodes = off_nodes;
	img->off_rank = off_rank;
	img->off_zones = off_zones;
	img->off_zone_nodes = off_zone_nodes;
	img->off_data = off_data;
	img->off_pins = off_pins;
	img->pin_mask = pin_slots > 0 ? pin_slots - 1 : 0;
	img->off_pin_filter = off_pin_filter;
	img->pin_filter_mask = pin_filter_words > 0 ? pin_filter_words - 1 : 0;
	strlcpy(img->ring, def->ring, sizeof(img->ring));

	inodes = (HashringImageNode *) ((char *) img + off_nodes);
	off = off_names;
	for (int i = 0; i < n; i++)
	{
		inodes[i].name_off = (uint32) off;
		inodes[i].name_len = b.nodes[i]->name_len;
		inodes[i].weight = b.nodes[i]->weight;
		inodes[i].state = b.nodes[i]->state;
		inodes[i].rank = b.rank[i];
		inodes[i].points = points[i];
		inodes[i].zone = zone_of[i];
		memcpy((char *) img + off, b.nodes[i]->name, b.nodes[i]->name_len);
		off += b.nodes[i]->name_len;
	}
	for (uint32 z = 0; z < nzones; z++)
	{
		HashringImageZone *iz = (HashringImageZone *) ((char *) img + off_zones) + z;

		iz->name_off = (uint32) off;
		iz->name_len = by_zone[z]->zone ? (uint32) by_zone[z]->zone_len : HR_ZONE_UNNAMED;
		if (by_zone[z]->zone)
		{
			memcpy((char *) img + off, by_zone[z]->zone, by_zone[z]->zone_len);
			off += by_zone[z]->zone_len;
		}
	}
	memcpy((char *) img + off_rank, b.by_rank, sizeof(uint32) * n);
	image_fill_zone_nodes(img, b.by_rank, zone_of);

	if (algo->fill)
		algo->fill(&b, img, (char *) img + off_data);
	if (def->npins > 0)
		image_fill_pins(def, pin_node, img, off_pin_keys);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(b.scratch);
	return img;
}

HashringImage *
hashring_image_build(const HashringDef *def, MemoryContext cxt)
{
	return image_build(def, cxt, false);
}

/* Raise what building `def` would raise, at a fraction of the cost. */
void
hashring_image_check(const HashringDef *def)
{
	(void) image_build(def, CurrentMemoryContext, true);
}

/* First n live nodes in node order from rank `first_rank`, wrapping. */
int
hashring_walk_by_rank(const HashringImage *img, uint32 first_rank, int n, uint32 *out)
{
	const uint32 *by_rank = HR_IMAGE_RANK(img);
	int			  found = 0;

	for (uint32 step = 0; step < img->nnodes && found < n; step++)
	{
		uint32 node = by_rank[(first_rank + step) % img->nnodes];

		if (HR_NODE_LIVE(img, node))
			out[found++] = node;
	}
	return found;
}

/* A preference walk of the algorithm: of a key, or of a cell (`arg`). */
typedef int (*ImageWalk)(const HashringImage *img, const void *arg, int n, uint32 *out);

static int
image_key_walk(const HashringImage *img, const void *arg, int n, uint32 *out)
{
	return hashring_algo(img->algorithm)->walk(img, arg, n, out);
}

static int
image_cell_walk(const HashringImage *img, const void *arg, int n, uint32 *out)
{
	return hashring_algo(img->algorithm)->cell_walk(img, *(const uint32 *) arg, n, out);
}

/*
 * The zone-blind preference list's first n live nodes, n <= nlive: the
 * algorithm's own walk, then the live nodes it did not reach (a node with
 * no points, entries or slots), in node order.  So every algorithm gives
 * exactly n distinct live nodes, led by the owner.
 */
static int
image_blind_preference(const HashringImage *img, ImageWalk walk, const void *arg, int n, uint32 *out)
{
	int	  found;
	bool *seen;

	found = walk(img, arg, n, out);
	if (found >= n)
		return found;
	seen = palloc0(sizeof(bool) * img->nnodes);
	for (int i = 0; i < found; i++)
		seen[out[i]] = true;
	for (uint32 r = 0; r < img->nnodes && found < n; r++)
	{
		uint32 node = HR_IMAGE_RANK(img)[r];

		CHECK_FOR_INTERRUPTS();
		if (HR_NODE_LIVE(img, node) && !seen[node])
			out[found++] = node;
	}
	pfree(seen);
	return found;
}

/*
 * Zone z's node at position c (mod its nodes, in node order, down ones
 * too), or the next live one after it (the zone has a live node).
 */
static uint32
image_zone_pick(const HashringImage *img, uint32 z, uint32 c)
{
	const HashringImageZone *zone = &HR_IMAGE_ZONES(img)[z];
	const uint32			*members = HR_IMAGE_ZONE_NODES(img) + zone->first;

	for (uint32 k = 0; k < zone->count; k++)
	{
		uint32 node = members[(c % zone->count + k) % zone->count];

		if (HR_NODE_LIVE(img, node))
			return node;
	}
	elog(ERROR, "zone %u of ring \"%s\" has no live node", z, img->ring);
	pg_unreachable();
}

/*
 * HashringAlgo.zone_cell of walks in node order from the owner: the owner's
 * position among its zone's nodes, so that the owners of one zone spread
 * their copies over the nodes of every other zone whatever the node order
 * (zone by zone, or round-robin over the zones).
 */
uint32
hashring_zone_cell_owner(const HashringImage *img, const HashringKey *key, uint32 cell, uint32 owner)
{
	return HR_IMAGE_NODES(img)[owner].zone_pos;
}

/*
 * The first n live nodes (n <= nlive) of the preference list, with zones
 * (docs/routing-spec.md, "Zones"): let P be the zone-blind list of all live
 * nodes; one node of each zone, in the order in which P reaches the zones,
 * comes first, then the rest of P in its order.  A zone's node is its first
 * in P; with zone_spread, on an algorithm whose walk follows node or slot
 * order (HashringAlgo.zone_cell), it is the zone's node at position
 * zone_cell(key or cell) instead, but P[0] still leads its own zone: the
 * first in P would be nearly always the same few nodes, and would hold
 * every second and third copy.  P[0] leads either way, so ring_node is the
 * first replica.  Only a prefix of P is needed: walks are prefix-consistent,
 * and once a prefix of at least n nodes holds min(n, live zones) zones, the
 * first n of the result are fixed; the prefix doubles until it does, from
 * max(2n, 3 zones): a walk costs its length, and a prefix that long usually
 * holds the zones (coupon collecting needs about z H(z) nodes: 5.5 for 3
 * zones, 11.4 for 5).  `key` or `cell` is what the walk `arg` walks (key
 * NULL: cell).
 */
static int
image_preference(const HashringImage *img, ImageWalk walk, const void *arg, const HashringKey *key, uint32 cell, int n,
				 uint32 *out)
{
	uint32	small_list[64];
	bool	small_used[64];
	uint32	small_rep[64];
	uint32 *list = small_list;
	bool   *used;
	uint32 *rep; /* the node each zone gives, PG_UINT32_MAX: none yet */
	uint32	want;
	int		k;
	int		got;
	int		found = 0;
	uint32 (*zone_cell)(const HashringImage *, const HashringKey *, uint32, uint32);
	uint32 c = 0;

	n = Min((uint32) n, img->nlive);
	if (!img->zone_replicas || img->nlive_zones < 2 || n < 2)
		return image_blind_preference(img, walk, arg, n, out);

	want = Min((uint32) n, img->nlive_zones);
	used = img->nzones <= lengthof(small_used) ? small_used : palloc(sizeof(bool) * img->nzones);
	rep = img->nzones <= lengthof(small_rep) ? small_rep : palloc(sizeof(uint32) * img->nzones);
	for (k = (int) Min(Max((uint32) n * 2, want * 3), img->nlive);; k = (int) Min((uint32) k * 2, img->nlive))
	{
		uint32 zones = 0;

		if (k > lengthof(small_list) && list == small_list)
			list = palloc(sizeof(uint32) * img->nlive);

		got = image_blind_preference(img, walk, arg, k, list);
		memset(used, 0, sizeof(bool) * img->nzones);
		for (int i = 0; i < got && zones < want; i++)
			if (!used[HR_NODE_ZONE(img, list[i])])
			{
				used[HR_NODE_ZONE(img, list[i])] = true;
				zones++;
			}
		if (zones >= want || (uint32) got >= img->nlive)
			break;
	}

	/* one node of each zone in the order P reaches them, then the others in P's */
	zone_cell = img->zone_spread ? hashring_algo(img->algorithm)->zone_cell : NULL;
	if (zone_cell)
		c = zone_cell(img, key, cell, list[0]);
	for (uint32 z = 0; z < img->nzones; z++)
		rep[z] = PG_UINT32_MAX;
	for (int i = 0; i < got && found < n; i++)
	{
		uint32 z = HR_NODE_ZONE(img, list[i]);

		if (rep[z] == PG_UINT32_MAX)
			out[found++] = rep[z] = zone_cell && i > 0 ? image_zone_pick(img, z, c) : list[i];
	}
	for (int i = 0; i < got && found < n; i++)
		if (rep[HR_NODE_ZONE(img, list[i])] != list[i])
			out[found++] = list[i];
	if (list != small_list)
		pfree(list);
	if (used != small_used)
		pfree(used);
	if (rep != small_rep)
		pfree(rep);
	return found;
}

/* The node index the key is pinned to, or PG_UINT32_MAX. */
uint32
hashring_pin_lookup(const HashringImage *img, const char *data, size_t len)
{
	const HashringImagePin *table = HR_IMAGE_PINS(img);
	uint64					hash64;
	uint64					bits;
	uint32					hash;

	if (img->npins == 0 || len > HASHRING_PIN_KEY_MAX)
		return PG_UINT32_MAX;
	hash64 = hashring_hash_bytes(data, len);
	bits = image_pin_filter_bits(hash64);
	if ((HR_IMAGE_PIN_FILTER(img)[HR_PIN_FILTER_WORD(img, hash64)] & bits) != bits)
		return PG_UINT32_MAX;
	hash = (uint32) hash64;
	for (uint32 s = hash & img->pin_mask;; s = (s + 1) & img->pin_mask)
	{
		const HashringImagePin *pin = &table[s];

		if (pin->key_len == HR_PIN_EMPTY)
			return PG_UINT32_MAX;
		if (pin->hash == hash && pin->key_len == len && memcmp((const char *) img + pin->key_off, data, len) == 0)
			return pin->node;
	}
}

/* The live node the key is pinned to, or PG_UINT32_MAX (none, or down). */
static inline uint32
image_live_pin(const HashringImage *img, const HashringKey *key)
{
	uint32 node = hashring_pin_lookup(img, key->data, key->len);

	return node != PG_UINT32_MAX && HR_NODE_LIVE(img, node) ? node : PG_UINT32_MAX;
}

/*
 * Pin table slot `slot` of img as a key (its bytes, as text); false for an
 * empty slot.
 */
bool
hashring_pin_key(const HashringImage *img, uint32 slot, HashringKey *key)
{
	const HashringImagePin *pin = &HR_IMAGE_PINS(img)[slot];

	if (pin->key_len == HR_PIN_EMPTY)
		return false;
	memset(key, 0, sizeof(*key));
	key->data = (const char *) img + pin->key_off;
	key->len = pin->key_len;
	key->type = TEXTOID;
	key->collation = DEFAULT_COLLATION_OID;
	return true;
}

/* hashring_owner() of a ring with pins. */
uint32
hashring_pinned_owner(const HashringImage *img, const HashringKey *key)
{
	uint32 node = image_live_pin(img, key);

	return node != PG_UINT32_MAX ? node : hashring_algo(img->algorithm)->owner(img, key);
}

/* A pinned key's walk: its live pinned node, then its own walk without it. */
typedef struct ImagePinnedKey
{
	const HashringKey *key;
	uint32			   node;
} ImagePinnedKey;

static int
image_pinned_walk(const HashringImage *img, const void *arg, int n, uint32 *out)
{
	const ImagePinnedKey *pk = arg;
	uint32				  small[64];
	uint32				 *own = n <= lengthof(small) ? small : palloc(sizeof(uint32) * n);
	int					  got = hashring_algo(img->algorithm)->walk(img, pk->key, n, own);
	int					  found = 0;

	if (n > 0)
		out[found++] = pk->node;
	for (int i = 0; i < got && found < n; i++)
		if (own[i] != pk->node)
			out[found++] = own[i];
	if (own != small)
		pfree(own);
	return found;
}

/*
 * The first n live nodes of the key's preference list (n <= nlive); a key
 * pinned to a live node has that node first (docs/routing-spec.md, "Pins").
 */
int
hashring_preference(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	if (unlikely(img->npins > 0))
	{
		ImagePinnedKey pk = {key, image_live_pin(img, key)};

		if (pk.node != PG_UINT32_MAX)
			return image_preference(img, image_pinned_walk, &pk, key, 0, n, out);
	}
	return image_preference(img, image_key_walk, key, key, 0, n, out);
}

/* The same for the keys of one cell (HashringAlgo.cells). */
int
hashring_cell_preference(const HashringImage *img, uint32 cell, int n, uint32 *out)
{
	return image_preference(img, image_cell_walk, &cell, NULL, cell, n, out);
}

/* The first live node in node order from rank `rank`, wrapping. */
uint32
hashring_owner_by_rank(const HashringImage *img, uint32 rank)
{
	uint32 owner;

	hashring_walk_by_rank(img, rank, 1, &owner);
	return owner;
}

/*
 * Shares when each rank r owns rank_share[r] of the key space and a down
 * node's part goes to the next live node in node order.
 */
void
hashring_shares_by_rank(const HashringImage *img, const double *rank_share, double *shares)
{
	for (uint32 i = 0; i < img->nnodes; i++)
		shares[i] = 0;
	if (img->nlive == 0)
		return;
	for (uint32 r = 0; r < img->nnodes; r++)
		shares[hashring_owner_by_rank(img, r)] += rank_share[r];
}

/*
 * eff[i] = the first live owner[j] for j = i, i+1, ... (cyclic): how tables
 * (slots, maglev) pass over down nodes.  Two passes backwards, linear.
 */
void
hashring_next_live(const HashringImage *img, const uint32 *owner, uint32 *eff, uint32 count)
{
	uint32 start;
	uint32 cur;

	if (img->nlive == 0 || count == 0)
		return;
	for (start = 0; start < count; start++)
		if (HR_NODE_LIVE(img, owner[start]))
			break;
	if (start == count)
	{
		/*
		 * Every entry belongs to a down node: the live nodes own none, and
		 * the first of them in node order (where the preference list goes on
		 * after the entries, see hashring_preference) takes all.
		 */
		uint32 first = hashring_owner_by_rank(img, 0);

		for (uint32 k = 0; k < count; k++)
			eff[k] = first;
		return;
	}
	cur = owner[start];
	for (uint32 k = 0; k < count; k++)
	{
		uint32 i = (start + count - k) % count;

		if (HR_NODE_LIVE(img, owner[i]))
			cur = owner[i];
		eff[i] = cur;
	}
}

/* ring_hash of the algorithms that hash keys with XXH3-64 (hash.c). */
int64
hashring_key_xxh3(const HashringImage *img, const HashringKey *key)
{
	return (int64) hashring_hash_bytes(key->data, key->len);
}

/*
 * point_pos and point_owner of the algorithms whose data is a sorted
 * HashringPoint array (vnode, murmur3).
 */
uint64
hashring_point_array_pos(const HashringImage *img, uint32 i)
{
	return HR_POINT_POS(&HR_IMAGE_POINTS(img)[i]);
}

uint32
hashring_point_array_owner(const HashringImage *img, uint32 i)
{
	return HR_IMAGE_POINTS(img)[i].owner;
}

/*
 * Shares of a point-array algorithm (point_pos, point_owner), exact over
 * its 2^key_space_bits positions: the sorted points own the arcs
 * (pos[j-1], pos[j]] (the first point also the wrapping arc).  All
 * points at one position: the first owns everything; no point (live nodes
 * without points): the first live node in node order, as the preference
 * list says.
 */
void
hashring_arc_shares(const HashringImage *img, double *shares)
{
	const HashringAlgo *algo = hashring_algo(img->algorithm);
	HashringPointPos	pos = algo->point_pos;
	HashringPointOwner	owner = algo->point_owner;
	int					bits = algo->key_space_bits;
	uint128				space = (uint128) 1 << bits;
	uint64				mask = bits >= 64 ? PG_UINT64_MAX : (UINT64CONST(1) << bits) - 1;
	uint128			   *acc = palloc0(sizeof(uint128) * Max(img->nnodes, 1));
	uint32				last = img->npoints - 1;

	if (img->npoints == 0)
	{
		if (img->nlive > 0)
			acc[hashring_owner_by_rank(img, 0)] = space;
	}
	else if (pos(img, 0) == pos(img, last))
		acc[owner(img, 0)] = space;
	else
		for (uint32 j = 0; j < img->npoints; j++)
		{
			CHECK_FOR_INTERRUPTS();
			acc[owner(img, j)] += (pos(img, j) - pos(img, j == 0 ? last : j - 1)) & mask;
		}
	for (uint32 i = 0; i < img->nnodes; i++)
		shares[i] = (double) acc[i] / (double) space;
	pfree(acc);
}

/*
 * Cells of a point-array algorithm: cell j is the arc (pos[j-1], pos[j]]
 * (cell 0 also the wrapping arc), whose keys walk from point j; as
 * hashring_arc_shares.  No point at all: one cell, the whole key space,
 * walked in node order.
 */
uint32
hashring_point_cells(const HashringImage *img)
{
	return Max(img->npoints, 1);
}

double
hashring_point_cell_share(const HashringImage *img, uint32 cell)
{
	const HashringAlgo *algo = hashring_algo(img->algorithm);
	int					bits = algo->key_space_bits;
	uint64				mask = bits >= 64 ? PG_UINT64_MAX : (UINT64CONST(1) << bits) - 1;
	uint32				last = img->npoints - 1;
	uint64				arc;

	if (img->npoints == 0)
		return 1.0;
	if (algo->point_pos(img, 0) == algo->point_pos(img, last))
		return cell == 0 ? 1.0 : 0.0;
	arc = (algo->point_pos(img, cell) - algo->point_pos(img, cell == 0 ? last : cell - 1)) & mask;
	return (double) arc / ldexp(1.0, bits);
}

int
hashring_point_cell_walk(const HashringImage *img, uint32 cell, int n, uint32 *out)
{
	HashringPointOwner owner = hashring_algo(img->algorithm)->point_owner;
	HashringCollector  c;

	hashring_collector_init(&c, img, n, out);
	for (uint32 step = 0, e = cell; step < img->npoints; step++)
	{
		CHECK_FOR_INTERRUPTS();
		if (hashring_collector_add(&c, owner(img, e)))
			break;
		if (++e == img->npoints)
			e = 0;
	}
	return hashring_collector_done(&c);
}

/* Cells of the algorithms that walk node order from a rank (jump, pg_hash). */
uint32
hashring_rank_cells(const HashringImage *img)
{
	return img->nnodes;
}

int
hashring_rank_cell_walk(const HashringImage *img, uint32 cell, int n, uint32 *out)
{
	return hashring_walk_by_rank(img, cell, n, out);
}

/* Cells of a table (maglev, slots): its entries, of equal share. */
uint32
hashring_table_cells(const HashringImage *img)
{
	return img->data_count;
}

double
hashring_table_cell_share(const HashringImage *img, uint32 cell)
{
	return 1.0 / img->data_count;
}
