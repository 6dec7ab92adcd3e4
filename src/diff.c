/*-------------------------------------------------------------------------
 *
 * diff.c
 *	  ring_diff(ring, from_version, to_version): which share of the key space
 *	  moves from which node to which between two versions of a ring.
 *
 * Exact, from the two images, where the key space is a line the images
 * partition:
 *	  vnode, ketama  sweep the union of both point arrays; between two
 *	                 consecutive boundaries both owners are constant, so each
 *	                 elementary arc is credited to its (from, to) pair with
 *	                 its length (2^64 or 2^32 positions)
 *	  maglev, slots  compare entry by entry (maglev: same table size)
 *	  xor            walk both id sets as one binary trie (diff_xor)
 *	  pg_hash        count row hashes per remainder pair by the CRT
 *	  rendezvous     exact, integrating the joint winner distribution
 *	  jump           analytic (its design property), like its ring_balance
 *
 * Output rows: from_node, to_node, share (of the whole key space), and the
 * moved ranges: (lo, hi] arcs of hash positions, or [lo, hi] runs of table
 * entries / slots, merged where they touch.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/hsearch.h"
#include "utils/numeric.h"
#include "utils/rangetypes.h"
#include "utils/typcache.h"

PG_FUNCTION_INFO_V1(hashring_ring_diff);

typedef struct DiffKey
{
	uint32 from; /* node index in the "from" image */
	uint32 to;	 /* node index in the "to" image */
} DiffKey;

typedef struct DiffFlow
{
	DiffKey key;
	uint128 amount; /* positions or entries */
	List   *ranges; /* of DiffRange *, in order */
} DiffFlow;

typedef struct DiffRange
{
	uint64 lo;
	uint64 hi;
	bool   closed_lo; /* [lo, hi] for entries; (lo, hi] for arcs */
} DiffRange;

/* Whether node i of image a and node j of image b have the same name. */
static inline bool
diff_same_name(const HashringImage *a, uint32 i, const HashringImage *b, uint32 j)
{
	return HR_IMAGE_NODES(a)[i].name_len == HR_IMAGE_NODES(b)[j].name_len &&
		   memcmp(HR_IMAGE_NAME(a, i), HR_IMAGE_NAME(b, j), HR_IMAGE_NODES(a)[i].name_len) == 0;
}

/*
 * Memory is proportional to the flows (node pairs): bounded, so that any
 * role that may route cannot make a backend allocate without limit.
 */
#define HASHRING_DIFF_MAX_FLOWS 100000

static void
diff_too_many(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("ring_diff would return more than %d flows", HASHRING_DIFF_MAX_FLOWS),
			 errdetail("Between these versions nearly every pair of nodes exchanges keys."),
			 errhint("Compare hashring.ring_node() at both versions over the keys, or plan with hashring.ring_plan_moves().")));
}

static void
diff_add(HTAB *flows, const HashringImage *a, uint32 from, const HashringImage *b, uint32 to,
		 uint128 amount, uint64 lo, uint64 hi, bool closed_lo)
{
	DiffKey	   key;
	DiffFlow  *flow;
	bool	   found;
	DiffRange *last;

	if (amount == 0 || diff_same_name(a, from, b, to))
		return;
	key.from = from;
	key.to = to;
	flow = hash_search(flows, &key, HASH_FIND, NULL);
	if (flow == NULL && hash_get_num_entries(flows) >= HASHRING_DIFF_MAX_FLOWS)
		diff_too_many();
	flow = hash_search(flows, &key, HASH_ENTER, &found);
	if (!found)
	{
		flow->amount = 0;
		flow->ranges = NIL;
	}
	flow->amount += amount;
	last = flow->ranges ? llast(flow->ranges) : NULL;
	if (last && last->hi == lo && !closed_lo)
		last->hi = hi; /* touching arcs merge */
	else if (last && closed_lo && last->hi + 1 == lo)
		last->hi = hi; /* adjacent entries merge */
	else
	{
		DiffRange *r = palloc(sizeof(DiffRange));

		r->lo = lo;
		r->hi = hi;
		r->closed_lo = closed_lo;
		flow->ranges = lappend(flow->ranges, r);
	}
}

/* Position i of a point image (vnode: 64-bit; ketama: 32-bit values). */
typedef struct DiffPoints
{
	const HashringImage *img;
	bool				 ketama;
} DiffPoints;

static inline uint64
diff_pos(const DiffPoints *p, uint32 i)
{
	if (p->ketama)
		return ((const uint32 *) HR_IMAGE_DATA(p->img))[2 * i];
	return HR_POINT_POS(&HR_IMAGE_POINTS(p->img)[i]);
}

static inline uint32
diff_owner(const DiffPoints *p, uint32 i)
{
	/* live nodes without points: all goes the preference list's way */
	if (p->img->npoints == 0)
		return hashring_owner_by_rank(p->img, 0);
	if (p->ketama)
		return ((const uint32 *) HR_IMAGE_DATA(p->img))[2 * i + 1];
	return HR_IMAGE_POINTS(p->img)[i].owner;
}

/*
 * Sweep the union of two sorted point arrays.  Boundaries b_0 < b_1 < ...;
 * the keys in (b_{k-1}, b_k] go, in each image, to its first point >= b_k
 * (wrapping to its point 0), and the keys after the last boundary wrap to
 * the first boundary's owners.
 */
static void
diff_points(HTAB *flows, const HashringImage *a, const HashringImage *b, bool ketama, uint128 space)
{
	DiffPoints pa = {a, ketama};
	DiffPoints pb = {b, ketama};
	uint32	   ia = 0, ib = 0;
	uint64	   prev = 0;
	bool	   have_prev = false;
	uint64	   first = 0;

	while (ia < a->npoints || ib < b->npoints)
	{
		uint64 cur;
		uint32 oa, ob;

		CHECK_FOR_INTERRUPTS();
		if (ib >= b->npoints || (ia < a->npoints && diff_pos(&pa, ia) <= diff_pos(&pb, ib)))
			cur = diff_pos(&pa, ia);
		else
			cur = diff_pos(&pb, ib);
		oa = diff_owner(&pa, ia < a->npoints ? ia : 0);
		ob = diff_owner(&pb, ib < b->npoints ? ib : 0);
		if (!have_prev)
		{
			first = cur;
			have_prev = true;
		}
		else
			diff_add(flows, a, oa, b, ob, (uint128) (cur - prev), prev, cur, false);
		prev = cur;
		while (ia < a->npoints && diff_pos(&pa, ia) == cur)
			ia++;
		while (ib < b->npoints && diff_pos(&pb, ib) == cur)
			ib++;
	}
	/* the wrapping arc (last boundary, first boundary], owned by the first points */
	if (have_prev)
		diff_add(flows, a, diff_owner(&pa, 0), b, diff_owner(&pb, 0),
				 space - (uint128) (prev - first), prev, first, false);
	else
		diff_add(flows, a, diff_owner(&pa, 0), b, diff_owner(&pb, 0), space, 0, space - 1, true);
}

/* Entry by entry: maglev tables, slot maps (uint32 owner per entry). */
static void
diff_entries(HTAB *flows, const HashringImage *a, const HashringImage *b, uint32 n)
{
	const uint32 *ta = HR_IMAGE_DATA(a);
	const uint32 *tb = HR_IMAGE_DATA(b);

	for (uint32 e = 0; e < n; e++)
	{
		CHECK_FOR_INTERRUPTS();
		diff_add(flows, a, ta[e], b, tb[e], 1, e, e, true);
	}
}

/*
 * xor: the key space splits like a binary trie.  For the keys under a
 * prefix, each image's candidates are its live ids sharing the longest
 * prefix with them; a bit splits the candidates of an image only when both
 * values occur, and the keys' mass halves only when some image splits.  When
 * each image has one candidate left, the mass is a flow.  Mass is counted in
 * units of 2^-64 of the key space (exact unless two ids share over 64 bits).
 */
static inline int
diff_bit(const HashringImage *img, uint32 node, int depth)
{
	const uint8 *id = (const uint8 *) HR_IMAGE_DATA(img) + node * HASHRING_NODE_ID_LEN;

	return (id[depth / 8] >> (7 - depth % 8)) & 1;
}

static void
diff_xor_rec(HTAB *flows, const HashringImage *a, uint32 *ca, int na,
			 const HashringImage *b, uint32 *cb, int nb, int depth, uint128 mass)
{
	while ((na > 1 || nb > 1) && depth < HASHRING_NODE_ID_LEN * 8)
	{
		int	 a1 = 0, b1 = 0;
		bool split;

		for (int i = 0; i < na; i++)
			a1 += diff_bit(a, ca[i], depth);
		for (int i = 0; i < nb; i++)
			b1 += diff_bit(b, cb[i], depth);
		split = (a1 > 0 && a1 < na) || (b1 > 0 && b1 < nb);
		if (split)
		{
			for (int bit = 0; bit <= 1; bit++)
			{
				uint32 *sa = palloc(sizeof(uint32) * na);
				uint32 *sb = palloc(sizeof(uint32) * nb);
				int		ka = 0, kb = 0;

				for (int i = 0; i < na; i++)
					if (diff_bit(a, ca[i], depth) == bit || a1 == 0 || a1 == na)
						sa[ka++] = ca[i];
				for (int i = 0; i < nb; i++)
					if (diff_bit(b, cb[i], depth) == bit || b1 == 0 || b1 == nb)
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
				diff_xor_rec(flows, a, sa, ka, b, sb, kb, depth + 1, mass / 2);
			}
			return;
		}
		depth++;
	}
	/* one candidate each, or equal ids: the first by name (lowest index) */
	diff_add(flows, a, ca[0], b, cb[0], mass, 0, 0, false);
}

static void
diff_xor(HTAB *flows, const HashringImage *a, const HashringImage *b)
{
	uint32 *ca = palloc(sizeof(uint32) * a->nnodes);
	uint32 *cb = palloc(sizeof(uint32) * b->nnodes);
	int		na = 0, nb = 0;

	for (uint32 i = 0; i < a->nnodes; i++)
		if (HR_NODE_LIVE(a, i))
			ca[na++] = i;
	for (uint32 i = 0; i < b->nnodes; i++)
		if (HR_NODE_LIVE(b, i))
			cb[nb++] = i;
	diff_xor_rec(flows, a, ca, na, b, cb, nb, 0, (uint128) 1 << 64);
}

/*
 * pg_hash: the row hash is uniform over 2^64 values; remainder r1 of N1 and
 * r2 of N2 share exactly the values x < 2^64 with x = r1 (mod N1) and
 * x = r2 (mod N2), counted by the Chinese remainder theorem.
 */
static uint64
diff_gcd(uint64 x, uint64 y)
{
	while (y)
	{
		uint64 t = x % y;

		x = y;
		y = t;
	}
	return x;
}

/* inverse of x modulo m (gcd 1), by the extended Euclidean algorithm */
static int64
diff_inverse(int64 x, int64 m)
{
	int64 t = 0, newt = 1, r = m, newr = x % m;

	while (newr != 0)
	{
		int64 q = r / newr;
		int64 tmp;

		tmp = t - q * newt;
		t = newt;
		newt = tmp;
		tmp = r - q * newr;
		r = newr;
		newr = tmp;
	}
	return t < 0 ? t + m : t;
}

static void
diff_pghash(HTAB *flows, const HashringImage *a, const HashringImage *b)
{
	uint64	n1 = a->nnodes, n2 = b->nnodes;
	uint64	g = diff_gcd(n1, n2);
	uint64	m = n2 / g;
	uint128 l = (uint128) (n1 / g) * n2;
	int64	inv = m > 1 ? diff_inverse((int64) ((n1 / g) % m), (int64) m) : 0;

	if ((uint128) n1 * n2 / g > HASHRING_DIFF_MAX_FLOWS)
		diff_too_many();
	for (uint64 r1 = 0; r1 < n1; r1++)
	{
		uint32 from = hashring_owner_by_rank(a, (uint32) r1);

		CHECK_FOR_INTERRUPTS();
		for (uint64 r2 = (r1 % g); r2 < n2; r2 += g)
		{
			/* x = r1 + n1 * t with n1 * t = r2 - r1 (mod n2) */
			int64	d = (int64) ((r2 + n2 - r1 % n2) % n2) / (int64) g;
			uint128 t = m > 1 ? ((uint128) d * (uint64) inv) % m : 0;
			uint128 x0 = r1 + (uint128) n1 * t;
			uint128 count = (((uint128) 1 << 64) - 1 - x0) / l + 1;

			diff_add(flows, a, from, b, hashring_owner_by_rank(b, (uint32) r2), count, 0, 0, false);
		}
	}
}

/*
 * jump: analytic, like its ring_balance.  Buckets keep their numbers; from
 * N1 to N2 buckets a key stays in bucket b < min(N1, N2) with probability
 * 1/max(N1, N2), and each (old bucket, new bucket) pair across the boundary
 * carries 1/(N1 * N2) (jump's design property: the buckets added or removed
 * take and give keys uniformly).  Down buckets pass on along node order.
 */
static void
diff_jump(HTAB *flows, const HashringImage *a, const HashringImage *b)
{
	uint64	n1 = a->nnodes, n2 = b->nnodes;
	uint64	nmin = Min(n1, n2), nmax = Max(n1, n2);
	uint128 space = (uint128) 1 << 64;

	if ((uint128) n1 * n2 > 20000000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring_diff of jump rings is limited to 20,000,000 bucket pairs")));
	for (uint64 r = 0; r < nmin; r++)
		diff_add(flows, a, hashring_owner_by_rank(a, (uint32) r), b, hashring_owner_by_rank(b, (uint32) r),
				 space / nmax, 0, 0, false);
	for (uint64 r1 = 0; r1 < n1; r1++)
		for (uint64 r2 = 0; r2 < n2; r2++)
		{
			CHECK_FOR_INTERRUPTS();
			/* across the boundary: one side's bucket exists only in that version */
			if ((r1 < nmin) == (r2 < nmin))
				continue;
			if (r1 >= nmin && r2 >= nmin)
				continue;
			diff_add(flows, a, hashring_owner_by_rank(a, (uint32) r1), b, hashring_owner_by_rank(b, (uint32) r2),
					 space / (n1 * n2), 0, 0, false);
		}
}

/*
 * rendezvous: exact.  With X_s = -ln(u_s) ~ Exp(1), shared by both versions
 * (a node's draw depends only on its name and the key), A picks argmin
 * X_s / a_s and B argmin X_s / b_s.  For i -> j (i != j), substituting
 * X_j = t X_i and integrating X_i out leaves
 *	  P = integral over t in (a_j / a_i, b_j / b_i) of dt / C(t)^2,
 *	  C(t) = 1 + t + sum over k != i, j of max(a_k / a_i, t * b_k / b_j),
 * piecewise linear in t, so each piece integrates in closed form.
 */
typedef struct DiffUnion
{
	int	   ia, ib; /* node index in a / b, or -1 */
	double wa, wb; /* live weight in a / b, or 0 */
} DiffUnion;

static int
diff_double_cmp(const void *x, const void *y)
{
	double a = *(const double *) x, b = *(const double *) y;

	return (a > b) - (a < b);
}

static void
diff_rendezvous(HTAB *flows, const HashringImage *a, const HashringImage *b)
{
	DiffUnion *u = palloc(sizeof(DiffUnion) * (a->nnodes + b->nnodes));
	int		   n = 0;
	uint32	   i = 0, j = 0;
	double	  *bp;

	/* the union of both node tables (both sorted by name) */
	while (i < a->nnodes || j < b->nnodes)
	{
		int c;

		if (i >= a->nnodes)
			c = 1;
		else if (j >= b->nnodes)
			c = -1;
		else
		{
			uint32 la = HR_IMAGE_NODES(a)[i].name_len, lb = HR_IMAGE_NODES(b)[j].name_len;

			c = memcmp(HR_IMAGE_NAME(a, i), HR_IMAGE_NAME(b, j), Min(la, lb));
			if (c == 0)
				c = (la > lb) - (la < lb);
		}
		u[n].ia = c <= 0 ? (int) i : -1;
		u[n].ib = c >= 0 ? (int) j : -1;
		u[n].wa = (u[n].ia >= 0 && HR_NODE_LIVE(a, i)) ? HR_IMAGE_NODES(a)[i].weight : 0;
		u[n].wb = (u[n].ib >= 0 && HR_NODE_LIVE(b, j)) ? HR_IMAGE_NODES(b)[j].weight : 0;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		n++;
	}
	if (n > 300)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring_diff of rendezvous rings is limited to 300 nodes")));
	bp = palloc(sizeof(double) * (n + 2));
	for (int x = 0; x < n; x++)
	{
		if (u[x].wa <= 0)
			continue;
		for (int y = 0; y < n; y++)
		{
			double lo, hi, p, q, total = 0;
			int	   nb = 0;

			if (y == x || u[y].wb <= 0)
				continue;
			lo = u[y].wa / u[x].wa;										  /* A: i beats j */
			hi = u[x].wb > 0 ? u[y].wb / u[x].wb : get_float8_infinity(); /* B: j beats i */
			if (!(lo < hi))
				continue;
			bp[nb++] = lo;
			for (int k = 0; k < n; k++)
			{
				double al, be;

				if (k == x || k == y)
					continue;
				al = u[k].wa / u[x].wa;
				be = u[k].wb / u[y].wb;
				if (al > 0 && be > 0 && al / be > lo && al / be < hi)
					bp[nb++] = al / be;
			}
			qsort(bp, nb, sizeof(double), diff_double_cmp);
			bp[nb++] = hi;
			for (int s = 0; s + 1 < nb; s++)
			{
				double t0 = bp[s], t1 = bp[s + 1], mid;

				if (!(t1 > t0))
					continue;
				mid = isinf(t1) ? t0 + 1 : (t0 + t1) / 2;
				/* C(t) = p + q t on this piece */
				p = 1;
				q = 1;
				for (int k = 0; k < n; k++)
				{
					double al, be;

					if (k == x || k == y)
						continue;
					al = u[k].wa / u[x].wa;
					be = u[k].wb / u[y].wb;
					if (al >= be * mid)
						p += al;
					else
						q += be;
				}
				total += (1.0 / (p + q * t0) - (isinf(t1) ? 0.0 : 1.0 / (p + q * t1))) / q;
			}
			if (total > 0)
				diff_add(flows, a, (uint32) u[x].ia, b, (uint32) u[y].ib,
						 (uint128) (total * 18446744073709551616.0), 0, 0, false);
		}
	}
}

static Datum
diff_numeric_str(const char *s)
{
	return DirectFunctionCall3(numeric_in, CStringGetDatum(s), ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

static Datum
diff_numeric(uint64 v)
{
	return diff_numeric_str(psprintf(UINT64_FORMAT, v));
}

static Datum
diff_range(TypeCacheEntry *tc, RangeBound *lower, RangeBound *upper)
{
#if PG_VERSION_NUM >= 160000
	return RangeTypePGetDatum(make_range(tc, lower, upper, false, NULL));
#else
	return RangeTypePGetDatum(make_range(tc, lower, upper, false));
#endif
}

Datum
hashring_ring_diff(PG_FUNCTION_ARGS)
{
	ReturnSetInfo		*rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text				*ring;
	int64				 from_version;
	int64				 to_version;
	HashringCacheHint	 hints[2] = {{NULL, 0}, {NULL, 0}};
	const HashringImage *a;
	const HashringImage *b;
	HASHCTL				 ctl;
	HTAB				*flows;
	HASH_SEQ_STATUS		 seq;
	DiffFlow			*flow;
	uint128				 space;
	TypeCacheEntry		*range_type = lookup_type_cache(NUMRANGEOID, TYPECACHE_RANGE_INFO);

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return (Datum) 0;
	ring = PG_GETARG_TEXT_PP(0);
	from_version = PG_GETARG_INT64(1);
	to_version = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT64(2);
	if (from_version < 1 || (!PG_ARGISNULL(2) && to_version < 1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ring version must be at least 1")));

	/* two cache entries: each image stays valid while we use both */
	a = hashring_get_image(VARDATA_ANY(ring), VARSIZE_ANY_EXHDR(ring), from_version, &hints[0]);
	b = hashring_get_image(VARDATA_ANY(ring), VARSIZE_ANY_EXHDR(ring), to_version, &hints[1]);
	if (a->algorithm != b->algorithm)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ring \"%s\" changed its algorithm between the two versions", a->ring),
				 errhint("Compare hashring.ring_node() at both versions over the keys instead.")));

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(DiffKey);
	ctl.entrysize = sizeof(DiffFlow);
	ctl.hcxt = CurrentMemoryContext;
	flows = hash_create("hashring diff", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	space = (uint128) 1 << 64; /* 2^64 hash values, unless said otherwise */
	if (a->algorithm == HASHRING_ALGO_KETAMA)
		space = (uint128) 1 << 32;
	else if (a->algorithm == HASHRING_ALGO_MAGLEV || a->algorithm == HASHRING_ALGO_SLOTS)
	{
		if (a->data_count != b->data_count)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("the %s of ring \"%s\" changed size between the two versions",
							a->algorithm == HASHRING_ALGO_SLOTS ? "slot map" : "maglev table", a->ring),
					 errhint("Compare hashring.ring_node() at both versions over the keys instead.")));
		space = a->data_count;
	}

	/* with no live node on one side there is nothing to route, so no flow */
	if (a->nlive > 0 && b->nlive > 0)
	{
		switch (a->algorithm)
		{
			case HASHRING_ALGO_VNODE:
			case HASHRING_ALGO_KETAMA:
				diff_points(flows, a, b, a->algorithm == HASHRING_ALGO_KETAMA, space);
				break;
			case HASHRING_ALGO_MAGLEV:
			case HASHRING_ALGO_SLOTS:
				diff_entries(flows, a, b, a->data_count);
				break;
			case HASHRING_ALGO_XOR:
				diff_xor(flows, a, b);
				break;
			case HASHRING_ALGO_PG_HASH:
				diff_pghash(flows, a, b);
				break;
			case HASHRING_ALGO_JUMP:
				diff_jump(flows, a, b);
				break;
			case HASHRING_ALGO_RENDEZVOUS:
				diff_rendezvous(flows, a, b);
				break;
			default:
				elog(ERROR, "unknown hashring algorithm %u", a->algorithm);
		}
	}

	hash_seq_init(&seq, flows);
	while ((flow = hash_seq_search(&seq)) != NULL)
	{
		Datum	  values[4];
		bool	  nulls[4] = {0};
		Datum	 *ranges = palloc(sizeof(Datum) * Max(list_length(flow->ranges), 1));
		int		  n = 0;
		ListCell *lc;

		values[0] = PointerGetDatum(cstring_to_text_with_len(HR_IMAGE_NAME(a, flow->key.from),
															 HR_IMAGE_NODES(a)[flow->key.from].name_len));
		values[1] = PointerGetDatum(cstring_to_text_with_len(HR_IMAGE_NAME(b, flow->key.to),
															 HR_IMAGE_NODES(b)[flow->key.to].name_len));
		values[2] = Float8GetDatum((double) flow->amount / (double) space);
		foreach (lc, flow->ranges)
		{
			DiffRange *r = lfirst(lc);
			RangeBound lower, upper;

			lower.val = diff_numeric(r->lo);
			lower.infinite = false;
			lower.inclusive = r->closed_lo;
			lower.lower = true;
			upper.val = diff_numeric(r->hi);
			upper.infinite = false;
			upper.inclusive = true;
			upper.lower = false;
			if (!r->closed_lo && r->hi < r->lo)
			{
				/* the wrapping arc: (lo, 2^64 or 2^32) and [0, hi] */
				upper.val = diff_numeric_str(a->algorithm == HASHRING_ALGO_KETAMA ? "4294967296" : "18446744073709551616");
				upper.inclusive = false;
				ranges[n++] = diff_range(range_type, &lower, &upper);
				lower.val = diff_numeric(0);
				lower.inclusive = true;
				upper.val = diff_numeric(r->hi);
				upper.inclusive = true;
				ranges = repalloc(ranges, sizeof(Datum) * (list_length(flow->ranges) + 1));
			}
			ranges[n++] = diff_range(range_type, &lower, &upper);
		}
		values[3] = PointerGetDatum(construct_array(ranges, n, NUMRANGEOID, -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
