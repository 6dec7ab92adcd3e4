/*-------------------------------------------------------------------------
 *
 * algo_ketama.c
 *	  Ketama, byte-identical to the npm package `hashring` (3rd-Eden) with
 *	  its defaults, which follows libketama: MD5, 40 digests per server
 *	  scaled by weight, 4 points per digest, a 32-bit ring.
 *
 * Construction (HashRing.prototype.continuum): with W the total weight and
 * N the number of nodes, node s gets floor(w_s / W * 40 * N) digests
 * (binary64, in that order of operations); digest j is MD5(s || "-" || j)
 * and gives the points LE32(digest[4r .. 4r+3]) for r = 0..3.  Points are
 * sorted by value with JavaScript's stable sort: equal values keep node
 * order, then digest and point order.  A key's value is LE32(MD5(key)[0..3])
 * and it goes to the first point whose value is >= it, wrapping to the
 * first point (HashRing.prototype.find).  Preference list: distinct owners
 * from there (HashRing.prototype.range).
 *
 * Every node counts in W and N, down ones included (so a node going down
 * moves nothing else); down nodes' points are left out of the lookup array.
 * The ring's vnodes setting is not used: the reference fixes 40.
 *
 * Data: KetamaPoint[npoints] ascending.  Shares: exact arc lengths over the
 * 2^32 values.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#include "miscadmin.h"
#include "utils/memutils.h"

#define KETAMA_VNODES	40
#define KETAMA_REPLICAS 4

typedef struct KetamaPoint
{
	uint32 value;
	uint32 owner; /* node index */
} KetamaPoint;

typedef struct KetamaTmp
{
	uint32 value;
	uint32 owner;
	uint64 seq; /* insertion order, for the stable sort */
} KetamaTmp;

static inline uint32
ketama_le32(const uint8 *d)
{
	return (uint32) d[0] | ((uint32) d[1] << 8) | ((uint32) d[2] << 16) | ((uint32) d[3] << 24);
}

static int
ketama_tmp_cmp(const void *a, const void *b)
{
	const KetamaTmp *x = a;
	const KetamaTmp *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

typedef struct KetamaState
{
	KetamaTmp *points;
	uint64	   npoints;
} KetamaState;

static Size
ketama_plan(HashringBuild *b, uint32 *points)
{
	const HashringDef *def = b->def;
	int				   n = def->nnodes;
	double			   total = 0;
	uint64			   npoints = 0;
	uint64			   seq = 0;
	KetamaState		  *st = palloc0(sizeof(KetamaState));
	char			   buf[HASHRING_NODE_NAME_MAX + 16];

	for (int r = 0; r < n; r++)
		total += b->nodes[b->by_rank[r]]->weight;
	for (int i = 0; i < n; i++)
	{
		double digests = floor((double) b->nodes[i]->weight / total * KETAMA_VNODES * n);

		if (digests * KETAMA_REPLICAS > HASHRING_MAX_POINTS)
			digests = HASHRING_MAX_POINTS;
		points[i] = (uint32) digests * KETAMA_REPLICAS;
		if (b->nodes[i]->state == HASHRING_NODE_ACTIVE)
			npoints += points[i];
	}
	if (npoints > HASHRING_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring \"%s\" has too many points", def->ring)));

	if (b->check_only)
		return 0;
	st->points = MemoryContextAllocHuge(b->scratch, sizeof(KetamaTmp) * Max(npoints, 1));
	for (int r = 0; r < n; r++)
	{
		uint32			 i = b->by_rank[r];
		HashringDefNode *node = b->nodes[i];

		if (node->state != HASHRING_NODE_ACTIVE)
		{
			seq += points[i];
			continue;
		}
		for (uint32 j = 0; j < points[i] / KETAMA_REPLICAS; j++)
		{
			uint8 digest[16];
			int	  len = snprintf(buf, sizeof(buf), "%s-%u", node->name, j);

			hashring_md5(buf, len, digest);
			for (int k = 0; k < KETAMA_REPLICAS; k++)
			{
				st->points[st->npoints].value = ketama_le32(digest + 4 * k);
				st->points[st->npoints].owner = i;
				st->points[st->npoints].seq = seq++;
				st->npoints++;
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	qsort(st->points, st->npoints, sizeof(KetamaTmp), ketama_tmp_cmp);
	b->state = st;
	return sizeof(KetamaPoint) * st->npoints;
}

static void
ketama_fill(HashringBuild *b, HashringImage *img, char *data)
{
	KetamaState *st = b->state;
	KetamaPoint *pts = (KetamaPoint *) data;

	for (uint64 k = 0; k < st->npoints; k++)
	{
		pts[k].value = st->points[k].value;
		pts[k].owner = st->points[k].owner;
	}
	img->npoints = (uint32) st->npoints;
	img->data_count = (uint32) st->npoints;
}

static inline uint32
ketama_key_value(const HashringKey *key)
{
	uint8 digest[16];

	hashring_md5(key->data, key->len, digest);
	return ketama_le32(digest);
}

/* first point with value >= v, wrapping to 0 */
static uint32
ketama_find(const HashringImage *img, uint32 v)
{
	const KetamaPoint *pts = HR_IMAGE_DATA(img);
	uint32			   lo = 0, hi = img->npoints;

	while (lo < hi)
	{
		uint32 mid = lo + (hi - lo) / 2;

		if (pts[mid].value < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == img->npoints ? 0 : lo;
}

static uint32
ketama_owner(const HashringImage *img, const HashringKey *key)
{
	/* live nodes but none with a point: the preference list's node order */
	if (unlikely(img->npoints == 0))
		return hashring_owner_by_rank(img, 0);
	return ((const KetamaPoint *) HR_IMAGE_DATA(img))[ketama_find(img, ketama_key_value(key))].owner;
}

static int
ketama_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	const KetamaPoint *pts = HR_IMAGE_DATA(img);

	if (img->npoints == 0)
		return 0; /* hashring_preference goes on in node order */
	return hashring_walk_owners(img, &pts[0].owner, sizeof(KetamaPoint), img->npoints,
								ketama_find(img, ketama_key_value(key)), n, out);
}

static uint64
ketama_point_pos(const HashringImage *img, uint32 i)
{
	return ((const KetamaPoint *) HR_IMAGE_DATA(img))[i].value;
}

static uint32
ketama_point_owner(const HashringImage *img, uint32 i)
{
	return ((const KetamaPoint *) HR_IMAGE_DATA(img))[i].owner;
}

static int64
ketama_key_hash(const HashringImage *img, const HashringKey *key)
{
	return ketama_key_value(key);
}

HASHRING_ALGORITHM(hashring_algo_ketama) = {
	.name = "ketama",
	.weighted = true,
	.has_points = true,
	.key_space_bits = 32,
	.plan = ketama_plan,
	.fill = ketama_fill,
	.owner = ketama_owner,
	.walk = ketama_walk,
	.shares = hashring_arc_shares,
	.key_hash = ketama_key_hash,
	.diff = hashring_diff_points,
	.point_pos = ketama_point_pos,
	.point_owner = ketama_point_owner,
};
