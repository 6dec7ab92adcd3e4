/*-------------------------------------------------------------------------
 *
 * cache.c
 *	  The ring cache: a backend-local table of rings this backend routes
 *	  by, each pointing at an immutable image that lives either in shared
 *	  memory (one copy per ring version, shared by all backends) or in
 *	  backend-local memory; and the whole protocol that keeps it current
 *	  (invalidation and its epoch, statement detection, the commit
 *	  generation and trust).
 *
 * Read path (hashring_get_image).  Every statement routes by the ring
 * version its snapshot sees.  A cached entry is used without any catalog
 * access or lock when no invalidation arrived since it was checked and
 * either it was checked or used in this statement, or it was checked under a
 * snapshot that sees the same rows, or it is trusted for the commit
 * generation this statement read after its snapshot was taken, and this
 * snapshot is not older than the check's (see "Statement snapshots and the
 * commit generation" below).  Otherwise the entry is rechecked: the ring
 * row is read with the caller's snapshot and, if its version (or, for
 * uncommitted versions, the writing transaction) differs from the image's,
 * the image is replaced.
 *
 * Invalidation.  Writers: every change to hashring.rings or hashring.nodes
 * fires the statement trigger hashring._invalidate() (hashring_invalidate, here), which
 * registers a relcache invalidation of the changed table.  That
 * invalidation is transactional: it is applied to the writer's own backend
 * at the next CommandCounterIncrement, sent to every other backend only at
 * commit (never on rollback), and WAL-logged with the commit record so that
 * hot standbys replay it.  It also marks the transaction as a membership
 * change (hr_xact_changed), which this file counts in
 * shared memory around the commit (the commit generation: see "Statement
 * snapshots and the commit generation" below).  On a logical-replication
 * subscriber the same function runs as a row trigger enabled for replicas.
 *
 * Readers: a relcache callback (hr_relcache_callback) bumps
 * hashring_inval_epoch and nothing else (it may run at any time, even
 * inside a catalog scan); entries remember the epoch they were checked at.
 * Which relations are the catalog's it asks catalog.c
 * (hashring_catalog_relation_invalidated, which also forgets their OIDs).
 * The callback is registered by hashring_register_invalidation(), which
 * catalog.c calls before every catalog read, before it looks the tables up,
 * so that an invalidation arriving during a read is not missed.  The epoch
 * and the registration are per backend.
 *
 * Versions.  An image is identified by its HashringImageId (hashring.h):
 * the database OID, ring_id, version and xmin of the ring row it was built
 * from; the catalog read fills it in (HashringDef.id), the image header
 * carries it, and it keys the shared directory.  Within one database and one
 * installation of the extension, (ring_id, version) already names one
 * committed membership: every change bumps the version under the ring row's
 * lock, and ring_id comes from a sequence.  But ring_ids repeat across
 * databases and after DROP/CREATE EXTENSION, and a restore resets versions;
 * the row's xmin (a new one for every version) tells those apart, and also
 * two uncommitted versions with the same number, one of them from a
 * rolled-back subtransaction.  A version row written by the current
 * transaction is "private": its image is built in local memory and never
 * published, and is dropped once the version is committed or rolled back.
 *
 * Shared memory (only with shared_preload_libraries).  HrShared holds a
 * fixed directory of HR_SHARED_SLOTS slots and a DSA area created in place,
 * limited to hashring.shared_memory bytes.  Locking:
 *
 *	  HrShared->lock (LWLock "hashring")
 *	    LW_EXCLUSIVE for every access to the directory: a search happens
 *	                 only in the recheck path and always ends in a pin, so
 *	                 there is no read-only use.  Publish, pin, unpin,
 *	                 retire, evict; dsa_allocate/dsa_free happen under it.
 *	                 The warned-versions list is under it too.
 *	  commits_started, commits_finished
 *	                 atomics, added to by every membership writer around
 *	                 its commit; read without a lock (with a read barrier).
 *	  Image bytes    are written by the publishing backend while the slot
 *	                 is SLOT_FILLING (invisible to everyone else), and never
 *	                 written again once SLOT_READY: readers holding a pin
 *	                 read them with no lock at all.
 *
 * A backend pins (refcount++) every slot its cache points at and unpins it
 * only when its entry moves to another image (in the recheck path, never
 * inside a lookup) or at backend exit.  A slot is freed only when it is
 * unpinned and either retired (a newer version of its ring was published)
 * or evicted to make room.  So no reader can see a freed or half-built
 * image.  If a backend crashes, the postmaster reinitialises shared memory,
 * and with it every slot, pin and counter.
 *
 * Lifetime of backend entries: an entry for a ring's current version lives
 * until its ring is found missing (then it and every past-version entry of
 * that name are removed before the error is raised, so unknown names leave
 * nothing behind and a dropped ring's images go at its next lookup) or the
 * backend exits; its image is replaced when the ring row it was built from
 * changes.  Entries for past versions are at most HR_PAST_VERSIONS_MAX
 * (16): the least recently used one that the current statement has not used
 * is removed to make room.  So a backend's cache holds at most one image per
 * ring it routes by plus 16 past-version images (test/t/005_shared_cache.pl
 * routes at 1,000 past versions and checks the bound).
 * Callers remember entries with their incarnation, so a removed entry is
 * never used through a stale hint.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "access/xlog.h"
#include "port/atomics.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/dsa.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define HR_SHARED_SLOTS 256

typedef enum HrSlotState
{
	SLOT_FREE = 0,
	SLOT_FILLING,
	SLOT_READY
} HrSlotState;

typedef struct HrSharedSlot
{
	HrSlotState		state;
	bool			retired;   /* another image of this ring was published */
	int32			refcount;  /* backends whose cache points here */
	HashringImageId id;		   /* of its image */
	uint64			last_used; /* HrShared->clock at last pin */
	dsa_pointer		image;
	uint64			bytes;
} HrSharedSlot;

#define HR_WARNED_SLOTS 64

typedef struct HrShared
{
	LWLock *lock;
	int		dsa_tranche;
	Size	dsa_size;
	uint64	clock;
	/* membership commits: see "Statement snapshots" above */
	pg_atomic_uint64 commits_started;
	pg_atomic_uint64 commits_finished;
	/* ring versions already warned about as not fitting (round robin) */
	HashringImageId warned[HR_WARNED_SLOTS];
	uint32			warned_next;
	HrSharedSlot	slots[HR_SHARED_SLOTS];
	/* the DSA area follows, MAXALIGNed */
} HrShared;

#define HR_SHARED_DSA_PLACE(s) ((char *) (s) + MAXALIGN(sizeof(HrShared)))

/*
 * What a snapshot can see, as far as routing cares.  Transactions below a
 * snapshot's xmax that it lists as running can only finish, never start, so
 * two snapshots of one transaction with the same xmin, xmax, xcnt and curcid
 * list the same running transactions and see the same rows.
 */
typedef struct HrSnapId
{
	LocalTransactionId lxid;
	TransactionId	   xmin;
	TransactionId	   xmax; /* invalid: no snapshot, never equal */
	uint32			   xcnt;
	CommandId		   curcid;
} HrSnapId;

/* A backend's cache entry for one ring name. */
typedef struct HrEntry
{
	/* hash key: ring name (NUL padded) and version (0: the current one) */
	char				 ring[HASHRING_RING_NAME_MAX + 1];
	int64				 version;
	int					 ring_len;
	const HashringImage *image;			/* NULL if none */
	int					 slot;			/* pinned shared slot, or -1 for local */
	HashringImage		*local_image;	/* owned local image, if slot < 0 */
	bool				 is_private;	/* image of an uncommitted version */
	uint64				 checked_epoch; /* hashring_inval_epoch when last checked */
	uint64				 checked_stmt;	/* statement serial of the last check or use */
	HrSnapId			 checked_snap;	/* the snapshot of the last check */
	TransactionId		*checked_xip;	/* its running xids, sorted (in hr_cxt) */
	uint32				 checked_xip_cap;
	uint64				 trusted_gen;  /* commit generation it is valid for, 0: none */
	int64				 local_builds; /* images this backend built for this ring */
	uint64				 incarnation;  /* unique per entry created, 0 once removed */
	uint64				 last_used;	   /* hr_uses at its last use */
} HrEntry;

/*
 * Entries for past versions (routing by version) are kept for at most this
 * many (ring, version) pairs per backend; the least recently used one is
 * removed first, never the one whose image was returned last (ring_diff
 * holds two images at once).
 */
#define HR_PAST_VERSIONS_MAX 16

static HrShared		*hr_shared = NULL;
static dsa_area		*hr_area = NULL;
static HTAB			*hr_entries = NULL;
static MemoryContext hr_cxt = NULL;
static bool			 hr_exit_registered = false;

/* invalidation, see "Invalidation" above */
static uint64 hashring_inval_epoch = 1;
static bool	  hr_relcache_registered = false;

/* statement detection, see hr_statement_check() */
static Snapshot	   hr_stmt_snap = NULL;
static TimestampTz hr_stmt_ts = 0;
static HrSnapId	   hr_stmt_id;
static uint64	   hr_stmt_serial = 0;
static uint64	   hr_stmt_gen = 0; /* commit generation read after the snapshot, 0: none */
static uint64	   hr_incarnations = 0;
static uint64	   hr_uses = 0;			 /* lookups served, for LRU order */
static HrEntry	  *hr_last_entry = NULL; /* the entry whose image was returned last */
static int		   hr_past_entries = 0;	 /* entries with version > 0 */

/* writer side: this transaction changed membership (see hr_xact_callback) */
static bool hr_xact_changed = false;
static bool hr_xact_started = false; /* counted in commits_started */

/* ------------------------------------------------------------------------
 * Shared memory set-up
 * ------------------------------------------------------------------------ */

static Size
hr_shared_size(void)
{
	return add_size(MAXALIGN(sizeof(HrShared)),
					hashring_setting_shared_memory_bytes());
}

void
hashring_shmem_request(void)
{
	RequestAddinShmemSpace(hr_shared_size());
	RequestNamedLWLockTranche("hashring", 1);
}

void
hashring_shmem_startup(void)
{
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	hr_shared = ShmemInitStruct("hashring", hr_shared_size(), &found);
	if (!found)
	{
		dsa_area *area;

		memset(hr_shared, 0, sizeof(HrShared));
		hr_shared->lock = &(GetNamedLWLockTranche("hashring"))->lock;
		hr_shared->dsa_tranche = LWLockNewTrancheId();
		hr_shared->dsa_size = hashring_setting_shared_memory_bytes();
		pg_atomic_init_u64(&hr_shared->commits_started, 0);
		pg_atomic_init_u64(&hr_shared->commits_finished, 0);
		area = dsa_create_in_place(HR_SHARED_DSA_PLACE(hr_shared),
								   hr_shared->dsa_size,
								   hr_shared->dsa_tranche, NULL);
		dsa_pin(area);
		/* never grow beyond the region: no DSM segments */
		dsa_set_size_limit(area, hr_shared->dsa_size);
		dsa_detach(area);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Attach this backend to the DSA area, once. */
static bool
hr_shared_attach(void)
{
	MemoryContext oldcxt;

	if (hr_shared == NULL)
		return false;
	if (hr_area != NULL)
		return true;
	LWLockRegisterTranche(hr_shared->dsa_tranche, "hashring_dsa");
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	hr_area = dsa_attach_in_place(HR_SHARED_DSA_PLACE(hr_shared), NULL);
	dsa_pin_mapping(hr_area);
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/* ------------------------------------------------------------------------
 * Shared directory (all under hr_shared->lock)
 * ------------------------------------------------------------------------ */

/* Free a slot's image.  Caller holds the lock exclusively; refcount is 0. */
static void
hr_slot_free(HrSharedSlot *slot)
{
	Assert(slot->refcount == 0 && slot->state == SLOT_READY);
	dsa_free(hr_area, slot->image);
	memset(slot, 0, sizeof(*slot));
	slot->state = SLOT_FREE;
}

/*
 * Evict one unpinned ready slot, retired ones first, then the least
 * recently pinned.  Returns false if every slot is pinned or filling.
 */
static bool
hr_slot_evict_one(void)
{
	int victim = -1;

	for (int i = 0; i < HR_SHARED_SLOTS; i++)
	{
		HrSharedSlot *s = &hr_shared->slots[i];

		if (s->state != SLOT_READY || s->refcount > 0)
			continue;
		if (victim < 0 ||
			(s->retired && !hr_shared->slots[victim].retired) ||
			(s->retired == hr_shared->slots[victim].retired &&
			 s->last_used < hr_shared->slots[victim].last_used))
			victim = i;
	}
	if (victim < 0)
		return false;
	hr_slot_free(&hr_shared->slots[victim]);
	return true;
}

static int
hr_slot_find(const HashringImageId *id)
{
	for (int i = 0; i < HR_SHARED_SLOTS; i++)
	{
		HrSharedSlot *s = &hr_shared->slots[i];

		if (s->state == SLOT_READY && hashring_image_id_equal(&s->id, id))
			return i;
	}
	return -1;
}

static void
hr_slot_pin(int i)
{
	hr_shared->slots[i].refcount++;
	hr_shared->slots[i].last_used = ++hr_shared->clock;
}

static void
hr_slot_unpin(int i)
{
	HrSharedSlot *s = &hr_shared->slots[i];

	Assert(s->refcount > 0);
	s->refcount--;
	if (s->refcount == 0 && s->retired)
		hr_slot_free(s);
}

/* Find and pin the published image with this identity; -1 if none. */
static int
hr_shared_lookup(const HashringImageId *id)
{
	int i;

	LWLockAcquire(hr_shared->lock, LW_EXCLUSIVE);
	i = hr_slot_find(id);
	if (i >= 0)
		hr_slot_pin(i);
	LWLockRelease(hr_shared->lock);
	return i;
}

/*
 * Publish a copy of `img` and pin it.  Returns the slot, or -1 if it does
 * not fit (no free slot or not enough memory after evicting every unpinned
 * image).  If another backend published the same version meanwhile, pins
 * and returns that one.
 */
static int
hr_shared_publish(const HashringImage *img)
{
	int			  i;
	dsa_pointer	  dp = InvalidDsaPointer;
	HrSharedSlot *slot;

	if (img->total_bytes > hr_shared->dsa_size)
		return -1;

	LWLockAcquire(hr_shared->lock, LW_EXCLUSIVE);
	i = hr_slot_find(&img->id);
	if (i >= 0)
	{
		hr_slot_pin(i);
		LWLockRelease(hr_shared->lock);
		return i;
	}
	for (;;)
	{
		dp = dsa_allocate_extended(hr_area, img->total_bytes,
								   DSA_ALLOC_HUGE | DSA_ALLOC_NO_OOM);
		if (DsaPointerIsValid(dp) || !hr_slot_evict_one())
			break;
	}
	if (!DsaPointerIsValid(dp))
	{
		LWLockRelease(hr_shared->lock);
		return -1;
	}
	for (i = 0; i < HR_SHARED_SLOTS; i++)
		if (hr_shared->slots[i].state == SLOT_FREE)
			break;
	if (i == HR_SHARED_SLOTS)
	{
		/* directory full: evict, then take the slot that frees up */
		if (!hr_slot_evict_one())
		{
			dsa_free(hr_area, dp);
			LWLockRelease(hr_shared->lock);
			return -1;
		}
		for (i = 0; i < HR_SHARED_SLOTS; i++)
			if (hr_shared->slots[i].state == SLOT_FREE)
				break;
	}
	slot = &hr_shared->slots[i];
	slot->state = SLOT_FILLING;
	slot->retired = false;
	slot->refcount = 1;
	slot->id = img->id;
	slot->last_used = ++hr_shared->clock;
	slot->image = dp;
	slot->bytes = img->total_bytes;
	LWLockRelease(hr_shared->lock);

	/* Copy outside the lock; nobody looks at a FILLING slot. */
	memcpy(dsa_get_address(hr_area, dp), img, img->total_bytes);

	LWLockAcquire(hr_shared->lock, LW_EXCLUSIVE);
	slot->state = SLOT_READY;

	/*
	 * Retire every other image of this ring: the publisher routes by the
	 * version its snapshot sees, so that is the one to keep.  (A REPEATABLE
	 * READ transaction publishing an older version retires the newer one,
	 * which the next backend that needs it rebuilds.)  Retired images are
	 * freed once unpinned.
	 */
	for (int j = 0; j < HR_SHARED_SLOTS; j++)
	{
		HrSharedSlot *s = &hr_shared->slots[j];

		if (j == i || s->state != SLOT_READY || s->id.dboid != img->id.dboid ||
			s->id.ring_id != img->id.ring_id)
			continue;
		s->retired = true;
		if (s->refcount == 0)
			hr_slot_free(s);
	}
	LWLockRelease(hr_shared->lock);
	return i;
}

/*
 * Whether no backend has warned yet that this image does not fit: the
 * warning is given once per ring version, not once per backend.  The last
 * HR_WARNED_SLOTS versions warned about are remembered.
 */
static bool
hr_shared_first_warning(const HashringImageId *id)
{
	bool first = true;

	LWLockAcquire(hr_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < HR_WARNED_SLOTS && first; i++)
		if (hashring_image_id_equal(&hr_shared->warned[i], id))
			first = false;
	if (first)
	{
		hr_shared->warned[hr_shared->warned_next] = *id;
		hr_shared->warned_next = (hr_shared->warned_next + 1) % HR_WARNED_SLOTS;
	}
	LWLockRelease(hr_shared->lock);
	return first;
}

/* ------------------------------------------------------------------------
 * Local cache
 * ------------------------------------------------------------------------ */

/* Drop the entry's image: unpin a shared slot or free a local image. */
static void
hr_entry_release(HrEntry *entry)
{
	if (entry->slot >= 0)
	{
		LWLockAcquire(hr_shared->lock, LW_EXCLUSIVE);
		hr_slot_unpin(entry->slot);
		LWLockRelease(hr_shared->lock);
	}
	if (entry->local_image)
		pfree(entry->local_image);
	entry->image = NULL;
	entry->local_image = NULL;
	entry->slot = -1;
	entry->is_private = false;
}

/* before_shmem_exit: give back every pin this backend holds. */
static void
hr_release_all(int code, Datum arg)
{
	HASH_SEQ_STATUS status;
	HrEntry		   *entry;

	if (hr_entries == NULL || hr_shared == NULL)
		return;
	if (LWLockHeldByMe(hr_shared->lock))
		LWLockRelease(hr_shared->lock);
	hash_seq_init(&status, hr_entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		if (entry->slot >= 0)
		{
			LWLockAcquire(hr_shared->lock, LW_EXCLUSIVE);
			hr_slot_unpin(entry->slot);
			LWLockRelease(hr_shared->lock);
			entry->slot = -1;
			entry->image = NULL;
		}
	}
}

static void
hr_cache_init(void)
{
	HASHCTL ctl;

	if (hr_entries != NULL)
		return;
	if (CacheMemoryContext == NULL)
		CreateCacheMemoryContext();
	hr_cxt = AllocSetContextCreate(CacheMemoryContext, "hashring cache",
								   ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = offsetof(HrEntry, version) + sizeof(int64);
	ctl.entrysize = sizeof(HrEntry);
	ctl.hcxt = hr_cxt;
	hr_entries = hash_create("hashring rings", 16, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	if (hr_shared != NULL && !hr_exit_registered)
	{
		before_shmem_exit(hr_release_all, (Datum) 0);
		hr_exit_registered = true;
	}
}

/* ------------------------------------------------------------------------
 * Invalidation (see the file header)
 * ------------------------------------------------------------------------ */

static void
hr_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || hashring_catalog_relation_invalidated(relid))
		hashring_inval_epoch++;
}

/*
 * Make sure the relcache callback is registered.  catalog.c calls this
 * before every catalog read.
 */
void
hashring_register_invalidation(void)
{
	if (!hr_relcache_registered)
	{
		CacheRegisterRelcacheCallback(hr_relcache_callback, (Datum) 0);
		hr_relcache_registered = true;
	}
}

/* ------------------------------------------------------------------------
 * Statement snapshots and the commit generation
 * ------------------------------------------------------------------------ */

/*
 * Writers: a transaction that changed membership (hashring._invalidate()
 * ran) adds one to commits_started before its commit becomes visible
 * (XACT_EVENT_PRE_COMMIT) and one to commits_finished after it has
 * (XACT_EVENT_COMMIT, which runs after ProcArrayEndTransaction), or after it
 * aborted.  So every commit a snapshot sees was counted in commits_started
 * before the snapshot was taken.
 */
/*
 * Statement trigger on the catalog tables: register a relcache invalidation
 * of the table.  It travels with the transaction (see
 * "Invalidation" in the file header) and marks the transaction as a
 * membership change for the commit generation.
 */
PG_FUNCTION_INFO_V1(hashring_invalidate);

Datum
hashring_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hashring._invalidate() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	hr_xact_changed = true;
	PG_RETURN_POINTER(NULL);
}

static void
hr_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (hr_xact_changed && hr_shared != NULL && !hr_xact_started)
			{
				pg_atomic_fetch_add_u64(&hr_shared->commits_started, 1);
				hr_xact_started = true;
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (hr_xact_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot PREPARE a transaction that has changed ring membership"),
						 errdetail("Routing must learn of a membership change when it commits, which COMMIT PREPARED does not tell it.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			/*
			 * Fault injection for the tests: the commit is visible to new
			 * snapshots, its invalidations are not sent yet.
			 */
			if (hr_xact_changed && hashring_setting_inject_commit_pause_ms() > 0)
				pg_usleep((long) hashring_setting_inject_commit_pause_ms() * 1000L);
			if (hr_xact_started)
				pg_atomic_fetch_add_u64(&hr_shared->commits_finished, 1);
			hr_xact_started = false;
			hr_xact_changed = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (hr_xact_started)
				pg_atomic_fetch_add_u64(&hr_shared->commits_finished, 1);
			hr_xact_started = false;
			hr_xact_changed = false;
			break;
		default:
			break;
	}
}

void
hashring_register_xact_callback(void)
{
	RegisterXactCallback(hr_xact_callback, NULL);
}

/*
 * The commit generation a reader may rely on: commits_started (plus one, so
 * that 0 means "none"), or 0 without shared memory and during recovery,
 * where commits are replayed by the startup process, which counts nothing.
 */
static inline uint64
hr_commit_generation(void)
{
	if (hr_shared == NULL || RecoveryInProgress())
		return 0;
	pg_read_barrier();
	return pg_atomic_read_u64(&hr_shared->commits_started) + 1;
}

static inline void
hr_snap_id(HrSnapId *id, Snapshot snap, LocalTransactionId lxid)
{
	memset(id, 0, sizeof(*id));
	id->lxid = lxid;
	if (snap == NULL)
		return; /* xmax stays invalid: equal to nothing */
	id->xmin = snap->xmin;
	id->xmax = snap->xmax;
	id->xcnt = snap->xcnt;
	id->curcid = snap->curcid;
}

static inline bool
hr_snap_equal(const HrSnapId *a, const HrSnapId *b)
{
	return TransactionIdIsValid(a->xmax) && a->lxid == b->lxid && a->xmin == b->xmin &&
		   a->xmax == b->xmax && a->xcnt == b->xcnt && a->curcid == b->curcid;
}

static int
hr_xid_cmp(const void *a, const void *b)
{
	TransactionId x = *(const TransactionId *) a;
	TransactionId y = *(const TransactionId *) b;

	return (x > y) - (x < y);
}

/* Remember the check's snapshot, with its running xids sorted. */
static void
hr_entry_remember_snapshot(HrEntry *entry)
{
	Snapshot snap = hr_stmt_snap;

	entry->checked_snap = hr_stmt_id;
	if (snap == NULL || snap->takenDuringRecovery)
		return; /* no trust without a primary's snapshot: see hr_entry_trust */
	if (entry->checked_xip_cap < snap->xcnt)
	{
		if (entry->checked_xip)
			pfree(entry->checked_xip);
		entry->checked_xip_cap = Max(snap->xcnt, 16);
		entry->checked_xip = MemoryContextAlloc(hr_cxt, sizeof(TransactionId) * entry->checked_xip_cap);
	}
	if (snap->xcnt > 0)
	{
		memcpy(entry->checked_xip, snap->xip, sizeof(TransactionId) * snap->xcnt);
		qsort(entry->checked_xip, snap->xcnt, sizeof(TransactionId), hr_xid_cmp);
	}
}

/*
 * Whether this statement's snapshot sees every transaction the check's
 * snapshot saw as completed: it was not taken before it.  (A cursor's
 * snapshot may be older.)  Every xid below the check's xmax that this
 * snapshot lists as running must have been running for the check too.
 */
static bool
hr_stmt_not_older(const HrEntry *entry)
{
	Snapshot snap = hr_stmt_snap;

	if (snap == NULL || snap->takenDuringRecovery ||
		!TransactionIdFollowsOrEquals(snap->xmax, entry->checked_snap.xmax))
		return false;
	for (uint32 i = 0; i < snap->xcnt; i++)
	{
		TransactionId x = snap->xip[i];

		if (TransactionIdPrecedes(x, entry->checked_snap.xmax) &&
			bsearch(&x, entry->checked_xip, entry->checked_snap.xcnt, sizeof(TransactionId), hr_xid_cmp) == NULL)
			return false;
	}
	return true;
}

/*
 * Called on every lookup.  A new active snapshot (or transaction, or
 * statement) starts a new "statement": process pending invalidations (our
 * own, and rollbacks), and read the commit generation, after the snapshot
 * was taken.
 */
static inline void
hr_statement_check(void)
{
	Snapshot snap = ActiveSnapshotSet() ? GetActiveSnapshot() : NULL;
#if PG_VERSION_NUM >= 170000
	LocalTransactionId lxid = MyProc->vxid.lxid;
#else
	LocalTransactionId lxid = MyProc->lxid;
#endif
	TimestampTz ts = GetCurrentStatementStartTimestamp();
	HrSnapId	id;

	hr_snap_id(&id, snap, lxid);
	if (likely(snap != NULL && snap == hr_stmt_snap && ts == hr_stmt_ts && hr_snap_equal(&id, &hr_stmt_id)))
		return;

	hr_stmt_snap = snap;
	hr_stmt_ts = ts;
	hr_stmt_id = id;
	hr_stmt_serial++;
	AcceptInvalidationMessages();
	hr_stmt_gen = hr_commit_generation();
}

/*
 * Whether an entry checked in an earlier statement still holds the image
 * this statement's snapshot sees: checked under a snapshot that sees the
 * same rows, or trusted for the generation read after this snapshot was
 * taken, by a snapshot not older than the check's (a cursor's older snapshot
 * may predate the image).
 */
static inline bool
hr_entry_current(const HrEntry *entry)
{
	if (hr_snap_equal(&entry->checked_snap, &hr_stmt_id))
		return true;
	return entry->trusted_gen != 0 && entry->trusted_gen == hr_stmt_gen && hr_stmt_not_older(entry);
}

/*
 * After a check: the generation for which the entry's image is what every
 * later snapshot sees, or 0.  When no membership commit is in flight
 * (commits_finished, read first, equals commits_started), every commit
 * counted so far is visible to a snapshot taken now; if the ring row such a
 * snapshot sees is the one the image was built from, the image holds for
 * any later snapshot until commits_started moves.
 */
static uint64
hr_entry_trust(const HrEntry *entry, const HashringDef *def)
{
	uint64		finished;
	uint64		started;
	HashringDef latest;
	bool		found;

	/* (no new snapshot can be taken in parallel mode: parallel queries recheck) */
	if (hr_shared == NULL || RecoveryInProgress() || def->private_version ||
		!TransactionIdIsValid(hr_stmt_id.xmax) || IsInParallelMode())
		return 0;
	finished = pg_atomic_read_u64(&hr_shared->commits_finished);
	pg_read_barrier();
	started = pg_atomic_read_u64(&hr_shared->commits_started);
	if (started != finished)
		return 0;
	PushActiveSnapshot(GetLatestSnapshot());
	found = hashring_read_ring(entry->ring, entry->version, false, &latest);
	PopActiveSnapshot();
	if (!found || !hashring_image_id_equal(&latest.id, &def->id))
		return 0;
	return started + 1;
}

/* Remove an entry: its image, its snapshot copy, and the entry itself. */
static void
hr_entry_remove(HrEntry *entry)
{
	hr_entry_release(entry);
	if (entry->checked_xip)
		pfree(entry->checked_xip);
	entry->checked_xip = NULL;
	entry->incarnation = 0;
	if (entry->version > 0)
		hr_past_entries--;
	if (hr_last_entry == entry)
		hr_last_entry = NULL;
	hash_search(hr_entries, entry, HASH_REMOVE, NULL);
}

/*
 * Make room for one more past-version entry: remove the least recently used
 * one, except the one whose image was returned last (the caller may still be
 * using it).
 */
static void
hr_evict_past_version(void)
{
	HASH_SEQ_STATUS status;
	HrEntry		   *entry;
	HrEntry		   *victim = NULL;

	hash_seq_init(&status, hr_entries);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (entry->version > 0 && entry != hr_last_entry &&
			(victim == NULL || entry->last_used < victim->last_used))
			victim = entry;
	if (victim)
		hr_entry_remove(victim);
}

/* Remove every entry (past versions included) of the ring with this name. */
static void
hr_forget_ring(const char *ring)
{
	HASH_SEQ_STATUS status;
	HrEntry		   *entry;

	hash_seq_init(&status, hr_entries);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (strcmp(entry->ring, ring) == 0)
			hr_entry_remove(entry);
}

static HrEntry *
hr_entry_for(const char *name, int len, int64 version)
{
	struct
	{
		char  ring[HASHRING_RING_NAME_MAX + 1];
		int64 version;
	} key;
	HrEntry *entry;
	bool	 found;

	StaticAssertStmt(offsetof(HrEntry, version) == HASHRING_RING_NAME_MAX + 1,
					 "HrEntry must start with its hash key");
	if (len > HASHRING_RING_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ring \"%.*s...\" does not exist",
						pg_mbcliplen(name, len, HASHRING_RING_NAME_MAX), name),
				 errdetail("Ring names are at most %d bytes long.", HASHRING_RING_NAME_MAX)));
	memset(&key, 0, sizeof(key));
	memcpy(key.ring, name, len);
	key.version = version;
	hr_cache_init();
	if (version > 0 && hr_past_entries >= HR_PAST_VERSIONS_MAX &&
		hash_search(hr_entries, &key, HASH_FIND, NULL) == NULL)
		hr_evict_past_version();
	entry = hash_search(hr_entries, &key, HASH_ENTER, &found);
	if (!found)
	{
		entry->ring_len = len;
		entry->image = NULL;
		entry->slot = -1;
		entry->local_image = NULL;
		entry->is_private = false;
		entry->checked_epoch = 0;
		entry->checked_stmt = 0;
		memset(&entry->checked_snap, 0, sizeof(entry->checked_snap));
		entry->checked_xip = NULL;
		entry->checked_xip_cap = 0;
		entry->trusted_gen = 0;
		entry->local_builds = 0;
		entry->incarnation = ++hr_incarnations;
		if (version > 0)
			hr_past_entries++;
	}
	return entry;
}

/*
 * Recheck an entry against the catalog and make it point at the image of
 * the version the active snapshot sees.
 */
static void
hr_entry_refresh(HrEntry *entry)
{
	uint64			epoch = hashring_inval_epoch;
	MemoryContext	scratch;
	MemoryContext	oldcxt;
	HashringDef		def;
	bool			is_private;
	HashringImage  *built;
	int				slot = -1;
	HashringImageId id;

	scratch = AllocSetContextCreate(CurrentMemoryContext, "hashring refresh",
									ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(scratch);

	if (!hashring_read_ring(entry->ring, entry->version, false, &def))
	{
		char  ring[HASHRING_RING_NAME_MAX + 1];
		int64 version = entry->version;

		/*
		 * Forget the name: unknown names must not grow the cache, and a
		 * dropped ring's past versions go with it.
		 */
		strlcpy(ring, entry->ring, sizeof(ring));
		hr_entry_remove(entry);
		if (version == 0)
			hr_forget_ring(ring);
		if (version > 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("version " INT64_FORMAT " of ring \"%s\" does not exist", version, ring),
					 errhint("Only committed versions are kept, until they are pruned; hashring.ring_versions() lists them.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("ring \"%s\" does not exist", ring)));
	}
	is_private = def.private_version;
	id = def.id;

	if (entry->image != NULL && entry->is_private == is_private && hashring_image_id_equal(&entry->image->id, &id))
		goto done; /* same image still current */

	/* past versions are built locally: they would retire the current one */
	if (!is_private && entry->version == 0 && hr_shared_attach())
		slot = hr_shared_lookup(&id);

	if (slot < 0)
	{
		/* Build it.  Versions cannot change within one snapshot. */
		if (!hashring_read_ring(entry->ring, entry->version, true, &def))
			elog(ERROR, "ring \"%s\" vanished within one snapshot", entry->ring);
		built = hashring_image_build(&def, hr_cxt);
		entry->local_builds++;
		if (!is_private && entry->version == 0 && hr_shared != NULL)
		{
			slot = hr_shared_publish(built);
			if (slot >= 0)
				pfree(built);
			else if (hr_shared_first_warning(&id))
				ereport(WARNING,
						(errcode(ERRCODE_OUT_OF_MEMORY),
						 errmsg("ring \"%s\" does not fit in hashring shared memory; using a backend-local copy",
								entry->ring),
						 built->total_bytes > hr_shared->dsa_size
							 ? errdetail("The ring image takes " UINT64_FORMAT " bytes, more than all of hashring.shared_memory (%d kB).",
										 built->total_bytes, (int) (hashring_setting_shared_memory_bytes() / 1024))
							 : errdetail("The ring image takes " UINT64_FORMAT " bytes; hashring.shared_memory is %d kB and the other cached images in use leave no room for it.",
										 built->total_bytes, (int) (hashring_setting_shared_memory_bytes() / 1024)),
						 errhint("Increase hashring.shared_memory.  This warning is given once per ring version.")));
		}
		hr_entry_release(entry);
		if (slot < 0)
		{
			entry->local_image = built;
			entry->image = built;
			entry->is_private = is_private;
		}
	}
	else
		hr_entry_release(entry);

	if (slot >= 0)
	{
		entry->slot = slot;
		entry->image = dsa_get_address(hr_area, hr_shared->slots[slot].image);
	}

done:
	entry->checked_epoch = epoch;
	entry->checked_stmt = hr_stmt_serial;
	hr_entry_remember_snapshot(entry);
	entry->trusted_gen = hr_entry_trust(entry, &def);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(scratch);
}

/*
 * The image to route by for ring `name` (not NUL-terminated, `len` bytes)
 * at `version` (0: the version the caller's snapshot sees), valid until the
 * next call for the same ring and version, and through the next call for
 * another one (ring_diff holds two images: the entry returned last is never
 * evicted).  `*hint` (zeroed at first,
 * then owned by this function; callers keep it in fn_extra) remembers the
 * entry across calls.
 */
const HashringImage *
hashring_get_image(const char *name, int len, int64 version, HashringCacheHint *hint)
{
	HrEntry *entry = hint ? (HrEntry *) hint->entry : NULL;

	hr_statement_check();

	if (entry == NULL || entry->incarnation != hint->incarnation || entry->version != version ||
		entry->ring_len != len || memcmp(entry->ring, name, len) != 0)
	{
		entry = hr_entry_for(name, len, version);
		if (hint)
		{
			hint->entry = entry;
			hint->incarnation = entry->incarnation;
		}
	}

	if (entry->version > 0)
	{
		/* LRU order of past versions (the current version is never evicted) */
		entry->last_used = ++hr_uses;
		hr_last_entry = entry;
	}
	if (likely(entry->image != NULL && entry->checked_epoch == hashring_inval_epoch &&
			   entry->checked_stmt == hr_stmt_serial))
		return entry->image;
	if (entry->image != NULL && entry->checked_epoch == hashring_inval_epoch &&
		hr_entry_current(entry))
	{
		entry->checked_stmt = hr_stmt_serial;
		return entry->image;
	}

	/* the refresh may remove the entry (its incarnation then tells the hint) */
	hr_entry_refresh(entry);
	return entry->image;
}

/* SQL: hashring.ring_cache_info() */
Datum
hashring_cache_info_rows(FunctionCallInfo fcinfo)
{
	ReturnSetInfo  *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	HrEntry		   *entry;

	InitMaterializedSRF(fcinfo, 0);
	if (hr_entries == NULL)
		return (Datum) 0;
	hash_seq_init(&status, hr_entries);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		Datum values[6];
		bool  nulls[6] = {0};

		if (entry->image == NULL)
			continue;
		values[0] = CStringGetTextDatum(entry->ring);
		values[1] = Int64GetDatum(entry->image->id.version);
		values[2] = CStringGetTextDatum(entry->slot >= 0 ? "shared" : "local");
		values[3] = Int64GetDatum((int64) entry->image->total_bytes);
		values[4] = Int64GetDatum((int64) entry->image->npoints);
		values[5] = Int64GetDatum(entry->local_builds);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
