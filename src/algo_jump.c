/*-------------------------------------------------------------------------
 *
 * algo_jump.c
 *	  Jump consistent hash (Lamping & Veach, 2014), exactly as Guava's
 *	  Hashing.consistentHash(long, int), over the nodes in node order.
 *
 * The key's 64-bit hash is XXH3-64 of its bytes (ring_hash); bucket b is
 * the node of rank b.  Preference list: b, b+1, ... (mod N).  Jump has no
 * weights and can only grow or shrink at the end (the catalog trigger
 * refuses removing another node).  No data beyond the common image; each
 * bucket owns exactly 1/N of the keys (the algorithm's design property).
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "miscadmin.h"

/* Java's (int) cast of a double: truncation, saturating, NaN to 0. */
static inline int32
jump_java_d2i(double d)
{
	if (d != d)
		return 0;
	if (d >= 2147483647.0)
		return PG_INT32_MAX;
	if (d <= -2147483648.0)
		return PG_INT32_MIN;
	return (int32) d;
}

/* Guava's consistentHash(long input, int buckets), with Java int semantics. */
static int32
jump_guava(int64 input, int32 buckets)
{
	uint64 state = (uint64) input;
	int32  candidate = 0;

	for (;;)
	{
		int32  s;
		int32  plus1;
		double next_double;
		int32  next;

		/* LinearCongruentialGenerator.nextDouble() */
		state = UINT64CONST(2862933555777941757) * state + 1;
		s = (int32) (state >> 33);
		plus1 = (int32) ((uint32) s + 1); /* Java int overflow wraps */
		next_double = (double) plus1 / 2147483648.0;
		next = jump_java_d2i((double) (candidate + 1) / next_double);
		if (next >= 0 && next < buckets)
			candidate = next;
		else
			return candidate;
	}
}

static uint32
jump_bucket(const HashringImage *img, const HashringKey *key)
{
	return (uint32) jump_guava((int64) hashring_hash_bytes(key->data, key->len), (int32) img->nnodes);
}

static int
jump_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	return hashring_walk_by_rank(img, jump_bucket(img, key), n, out);
}

static uint32
jump_owner(const HashringImage *img, const HashringKey *key)
{
	return hashring_owner_by_rank(img, jump_bucket(img, key));
}

/* A bucket's share: every bucket the same (its cell: the bucket's rank). */
static double
jump_cell_share(const HashringImage *img, uint32 rank)
{
	return 1.0 / img->nnodes;
}

static void
jump_shares(const HashringImage *img, double *shares)
{
	double *rank_share = palloc(sizeof(double) * Max(img->nnodes, 1));

	for (uint32 r = 0; r < img->nnodes; r++)
		rank_share[r] = jump_cell_share(img, r);
	hashring_shares_by_rank(img, rank_share, shares);
	pfree(rank_share);
}

/*
 * ring_diff: analytic, like its ring_balance.  Buckets keep their numbers; from
 * N1 to N2 buckets a key stays in bucket b < min(N1, N2) with probability
 * 1/max(N1, N2), and each (old bucket, new bucket) pair across the boundary
 * carries 1/(N1 * N2) (jump's design property: the buckets added or removed
 * take and give keys uniformly).  Down buckets pass on along node order.
 */
static void
jump_diff(HashringDiff *d)
{
	const HashringImage *a = d->a;
	const HashringImage *b = d->b;
	uint64				 n1 = a->nnodes, n2 = b->nnodes;
	uint64				 nmin = Min(n1, n2), nmax = Max(n1, n2);
	uint128				 space = (uint128) 1 << 64;

	if ((uint128) n1 * n2 > 20000000)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring_diff of jump rings is limited to 20,000,000 bucket pairs")));
	for (uint64 r = 0; r < nmin; r++)
		hashring_diff_add(d, hashring_owner_by_rank(a, (uint32) r), hashring_owner_by_rank(b, (uint32) r),
						  space / nmax, 0, 0, false);
	for (uint64 r1 = 0; r1 < n1; r1++)
		for (uint64 r2 = 0; r2 < n2; r2++)
		{
			CHECK_FOR_INTERRUPTS();
			/* across the boundary: one side's bucket exists only in that version */
			if ((r1 < nmin) == (r2 < nmin))
				continue;
			hashring_diff_add(d, hashring_owner_by_rank(a, (uint32) r1), hashring_owner_by_rank(b, (uint32) r2),
							  space / (n1 * n2), 0, 0, false);
		}
}

HASHRING_ALGORITHM(hashring_algo_jump) = {
	.name = "jump",
	.weighted = false,
	.has_points = false,
	.fixed_order = true,
	.key_space_bits = 64,
	.owner = jump_owner,
	.walk = jump_walk,
	.cells = hashring_rank_cells,
	.cell_share = jump_cell_share,
	.cell_walk = hashring_rank_cell_walk,
	.zone_cell = hashring_zone_cell_owner,
	.shares = jump_shares,
	.key_hash = hashring_key_xxh3,
	.diff = jump_diff,
};
