/*-------------------------------------------------------------------------
 *
 * algo_slots.c
 *	  Redis Cluster hash slots: CRC16/XMODEM of the key (or of its {hash
 *	  tag}) mod 16384, and a slot -> node map.
 *
 * The map is the ring's explicit ranges (hashring.slot_ranges) when it has
 * any: they must cover every slot exactly once.  Otherwise it is what
 * `redis-cli --cluster create` assigns to its masters, in node order
 * (clusterManagerCommandCreate in redis-cli.c), in binary32 arithmetic as
 * there.  Preference list: the slot's owner, then the owners of the
 * following slots (wrapping).
 *
 * Data: uint32 owner[16384] by slot, with down nodes already replaced by
 * the next live owner in slot order (nothing else moves when a node goes
 * down), then uint16 run_end[16384]: the first slot after s (cyclic) whose
 * owner differs, so ring_nodes walks range by range.  Shares: owned slots /
 * 16384.
 *
 * No shared state (the CRC table is a constant).
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

/* CRC16/XMODEM: poly 0x1021, init 0, no reflection, no final xor. */
static uint16
slots_crc16(const unsigned char *buf, size_t len)
{
	static uint16 table[256];
	static bool	  table_ready = false;
	uint16		  crc = 0;

	if (!table_ready)
	{
		for (int i = 0; i < 256; i++)
		{
			uint16 c = (uint16) (i << 8);

			for (int j = 0; j < 8; j++)
				c = (c & 0x8000) ? (uint16) ((c << 1) ^ 0x1021) : (uint16) (c << 1);
			table[i] = c;
		}
		table_ready = true;
	}
	for (size_t i = 0; i < len; i++)
		crc = (uint16) ((crc << 8) ^ table[((crc >> 8) ^ buf[i]) & 0xff]);
	return crc;
}

/* Redis's keyHashSlot(): hash only a non-empty {tag} if there is one. */
int32
hashring_key_slot(const char *key, size_t len)
{
	size_t s, e;

	for (s = 0; s < len; s++)
		if (key[s] == '{')
			break;
	if (s == len)
		return slots_crc16((const unsigned char *) key, len) & (HASHRING_SLOTS - 1);
	for (e = s + 1; e < len; e++)
		if (key[e] == '}')
			break;
	if (e == len || e == s + 1)
		return slots_crc16((const unsigned char *) key, len) & (HASHRING_SLOTS - 1);
	return slots_crc16((const unsigned char *) key + s + 1, e - s - 1) & (HASHRING_SLOTS - 1);
}

/* The node index whose name is `name`, or -1. */
static int
slots_node_index(HashringBuild *b, const char *name)
{
	for (int i = 0; i < b->def->nnodes; i++)
		if (strcmp(b->nodes[i]->name, name) == 0)
			return i;
	return -1;
}

static Size
slots_plan(HashringBuild *b, uint32 *points)
{
	const HashringDef *def = b->def;
	uint32			  *owner = palloc(sizeof(uint32) * HASHRING_SLOTS);
	int				   n = def->nnodes;

	if (n > HASHRING_SLOTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("slots ring \"%s\" has more nodes than slots", def->ring),
				 errdetail("It has %d nodes; there are %d slots.", n, HASHRING_SLOTS)));
	if (def->nranges > 0)
	{
		for (int s = 0; s < HASHRING_SLOTS; s++)
			owner[s] = PG_UINT32_MAX;
		for (int r = 0; r < def->nranges; r++)
		{
			const HashringSlotRange *range = &def->ranges[r];
			int						 node = slots_node_index(b, range->node);

			if (node < 0 || range->first < 0 || range->last >= HASHRING_SLOTS || range->first > range->last)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("ring \"%s\" has an invalid slot range", def->ring),
						 errdetail("Range %d-%d of node \"%s\".", range->first, range->last, range->node)));
			for (int s = range->first; s <= range->last; s++)
			{
				if (owner[s] != PG_UINT32_MAX)
					ereport(ERROR,
							(errcode(ERRCODE_DATA_CORRUPTED),
							 errmsg("ring \"%s\" assigns slot %d twice", def->ring, s)));
				owner[s] = (uint32) node;
			}
		}
		for (int s = 0; s < HASHRING_SLOTS; s++)
			if (owner[s] == PG_UINT32_MAX)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("slot %d of ring \"%s\" is not assigned to any node", s, def->ring),
						 errhint("Assign every slot from 0 to %d with hashring.ring_assign_slots(), or remove all ranges with hashring.ring_clear_slots() to use the default assignment.",
								 HASHRING_SLOTS - 1)));
	}
	else if (n > 0)
	{
		/* redis-cli --cluster create, in binary32 as there */
		float slots_per_node = (float) HASHRING_SLOTS / (float) n;
		long  first = 0;
		float cursor = 0.0f;

		for (int r = 0; r < n; r++)
		{
			float end = cursor + slots_per_node - 1;
			long  last = lround(end);

			if (last > HASHRING_SLOTS || r == n - 1)
				last = HASHRING_SLOTS - 1;
			if (last < first)
				last = first;
			for (long s = first; s <= last && s < HASHRING_SLOTS; s++)
				owner[s] = b->by_rank[r];
			first = last + 1;
			cursor += slots_per_node;
		}
	}
	if (n > 0)
		for (int s = 0; s < HASHRING_SLOTS; s++)
			points[owner[s]]++;
	b->state = owner;
	return sizeof(uint32) * HASHRING_SLOTS + sizeof(uint16) * HASHRING_SLOTS;
}

static void
slots_fill(HashringBuild *b, HashringImage *img, char *data)
{
	const uint32 *owner = b->state;
	uint32		 *eff = (uint32 *) data;

	uint16 *run_end = (uint16 *) (eff + HASHRING_SLOTS);
	int		s;

	img->data_count = HASHRING_SLOTS;
	if (img->nlive == 0)
		return;
	/* a down owner's slots go to the next live owner in slot order */
	hashring_next_live(img, owner, eff, HASHRING_SLOTS);

	/* run ends, backwards; a single-owner map has no end (itself) */
	for (s = 0; s < HASHRING_SLOTS && eff[s] == eff[0]; s++)
		;
	if (s == HASHRING_SLOTS)
	{
		for (s = 0; s < HASHRING_SLOTS; s++)
			run_end[s] = (uint16) s;
		return;
	}
	{
		int next = s; /* first slot whose owner differs from slot 0's */

		for (int k = HASHRING_SLOTS - 1; k >= 0; k--)
		{
			int t = (k + 1) % HASHRING_SLOTS;

			if (eff[t] != eff[k])
				next = t;
			run_end[k] = (uint16) next;
		}
	}
}

static uint32
slots_owner(const HashringImage *img, const HashringKey *key)
{
	return ((const uint32 *) HR_IMAGE_DATA(img))[hashring_key_slot(key->data, key->len)];
}

/* The walk of the keys in slot s (its cell). */
static int
slots_cell_walk(const HashringImage *img, uint32 slot, int n, uint32 *out)
{
	const uint32	 *eff = HR_IMAGE_DATA(img);
	const uint16	 *run_end = (const uint16 *) (eff + HASHRING_SLOTS);
	int32			  s = (int32) slot;
	HashringCollector c;

	/* one step per run of slots with the same owner, once around */
	hashring_collector_init(&c, img, n, out);
	for (int walked = 0; walked < HASHRING_SLOTS;)
	{
		int next = run_end[s];

		if (hashring_collector_add(&c, eff[s]))
			break;
		walked += next == s ? HASHRING_SLOTS : (next - s + HASHRING_SLOTS) % HASHRING_SLOTS;
		s = next;
	}
	return hashring_collector_done(&c);
}

static int
slots_walk(const HashringImage *img, const HashringKey *key, int n, uint32 *out)
{
	return slots_cell_walk(img, (uint32) hashring_key_slot(key->data, key->len), n, out);
}

/* Zone replicas (HashringAlgo.zone_cell): the slot picks each zone's node. */
static uint32
slots_zone_cell(const HashringImage *img, const HashringKey *key, uint32 cell, uint32 owner)
{
	return key ? (uint32) hashring_key_slot(key->data, key->len) : cell;
}

static void
slots_shares(const HashringImage *img, double *shares)
{
	const uint32 *eff = HR_IMAGE_DATA(img);

	for (uint32 i = 0; i < img->nnodes; i++)
		shares[i] = 0;
	if (img->nlive == 0)
		return;
	for (int s = 0; s < HASHRING_SLOTS; s++)
		shares[eff[s]] += 1.0 / HASHRING_SLOTS;
}

static int64
slots_key_hash(const HashringImage *img, const HashringKey *key)
{
	return hashring_key_slot(key->data, key->len);
}

static void
slots_diff(HashringDiff *d)
{
	hashring_diff_entries(d, "slot map");
}

HASHRING_ALGORITHM(hashring_algo_slots) = {
	.name = "slots",
	.weighted = false,
	.has_points = true,
	.slot_ranges = true,
	.plan = slots_plan,
	.fill = slots_fill,
	.owner = slots_owner,
	.walk = slots_walk,
	.cells = hashring_table_cells,
	.cell_share = hashring_table_cell_share,
	.cell_walk = slots_cell_walk,
	.zone_cell = slots_zone_cell,
	.shares = slots_shares,
	.key_hash = slots_key_hash,
	.diff = slots_diff,
};
