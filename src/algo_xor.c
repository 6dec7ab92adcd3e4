/*-------------------------------------------------------------------------
 *
 * algo_xor.c
 *	  Kademlia XOR distance over 160-bit ids.
 *
 * A node's id is its node_id (20 bytes) or else SHA-1 of its name; a key's
 * id is SHA-1 of the key.  The preference list orders live nodes by
 * id XOR key_id as a 160-bit big-endian number (ties, which need equal ids,
 * by name): the same order as npm k-bucket's closest().
 *
 * Shares are exact: the node closest to a key is found by walking a binary
 * trie of the live ids along the key's bits, so the key space splits in
 * halves at every trie node with two children, and a subtree with one id
 * takes its whole part.  xor_shares recurses over the sorted ids.
 *
 * ring_diff walks both versions' ids as one trie (xor_diff).
 *
 * Data: uint8 id[nnodes][20] by node index.  A lookup is one SHA-1 of the
 * key and a scan of the ids: O(N).
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "miscadmin.h"

#define XOR_LEN HASHRING_NODE_ID_LEN

static Size
xor_plan(HashringBuild *b, uint32 *points)
{
	return XOR_LEN * b->def->nnodes;
}

static void
xor_fill(HashringBuild *b, HashringImage *img, char *data)
{
	uint8 *ids = (uint8 *) data;

	for (uint32 i = 0; i < img->nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (b->nodes[i]->has_id)
			memcpy(ids + i * XOR_LEN, b->nodes[i]->id, XOR_LEN);
		else
			hashring_sha1(b->nodes[i]->name, b->nodes[i]->name_len, ids + i * XOR_LEN);
	}
	img->data_count = img->nnodes;
}

#define XOR_ID(img, i) ((const uint8 *) HR_IMAGE_DATA(img) + (i) *XOR_LEN)

/* <0 if node a is closer to `target` than node b */
static inline int
xor_cmp(const uint8 *a, const uint8 *b, const uint8 *target)
{
	for (int k = 0; k < XOR_LEN; k++)
	{
		uint8 da = a[k] ^ target[k];
		uint8 db = b[k] ^ target[k];

		if (da != db)
			return da < db ? -1 : 1;
	}
	return 0;
}

static uint32
xor_owner(const HashringImage *img, const HashringKey *key)
{
	uint8  kid[XOR_LEN];
	uint32 best = PG_UINT32_MAX;

	hashring_sha1(key->data, key->len, kid);
	for (uint32 i = 0; i < img->nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!HR_NODE_LIVE(img, i))
			continue;
		if (best == PG_UINT32_MAX || xor_cmp(XOR_ID(img, i), XOR_ID(img, best), kid) < 0)
			best = i;
	}
	return best;
}

static const HashringImage *xor_sort_img;
static const uint8		   *xor_sort_target;

static int
xor_node_cmp(const void *a, const void *b)
{
	uint32 x = *(const uint32 *) a;
	uint32 y = *(const uint32 *) b;
	int	   c = xor_cmp(XOR_ID(xor_sort_img, x), XOR_ID(xor_sort_img, y), xor_sort_target);

	if (c != 0)
		return c;
	return (x > y) - (x < y);
}

static int
xor_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	uint8	kid[XOR_LEN];
	uint32 *live;
	int		nlive = 0;

	if (n == 1)
	{
		out[0] = xor_owner(img, key);
		return 1;
	}
	hashring_sha1(key->data, key->len, kid);
	live = palloc(sizeof(uint32) * img->nnodes);
	for (uint32 i = 0; i < img->nnodes; i++)
		if (HR_NODE_LIVE(img, i))
			live[nlive++] = i;
	xor_sort_img = img;
	xor_sort_target = kid;
	qsort(live, nlive, sizeof(uint32), xor_node_cmp);
	n = Min(n, nlive);
	memcpy(out, live, sizeof(uint32) * n);
	pfree(live);
	return n;
}

/* ids sorted as 160-bit numbers (then by node index) */
static int
xor_id_cmp(const void *a, const void *b)
{
	uint32 x = *(const uint32 *) a;
	uint32 y = *(const uint32 *) b;
	int	   c = memcmp(XOR_ID(xor_sort_img, x), XOR_ID(xor_sort_img, y), XOR_LEN);

	if (c != 0)
		return c;
	return (x > y) - (x < y);
}

static inline int
xor_bit(const uint8 *id, int depth)
{
	return (id[depth / 8] >> (7 - depth % 8)) & 1;
}

/* Share `mass` among the sorted live nodes nodes[lo..hi) at trie depth `depth`. */
static void
xor_split(const HashringImage *img, const uint32 *nodes, int lo, int hi, int depth, double mass, double *shares)
{
	int mid;

	while (hi - lo > 1 && depth < XOR_LEN * 8)
	{
		/* first node whose bit at `depth` is 1 (they are sorted) */
		for (mid = lo; mid < hi && xor_bit(XOR_ID(img, nodes[mid]), depth) == 0; mid++)
			;
		if (mid > lo && mid < hi)
		{
			xor_split(img, nodes, lo, mid, depth + 1, mass / 2, shares);
			lo = mid;
			mass /= 2;
		}
		depth++;
	}
	/* one node left, or equal ids: the first by name (lowest index) wins */
	shares[nodes[lo]] += mass;
}

static void
xor_shares(const HashringImage *img, double *shares)
{
	uint32 *live = palloc(sizeof(uint32) * Max(img->nnodes, 1));
	int		nlive = 0;

	for (uint32 i = 0; i < img->nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		shares[i] = 0;
		if (HR_NODE_LIVE(img, i))
			live[nlive++] = i;
	}
	xor_sort_img = img;
	qsort(live, nlive, sizeof(uint32), xor_id_cmp);
	if (nlive > 0)
		xor_split(img, live, 0, nlive, 0, 1.0, shares);
	pfree(live);
}

/*
 * ring_diff: the key space splits like a binary trie.  For the keys under a
 * prefix, each image's candidates are its live ids sharing the longest
 * prefix with them; a bit splits the candidates of an image only when both
 * values occur, and the keys' mass halves only when some image splits.  When
 * each image has one candidate left, the mass is a flow.  Mass is counted in
 * units of 2^-64 of the key space (exact unless two ids share over 64 bits).
 */
static void
xor_diff_rec(HashringDiff *d, uint32 *ca, int na, uint32 *cb, int nb, int depth, uint128 mass)
{
	while ((na > 1 || nb > 1) && depth < HASHRING_NODE_ID_LEN * 8)
	{
		int	 a1 = 0, b1 = 0;
		bool split;

		for (int i = 0; i < na; i++)
			a1 += xor_bit(XOR_ID(d->a, ca[i]), depth);
		for (int i = 0; i < nb; i++)
			b1 += xor_bit(XOR_ID(d->b, cb[i]), depth);
		split = (a1 > 0 && a1 < na) || (b1 > 0 && b1 < nb);
		if (split)
		{
			for (int bit = 0; bit <= 1; bit++)
			{
				uint32 *sa = palloc(sizeof(uint32) * na);
				uint32 *sb = palloc(sizeof(uint32) * nb);
				int		ka = 0, kb = 0;

				for (int i = 0; i < na; i++)
					if (xor_bit(XOR_ID(d->a, ca[i]), depth) == bit || a1 == 0 || a1 == na)
						sa[ka++] = ca[i];
				for (int i = 0; i < nb; i++)
					if (xor_bit(XOR_ID(d->b, cb[i]), depth) == bit || b1 == 0 || b1 == nb)
						sb[kb++] = cb[i];
				/* no candidate with this bit: all candidates stay */
				if (ka == 0)
				{
					memcpy(sa, ca, sizeof(uint32) * na);
					ka = na;
				}
				if (kb == 0)
				{
					memcpy(sb, cb, sizeof(uint32) * nb);
					kb = nb;
				}
				xor_diff_rec(d, sa, ka, sb, kb, depth + 1, mass / 2);
			}
			return;
		}
		depth++;
	}
	/* one candidate each, or equal ids: the first by name (lowest index) */
	hashring_diff_add(d, ca[0], cb[0], mass, 0, 0, false);
}

static void
xor_diff(HashringDiff *d)
{
	const HashringImage *a = d->a;
	const HashringImage *b = d->b;
	uint32				*ca = palloc(sizeof(uint32) * a->nnodes);
	uint32				*cb = palloc(sizeof(uint32) * b->nnodes);
	int					 na = 0, nb = 0;

	for (uint32 i = 0; i < a->nnodes; i++)
		if (HR_NODE_LIVE(a, i))
			ca[na++] = i;
	for (uint32 i = 0; i < b->nnodes; i++)
		if (HR_NODE_LIVE(b, i))
			cb[nb++] = i;
	xor_diff_rec(d, ca, na, cb, nb, 0, (uint128) 1 << 64);
}

static int64
xor_key_hash(const HashringImage *img, const HashringKey *key)
{
	uint8  kid[XOR_LEN];
	uint64 h = 0;

	hashring_sha1(key->data, key->len, kid);
	for (int k = 0; k < 8; k++)
		h = (h << 8) | kid[k];
	return (int64) h;
}

HASHRING_ALGORITHM(hashring_algo_xor) = {
	.name = "xor",
	.weighted = false,
	.has_points = false,
	.key_space_bits = 64,
	.plan = xor_plan,
	.fill = xor_fill,
	.owner = xor_owner,
	.walk = xor_walk,
	.shares = xor_shares,
	.key_hash = xor_key_hash,
	.diff = xor_diff,
};
