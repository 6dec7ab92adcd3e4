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
#include "utils/float.h"

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

/*
 * ring_diff: exact.  With X_s = -ln(u_s) ~ Exp(1), shared by both versions
 * (a node's draw depends only on its name and the key), A picks argmin
 * X_s / a_s and B argmin X_s / b_s.  For i -> j (i != j), substituting
 * X_j = t X_i and integrating X_i out leaves
 *	  P = integral over t in (a_j / a_i, b_j / b_i) of dt / C(t)^2,
 *	  C(t) = 1 + t + sum over k != i, j of max(a_k / a_i, t * b_k / b_j),
 * piecewise linear in t, so each piece integrates in closed form.
 */
typedef struct RendezvousUnion
{
	int	   ia, ib; /* node index in a / b, or -1 */
	double wa, wb; /* live weight in a / b, or 0 */
} RendezvousUnion;

static int
rendezvous_double_cmp(const void *x, const void *y)
{
	double a = *(const double *) x, b = *(const double *) y;

	return (a > b) - (a < b);
}

/* For a third node k (not x or y): a_k / a_x and b_k / b_y. */
static inline bool
rendezvous_other(const RendezvousUnion *u, int k, int x, int y, double *al, double *be)
{
	if (k == x || k == y)
		return false;
	*al = u[k].wa / u[x].wa;
	*be = u[k].wb / u[y].wb;
	return true;
}

static void
rendezvous_diff(HashringDiff *d)
{
	const HashringImage *a = d->a;
	const HashringImage *b = d->b;
	RendezvousUnion		*u = palloc(sizeof(RendezvousUnion) * (a->nnodes + b->nnodes));
	int					 n = 0;
	uint32				 i = 0, j = 0;
	double				*bp;

	/* the union of both node tables (both sorted by name) */
	while (i < a->nnodes || j < b->nnodes)
	{
		int c;

		if (i >= a->nnodes)
			c = 1;
		else if (j >= b->nnodes)
			c = -1;
		else
		{
			uint32 la = HR_IMAGE_NODES(a)[i].name_len, lb = HR_IMAGE_NODES(b)[j].name_len;

			c = memcmp(HR_IMAGE_NAME(a, i), HR_IMAGE_NAME(b, j), Min(la, lb));
			if (c == 0)
				c = (la > lb) - (la < lb);
		}
		u[n].ia = c <= 0 ? (int) i : -1;
		u[n].ib = c >= 0 ? (int) j : -1;
		u[n].wa = (u[n].ia >= 0 && HR_NODE_LIVE(a, i)) ? HR_IMAGE_NODES(a)[i].weight : 0;
		u[n].wb = (u[n].ib >= 0 && HR_NODE_LIVE(b, j)) ? HR_IMAGE_NODES(b)[j].weight : 0;
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
		n++;
	}
	if (n > 300)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("ring_diff of rendezvous rings is limited to 300 nodes")));
	bp = palloc(sizeof(double) * (n + 2));
	for (int x = 0; x < n; x++)
	{
		if (u[x].wa <= 0)
			continue;
		for (int y = 0; y < n; y++)
		{
			double lo, hi, p, q, total = 0;
			int	   nb = 0;

			if (y == x || u[y].wb <= 0)
				continue;
			lo = u[y].wa / u[x].wa;										  /* A: i beats j */
			hi = u[x].wb > 0 ? u[y].wb / u[x].wb : get_float8_infinity(); /* B: j beats i */
			if (!(lo < hi))
				continue;
			bp[nb++] = lo;
			for (int k = 0; k < n; k++)
			{
				double al, be;

				if (!rendezvous_other(u, k, x, y, &al, &be))
					continue;
				if (al > 0 && be > 0 && al / be > lo && al / be < hi)
					bp[nb++] = al / be;
			}
			qsort(bp, nb, sizeof(double), rendezvous_double_cmp);
			bp[nb++] = hi;
			for (int s = 0; s + 1 < nb; s++)
			{
				double t0 = bp[s], t1 = bp[s + 1], mid;

				if (!(t1 > t0))
					continue;
				mid = isinf(t1) ? t0 + 1 : (t0 + t1) / 2;
				/* C(t) = p + q t on this piece */
				p = 1;
				q = 1;
				for (int k = 0; k < n; k++)
				{
					double al, be;

					if (!rendezvous_other(u, k, x, y, &al, &be))
						continue;
					if (al >= be * mid)
						p += al;
					else
						q += be;
				}
				total += (1.0 / (p + q * t0) - (isinf(t1) ? 0.0 : 1.0 / (p + q * t1))) / q;
			}
			if (total > 0)
				hashring_diff_add(d, (uint32) u[x].ia, (uint32) u[y].ib,
								  (uint128) (total * 18446744073709551616.0), 0, 0, false);
		}
	}
}

HASHRING_ALGORITHM(hashring_algo_rendezvous) = {
	.name = "rendezvous",
	.weighted = true,
	.has_points = false,
	.key_space_bits = 64,
	.plan = rendezvous_plan,
	.fill = rendezvous_fill,
	.owner = rendezvous_owner,
	.walk = rendezvous_walk,
	.shares = rendezvous_shares,
	.key_hash = hashring_key_xxh3,
	.diff = rendezvous_diff,
};
