/*-------------------------------------------------------------------------
 *
 * algo_maglev.c
 *	  Maglev hashing (Eisenbud et al., NSDI 2016): a lookup table of prime
 *	  size M filled from per-node permutations; O(1) lookups.
 *
 * Node s: offset = XXH3-64(s, seed 1) mod M, skip = XXH3-64(s, seed 2) mod
 * (M - 1) + 1, permutation j -> (offset + j * skip) mod M, which visits
 * every entry because M is prime.  Nodes take turns in node order, each
 * claiming its next unclaimed entry, until the table is full.  Weights: in
 * every round a node adds weight / max weight to its credit and takes one
 * turn per whole unit, so entries are proportional to weight (the node with
 * the largest weight takes a turn every round, as in unweighted Maglev).
 * All nodes take part, down ones included, so a node going down moves
 * nothing else; its entries then go to the next live entry's owner.
 * A key goes to entry XXH3-64(key) mod M.  Preference list: distinct owners
 * walking the table forward from that entry.
 *
 * Data: uint32 owner[M] by entry (down owners already replaced).  Shares:
 * entries / M, exact for the table.
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "miscadmin.h"
#include "utils/memutils.h"

#define MAGLEV_DEFAULT_SIZE 65537

static Size
maglev_plan(HashringBuild *b, uint32 *points)
{
	const HashringDef *def = b->def;
	uint32			   m = def->table_size > 0 ? (uint32) def->table_size : MAGLEV_DEFAULT_SIZE;
	int				   n = def->nnodes;
	uint32			  *table;
	uint64			  *offset = palloc(sizeof(uint64) * Max(n, 1));
	uint64			  *skip = palloc(sizeof(uint64) * Max(n, 1));
	uint64			  *next = palloc0(sizeof(uint64) * Max(n, 1));
	double			  *credit = palloc0(sizeof(double) * Max(n, 1));
	double			   wmax = 0;
	uint32			   filled = 0;

	/*
	 * The catalog triggers check these too, but rows written with triggers
	 * disabled reach us unchecked: a permutation of a non-prime table does
	 * not visit every entry, and filling would never end.
	 */
	if (!hashring_is_prime(m) || m > HASHRING_MAGLEV_MAX_SIZE)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("ring \"%s\" has an invalid catalog row", def->ring),
				 errdetail("The maglev table_size %u is not a prime between 2 and %u.", m, HASHRING_MAGLEV_MAX_SIZE),
				 errhint("Fix the row in hashring.rings; rows written with triggers disabled are not validated.")));
	if (n > 0 && (uint32) n > m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("maglev ring \"%s\" has more nodes than table entries", def->ring),
				 errdetail("It has %d nodes and a table of %u entries.", n, m),
				 errhint("Use a larger prime table_size.")));
	for (int i = 0; i < n; i++)
	{
		offset[i] = hashring_hash_bytes_seed(b->nodes[i]->name, b->nodes[i]->name_len, 1) % m;
		skip[i] = hashring_hash_bytes_seed(b->nodes[i]->name, b->nodes[i]->name_len, 2) % (m - 1) + 1;
		wmax = Max(wmax, b->nodes[i]->weight);
	}
	if (b->check_only)
		return 0;
	table = MemoryContextAllocHuge(b->scratch, sizeof(uint32) * m);
	for (uint32 e = 0; e < m; e++)
		table[e] = PG_UINT32_MAX;
	while (n > 0 && filled < m)
	{
		for (int r = 0; r < n && filled < m; r++)
		{
			uint32 i = b->by_rank[r];

			credit[i] += b->nodes[i]->weight / wmax;
			while (credit[i] >= 1.0 && filled < m)
			{
				uint64 e;

				credit[i] -= 1.0;
				do
				{
					/* m prime: the permutation visits every entry within m steps */
					if (next[i] >= m)
						elog(ERROR, "maglev permutation of node \"%s\" found no free entry", b->nodes[i]->name);
					e = (offset[i] + next[i] * skip[i]) % m;
					next[i]++;
				} while (table[e] != PG_UINT32_MAX);
				table[e] = i;
				points[i]++;
				filled++;
			}
		}
		CHECK_FOR_INTERRUPTS();
	}
	b->state = table;
	return sizeof(uint32) * m;
}

static void
maglev_fill(HashringBuild *b, HashringImage *img, char *data)
{
	uint32 m = b->def->table_size > 0 ? (uint32) b->def->table_size : MAGLEV_DEFAULT_SIZE;

	img->data_count = m;
	img->param = m;
	hashring_next_live(img, b->state, (uint32 *) data, m);
}

static inline uint32
maglev_entry(const HashringImage *img, const HashringKey *key)
{
	return (uint32) (hashring_hash_bytes(key->data, key->len) % img->data_count);
}

static uint32
maglev_owner(const HashringImage *img, const HashringKey *key)
{
	return ((const uint32 *) HR_IMAGE_DATA(img))[maglev_entry(img, key)];
}

/* The walk of the keys of table entry e (its cell). */
static int
maglev_cell_walk(const HashringImage *img, uint32 e, int n, uint32 *out)
{
	return hashring_walk_owners(img, HR_IMAGE_DATA(img), sizeof(uint32), img->data_count, e, n, out);
}

static int
maglev_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	return maglev_cell_walk(img, maglev_entry(img, key), n, out);
}

static void
maglev_shares(const HashringImage *img, double *shares)
{
	const uint32 *table = HR_IMAGE_DATA(img);
	uint32		 *count = palloc0(sizeof(uint32) * Max(img->nnodes, 1));

	if (img->nlive > 0)
		for (uint32 e = 0; e < img->data_count; e++)
			count[table[e]]++;
	for (uint32 i = 0; i < img->nnodes; i++)
		shares[i] = (double) count[i] / img->data_count;
	pfree(count);
}

static void
maglev_diff(HashringDiff *d)
{
	hashring_diff_entries(d, "maglev table");
}

HASHRING_ALGORITHM(hashring_algo_maglev) = {
	.name = "maglev",
	.weighted = true,
	.has_points = true,
	.parameter = "table_size",
	.plan = maglev_plan,
	.fill = maglev_fill,
	.owner = maglev_owner,
	.walk = maglev_walk,
	.cells = hashring_table_cells,
	.cell_share = hashring_table_cell_share,
	.cell_walk = maglev_cell_walk,
	.shares = maglev_shares,
	.key_hash = hashring_key_xxh3,
	.diff = maglev_diff,
};
