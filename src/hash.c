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
 * murmur3 rings use Cassandra's Murmur3Partitioner token instead
 * (hashring_cassandra_token, docs/algorithms.md).
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

static inline uint64
murmur3_rotl64(uint64 x, int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64
murmur3_fmix64(uint64 k)
{
	k ^= k >> 33;
	k *= UINT64CONST(0xff51afd7ed558ccd);
	k ^= k >> 33;
	k *= UINT64CONST(0xc4ceb9fe1a85ec53);
	k ^= k >> 33;
	return k;
}

/*
 * Cassandra's Murmur3Partitioner.getToken: h1 of MurmurHash3 x64-128 with
 * seed 0 as org.apache.cassandra.utils.MurmurHash.hash3_x64_128 computes
 * it, as a signed 64-bit token.  The 16-byte blocks are read as two
 * little-endian 64-bit words (as in Austin Appleby's reference), but the
 * tail bytes are Java bytes: each is sign-extended to 64 bits before it is
 * shifted into k1/k2, so tails with bytes >= 0x80 hash differently from the
 * reference MurmurHash3.  Unsigned arithmetic here is two's complement
 * arithmetic on Java longs (logical shifts, as Java's >>>).  The empty key
 * gets Long.MIN_VALUE (Cassandra's MINIMUM token; getToken special-cases
 * it) and a hash of Long.MIN_VALUE becomes Long.MAX_VALUE (normalize), so
 * no other key has the minimum token.
 */
int64
hashring_cassandra_token(const void *data, size_t len)
{
	const uint8 *p = data;
	size_t		 nblocks = len / 16;
	const uint8 *tail = p + nblocks * 16;
	const uint64 c1 = UINT64CONST(0x87c37b91114253d5);
	const uint64 c2 = UINT64CONST(0x4cf5ad432745937f);
	uint64		 h1 = 0, h2 = 0;
	uint64		 k1 = 0, k2 = 0;

	if (len == 0)
		return PG_INT64_MIN;
	for (size_t i = 0; i < nblocks; i++)
	{
		const uint8 *b = p + i * 16;
		uint64		 a1 = 0, a2 = 0;

		for (int j = 7; j >= 0; j--)
		{
			a1 = (a1 << 8) | b[j];
			a2 = (a2 << 8) | b[8 + j];
		}
		a1 *= c1;
		a1 = murmur3_rotl64(a1, 31);
		a1 *= c2;
		h1 ^= a1;
		h1 = murmur3_rotl64(h1, 27);
		h1 += h2;
		h1 = h1 * 5 + 0x52dce729;
		a2 *= c2;
		a2 = murmur3_rotl64(a2, 33);
		a2 *= c1;
		h2 ^= a2;
		h2 = murmur3_rotl64(h2, 31);
		h2 += h1;
		h2 = h2 * 5 + 0x38495ab5;
	}
	/* the tail: signed (Java) bytes, sign-extended before the shift */
	for (int j = (int) (len & 15) - 1; j >= 8; j--)
		k2 ^= (uint64) (int64) (int8) tail[j] << ((j - 8) * 8);
	if ((len & 15) > 8)
	{
		k2 *= c2;
		k2 = murmur3_rotl64(k2, 33);
		k2 *= c1;
		h2 ^= k2;
	}
	for (int j = Min((int) (len & 15), 8) - 1; j >= 0; j--)
		k1 ^= (uint64) (int64) (int8) tail[j] << (j * 8);
	if ((len & 15) > 0)
	{
		k1 *= c1;
		k1 = murmur3_rotl64(k1, 31);
		k1 *= c2;
		h1 ^= k1;
	}
	h1 ^= (uint64) len;
	h2 ^= (uint64) len;
	h1 += h2;
	h2 += h1;
	h1 = murmur3_fmix64(h1);
	h2 = murmur3_fmix64(h2);
	h1 += h2;
	if ((int64) h1 == PG_INT64_MIN)
		return PG_INT64_MAX;
	return (int64) h1;
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
