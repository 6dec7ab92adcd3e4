/*-------------------------------------------------------------------------
 *
 * hash.c
 *	  The hash functions behind routing: XXH3-64 of key bytes and of point
 *	  strings, and the number of points a weighted node gets.
 *
 * The specification is frozen and public (docs/routing-spec.md), so any
 * client can reproduce routing: a key hashes to XXH3_64bits(key bytes) with
 * seed 0; point i of node N sits at XXH3_64bits(N || "#" || decimal(i)).
 * XXH3 is taken from the xxhash.h header (libxxhash-dev) and inlined, so the
 * shared library has no run-time dependency on libxxhash.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64
hashring_hash_bytes(const void *data, size_t len)
{
	return (uint64) XXH3_64bits(data, len);
}

uint64
hashring_hash_bytes_seed(const void *data, size_t len, uint64 seed)
{
	return (uint64) XXH3_64bits_withSeed(data, len, seed);
}

/*
 * Position of point `index` of node `node`: XXH3 of "<node>#<index>".
 */
uint64
hashring_point_position(const char *node, int node_len, uint32 index)
{
	char buf[HASHRING_NODE_NAME_MAX + 1 + 10];
	char digits[10];
	int	 ndigits = 0;
	int	 len;

	Assert(node_len <= HASHRING_NODE_NAME_MAX);
	memcpy(buf, node, node_len);
	len = node_len;
	buf[len++] = '#';
	do
	{
		digits[ndigits++] = '0' + (index % 10);
		index /= 10;
	} while (index > 0);
	while (ndigits > 0)
		buf[len++] = digits[--ndigits];
	return (uint64) XXH3_64bits(buf, len);
}

/*
 * max(1, round(weight * vnodes)), with the product in double precision and
 * ties rounded away from zero.  Callers have validated weight > 0 and finite.
 * The result is capped at one more than a ring's point limit: a node above
 * it is refused anyway, and sums over many nodes (rings.points_total) cannot
 * overflow.
 */
int64
hashring_points_for_weight(float4 weight, int32 vnodes)
{
	double p = round((double) weight * (double) vnodes);

	if (!(p >= 1.0))
		return 1;
	if (p > (double) HASHRING_MAX_POINTS)
		return (int64) HASHRING_MAX_POINTS + 1;
	return (int64) p;
}

/* Trial division: at most ~2,000 steps for the table sizes allowed. */
bool
hashring_is_prime(uint32 n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint32 d = 3; (uint64) d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}
