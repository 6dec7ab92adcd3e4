/*-------------------------------------------------------------------------
 *
 * algo_ketama.c
 *	  Ketama, as each of the clients and proxies that deploy it builds it:
 *	  npm `hashring` (`ketama`), twemproxy (`ketama_twemproxy`), libmemcached
 *	  with MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (`ketama_libmemcached_weighted`)
 *	  or MEMCACHED_BEHAVIOR_KETAMA (`ketama_libmemcached`), and Python's
 *	  uhashring (`ketama_uhashring`).  One construction, five registry
 *	  entries, told apart by a KetamaVariant (HashringAlgo.config).
 *
 * Construction: with W the total weight and N the number of nodes, node s
 * gets D(s) digests; digest j (j = 0 .. D(s) - 1) hashes the string
 * "<s>-<j>" and gives P points (MD5: LE32 of bytes 4r .. 4r+3, r < 4;
 * one-at-a-time: the hash itself, P = 1).  D(s) is
 *	 npm		floor(w_s / W * 40 * N), in binary64, in that order;
 *	 float		floorf((float) (pct * 160 / 4 * (float) N + 1e-10)) with
 *				pct = (float) w_s / (float) W, each step in binary32
 *				(twemproxy's nc_ketama.c, libmemcached's hosts.cc);
 *	 exact		(40 * N * w_s) div W in integers (uhashring; whole weights);
 *	 fixed		100 (libmemcached unweighted: weights are all 1).
 * Points are sorted by value; of points with equal values the first in
 * tie order wins (the lookup finds it first): node order, or for twemproxy
 * its own order of server names (shorter first, then bytewise, as its
 * string_compare sorts the pool), then digest and point order.  A key's
 * value is LE32(MD5(key)[0..3]) (one-at-a-time of the key for
 * libmemcached unweighted) and it goes to the first point whose value is
 * >= it, wrapping to the first point.  uhashring differs twice: a key goes
 * to the first point strictly above its value (bisect_right), and of equal
 * points the node configured last wins (its dict keeps the last writer).
 * Both are kept exactly by storing point p as p - 1 (mod 2^32), which
 * makes "first point > v" the ">=" lookup every other variant uses, and
 * by keeping only the last of equal points.  Preference list: distinct
 * owners from there.
 *
 * Every node counts in W and N, down ones included (so a node going down
 * moves nothing else); down nodes' points are left out of the lookup
 * array.  The ring's vnodes setting is not used: every reference fixes it.
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

typedef enum KetamaCount
{
	KETAMA_COUNT_NPM,	/* binary64 */
	KETAMA_COUNT_FLOAT, /* binary32, twemproxy and libmemcached */
	KETAMA_COUNT_EXACT, /* integers, uhashring */
	KETAMA_COUNT_FIXED, /* 100 one-point digests per node */
} KetamaCount;

typedef struct KetamaVariant
{
	KetamaCount count;
	bool		oaat;			/* one-at-a-time, one point per digest; else MD5, 4 */
	bool		name_order;		/* ties: twemproxy's server order, not node order */
	bool		strictly_after; /* uhashring: first point > key, last writer wins */
} KetamaVariant;

#define KETAMA_DIGESTS			40		 /* per node of average weight */
#define KETAMA_MD5_POINTS		4		 /* per MD5 digest */
#define KETAMA_FIXED_DIGESTS	100		 /* libmemcached unweighted */
#define KETAMA_EXACT_MAX_WEIGHT 16777216 /* as _check_whole_weights() */

typedef struct KetamaPoint
{
	uint32 value;
	uint32 owner; /* node index */
} KetamaPoint;

typedef struct KetamaTmp
{
	uint32 value;
	uint32 owner;
	uint64 seq; /* tie order, for the sort */
} KetamaTmp;

static inline const KetamaVariant *
ketama_variant(uint32 algorithm)
{
	return hashring_algo(algorithm)->config;
}

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

/* twemproxy's string_compare: the shorter name first, then bytewise */
static int
ketama_name_cmp(const void *a, const void *b, void *arg)
{
	const HashringBuild	  *build = arg;
	const HashringDefNode *x = build->nodes[*(const uint32 *) a];
	const HashringDefNode *y = build->nodes[*(const uint32 *) b];

	if (x->name_len != y->name_len)
		return x->name_len < y->name_len ? -1 : 1;
	return memcmp(x->name, y->name, x->name_len);
}

/*
 * Digests of node i: see the header.  W sums the weights in node order
 * (binary64, as JavaScript and Python add them; exact for whole weights).
 */
static uint64
ketama_digests(const KetamaVariant *v, const HashringBuild *b, uint32 i, double total)
{
	const HashringDef *def = b->def;
	int				   n = def->nnodes;
	float4			   w = b->nodes[i]->weight;

	switch (v->count)
	{
		case KETAMA_COUNT_NPM:
			return (uint64) floor((double) w / total * KETAMA_DIGESTS * n);
		case KETAMA_COUNT_FLOAT:
		{
			float pct = (float) w / (float) total;
			float f = pct * (float) (KETAMA_DIGESTS * KETAMA_MD5_POINTS) / 4.0f * (float) n;

			return (uint64) floorf((float) ((double) f + 0.0000000001));
		}
		case KETAMA_COUNT_EXACT:
			/* whole weights up to 2^24: W and 40 * N * w are exact in int64 */
			if (w != floorf(w) || w > KETAMA_EXACT_MAX_WEIGHT)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("node \"%s\" of ring \"%s\" has weight %g, but %s weights must be whole numbers from 1 to %d",
								b->nodes[i]->name, def->ring, (double) w, hashring_algo(def->algorithm)->name,
								KETAMA_EXACT_MAX_WEIGHT),
						 errhint("uhashring computes its digest counts in integers.")));
			return (uint64) ((int64) KETAMA_DIGESTS * n * (int64) w / (int64) total);
		case KETAMA_COUNT_FIXED:
			return KETAMA_FIXED_DIGESTS;
	}
	pg_unreachable();
}

typedef struct KetamaState
{
	KetamaTmp *points;
	uint64	   npoints;
} KetamaState;

static inline void
ketama_store_point(const KetamaVariant *v, KetamaState *st, uint32 value, uint32 owner, uint64 seq)
{
	KetamaTmp *t = &st->points[st->npoints++];

	/* uhashring: "first point > v" is ">=" over the points minus one */
	t->value = v->strictly_after ? value - 1 : value;
	t->owner = owner;
	t->seq = seq;
}

static Size
ketama_plan(HashringBuild *b, uint32 *points)
{
	const HashringDef	*def = b->def;
	const KetamaVariant *v = ketama_variant(def->algorithm);
	int					 per_digest = v->oaat ? 1 : KETAMA_MD5_POINTS;
	int					 n = def->nnodes;
	double				 total = 0;
	uint64				 npoints = 0;
	uint64				 seq = 0;
	uint32				*order = palloc(sizeof(uint32) * Max(n, 1));
	KetamaState			*st = palloc0(sizeof(KetamaState));
	char				 buf[HASHRING_NODE_NAME_MAX + 16];

	for (int r = 0; r < n; r++)
		total += b->nodes[b->by_rank[r]]->weight;
	for (int i = 0; i < n; i++)
	{
		uint64 digests = ketama_digests(v, b, i, total);

		digests = Min(digests, HASHRING_MAX_POINTS / per_digest);
		points[i] = (uint32) digests * per_digest;
		if (b->nodes[i]->state == HASHRING_NODE_ACTIVE)
			npoints += points[i];
	}
	if (npoints > HASHRING_MAX_POINTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring \"%s\" has too many points", def->ring)));

	if (b->check_only)
		return 0;

	/* tie order: node order, or twemproxy's order of names */
	memcpy(order, b->by_rank, sizeof(uint32) * n);
	if (v->name_order)
		qsort_arg(order, n, sizeof(uint32), ketama_name_cmp, b);

	st->points = MemoryContextAllocHuge(b->scratch, sizeof(KetamaTmp) * Max(npoints, 1));
	for (int r = 0; r < n; r++)
	{
		uint32			 i = order[r];
		HashringDefNode *node = b->nodes[i];

		if (node->state != HASHRING_NODE_ACTIVE)
			continue;
		for (uint32 j = 0; j < points[i] / per_digest; j++)
		{
			int	  len = snprintf(buf, sizeof(buf), "%s-%u", node->name, j);
			uint8 digest[16];

			if (v->oaat)
				ketama_store_point(v, st, hashring_one_at_a_time(buf, len), i, seq++);
			else
			{
				hashring_md5(buf, len, digest);
				for (int k = 0; k < KETAMA_MD5_POINTS; k++)
					ketama_store_point(v, st, ketama_le32(digest + 4 * k), i, seq++);
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	qsort(st->points, st->npoints, sizeof(KetamaTmp), ketama_tmp_cmp);

	/* uhashring: of equal points the last written wins; keep only it */
	if (v->strictly_after && st->npoints > 0)
	{
		uint64 kept = 0;

		for (uint64 k = 0; k < st->npoints; k++)
		{
			if (k + 1 < st->npoints && st->points[k + 1].value == st->points[k].value)
				continue;
			st->points[kept++] = st->points[k];
		}
		st->npoints = kept;
	}
	pfree(order);
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
ketama_key_value(const HashringImage *img, const HashringKey *key)
{
	uint8 digest[16];

	if (ketama_variant(img->algorithm)->oaat)
		return hashring_one_at_a_time(key->data, key->len);
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
	return ((const KetamaPoint *) HR_IMAGE_DATA(img))[ketama_find(img, ketama_key_value(img, key))].owner;
}

static int
ketama_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	const KetamaPoint *pts = HR_IMAGE_DATA(img);

	if (img->npoints == 0)
		return 0; /* hashring_preference goes on in node order */
	return hashring_walk_owners(img, &pts[0].owner, sizeof(KetamaPoint), img->npoints,
								ketama_find(img, ketama_key_value(img, key)), n, out);
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
	return ketama_key_value(img, key);
}

#define KETAMA_ALGORITHM(sym, algo_name, is_weighted, whole, ...) \
	static const KetamaVariant sym##_variant = {__VA_ARGS__};     \
	HASHRING_ALGORITHM(sym) = {                                   \
		.name = algo_name,                                        \
		.weighted = is_weighted,                                  \
		.whole_weights = whole,                                   \
		.has_points = true,                                       \
		.key_space_bits = 32,                                     \
		.plan = ketama_plan,                                      \
		.fill = ketama_fill,                                      \
		.owner = ketama_owner,                                    \
		.walk = ketama_walk,                                      \
		.cells = hashring_point_cells,                            \
		.cell_share = hashring_point_cell_share,                  \
		.cell_walk = hashring_point_cell_walk,                    \
		.shares = hashring_arc_shares,                            \
		.key_hash = ketama_key_hash,                              \
		.diff = hashring_diff_points,                             \
		.point_pos = ketama_point_pos,                            \
		.point_owner = ketama_point_owner,                        \
		.config = &sym##_variant,                                 \
	}

KETAMA_ALGORITHM(hashring_algo_ketama, "ketama", true, false, .count = KETAMA_COUNT_NPM);
KETAMA_ALGORITHM(hashring_algo_ketama_twemproxy, "ketama_twemproxy", true, false, .count = KETAMA_COUNT_FLOAT,
				 .name_order = true);
KETAMA_ALGORITHM(hashring_algo_ketama_libmemcached, "ketama_libmemcached", false, false, .count = KETAMA_COUNT_FIXED,
				 .oaat = true);
KETAMA_ALGORITHM(hashring_algo_ketama_libmemcached_weighted, "ketama_libmemcached_weighted", true, false,
				 .count = KETAMA_COUNT_FLOAT);
KETAMA_ALGORITHM(hashring_algo_ketama_uhashring, "ketama_uhashring", true, true, .count = KETAMA_COUNT_EXACT,
				 .strictly_after = true);
