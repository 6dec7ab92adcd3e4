/*-------------------------------------------------------------------------
 *
 * hotkeys.c
 *	  The hottest keys of each ring (hashring.ring_hot_keys): a bounded
 *	  heavy-hitters summary per ring, kept in shared memory across backends.
 *
 * With hashring.track_keys and hashring.track_routing on (and the library
 * preloaded), ring_node and ring_nodes give every lookup's key to
 * hashring_hotkeys_count, which updates a Space-Saving summary (Metwally,
 * Agrawal and El Abbadi, 2005) of hashring.track_keys_counters (k) counters
 * per ring in the backend's own memory: an open-addressing hash table on
 * the key's 64-bit hash and a min-heap on the counts, so a lookup costs a
 * hash of the key, a probe and a short heap sift, and touches no shared
 * cache line.  With hashring.track_keys_sample_rate r < 1 only a
 * pseudo-random fraction r of the lookups is counted (geometric skips from
 * a fixed seed) and the counts are scaled by 1/r when they are flushed.
 *
 * Every summary S (a backend's or the shared one) holds at most k entries
 * (key, count c, error e) and a floor F with, for N the lookups S
 * summarizes and every key x:
 *	  c(x) - e(x) <= true(x) <= c(x) if x is in S, true(x) <= F if not;
 *	  e(x) <= F <= c(x), and  sum c + (k - entries) * F <= N,
 * so that F <= N / k: no estimate is more than N/k above the truth.  A
 * local summary is classic Space-Saving (F = 0 until it is full, then its
 * smallest count).  Two summaries merge (hotkeys_merge) by adding, for each
 * key of either, its count and error in each, the other's floor standing
 * for both where the key is absent; the k largest are kept and the new
 * floor is the larger of F1 + F2 and the largest count dropped.  The
 * invariants above hold after the merge (docs/reference.md gives the
 * argument), so the bound does not degrade however often backends flush.
 * With sampling the bounds hold for the scaled sample, not for the true
 * counts: they are then estimates (the summary says it was sampled).
 *
 * Keys are identified by their 64-bit hash (hashring_hash_bytes), length
 * and type (text, bytea and keys routed by their text form are one type:
 * their bytes; integer, bigint and uuid keys of a typed-keys algorithm,
 * pg_hash, are their own): two distinct keys are counted as one only when
 * they collide on all three.  The first HOTKEYS_KEY_MAX bytes are kept
 * for the report, with a truncated flag for longer keys.
 *
 * The local summaries are added to shared memory at the flush points of
 * stats.c: the end of a committing transaction once
 * HOTKEYS_FLUSH_INTERVAL_MS have passed since the last flush, backend
 * exit, and before this backend reads or resets the hot keys; then they
 * start empty again.  A change of the sample rate flushes first.
 *
 * Shared state: hashring.track_keys_rings slots, each a header and k
 * entries (HotkeysSlot), reserved at startup, and a header (HotkeysShared).
 * The LWLock of tranche "hashring_hotkeys" protects all of it: EXCLUSIVE
 * to merge into a slot, claim or free one and to change `dropped`, SHARED
 * to read.  Lookups of a ring for which no slot is free are added to
 * `dropped`.  Nothing is kept across a server restart.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(hashring_hot_keys_raw);
PG_FUNCTION_INFO_V1(hashring_hot_keys_reset);
PG_FUNCTION_INFO_V1(hashring_hot_keys_info);
PG_FUNCTION_INFO_V1(hashring_hot_key_owner);

/* bytes of a key kept for the report */
#define HOTKEYS_KEY_MAX 128

#define HOTKEYS_FLUSH_INTERVAL_MS 1000

/* the per-backend sampler's seed: a backend's sample repeats for the same lookups */
#define HOTKEYS_SAMPLE_SEED UINT64CONST(0x686f746b657973)

typedef struct HotkeysEntry
{
	uint64 hash;
	uint64 count; /* upper bound of the key's lookups */
	uint64 error; /* count - error is a lower bound */
	uint32 len;	  /* the key's full length */
	Oid	   type;  /* InvalidOid: the key's bytes; else a typed key's type */
	char   data[HOTKEYS_KEY_MAX];
} HotkeysEntry;

typedef struct HotkeysSlot
{
	bool		 in_use;
	bool		 sampled; /* some counts came from a sample */
	Oid			 dboid;
	int64		 ring_id;
	uint64		 lookups; /* N: the lookups the summary summarizes */
	uint64		 floor;	  /* bound of every key not in entries */
	uint32		 nentries;
	TimestampTz	 since;
	HotkeysEntry entries[FLEXIBLE_ARRAY_MEMBER]; /* k of them */
} HotkeysSlot;

typedef struct HotkeysShared
{
	LWLock *lock;
	uint64	dropped; /* lookups of rings no slot was left for */
	int		nslots;
	int		k;
} HotkeysShared;

static HotkeysShared *hk_shared = NULL;
static char			 *hk_slots = NULL;

/* A backend's Space-Saving summary of one ring. */
typedef struct HotkeysLocal
{
	int64				 ring_id;
	uint64				 lookups;
	uint32				 n;		   /* entries in use */
	uint32				 mask;	   /* table size - 1 */
	HotkeysEntry		*entries;  /* k */
	uint32				*heap;	   /* entry indexes, min-heap on count */
	uint64				*hcount;   /* heap position -> its entry's count */
	uint32				*heap_pos; /* entry index -> heap position */
	uint32				*table;	   /* entry index + 1, 0 empty */
	struct HotkeysLocal *next;
} HotkeysLocal;

static HotkeysLocal *hk_local = NULL; /* list of this backend's summaries */
static HotkeysLocal *hk_last = NULL;  /* the one last counted into */
static double		 hk_local_rate = 1.0;
static uint64		 hk_skip = 0; /* lookups to pass over before the next counted one */
static pg_prng_state hk_prng;
static bool			 hk_prng_ready = false;
static TimestampTz	 hk_last_flush = 0;
static bool			 hk_exit_registered = false;

static Size
hotkeys_slot_size(void)
{
	return MAXALIGN(add_size(offsetof(HotkeysSlot, entries),
							 mul_size(sizeof(HotkeysEntry), hashring_setting_track_keys_counters())));
}

/* the shared memory one tracked ring takes (hot_keys_info's bytes_per_ring) */
static Size
hotkeys_shared_size(void)
{
	return add_size(MAXALIGN(sizeof(HotkeysShared)),
					mul_size(hotkeys_slot_size(), hashring_setting_track_keys_rings()));
}

static inline HotkeysSlot *
hotkeys_slot(int i)
{
	return (HotkeysSlot *) (hk_slots + (Size) i * hotkeys_slot_size());
}

void
hashring_hotkeys_shmem_request(void)
{
	RequestAddinShmemSpace(hotkeys_shared_size());
	RequestNamedLWLockTranche("hashring_hotkeys", 1);
}

void
hashring_hotkeys_shmem_startup(void)
{
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hk_shared = ShmemInitStruct("hashring_hotkeys", hotkeys_shared_size(), &found);
	hk_slots = (char *) hk_shared + MAXALIGN(sizeof(HotkeysShared));
	if (!found)
	{
		hk_shared->lock = &(GetNamedLWLockTranche("hashring_hotkeys"))->lock;
		hk_shared->dropped = 0;
		hk_shared->nslots = hashring_setting_track_keys_rings();
		hk_shared->k = hashring_setting_track_keys_counters();
		for (int i = 0; i < hk_shared->nslots; i++)
			hotkeys_slot(i)->in_use = false;
	}
	LWLockRelease(AddinShmemInitLock);
}

static inline bool
hotkeys_same(const HotkeysEntry *e, uint64 hash, uint32 len, Oid type)
{
	return e->hash == hash && e->len == len && e->type == type;
}

/* --- the local Space-Saving summary --- */

static inline void
hotkeys_heap_swap(HotkeysLocal *s, uint32 a, uint32 b)
{
	uint32 ea = s->heap[a];
	uint32 eb = s->heap[b];
	uint64 ca = s->hcount[a];

	s->heap[a] = eb;
	s->heap[b] = ea;
	s->hcount[a] = s->hcount[b];
	s->hcount[b] = ca;
	s->heap_pos[eb] = a;
	s->heap_pos[ea] = b;
}

static void
hotkeys_sift_down(HotkeysLocal *s, uint32 pos)
{
	for (;;)
	{
		uint32 l = 2 * pos + 1;
		uint32 m = pos;

		if (l < s->n && s->hcount[l] < s->hcount[m])
			m = l;
		if (l + 1 < s->n && s->hcount[l + 1] < s->hcount[m])
			m = l + 1;
		if (m == pos)
			return;
		hotkeys_heap_swap(s, pos, m);
		pos = m;
	}
}

static void
hotkeys_sift_up(HotkeysLocal *s, uint32 pos)
{
	while (pos > 0)
	{
		uint32 parent = (pos - 1) / 2;

		if (s->hcount[parent] <= s->hcount[pos])
			return;
		hotkeys_heap_swap(s, pos, parent);
		pos = parent;
	}
}

/* the table slot of a key: its entry's, or the empty one where it would go */
static inline uint32
hotkeys_probe(const HotkeysLocal *s, uint64 hash, uint32 len, Oid type)
{
	uint32 i = (uint32) hash & s->mask;

	while (s->table[i] != 0 && !hotkeys_same(&s->entries[s->table[i] - 1], hash, len, type))
		i = (i + 1) & s->mask;
	return i;
}

/* Remove the table slot `i` (linear probing: shift the cluster back). */
static void
hotkeys_table_delete(HotkeysLocal *s, uint32 i)
{
	uint32 j = i;

	s->table[i] = 0;
	for (;;)
	{
		uint32 home;

		j = (j + 1) & s->mask;
		if (s->table[j] == 0)
			return;
		home = (uint32) s->entries[s->table[j] - 1].hash & s->mask;
		/* move j's entry to the hole at i unless its home lies in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j))
		{
			s->table[i] = s->table[j];
			s->table[j] = 0;
			i = j;
		}
	}
}

static HotkeysLocal *
hotkeys_local_for(int64 ring_id)
{
	HotkeysLocal *s;
	uint32		  k = (uint32) hk_shared->k;
	uint32		  size = 1;

	for (s = hk_local; s != NULL; s = s->next)
		if (s->ring_id == ring_id)
			return s;
	while (size < 2 * k)
		size <<= 1;
	s = MemoryContextAllocZero(TopMemoryContext, sizeof(HotkeysLocal));
	s->ring_id = ring_id;
	s->mask = size - 1;
	s->entries = MemoryContextAlloc(TopMemoryContext, sizeof(HotkeysEntry) * k);
	s->heap = MemoryContextAlloc(TopMemoryContext, sizeof(uint32) * k);
	s->heap_pos = MemoryContextAlloc(TopMemoryContext, sizeof(uint32) * k);
	s->hcount = MemoryContextAlloc(TopMemoryContext, sizeof(uint64) * k);
	s->table = MemoryContextAllocZero(TopMemoryContext, sizeof(uint32) * size);
	s->next = hk_local;
	hk_local = s;
	return s;
}

static void hotkeys_flush(void);

/* lookups to pass over before the next one counted: geometric with mean 1/r - 1 */
static uint64
hotkeys_draw_skip(double rate)
{
	double u = pg_prng_double(&hk_prng); /* [0, 1) */

	return (uint64) floor(log1p(-u) / log1p(-rate));
}

static void
hotkeys_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) && hk_local != NULL &&
		TimestampDifferenceExceeds(hk_last_flush, GetCurrentTransactionStopTimestamp(), HOTKEYS_FLUSH_INTERVAL_MS))
		hotkeys_flush();
}

static void
hotkeys_exit(int code, Datum arg)
{
	hotkeys_flush();
}

void
hashring_hotkeys_init(void)
{
	RegisterXactCallback(hotkeys_xact_callback, NULL);
}

/*
 * Count one lookup of ring `img` for the key `data`/`len` (its bytes, or a
 * typed key's text form when `type` is valid).
 */
void
hashring_hotkeys_count(const HashringImage *img, const char *data, uint32 len, Oid type)
{
	HotkeysLocal *s;
	double		  rate = hashring_setting_track_keys_sample_rate();
	uint64		  hash;
	uint32		  t;
	HotkeysEntry *e;

	if (hk_shared == NULL)
		return; /* not preloaded */
	if (unlikely(rate != hk_local_rate))
	{
		/* counts of one rate in a summary, so that they scale by one factor */
		hotkeys_flush();
		hk_local_rate = rate;
		hk_skip = 0;
	}
	if (rate < 1.0)
	{
		if (hk_skip > 0)
		{
			hk_skip--;
			return;
		}
		if (unlikely(!hk_prng_ready))
		{
			pg_prng_seed(&hk_prng, HOTKEYS_SAMPLE_SEED);
			hk_prng_ready = true;
		}
		hk_skip = hotkeys_draw_skip(rate);
	}
	if (unlikely(!hk_exit_registered))
	{
		before_shmem_exit(hotkeys_exit, (Datum) 0);
		hk_exit_registered = true;
	}
	s = hk_last;
	if (s == NULL || s->ring_id != img->id.ring_id)
		s = hk_last = hotkeys_local_for(img->id.ring_id);

	s->lookups++;
	hash = hashring_hash_bytes(data, len);
	t = hotkeys_probe(s, hash, len, type);
	if (s->table[t] != 0)
	{
		uint32 idx = s->table[t] - 1;

		s->entries[idx].count++;
		s->hcount[s->heap_pos[idx]]++;
		hotkeys_sift_down(s, s->heap_pos[idx]);
		return;
	}
	if (s->n < (uint32) hk_shared->k)
	{
		/* a free counter: the key's count is exact so far */
		uint32 idx = s->n++;

		e = &s->entries[idx];
		e->count = 1;
		e->error = 0;
		s->heap[idx] = idx;
		s->heap_pos[idx] = idx;
		s->hcount[idx] = 1;
		s->table[t] = idx + 1;
		hotkeys_sift_up(s, idx);
	}
	else
	{
		/* the key takes over the smallest counter, whose count it may have had */
		uint32 idx = s->heap[0];
		uint64 min;

		e = &s->entries[idx];
		min = e->count;
		hotkeys_table_delete(s, hotkeys_probe(s, e->hash, e->len, e->type));
		t = hotkeys_probe(s, hash, len, type);
		s->table[t] = idx + 1;
		e->count = min + 1;
		e->error = min;
		s->hcount[0] = min + 1;
		hotkeys_sift_down(s, 0);
	}
	e->hash = hash;
	e->len = len;
	e->type = type;
	memcpy(e->data, data, Min(len, HOTKEYS_KEY_MAX));
}

/* --- merging into shared memory --- */

static int
hotkeys_cmp_count_desc(const void *a, const void *b)
{
	const HotkeysEntry *x = a;
	const HotkeysEntry *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	/* a fixed order among equal counts */
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return 0;
}

/*
 * Merge `add` (n entries, floor add_floor, summarizing add_lookups) into
 * slot `slot`, keeping the k largest (header comment).  Under the
 * exclusive lock.
 */
static void
hotkeys_merge(HotkeysSlot *slot, const HotkeysEntry *add, uint32 n, uint64 add_floor, uint64 add_lookups, int k)
{
	uint32		  total = slot->nentries + n;
	HotkeysEntry *u = palloc(sizeof(HotkeysEntry) * Max(total, 1));
	bool		 *matched = palloc0(sizeof(bool) * Max(n, 1));
	uint32		  size = 1;
	uint32		 *table;
	uint32		  nu = 0;
	uint64		  floor;

	while (size < 2 * Max(n, 1))
		size <<= 1;
	table = palloc0(sizeof(uint32) * size);
	for (uint32 i = 0; i < n; i++)
	{
		uint32 t = (uint32) add[i].hash & (size - 1);

		while (table[t] != 0)
			t = (t + 1) & (size - 1);
		table[t] = i + 1;
	}
	/* the slot's keys, with what `add` knows of them */
	for (uint32 j = 0; j < slot->nentries; j++)
	{
		const HotkeysEntry *e = &slot->entries[j];
		uint32				t = (uint32) e->hash & (size - 1);
		uint64				c = add_floor;
		uint64				err = add_floor;

		while (table[t] != 0)
		{
			const HotkeysEntry *a = &add[table[t] - 1];

			if (hotkeys_same(a, e->hash, e->len, e->type))
			{
				c = a->count;
				err = a->error;
				matched[table[t] - 1] = true;
				break;
			}
			t = (t + 1) & (size - 1);
		}
		u[nu] = *e;
		u[nu].count = e->count + c;
		u[nu].error = e->error + err;
		nu++;
	}
	/* keys only `add` has */
	for (uint32 i = 0; i < n; i++)
	{
		if (matched[i])
			continue;
		u[nu] = add[i];
		u[nu].count = add[i].count + slot->floor;
		u[nu].error = add[i].error + slot->floor;
		nu++;
	}
	floor = slot->floor + add_floor;
	if (nu > (uint32) k)
	{
		qsort(u, nu, sizeof(HotkeysEntry), hotkeys_cmp_count_desc);
		floor = Max(floor, u[k].count); /* the largest count dropped */
		nu = k;
	}
	memcpy(slot->entries, u, sizeof(HotkeysEntry) * nu);
	slot->nentries = nu;
	slot->floor = floor;
	slot->lookups += add_lookups;
	pfree(u);
	pfree(matched);
	pfree(table);
}

/* This database's slot of ring `ring_id`, claimed if `claim`; NULL if none. */
static HotkeysSlot *
hotkeys_find_slot(int64 ring_id, bool claim)
{
	HotkeysSlot *free_slot = NULL;

	for (int i = 0; i < hk_shared->nslots; i++)
	{
		HotkeysSlot *slot = hotkeys_slot(i);

		if (slot->in_use && slot->dboid == MyDatabaseId && slot->ring_id == ring_id)
			return slot;
		if (!slot->in_use && free_slot == NULL)
			free_slot = slot;
	}
	if (claim && free_slot != NULL)
	{
		free_slot->in_use = true;
		free_slot->sampled = false;
		free_slot->dboid = MyDatabaseId;
		free_slot->ring_id = ring_id;
		free_slot->lookups = 0;
		free_slot->floor = 0;
		free_slot->nentries = 0;
		free_slot->since = GetCurrentTimestamp();
	}
	return claim ? free_slot : NULL;
}

/* the nearest whole number to x / r */
static inline uint64
hotkeys_scale(uint64 x, double rate)
{
	return rate >= 1.0 ? x : (uint64) llround((double) x / rate);
}

/* Add this backend's summaries to shared memory and empty them. */
static void
hotkeys_flush(void)
{
	HotkeysLocal *s;
	double		  rate = hk_local_rate;

	if (hk_local == NULL || hk_shared == NULL)
		return;
	hk_last_flush = GetCurrentTimestamp();
	for (s = hk_local; s != NULL; s = s->next)
	{
		HotkeysSlot *slot;
		uint64		 floor = 0;

		if (s->lookups == 0)
			continue;
		/* Space-Saving's floor: 0 while a counter is free, else the smallest count */
		if (s->n == (uint32) hk_shared->k)
			floor = s->entries[s->heap[0]].count;
		if (rate < 1.0)
		{
			for (uint32 i = 0; i < s->n; i++)
			{
				s->entries[i].count = hotkeys_scale(s->entries[i].count, rate);
				s->entries[i].error = hotkeys_scale(s->entries[i].error, rate);
			}
		}
		LWLockAcquire(hk_shared->lock, LW_EXCLUSIVE);
		slot = hotkeys_find_slot(s->ring_id, true);
		if (slot != NULL)
		{
			hotkeys_merge(slot, s->entries, s->n, hotkeys_scale(floor, rate), hotkeys_scale(s->lookups, rate),
						  hk_shared->k);
			slot->sampled |= rate < 1.0;
		}
		else
			hk_shared->dropped += hotkeys_scale(s->lookups, rate);
		LWLockRelease(hk_shared->lock);
		s->lookups = 0;
		s->n = 0;
		memset(s->table, 0, sizeof(uint32) * (s->mask + 1));
	}
	/* forget the rings not routed by since the last flush */
	{
		HotkeysLocal **link = &hk_local;

		while (*link != NULL)
		{
			s = *link;
			if (s->lookups == 0 && s != hk_last)
			{
				*link = s->next;
				pfree(s->entries);
				pfree(s->heap);
				pfree(s->heap_pos);
				pfree(s->table);
				pfree(s);
			}
			else
				link = &s->next;
		}
	}
}

/* _hot_keys_raw(): every entry of this database's slots */
Datum
hashring_hot_keys_raw(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	if (hk_shared == NULL)
		return (Datum) 0;
	hotkeys_flush(); /* this backend's own lookups count too */
	LWLockAcquire(hk_shared->lock, LW_SHARED);
	for (int i = 0; i < hk_shared->nslots; i++)
	{
		HotkeysSlot *slot = hotkeys_slot(i);

		CHECK_FOR_INTERRUPTS();
		if (!slot->in_use || slot->dboid != MyDatabaseId)
			continue;
		for (uint32 j = 0; j < slot->nentries; j++)
		{
			const HotkeysEntry *e = &slot->entries[j];
			Datum				values[9];
			bool				nulls[9] = {0};
			int					len = (int) Min(e->len, HOTKEYS_KEY_MAX);
			Oid					type = e->type;

			if (e->len > HOTKEYS_KEY_MAX)
				len = pg_mbcliplen(e->data, len, len);
			if (OidIsValid(type) || pg_verifymbstr(e->data, len, true))
			{
				values[1] = PointerGetDatum(cstring_to_text_with_len(e->data, len));
				if (!OidIsValid(type))
					type = TEXTOID;
			}
			else
			{
				/* not text in this database's encoding: bytea's hex form */
				bytea *b = palloc(VARHDRSZ + Min(e->len, HOTKEYS_KEY_MAX));

				SET_VARSIZE(b, VARHDRSZ + Min(e->len, HOTKEYS_KEY_MAX));
				memcpy(VARDATA(b), e->data, Min(e->len, HOTKEYS_KEY_MAX));
				values[1] = CStringGetTextDatum(DatumGetCString(DirectFunctionCall1(byteaout, PointerGetDatum(b))));
				type = BYTEAOID;
			}
			values[0] = Int64GetDatum(slot->ring_id);
			values[2] = ObjectIdGetDatum(type);
			values[3] = Int64GetDatum((int64) e->count);
			values[4] = Int64GetDatum((int64) e->error);
			values[5] = Int64GetDatum((int64) slot->lookups);
			values[6] = Int64GetDatum((int64) slot->floor);
			values[7] = BoolGetDatum(e->len > HOTKEYS_KEY_MAX);
			values[8] = BoolGetDatum(slot->sampled);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	LWLockRelease(hk_shared->lock);
	return (Datum) 0;
}

/* _hot_keys_reset(ring_id): forget this database's summary of one ring (NULL: all) */
Datum
hashring_hot_keys_reset(PG_FUNCTION_ARGS)
{
	if (hk_shared == NULL)
		PG_RETURN_VOID();
	hotkeys_flush();
	LWLockAcquire(hk_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < hk_shared->nslots; i++)
	{
		HotkeysSlot *slot = hotkeys_slot(i);

		if (slot->in_use && slot->dboid == MyDatabaseId && (PG_ARGISNULL(0) || slot->ring_id == PG_GETARG_INT64(0)))
			slot->in_use = false;
	}
	if (PG_ARGISNULL(0))
		hk_shared->dropped = 0;
	LWLockRelease(hk_shared->lock);
	PG_RETURN_VOID();
}

/* hot_keys_info(): whether keys are counted, slots in use, their size, dropped lookups */
Datum
hashring_hot_keys_info(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum	  values[8];
	bool	  nulls[8] = {0};
	int		  rings = 0;
	uint64	  dropped = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (hk_shared != NULL)
	{
		LWLockAcquire(hk_shared->lock, LW_SHARED);
		for (int i = 0; i < hk_shared->nslots; i++)
			rings += hotkeys_slot(i)->in_use ? 1 : 0;
		dropped = hk_shared->dropped;
		LWLockRelease(hk_shared->lock);
	}
	values[0] = BoolGetDatum(hk_shared != NULL && hashring_setting_track_keys() && hashring_setting_track_routing());
	values[1] = BoolGetDatum(hk_shared != NULL);
	values[2] = Int32GetDatum(rings);
	values[3] = Int32GetDatum(hashring_setting_track_keys_rings());
	values[4] = Int32GetDatum(hashring_setting_track_keys_counters());
	values[5] = Int64GetDatum((int64) hotkeys_slot_size());
	values[6] = Float8GetDatum(hashring_setting_track_keys_sample_rate());
	values[7] = Int64GetDatum((int64) dropped);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * _hot_key_owner(ring, key, key_type): the node that owns a key as
 * _hot_keys_raw() shows it (text, bytea's hex form, or a typed key's text
 * form), in the version this snapshot sees; routed without being counted.
 * NULL if the ring has no active node.  hashring_owner(), as ring_node:
 * a pinned key's owner is its pinned node while that node is live.
 */
Datum
hashring_hot_key_owner(PG_FUNCTION_ARGS)
{
	text				*ring = PG_GETARG_TEXT_PP(0);
	text				*keytext = PG_GETARG_TEXT_PP(1);
	Oid					 type = PG_GETARG_OID(2);
	HashringCacheHint	 hint = {0};
	const HashringImage *img;
	const HashringAlgo	*algo;
	HashringKey			 key;
	uint32				 owner;

	img = hashring_get_image(VARDATA_ANY(ring), VARSIZE_ANY_EXHDR(ring), 0, &hint);
	if (img->nlive == 0)
		PG_RETURN_NULL();
	algo = hashring_algo(img->algorithm);
	memset(&key, 0, sizeof(key));
	key.collation = PG_GET_COLLATION();
	if (type == BYTEAOID)
	{
		bytea *b = DatumGetByteaPP(DirectFunctionCall1(byteain, CStringGetDatum(text_to_cstring(keytext))));

		key.type = BYTEAOID;
		key.value = PointerGetDatum(b);
		key.data = VARDATA_ANY(b);
		key.len = VARSIZE_ANY_EXHDR(b);
	}
	else if (type == INT4OID || type == INT8OID || type == UUIDOID)
	{
		Oid	  input;
		Oid	  ioparam;
		char *s = text_to_cstring(keytext);

		getTypeInputInfo(type, &input, &ioparam);
		key.type = type;
		key.value = OidInputFunctionCall(input, s, ioparam, -1);
		if (!algo->typed_keys)
		{
			key.data = s;
			key.len = strlen(s);
		}
	}
	else
	{
		key.type = TEXTOID;
		key.value = PointerGetDatum(keytext);
		key.data = VARDATA_ANY(keytext);
		key.len = VARSIZE_ANY_EXHDR(keytext);
	}
	owner = hashring_owner(img, &key);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(HR_IMAGE_NAME(img, owner), HR_IMAGE_NODES(img)[owner].name_len));
}
