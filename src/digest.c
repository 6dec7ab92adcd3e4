/*-------------------------------------------------------------------------
 *
 * digest.c
 *	  MD5 (RFC 1321) and SHA-1 (FIPS 180-4) of one buffer, for the ketama
 *	  and xor algorithms, and libmemcached's one-at-a-time hash.
 *
 * These digests only place keys and nodes, as libketama and Kademlia do;
 * nothing here is used for security.  They are implemented here rather than
 * through pg_cryptohash because that allocates and registers an OpenSSL
 * context for every call, which made a ketama or xor lookup 5-7 times
 * slower than a vnode lookup.  Both are checked against their reference
 * clients (npm hashring, k-bucket) by test/t/020_client_compat.pl, and
 * against the published test vectors in sql/algorithms.sql.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

static inline uint32
digest_rol(uint32 x, int n)
{
	return (x << n) | (x >> (32 - n));
}

/*
 * Both digests process 64-byte blocks and end with the same padding: 0x80,
 * zeros, and the message length in bits (little-endian for MD5, big-endian
 * for SHA-1) in the last 8 bytes of the final block.
 */
static void
digest_run(uint32 *h, void (*block)(uint32 *h, const uint8 *p), const uint8 *p, size_t len,
		   bool big_endian_length)
{
	uint8  tail[128];
	size_t rest = len % 64;
	size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
	uint64 bits = (uint64) len * 8;

	for (size_t off = 0; off + 64 <= len; off += 64)
		block(h, p + off);
	memcpy(tail, p + len - rest, rest);
	tail[rest] = 0x80;
	memset(tail + rest + 1, 0, tail_len - rest - 1);
	for (int i = 0; i < 8; i++)
		tail[big_endian_length ? tail_len - 1 - i : tail_len - 8 + i] = (uint8) (bits >> (8 * i));
	block(h, tail);
	if (tail_len == 128)
		block(h, tail + 64);
}

/* ---------------------------------------------------------------------- */
/* MD5																		  */
/* ---------------------------------------------------------------------- */

static const uint32 md5_k[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};

static const uint8 md5_s[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void
md5_block(uint32 h[4], const uint8 *p)
{
	uint32 m[16];
	uint32 a = h[0], b = h[1], c = h[2], d = h[3];

	for (int i = 0; i < 16; i++)
		m[i] = (uint32) p[4 * i] | ((uint32) p[4 * i + 1] << 8) |
			   ((uint32) p[4 * i + 2] << 16) | ((uint32) p[4 * i + 3] << 24);
	for (int i = 0; i < 64; i++)
	{
		uint32 f;
		int	   g;
		uint32 t;

		if (i < 16)
		{
			f = (b & c) | (~b & d);
			g = i;
		}
		else if (i < 32)
		{
			f = (d & b) | (~d & c);
			g = (5 * i + 1) % 16;
		}
		else if (i < 48)
		{
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
		}
		else
		{
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
		}
		t = d;
		d = c;
		c = b;
		b = b + digest_rol(a + f + md5_k[i] + m[g], md5_s[i]);
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
}

void
hashring_md5(const void *data, size_t len, uint8 out[16])
{
	uint32 h[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

	digest_run(h, md5_block, data, len, false);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8) (h[i] >> (8 * j));
}

/* ---------------------------------------------------------------------- */
/* SHA-1																	  */
/* ---------------------------------------------------------------------- */

static void
sha1_block(uint32 h[5], const uint8 *p)
{
	uint32 w[80];
	uint32 a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];

	for (int i = 0; i < 16; i++)
		w[i] = ((uint32) p[4 * i] << 24) | ((uint32) p[4 * i + 1] << 16) |
			   ((uint32) p[4 * i + 2] << 8) | (uint32) p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = digest_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++)
	{
		uint32 f;
		uint32 k;
		uint32 t;

		if (i < 20)
		{
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		}
		else if (i < 40)
		{
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		}
		else if (i < 60)
		{
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		}
		else
		{
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		t = digest_rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = digest_rol(b, 30);
		b = a;
		a = t;
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
}

void
hashring_sha1(const void *data, size_t len, uint8 out[20])
{
	uint32 h[5] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0};

	digest_run(h, sha1_block, data, len, true);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8) (h[i] >> (24 - 8 * j));
}

/*
 * libmemcached's one-at-a-time hash (libhashkit/one_at_a_time.cc), its
 * default key hash.  It reads the key through a `const char *` and widens
 * each byte with (uint32_t) *ptr, so on the platforms Debian's libmemcached
 * is mostly run on (amd64, i386, where char is signed) a byte >= 0x80 adds
 * 0xFFFFFF80 | byte, not the byte: Bob Jenkins's published function differs
 * for such keys.  Reproduced as amd64 computes it, on every platform.
 */
uint32
hashring_one_at_a_time(const void *data, size_t len)
{
	const uint8 *p = data;
	uint32		 value = 0;

	while (len--)
	{
		value += (uint32) (int32) (int8) *p++;
		value += value << 10;
		value ^= value >> 6;
	}
	value += value << 3;
	value ^= value >> 11;
	value += value << 15;
	return value;
}
