/*-------------------------------------------------------------------------
 *
 * algo_murmur3.c
 *	  A Cassandra/Scylla token ring: Murmur3Partitioner tokens, SimpleStrategy
 *	  replicas.
 *
 * A key's token is hashring_cassandra_token(key) (hash.c: h1 of Cassandra's
 * MurmurHash3 x64-128, seed 0, as a signed int64).  Every node has tokens:
 * its explicit ones (hashring.nodes.tokens, Cassandra's initial_token) or,
 * when that is NULL, `vnodes` generated ones (Cassandra's num_tokens):
 * token j, j = 0 .. vnodes - 1, is hashring_cassandra_token of the bytes
 * "<name>-<j>" (decimal j), the same in every backend and on every
 * standby.  A key goes to the node of the first token >= its token in
 * signed order, wrapping to the smallest token; the preference list is the
 * distinct owners clockwise from there (SimpleStrategy).  Down nodes'
 * tokens are left out, so their ranges go to the next live token.
 *
 * Equal tokens: two explicit tokens are never equal (the triggers refuse
 * it, and so does the builder for rows written with triggers off); a
 * generated token equal to another token (about n^2 / 2^65 likely) is
 * ordered by node name, then token order, and the first of them owns the
 * keys.  Weights are not supported (Cassandra has none).
 *
 * Data: HashringPoint[npoints] ascending by position, where a token t sits
 * at position t XOR 2^63 (so unsigned order of positions is the signed
 * order of tokens; ring_diff shows positions as tokens again,
 * HashringAlgo.signed_positions).  Shares: exact arc lengths over 2^64.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#define MURMUR3_SIGN UINT64CONST(0x8000000000000000)

typedef struct Murmur3Tmp
{
	uint64 pos;
	uint32 owner; /* node index (sorted by name) */
	uint32 seq;	  /* index of the token in its node's list */
} Murmur3Tmp;

typedef struct Murmur3State
{
	Murmur3Tmp *points;
	uint64		npoints;
} Murmur3State;

static inline uint64
murmur3_pos(int64 token)
{
	return (uint64) token ^ MURMUR3_SIGN;
}

static int
murmur3_tmp_cmp(const void *a, const void *b)
{
	const Murmur3Tmp *x = a;
	const Murmur3Tmp *y = b;

	if (x->pos != y->pos)
		return x->pos < y->pos ? -1 : 1;
	if (x->owner != y->owner)
		return x->owner < y->owner ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

static int
murmur3_token_cmp(const void *a, const void *b)
{
	int64 x = *(const int64 *) a;
	int64 y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Token j of a node without explicit tokens: the token of "<name>-<j>". */
static int64
murmur3_generated_token(const HashringDefNode *node, uint32 j)
{
	char buf[HASHRING_NODE_NAME_MAX + 16];
	int	 len = snprintf(buf, sizeof(buf), "%s-%u", node->name, j);

	return hashring_cassandra_token(buf, len);
}

static Size
murmur3_plan(HashringBuild *b, uint32 *points)
{
	const HashringDef *def = b->def;
	int				   n = def->nnodes;
	uint64			   total = 0;
	uint64			   nexplicit = 0;
	uint64			   npoints = 0;
	Murmur3State	  *st = palloc0(sizeof(Murmur3State));

	for (int i = 0; i < n; i++)
	{
		const HashringDefNode *node = b->nodes[i];

		points[i] = node->ntokens > 0 ? (uint32) node->ntokens : (uint32) def->vnodes;
		total += points[i];
		nexplicit += node->ntokens;
		if (node->state == HASHRING_NODE_ACTIVE)
			npoints += points[i];
	}
	/* every node counts, so that a node coming back up cannot break the limit */
	if (total > HASHRING_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring \"%s\" has too many tokens", def->ring),
				 errdetail("Its nodes have " UINT64_FORMAT " tokens; the limit is %d.", total,
						   HASHRING_MAX_POINTS)));

	/* explicit tokens are unique within the ring, down nodes' included */
	if (nexplicit > 1)
	{
		int64 *all = MemoryContextAllocHuge(b->scratch, sizeof(int64) * nexplicit);
		uint64 k = 0;

		for (int i = 0; i < n; i++)
			for (int j = 0; j < b->nodes[i]->ntokens; j++)
				all[k++] = b->nodes[i]->tokens[j];
		qsort(all, nexplicit, sizeof(int64), murmur3_token_cmp);
		for (k = 1; k < nexplicit; k++)
			if (all[k] == all[k - 1])
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("ring \"%s\" has token " INT64_FORMAT " twice", def->ring, all[k]),
						 errhint("Fix hashring.nodes.tokens; rows written with triggers disabled are not validated.")));
	}
	if (b->check_only)
		return 0;

	st->points = MemoryContextAllocHuge(b->scratch, sizeof(Murmur3Tmp) * Max(npoints, 1));
	for (int i = 0; i < n; i++)
	{
		const HashringDefNode *node = b->nodes[i];

		if (node->state != HASHRING_NODE_ACTIVE)
			continue;
		for (uint32 j = 0; j < points[i]; j++)
		{
			int64 t = node->ntokens > 0 ? node->tokens[j] : murmur3_generated_token(node, j);

			st->points[st->npoints].pos = murmur3_pos(t);
			st->points[st->npoints].owner = (uint32) i;
			st->points[st->npoints].seq = j;
			st->npoints++;
		}
		CHECK_FOR_INTERRUPTS();
	}
	qsort(st->points, st->npoints, sizeof(Murmur3Tmp), murmur3_tmp_cmp);
	b->state = st;
	return sizeof(HashringPoint) * st->npoints;
}

static void
murmur3_fill(HashringBuild *b, HashringImage *img, char *data)
{
	Murmur3State  *st = b->state;
	HashringPoint *pts = (HashringPoint *) data;

	for (uint64 k = 0; k < st->npoints; k++)
	{
		pts[k].pos_hi = (uint32) (st->points[k].pos >> 32);
		pts[k].pos_lo = (uint32) st->points[k].pos;
		pts[k].owner = st->points[k].owner;
	}
	img->npoints = (uint32) st->npoints;
	img->data_count = (uint32) st->npoints;
}

/* first point with position >= pos, wrapping to 0 */
static uint32
murmur3_find(const HashringImage *img, uint64 pos)
{
	const HashringPoint *pts = HR_IMAGE_POINTS(img);
	uint32				 lo = 0, hi = img->npoints;

	while (lo < hi)
	{
		uint32 mid = lo + (hi - lo) / 2;

		if (HR_POINT_POS(&pts[mid]) < pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == img->npoints ? 0 : lo;
}

static inline uint64
murmur3_key_pos(const HashringKey *key)
{
	return murmur3_pos(hashring_cassandra_token(key->data, key->len));
}

static uint32
murmur3_owner(const HashringImage *img, const HashringKey *key)
{
	/* live nodes but none with a point: the preference list's node order */
	if (unlikely(img->npoints == 0))
		return hashring_owner_by_rank(img, 0);
	return HR_IMAGE_POINTS(img)[murmur3_find(img, murmur3_key_pos(key))].owner;
}

static int
murmur3_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	const HashringPoint *pts = HR_IMAGE_POINTS(img);

	if (img->npoints == 0)
		return 0; /* hashring_preference goes on in node order */
	return hashring_walk_owners(img, &pts[0].owner, sizeof(HashringPoint), img->npoints,
								murmur3_find(img, murmur3_key_pos(key)), n, out);
}

/* ring_hash: the key's token */
static int64
murmur3_key_hash(const HashringImage *img, const HashringKey *key)
{
	return hashring_cassandra_token(key->data, key->len);
}

HASHRING_ALGORITHM(hashring_algo_murmur3) = {
	.name = "murmur3",
	.weighted = false,
	.has_points = true,
	.parameter = "vnodes",
	.key_space_bits = 64,
	.signed_positions = true,
	.node_tokens = true,
	.plan = murmur3_plan,
	.fill = murmur3_fill,
	.owner = murmur3_owner,
	.walk = murmur3_walk,
	.cells = hashring_point_cells,
	.cell_share = hashring_point_cell_share,
	.cell_walk = hashring_point_cell_walk,
	.shares = hashring_arc_shares,
	.key_hash = murmur3_key_hash,
	.diff = hashring_diff_points,
	.point_pos = hashring_point_array_pos,
	.point_owner = hashring_point_array_owner,
};
