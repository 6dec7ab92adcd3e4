/*-------------------------------------------------------------------------
 *
 * libmemcached_ref.c
 *	  Reference for hashring's ketama_libmemcached(_weighted) algorithms:
 *	  asks libmemcached itself which server each key goes to.
 *
 * stdin:
 *	  weighted|unweighted
 *	  N
 *	  N lines "host port weight", added in that order with
 *	  memcached_server_add_with_weight
 *	  then one key a line, in hex (any bytes)
 * stdout: per key, the index (0-based, order of addition) that
 * memcached_generate_hash() returns.
 *
 * The behavior is set before the servers are added:
 * MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED = 1 (MD5 key hash, 160 points per
 * server of average weight) or MEMCACHED_BEHAVIOR_KETAMA = 1 (100
 * one-at-a-time points per server, one-at-a-time key hash).  No server is
 * contacted: memcached_generate_hash only consults the continuum.
 *
 * Built and run by test/t/024_ketama_refs.pl: cc -o ... -lmemcached
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmemcached/memcached.h>

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
die(const char *msg)
{
	fprintf(stderr, "libmemcached_ref: %s\n", msg);
	exit(1);
}

int
main(void)
{
	static char		   line[1 << 16];
	static char		   key[1 << 15];
	char			   mode[32];
	int				   n;
	memcached_st	  *memc = memcached_create(NULL);
	memcached_return_t rc;

	if (memc == NULL)
		die("memcached_create failed");
	if (fgets(line, sizeof(line), stdin) == NULL || sscanf(line, "%31s", mode) != 1)
		die("no mode line");
	if (strcmp(mode, "weighted") == 0)
		rc = memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
	else if (strcmp(mode, "unweighted") == 0)
		rc = memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA, 1);
	else
		die("mode must be weighted or unweighted");
	if (rc != MEMCACHED_SUCCESS)
		die(memcached_strerror(memc, rc));

	if (fgets(line, sizeof(line), stdin) == NULL || sscanf(line, "%d", &n) != 1 || n < 1)
		die("no server count line");
	for (int i = 0; i < n; i++)
	{
		char		 host[256];
		unsigned int port, weight;

		if (fgets(line, sizeof(line), stdin) == NULL ||
			sscanf(line, "%255s %u %u", host, &port, &weight) != 3)
			die("bad server line");
		rc = memcached_server_add_with_weight(memc, host, (in_port_t) port, weight);
		if (rc != MEMCACHED_SUCCESS)
			die(memcached_strerror(memc, rc));
	}
	if (memcached_server_count(memc) != (uint32_t) n)
		die("server count differs");
	if ((memcached_behavior_get(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) != 0) !=
		(strcmp(mode, "weighted") == 0))
		die("libmemcached did not keep the requested weighting (a weight > 1 turns weighted ketama on)");

	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		size_t len = strcspn(line, "\r\n");

		if (len % 2 != 0 || len / 2 > sizeof(key))
			die("bad key line");
		for (size_t i = 0; i < len / 2; i++)
		{
			int hi = hexval(line[2 * i]), lo = hexval(line[2 * i + 1]);

			if (hi < 0 || lo < 0)
				die("bad hex in key line");
			key[i] = (char) (hi << 4 | lo);
		}
		printf("%u\n", memcached_generate_hash(memc, key, len / 2));
	}
	memcached_free(memc);
	return ferror(stdout) ? 1 : 0;
}
