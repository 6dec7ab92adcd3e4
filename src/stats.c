/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Routing statistics: how many lookups each node of each ring was
 *	  routed, kept in shared memory across backends (hashring.routing_stats).
 *
 * With hashring.track_routing on (and the library preloaded), ring_node
 * and ring_nodes count the key's owner (the first of ring_nodes) in the
 * backend's own memory: one counter per node of each ring image routed by,
 * found through the call site's HashringStatsHint, so a lookup adds one to
 * a backend-local array and touches no shared cache line.  The counts are
 * added to shared memory at the end of a committing transaction (parallel
 * workers' too) once STATS_FLUSH_INTERVAL_MS have passed since the
 * backend's last flush, when the backend exits, and when it reads or
 * resets the statistics; a transaction that aborts keeps its counts for
 * the next flush.  So the shared counts are exact once the sessions that
 * made the lookups have exited, and at most that interval behind for
 * sessions that keep committing.  (Flushing at every commit would cost a
 * one-lookup transaction a shared hash probe and a contended spinlock:
 * 17% of pgbench's rate with 2 clients, measured.)
 *
 * Shared state: a hash table of hashring.track_routing_max entries keyed by
 * (database, ring_id, node name), created at startup (ShmemInitHash), and a
 * header.  The LWLock of tranche "hashring_stats" protects the table's
 * shape: SHARED to find an entry and add to its counter (under the entry's
 * spinlock, as pg_stat_statements does), EXCLUSIVE to create or delete
 * entries.  A count for which no entry can be made (the table is full) is
 * added to the header's `dropped` counter instead.  Nothing is kept across
 * a server restart.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(hashring_routing_counts);
PG_FUNCTION_INFO_V1(hashring_routing_reset);
PG_FUNCTION_INFO_V1(hashring_routing_stats_info);

typedef struct StatsKey
{
	Oid	  dboid;
	int64 ring_id;
	char  node[HASHRING_NODE_NAME_MAX + 1]; /* NUL-padded */
} StatsKey;

typedef struct StatsEntry
{
	StatsKey	key;
	slock_t		mutex; /* protects lookups */
	uint64		lookups;
	TimestampTz since; /* when the entry was made (or its ring reset) */
} StatsEntry;

typedef struct StatsShared
{
	LWLock *lock;
	slock_t mutex; /* protects dropped */
	uint64	dropped;
} StatsShared;

static StatsShared *stats_shared = NULL;
static HTAB		   *stats_table = NULL;

/* A backend's counts for one ring image, until they are flushed. */
typedef struct StatsPending
{
	HashringImageId id; /* hash key */
	uint32			nnodes;
	uint64		   *counts; /* per node index */
	uint32		   *dirty;	/* node indexes with counts[] > 0 */
	uint32			ndirty;
	char		  **names; /* per node index, NUL-terminated */
} StatsPending;

/*
 * At most this many images' pending counts are kept between flushes' ends:
 * a backend that routed by more versions forgets the arrays after the
 * flush (a new generation, so call sites' hints look theirs up again).
 */
#define STATS_PENDING_KEEP 16

#define STATS_FLUSH_INTERVAL_MS 1000

static HTAB		  *stats_pending = NULL;
static TimestampTz stats_last_flush = 0;
static uint64	   stats_generation = 1;
static bool		   stats_exit_registered = false;

static Size
stats_shared_size(void)
{
	return add_size(MAXALIGN(sizeof(StatsShared)),
					hash_estimate_size(hashring_setting_track_routing_max(), sizeof(StatsEntry)));
}

void
hashring_stats_shmem_request(void)
{
	RequestAddinShmemSpace(stats_shared_size());
	RequestNamedLWLockTranche("hashring_stats", 1);
}

void
hashring_stats_shmem_startup(void)
{
	bool	found;
	HASHCTL info;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shared = ShmemInitStruct("hashring_stats", sizeof(StatsShared), &found);
	if (!found)
	{
		stats_shared->lock = &(GetNamedLWLockTranche("hashring_stats"))->lock;
		SpinLockInit(&stats_shared->mutex);
		stats_shared->dropped = 0;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(StatsKey);
	info.entrysize = sizeof(StatsEntry);
	stats_table = ShmemInitHash("hashring_stats table", hashring_setting_track_routing_max(),
								hashring_setting_track_routing_max(), &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/* Add one backend's pending counts to shared memory and zero them. */
static void
stats_flush(void)
{
	HASH_SEQ_STATUS seq;
	StatsPending   *p;

	if (stats_pending == NULL || stats_shared == NULL)
		return;
	stats_last_flush = GetCurrentTimestamp();
	hash_seq_init(&seq, stats_pending);
	while ((p = hash_seq_search(&seq)) != NULL)
	{
		if (p->ndirty == 0)
			continue;
		for (uint32 d = 0; d < p->ndirty; d++)
		{
			uint32		node = p->dirty[d];
			StatsKey	key;
			StatsEntry *e;

			memset(&key, 0, sizeof(key));
			key.dboid = p->id.dboid;
			key.ring_id = p->id.ring_id;
			strlcpy(key.node, p->names[node], sizeof(key.node));
			LWLockAcquire(stats_shared->lock, LW_SHARED);
			e = hash_search(stats_table, &key, HASH_FIND, NULL);
			if (e == NULL)
			{
				bool found;

				LWLockRelease(stats_shared->lock);
				LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
				e = hash_search(stats_table, &key, HASH_ENTER_NULL, &found);
				if (e && !found)
				{
					SpinLockInit(&e->mutex);
					e->lookups = 0;
					e->since = GetCurrentTimestamp();
				}
			}
			if (e)
			{
				SpinLockAcquire(&e->mutex);
				e->lookups += p->counts[node];
				SpinLockRelease(&e->mutex);
			}
			else
			{
				SpinLockAcquire(&stats_shared->mutex);
				stats_shared->dropped += p->counts[node];
				SpinLockRelease(&stats_shared->mutex);
			}
			LWLockRelease(stats_shared->lock);
			p->counts[node] = 0;
		}
		p->ndirty = 0;
	}
	if (hash_get_num_entries(stats_pending) > STATS_PENDING_KEEP)
	{
		hash_seq_init(&seq, stats_pending);
		while ((p = hash_seq_search(&seq)) != NULL)
		{
			for (uint32 i = 0; i < p->nnodes; i++)
				pfree(p->names[i]);
			pfree(p->names);
			pfree(p->counts);
			pfree(p->dirty);
		}
		hash_destroy(stats_pending);
		stats_pending = NULL;
		stats_generation++;
	}
}

static void
stats_xact_callback(XactEvent event, void *arg)
{
	if ((event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT) && stats_pending != NULL &&
		TimestampDifferenceExceeds(stats_last_flush, GetCurrentTransactionStopTimestamp(), STATS_FLUSH_INTERVAL_MS))
		stats_flush();
}

static void
stats_exit(int code, Datum arg)
{
	stats_flush();
}

void
hashring_stats_init(void)
{
	RegisterXactCallback(stats_xact_callback, NULL);
}

/* The pending counts of image `img`, made on first use. */
static StatsPending *
stats_pending_for(const HashringImage *img)
{
	StatsPending *p;
	bool		  found;

	if (stats_pending == NULL)
	{
		HASHCTL ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(HashringImageId);
		ctl.entrysize = sizeof(StatsPending);
		ctl.hcxt = TopMemoryContext;
		stats_pending = hash_create("hashring pending stats", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	if (!stats_exit_registered)
	{
		before_shmem_exit(stats_exit, (Datum) 0);
		stats_exit_registered = true;
	}
	p = hash_search(stats_pending, &img->id, HASH_ENTER, &found);
	if (!found)
	{
		p->nnodes = img->nnodes;
		p->counts = MemoryContextAllocZero(TopMemoryContext, sizeof(uint64) * Max(img->nnodes, 1));
		p->dirty = MemoryContextAlloc(TopMemoryContext, sizeof(uint32) * Max(img->nnodes, 1));
		p->ndirty = 0;
		p->names = MemoryContextAlloc(TopMemoryContext, sizeof(char *) * Max(img->nnodes, 1));
		for (uint32 i = 0; i < img->nnodes; i++)
		{
			uint32 len = HR_IMAGE_NODES(img)[i].name_len;

			p->names[i] = MemoryContextAlloc(TopMemoryContext, len + 1);
			memcpy(p->names[i], HR_IMAGE_NAME(img, i), len);
			p->names[i][len] = '\0';
		}
	}
	return p;
}

/*
 * Count one lookup routed to node index `node` of `img`.  The hint keeps
 * the call site's pending counts while it routes by the same image.
 */
void
hashring_stats_count(HashringStatsHint *hint, const HashringImage *img, uint32 node)
{
	StatsPending *p;

	if (stats_shared == NULL)
		return; /* not preloaded: no shared memory to keep counts in */
	if (hint->pending == NULL || hint->generation != stats_generation ||
		!hashring_image_id_equal(&hint->id, &img->id))
	{
		hint->pending = stats_pending_for(img);
		hint->id = img->id;
		hint->generation = stats_generation;
	}
	p = hint->pending;
	if (p->counts[node]++ == 0)
		p->dirty[p->ndirty++] = node;
}

/* _routing_counts(): this database's entries, and the dropped counts. */
Datum
hashring_routing_counts(PG_FUNCTION_ARGS)
{
	ReturnSetInfo  *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	StatsEntry	   *e;

	InitMaterializedSRF(fcinfo, 0);
	if (stats_shared == NULL)
		return (Datum) 0;
	stats_flush(); /* this backend's own lookups count too */
	LWLockAcquire(stats_shared->lock, LW_SHARED);
	hash_seq_init(&seq, stats_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Datum  values[4];
		bool   nulls[4] = {0};
		uint64 lookups;

		if (e->key.dboid != MyDatabaseId)
			continue;
		SpinLockAcquire(&e->mutex);
		lookups = e->lookups;
		SpinLockRelease(&e->mutex);
		values[0] = Int64GetDatum(e->key.ring_id);
		values[1] = CStringGetTextDatum(e->key.node);
		values[2] = Int64GetDatum((int64) lookups);
		values[3] = TimestampTzGetDatum(e->since);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(stats_shared->lock);
	return (Datum) 0;
}

/* _routing_reset(ring_id): forget this database's counts of one ring (NULL: all). */
Datum
hashring_routing_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	StatsEntry	   *e;

	if (stats_shared == NULL)
		PG_RETURN_VOID();
	stats_flush();
	LWLockAcquire(stats_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, stats_table);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->key.dboid == MyDatabaseId && (PG_ARGISNULL(0) || e->key.ring_id == PG_GETARG_INT64(0)))
			hash_search(stats_table, &e->key, HASH_REMOVE, NULL);
	if (PG_ARGISNULL(0))
	{
		SpinLockAcquire(&stats_shared->mutex);
		stats_shared->dropped = 0;
		SpinLockRelease(&stats_shared->mutex);
	}
	LWLockRelease(stats_shared->lock);
	PG_RETURN_VOID();
}

/* routing_stats_info(): whether lookups are counted, entries in use, dropped counts. */
Datum
hashring_routing_stats_info(PG_FUNCTION_ARGS)
{
	TupleDesc tupdesc;
	Datum	  values[5];
	bool	  nulls[5] = {0};
	uint64	  dropped = 0;
	int64	  entries = 0;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (stats_shared != NULL)
	{
		LWLockAcquire(stats_shared->lock, LW_SHARED);
		entries = hash_get_num_entries(stats_table);
		LWLockRelease(stats_shared->lock);
		SpinLockAcquire(&stats_shared->mutex);
		dropped = stats_shared->dropped;
		SpinLockRelease(&stats_shared->mutex);
	}
	values[0] = BoolGetDatum(stats_shared != NULL && hashring_setting_track_routing());
	values[1] = BoolGetDatum(stats_shared != NULL);
	values[2] = Int64GetDatum(entries);
	values[3] = Int32GetDatum(hashring_setting_track_routing_max());
	values[4] = Int64GetDatum((int64) dropped);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
