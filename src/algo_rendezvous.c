/*-------------------------------------------------------------------------
 *
 * algo_rendezvous.c
 *	  Weighted rendezvous (highest random weight) hashing.
 *
 * Node s scores -w_s / ln(u) with u = ((XXH3-64(key, seed_s) >> 11) + 0.5)
 * / 2^53, a uniform draw in (0, 1), and seed_s = XXH3-64(name of s).  The
 * highest score owns the key; ties go to the node that sorts first by name.
 * With this score, node s wins with probability exactly w_s / sum(w) over
 * the live nodes, which is what ring_balance reports (an analytic share).
 * A weight change only moves keys to or from the changed node, and down
 * nodes simply do not compete.  Preference list: descending score.
 *
 * Data: uint64 seed[nnodes] by node index.  A lookup hashes the key once per
 * live node: O(N).
 *
 * No shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#include "miscadmin.h"

static Size
rendezvous_plan(HashringBuild *b, uint32 *points)
{
	return sizeof(uint64) * b->def->nnodes;
}

static void
rendezvous_fill(HashringBuild *b, HashringImage *img, char *data)
{
	uint64 *seed = (uint64 *) data;

	for (uint32 i = 0; i < img->nnodes; i++)
		seed[i] = hashring_hash_bytes(b->nodes[i]->name, b->nodes[i]->name_len);
	img->data_count = img->nnodes;
}

static inline double
rendezvous_score(const HashringImage *img, const HashringKey *key, uint32 node)
{
	const uint64 *seed = (const uint64 *) HR_IMAGE_DATA(img);
	uint64		  h = hashring_hash_bytes_seed(key->data, key->len, seed[node]);
	double		  u = ((double) (h >> 11) + 0.5) / 9007199254740992.0; /* 2^53 */

	return -(double) HR_IMAGE_NODES(img)[node].weight / log(u);
}

static uint32
rendezvous_owner(const HashringImage *img, const HashringKey *key)
{
	uint32 best = 0;
	double best_score = -1;

	for (uint32 i = 0; i < img->nnodes; i++)
	{
		double score;

		CHECK_FOR_INTERRUPTS();
		if (!HR_NODE_LIVE(img, i))
			continue;
		score = rendezvous_score(img, key, i);
		if (score > best_score)
		{
			best = i;
			best_score = score;
		}
	}
	return best;
}

typedef struct RendezvousScore
{
	double score;
	uint32 node;
} RendezvousScore;

static int
rendezvous_score_cmp(const void *a, const void *b)
{
	const RendezvousScore *x = a;
	const RendezvousScore *y = b;

	if (x->score != y->score)
		return x->score > y->score ? -1 : 1;
	return (x->node > y->node) - (x->node < y->node);
}

static int
rendezvous_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	RendezvousScore *scores;
	int				 nlive = 0;

	if (n == 1)
	{
		out[0] = rendezvous_owner(img, key);
		return 1;
	}
	scores = palloc(sizeof(RendezvousScore) * img->nnodes);
	for (uint32 i = 0; i < img->nnodes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (!HR_NODE_LIVE(img, i))
			continue;
		scores[nlive].score = rendezvous_score(img, key, i);
		scores[nlive].node = i;
		nlive++;
	}
	qsort(scores, nlive, sizeof(RendezvousScore), rendezvous_score_cmp);
	n = Min(n, nlive);
	for (int i = 0; i < n; i++)
		out[i] = scores[i].node;
	pfree(scores);
	return n;
}

static void
rendezvous_shares(const HashringImage *img, double *shares)
{
	double total = 0;

	for (uint32 i = 0; i < img->nnodes; i++)
		if (HR_NODE_LIVE(img, i))
			total += HR_IMAGE_NODES(img)[i].weight;
	for (uint32 i = 0; i < img->nnodes; i++)
		shares[i] = HR_NODE_LIVE(img, i) ? HR_IMAGE_NODES(img)[i].weight / total : 0.0;
}

static int64
rendezvous_key_hash(const HashringImage *img, const HashringKey *key)
{
	return (int64) hashring_hash_bytes(key->data, key->len);
}

const HashringAlgo hashring_algo_rendezvous = {
	.name = "rendezvous",
	.weighted = true,
	.has_points = false,
	.plan = rendezvous_plan,
	.fill = rendezvous_fill,
	.owner = rendezvous_owner,
	.walk = rendezvous_walk,
	.shares = rendezvous_shares,
	.key_hash = rendezvous_key_hash,
};
