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
#include "utils/builtins.h"
#include "utils/typcache.h"

static Size
pghash_plan(HashringBuild *b, uint32 *points)
{
	return 0;
}

static void
pghash_fill(HashringBuild *b, HashringImage *img, char *data)
{
}

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

static void
pghash_shares(const HashringImage *img, double *shares)
{
	double *rank_share = palloc(sizeof(double) * Max(img->nnodes, 1));
	uint64	n = img->nnodes;
	uint128 space = (uint128) 1 << 64;
	uint128 each = space / n; /* 2^64 itself when n = 1 */
	uint64	extra = (uint64) (space % n);

	for (uint32 r = 0; r < img->nnodes; r++)
		rank_share[r] = ((double) each + (r < extra ? 1.0 : 0.0)) / 18446744073709551616.0;
	hashring_shares_by_rank(img, rank_share, shares);
	pfree(rank_share);
}

static int64
pghash_key_hash(const HashringImage *img, const HashringKey *key)
{
	return (int64) pghash_rowhash(key);
}

const HashringAlgo hashring_algo_pghash = {
	.name = "pg_hash",
	.weighted = false,
	.has_points = false,
	.plan = pghash_plan,
	.fill = pghash_fill,
	.owner = pghash_owner,
	.walk = pghash_walk,
	.shares = pghash_shares,
	.key_hash = pghash_key_hash,
};
