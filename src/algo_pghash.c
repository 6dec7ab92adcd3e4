/*-------------------------------------------------------------------------
 *
 * algo_pghash.c
 *	  The partition PostgreSQL's own hash partitioning picks, with the
 *	  ring's N nodes as MODULUS N and the node of rank r as REMAINDER r.
 *
 * As satisfies_hash_partition / compute_partition_hash_value do for a
 * one-column key: h = the key type's extended hash function (its default
 * hash operator class) with seed HASH_PARTITION_SEED and the key's
 * collation, rowhash = hash_combine64(0, h), partition = rowhash mod N.
 * Keys keep their own type here (text, bytea, integer, bigint, uuid).
 * Preference list: r, r+1, ... (mod N).  No data beyond the common image.
 *
 * Shares are exact over the 2^64 hash values: remainder r has
 * floor(2^64 / N) of them, plus one when r < 2^64 mod N.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "catalog/partition.h"
#include "catalog/pg_collation.h"
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/typcache.h"

static uint64
pghash_rowhash(const HashringKey *key)
{
	TypeCacheEntry *tc = lookup_type_cache(key->type, TYPECACHE_HASH_EXTENDED_PROC_FINFO);
	Oid				collation = OidIsValid(key->collation) ? key->collation : DEFAULT_COLLATION_OID;
	Datum			h;

	if (!OidIsValid(tc->hash_extended_proc_finfo.fn_oid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("could not identify an extended hash function for type %s",
						format_type_be(key->type))));
	h = FunctionCall2Coll(&tc->hash_extended_proc_finfo, collation, key->value,
						  UInt64GetDatum(HASH_PARTITION_SEED));
	return hash_combine64(0, DatumGetUInt64(h));
}

static int
pghash_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	return hashring_walk_by_rank(img, (uint32) (pghash_rowhash(key) % img->nnodes), n, out);
}

static uint32
pghash_owner(const HashringImage *img, const HashringKey *key)
{
	return hashring_owner_by_rank(img, (uint32) (pghash_rowhash(key) % img->nnodes));
}

/* The share of remainder `rank` of the row hash modulo the nodes (its cell). */
static double
pghash_cell_share(const HashringImage *img, uint32 rank)
{
	uint64	n = img->nnodes;
	uint128 space = (uint128) 1 << 64;
	uint128 each = space / n; /* 2^64 itself when n = 1 */
	uint64	extra = (uint64) (space % n);

	return ((double) each + (rank < extra ? 1.0 : 0.0)) / 18446744073709551616.0;
}

static void
pghash_shares(const HashringImage *img, double *shares)
{
	double *rank_share = palloc(sizeof(double) * Max(img->nnodes, 1));

	for (uint32 r = 0; r < img->nnodes; r++)
		rank_share[r] = pghash_cell_share(img, r);
	hashring_shares_by_rank(img, rank_share, shares);
	pfree(rank_share);
}

/*
 * ring_diff: the row hash is uniform over 2^64 values; remainder r1 of N1 and
 * r2 of N2 share exactly the values x < 2^64 with x = r1 (mod N1) and
 * x = r2 (mod N2), counted by the Chinese remainder theorem.
 */
static uint64
pghash_gcd(uint64 x, uint64 y)
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
pghash_inverse(int64 x, int64 m)
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
pghash_diff(HashringDiff *d)
{
	const HashringImage *a = d->a;
	const HashringImage *b = d->b;
	uint64				 n1 = a->nnodes, n2 = b->nnodes;
	uint64				 g = pghash_gcd(n1, n2);
	uint64				 m = n2 / g;
	uint128				 l = (uint128) (n1 / g) * n2;
	int64				 inv = m > 1 ? pghash_inverse((int64) ((n1 / g) % m), (int64) m) : 0;

	if ((uint128) n1 * n2 / g > HASHRING_DIFF_MAX_FLOWS)
		hashring_diff_too_many();
	for (uint64 r1 = 0; r1 < n1; r1++)
	{
		uint32 from = hashring_owner_by_rank(a, (uint32) r1);

		CHECK_FOR_INTERRUPTS();
		for (uint64 r2 = (r1 % g); r2 < n2; r2 += g)
		{
			/* x = r1 + n1 * t with n1 * t = r2 - r1 (mod n2) */
			int64	delta = (int64) ((r2 + n2 - r1 % n2) % n2) / (int64) g;
			uint128 t = m > 1 ? ((uint128) delta * (uint64) inv) % m : 0;
			uint128 x0 = r1 + (uint128) n1 * t;
			uint128 count = (((uint128) 1 << 64) - 1 - x0) / l + 1;

			hashring_diff_add(d, from, hashring_owner_by_rank(b, (uint32) r2), count, 0, 0, false);
		}
	}
}

static int64
pghash_key_hash(const HashringImage *img, const HashringKey *key)
{
	return (int64) pghash_rowhash(key);
}

HASHRING_ALGORITHM(hashring_algo_pghash) = {
	.name = "pg_hash",
	.weighted = false,
	.has_points = false,
	.typed_keys = true,
	.key_space_bits = 64,
	.owner = pghash_owner,
	.walk = pghash_walk,
	.cells = hashring_rank_cells,
	.cell_share = pghash_cell_share,
	.cell_walk = hashring_rank_cell_walk,
	.zone_cell = hashring_zone_cell_owner,
	.shares = pghash_shares,
	.key_hash = pghash_key_hash,
	.diff = pghash_diff,
};
