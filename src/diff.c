/*-------------------------------------------------------------------------
 *
 * diff.c
 *	  ring_diff(ring, from_version, to_version): which share of the key space
 *	  moves from which node to which between two versions of a ring.
 *
 * Exact, from the two images.  Each algorithm's own diff (HashringAlgo.diff,
 * in its algo_*.c file) finds the flows and hands them to hashring_diff_add;
 * this file keeps them, merges their ranges and returns the rows.  It also
 * has the two diffs that several algorithms share:
 *	  hashring_diff_points   sweep the union of two sorted point arrays
 *	                         (vnode, ketama): between two consecutive
 *	                         boundaries both owners are constant, so each
 *	                         elementary arc is credited to its (from, to)
 *	                         pair with its length
 *	  hashring_diff_entries  compare two owner tables entry by entry
 *	                         (maglev tables, slot maps)
 *
 * With replicas (ring_diff's fourth argument), the two sweeps compare the
 * replica sets of each piece of the key space (hashring_cell_preference,
 * zones included) instead of its owners: a node that loses a copy is paired
 * with one that gains it, each in its version's preference order; a copy
 * only made or only dropped (fewer live nodes than replicas on one side)
 * has no from or no to node.  The other algorithms' diffs are analytic
 * and report primaries only.
 *
 * Pinned keys (docs/routing-spec.md, "Pins") have no share of the key
 * space: the keys pinned in either version whose owner (with replicas:
 * copies) changes are listed in their flow's pinned_keys, a flow of
 * pinned keys alone having share 0 and no ranges.
 *
 * Output rows: from_node, to_node, share (of the whole key space), the
 * moved ranges and the pinned keys.  Ranges are (lo, hi] arcs of hash
 * positions, or [lo, hi] runs of table entries / slots, merged where they
 * touch.  murmur3's positions are shown
 * as the signed tokens they stand for (HashringAlgo.signed_positions).
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
	List   *keys;	/* pinned keys (text *) that take this flow */
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

void
hashring_diff_too_many(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("ring_diff would return more than %d flows", HASHRING_DIFF_MAX_FLOWS),
			 errdetail("Between these versions nearly every pair of nodes exchanges keys."),
			 errhint("Compare hashring.ring_node() at both versions over the keys, or plan with hashring.ring_plan_moves().")));
}

/*
 * Credit `amount` (positions or entries) moving from node index `from` of
 * d->a to node index `to` of d->b, over the range (lo, hi] of positions or
 * [lo, hi] of entries (closed_lo); ranges of one flow must come in order.
 * Algorithms without ranges pass lo = hi = 0, closed_lo = false.
 */
/* The flow from node index `from` of d->a to `to` of d->b, made on first use. */
static DiffFlow *
diff_flow(HashringDiff *d, uint32 from, uint32 to)
{
	HTAB	 *flows = d->flows;
	DiffKey	  key;
	DiffFlow *flow;
	bool	  found;

	key.from = from;
	key.to = to;
	flow = hash_search(flows, &key, HASH_FIND, NULL);
	if (flow == NULL && hash_get_num_entries(flows) >= HASHRING_DIFF_MAX_FLOWS)
		hashring_diff_too_many();
	flow = hash_search(flows, &key, HASH_ENTER, &found);
	if (!found)
	{
		flow->amount = 0;
		flow->ranges = NIL;
		flow->keys = NIL;
	}
	return flow;
}

void
hashring_diff_add(HashringDiff *d, uint32 from, uint32 to, uint128 amount, uint64 lo, uint64 hi, bool closed_lo)
{
	DiffFlow  *flow;
	DiffRange *last;

	if (amount == 0 || (from != HR_DIFF_NO_NODE && to != HR_DIFF_NO_NODE && diff_same_name(d->a, from, d->b, to)))
		return;
	flow = diff_flow(d, from, to);
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

/* Point i's owner; with no points at all, the first live node in node order. */
static inline uint32
diff_owner(const HashringImage *img, HashringPointOwner owner, uint32 i)
{
	if (img->npoints == 0)
		return hashring_owner_by_rank(img, 0);
	return owner(img, i);
}

/* Whether node `node` of image `img` is among list[0..n) of image `other`. */
static bool
diff_in(const HashringImage *img, uint32 node, const HashringImage *other, const uint32 *list, int n)
{
	for (int i = 0; i < n; i++)
		if (diff_same_name(img, node, other, list[i]))
			return true;
	return false;
}

/*
 * Of the replica sets d->lists[0..na) (in d->a) and d->lists[n..n+nb) (in
 * d->b), n = max(replicas, 1): the nodes that lose a copy into the third
 * list and those that gain one into the fourth, each in its version's
 * preference order; a lost copy pairs with the gained copy of its rank.
 */
static void
diff_pair(HashringDiff *d, int na, int nb, int *nlost, int *ngained)
{
	int		n = Max(d->replicas, 1);
	uint32 *pa = d->lists;
	uint32 *pb = pa + n;
	uint32 *lost = pb + n;
	uint32 *gained = lost + n;

	for (int i = 0; i < na; i++)
		if (!diff_in(d->a, pa[i], d->b, pb, nb))
			lost[(*nlost)++] = pa[i];
	for (int i = 0; i < nb; i++)
		if (!diff_in(d->b, pb[i], d->a, pa, na))
			gained[(*ngained)++] = pb[i];
}

/*
 * The keys of cell ca of d->a, which are in cell cb of d->b: `amount` of
 * them over (lo, hi] or [lo, hi] (closed_lo).  Their owners' flow, or with
 * replicas the flows of their copies.
 */
static void
diff_cells(HashringDiff *d, uint32 ca, uint32 cb, uint128 amount, uint64 lo, uint64 hi, bool closed_lo)
{
	HashringPointOwner owner = hashring_algo(d->a->algorithm)->point_owner;
	uint32			  *pa, *pb, *lost, *gained;
	int				   na, nb, nlost = 0, ngained = 0;

	d->swept = true;
	if (d->replicas == 0)
	{
		if (owner)
			hashring_diff_add(d, diff_owner(d->a, owner, ca), diff_owner(d->b, owner, cb), amount, lo, hi,
							  closed_lo);
		else
			hashring_diff_add(d, ((const uint32 *) HR_IMAGE_DATA(d->a))[ca],
							  ((const uint32 *) HR_IMAGE_DATA(d->b))[cb], amount, lo, hi, closed_lo);
		return;
	}
	pa = d->lists;
	pb = pa + d->replicas;
	lost = pb + d->replicas;
	gained = lost + d->replicas;
	na = hashring_cell_preference(d->a, ca, d->replicas, pa);
	nb = hashring_cell_preference(d->b, cb, d->replicas, pb);
	diff_pair(d, na, nb, &nlost, &ngained);
	for (int i = 0; i < Max(nlost, ngained); i++)
		hashring_diff_add(d, i < nlost ? lost[i] : HR_DIFF_NO_NODE, i < ngained ? gained[i] : HR_DIFF_NO_NODE, amount,
						  lo, hi, closed_lo);
}

/*
 * The pinned keys of either version whose owner (with replicas: replica
 * set) differs between them, each added to its flows' keys: a pinned key
 * has no share of the key space, so it is listed rather than measured
 * (its hash position lies in some range flow, which it does not follow).
 */
static void
diff_pins(HashringDiff *d)
{
	const HashringImage *imgs[2] = {d->a, d->b};
	int					 n = Max(d->replicas, 1);
	uint32				*pa = d->lists;
	uint32				*pb = pa + n;
	uint32				*lost = pb + n;
	uint32				*gained = lost + n;

	for (int side = 0; side < 2; side++)
	{
		const HashringImage *img = imgs[side];

		for (uint32 s = 0; img->npins > 0 && s <= img->pin_mask; s++)
		{
			HashringKey key;
			int			na, nb, nlost = 0, ngained = 0;

			if (!hashring_pin_key(img, s, &key))
				continue;
			/* a key pinned on both sides is seen from the "from" side */
			if (side == 1 && hashring_pin_lookup(d->a, key.data, key.len) != PG_UINT32_MAX)
				continue;
			CHECK_FOR_INTERRUPTS();
			na = hashring_preference(d->a, &key, (int) Min((uint32) n, d->a->nlive), pa);
			nb = hashring_preference(d->b, &key, (int) Min((uint32) n, d->b->nlive), pb);
			diff_pair(d, na, nb, &nlost, &ngained);
			for (int i = 0; i < Max(nlost, ngained); i++)
			{
				DiffFlow *flow = diff_flow(d, i < nlost ? lost[i] : HR_DIFF_NO_NODE,
										   i < ngained ? gained[i] : HR_DIFF_NO_NODE);

				flow->keys = lappend(flow->keys, cstring_to_text_with_len(key.data, key.len));
			}
		}
	}
}

/*
 * The diff of the point-array algorithms (HashringAlgo.point_pos and
 * point_owner): sweep the union of both sorted point arrays.  Boundaries
 * b_0 < b_1 < ...; the keys in (b_{k-1}, b_k] go, in each image, to its
 * first point >= b_k (wrapping to its point 0), and the keys after the last
 * boundary wrap to the first boundary's owners.
 */
void
hashring_diff_points(HashringDiff *d)
{
	HashringPointPos	 pos = hashring_algo(d->a->algorithm)->point_pos;
	const HashringImage *a = d->a;
	const HashringImage *b = d->b;
	uint32				 ia = 0, ib = 0;
	uint64				 prev = 0;
	bool				 have_prev = false;
	uint64				 first = 0;

	while (ia < a->npoints || ib < b->npoints)
	{
		uint64 cur;
		uint32 ca, cb;

		CHECK_FOR_INTERRUPTS();
		if (ib >= b->npoints || (ia < a->npoints && pos(a, ia) <= pos(b, ib)))
			cur = pos(a, ia);
		else
			cur = pos(b, ib);
		ca = ia < a->npoints ? ia : 0;
		cb = ib < b->npoints ? ib : 0;
		if (!have_prev)
		{
			first = cur;
			have_prev = true;
		}
		else
			diff_cells(d, ca, cb, (uint128) (cur - prev), prev, cur, false);
		prev = cur;
		while (ia < a->npoints && pos(a, ia) == cur)
			ia++;
		while (ib < b->npoints && pos(b, ib) == cur)
			ib++;
	}
	/* the wrapping arc (last boundary, first boundary], owned by the first points */
	if (have_prev)
		diff_cells(d, 0, 0, d->space - (uint128) (prev - first), prev, first, false);
	else
		diff_cells(d, 0, 0, d->space, 0, (uint64) (d->space - 1), true);
}

/*
 * Entry by entry: two tables of one uint32 owner per entry at the start of
 * the data (maglev tables, slot maps), which must have the same size;
 * `what` names the table in the error.
 */
void
hashring_diff_entries(HashringDiff *d, const char *what)
{
	if (d->a->data_count != d->b->data_count)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the %s of ring \"%s\" changed size between the two versions", what, d->a->ring),
				 errhint("Compare hashring.ring_node() at both versions over the keys instead.")));
	for (uint32 e = 0; e < d->a->data_count; e++)
	{
		CHECK_FOR_INTERRUPTS();
		diff_cells(d, e, e, 1, e, e, true);
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

/*
 * A position as ring_diff shows it: as it is, or for signed_positions
 * (murmur3) as the signed token t it stands for (position t XOR 2^63).
 */
static Datum
diff_position(const HashringAlgo *algo, uint64 v)
{
	if (algo->signed_positions)
		return diff_numeric_str(psprintf(INT64_FORMAT, (int64) (v ^ (UINT64CONST(1) << 63))));
	return diff_numeric(v);
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

/* Bytewise order of two pinned keys (text *). */
static int
diff_key_cmp(const ListCell *a, const ListCell *b)
{
	text *ta = lfirst(a);
	text *tb = lfirst(b);
	int	  la = VARSIZE_ANY_EXHDR(ta);
	int	  lb = VARSIZE_ANY_EXHDR(tb);
	int	  c = memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), Min(la, lb));

	return c != 0 ? c : (la > lb) - (la < lb);
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
	HashringDiff		 diff;
	const HashringAlgo	*algo;
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
	memset(&diff, 0, sizeof(diff));
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		if (PG_GETARG_INT32(3) < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("number of replicas must be at least 1"),
					 errdetail("The value given was %d.", PG_GETARG_INT32(3))));
		diff.replicas = PG_GETARG_INT32(3);
	}

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

	algo = hashring_algo(a->algorithm);
	if (algo->diff == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ring_diff does not support %s rings", algo->name),
				 errhint("Compare hashring.ring_node() at both versions over the keys instead.")));
	diff.a = a;
	diff.b = b;
	diff.flows = flows;
	diff.replicas = (int) Min((uint32) diff.replicas, Max(a->nlive, b->nlive));
	diff.lists = palloc(sizeof(uint32) * Max(diff.replicas, 1) * 4);
	/* 2^bits hash values, or the entries of the table */
	diff.space = algo->key_space_bits > 0 ? (uint128) 1 << algo->key_space_bits : (uint128) a->data_count;

	/* with no live node on one side there is nothing to route, so no flow */
	if (a->nlive > 0 && b->nlive > 0)
		algo->diff(&diff);
	if (diff.replicas > 0 && !diff.swept && a->nlive > 0 && b->nlive > 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("ring_diff reports replica flows only for rings of point and table algorithms, not %s", algo->name),
				 errhint("Plan with hashring.ring_plan_moves(..., replicas => n) over the table's keys instead.")));
	if (a->nlive > 0 && b->nlive > 0)
		diff_pins(&diff);

	hash_seq_init(&seq, flows);
	while ((flow = hash_seq_search(&seq)) != NULL)
	{
		Datum	  values[5];
		bool	  nulls[5] = {0};
		Datum	 *keys;
		int		  nkeys = 0;
		Datum	 *ranges = palloc(sizeof(Datum) * Max(list_length(flow->ranges), 1));
		int		  n = 0;
		ListCell *lc;

		if (flow->key.from == HR_DIFF_NO_NODE)
			nulls[0] = true;
		else
			values[0] = PointerGetDatum(cstring_to_text_with_len(HR_IMAGE_NAME(a, flow->key.from),
																 HR_IMAGE_NODES(a)[flow->key.from].name_len));
		if (flow->key.to == HR_DIFF_NO_NODE)
			nulls[1] = true;
		else
			values[1] = PointerGetDatum(cstring_to_text_with_len(HR_IMAGE_NAME(b, flow->key.to),
																 HR_IMAGE_NODES(b)[flow->key.to].name_len));
		values[2] = Float8GetDatum((double) flow->amount / (double) diff.space);
		foreach (lc, flow->ranges)
		{
			DiffRange *r = lfirst(lc);
			RangeBound lower, upper;

			lower.val = diff_position(algo, r->lo);
			lower.infinite = false;
			lower.inclusive = r->closed_lo;
			lower.lower = true;
			upper.val = diff_position(algo, r->hi);
			upper.infinite = false;
			upper.inclusive = true;
			upper.lower = false;
			if (!r->closed_lo && r->hi < r->lo)
			{
				/*
				 * the wrapping arc: (lo, 2^bits) and [0, hi]; as tokens
				 * (lo, 2^63) and [-2^63, hi]
				 */
				upper.val = diff_numeric_str(psprintf("%.0f", ldexp(1.0, algo->key_space_bits -
																			 (algo->signed_positions ? 1 : 0))));
				upper.inclusive = false;
				ranges[n++] = diff_range(range_type, &lower, &upper);
				lower.val = diff_position(algo, 0);
				lower.inclusive = true;
				upper.val = diff_position(algo, r->hi);
				upper.inclusive = true;
				ranges = repalloc(ranges, sizeof(Datum) * (list_length(flow->ranges) + 1));
			}
			ranges[n++] = diff_range(range_type, &lower, &upper);
		}
		values[3] = PointerGetDatum(construct_array(ranges, n, NUMRANGEOID, -1, false, TYPALIGN_INT));
		list_sort(flow->keys, diff_key_cmp);
		keys = palloc(sizeof(Datum) * Max(list_length(flow->keys), 1));
		foreach (lc, flow->keys)
			keys[nkeys++] = PointerGetDatum(lfirst(lc));
		values[4] = PointerGetDatum(construct_array(keys, nkeys, TEXTOID, -1, false, TYPALIGN_INT));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
