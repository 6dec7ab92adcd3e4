/*-------------------------------------------------------------------------
 *
 * checker.c
 *	  The health checker: a background worker that probes every node's
 *	  target over libpq and sets nodes down, and active again, through
 *	  ordinary committed membership changes.
 *
 * Registered by _PG_init when hashring is in shared_preload_libraries, it
 * connects to hashring.health_check_database and loops as pg_prewarm's
 * autoprewarm worker does: wait on its latch (SIGHUP sets it and reloads
 * the settings; postmaster death ends the process), and while
 * hashring.health_check is on, run one round every
 * hashring.health_check_interval:
 *
 *	1. read the checked rings' nodes in one transaction, as
 *	   hashring.health_check_role, and resolve each target to libpq options:
 *	   a postgres_fdw server (its options and the role's user mapping, the
 *	   code ring_move connects with) or a connection string;
 *	2. probe every node at once without a transaction: non-blocking
 *	   connections (PQconnectStartParams/PQconnectPoll) and queries
 *	   (PQsendQuery), multiplexed on one WaitEventSet with the latch, each
 *	   with its own deadline of hashring.health_check_timeout; a probe past
 *	   its deadline is closed (the server's own statement_timeout, set to
 *	   the same value before the probe query, ends a query left running);
 *	3. per ring: set down the active nodes with `failures` consecutive
 *	   failed probes, and active the nodes it set down itself with
 *	   `successes` consecutive good ones, each change a transaction of its
 *	   own calling hashring.ring_set_state as the role (so ring_history's
 *	   committed_by names it), never more than
 *	   hashring.health_check_max_down_fraction of the ring's live nodes
 *	   down by the checker at once (the rest are "held", with a WARNING);
 *	4. publish every node's status to shared memory.
 *
 * Which nodes the checker set down is remembered in hashring.health_marks
 * (written here, as the owner of schema hashring; any other change of the
 * node's state deletes the mark through a trigger), so a restart forgets
 * nothing and a node a person set down is never set active by the checker.
 * An error in any transaction is caught, logged, shown in the status and
 * the transaction rolled back; the loop goes on.
 *
 * Shared state: one CheckerShared struct (ShmemInitStruct) with the
 * checker's own fields and an array of hashring.health_check_max_nodes
 * node statuses, protected by the LWLock of tranche "hashring_health":
 * EXCLUSIVE while the worker publishes (after each round), SHARED while
 * health_status() and health_checker() copy it out.  Everything else
 * (counters between rounds, connections) is the worker's own memory.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "conn.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "funcapi.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(hashring_health_status);
PG_FUNCTION_INFO_V1(hashring_health_checker);
PGDLLEXPORT void hashring_checker_main(Datum arg);

#define CHECKER_TARGET_LEN 256 /* bytes of a target kept in the status */
#define CHECKER_ERROR_LEN  256
#define CHECKER_ACTION_LEN 96
#define CHECKER_IDLE_MS	   60000 /* wait while off: a reload wakes it anyway */

/* One node's status, as health_status() shows it. */
typedef struct CheckerNodeStatus
{
	char		ring[HASHRING_RING_NAME_MAX + 1];
	char		node[HASHRING_NODE_NAME_MAX + 1];
	char		target[CHECKER_TARGET_LEN];
	bool		down;	/* state, as of the end of the last round */
	bool		marked; /* down by the checker (hashring.health_marks) */
	TimestampTz last_probe;
	double		latency_ms; /* < 0: no successful probe in the last round */
	int			failures;
	int			successes;
	char		last_error[CHECKER_ERROR_LEN];
	char		last_action[CHECKER_ACTION_LEN];
	TimestampTz last_action_at;
} CheckerNodeStatus;

typedef struct CheckerShared
{
	LWLock			 *lock;
	int				  max_nodes;
	pid_t			  pid; /* 0 when no worker runs */
	bool			  enabled;
	int64			  rounds;
	TimestampTz		  round_started;
	TimestampTz		  round_finished;
	int				  interval_ms; /* the settings the worker works with */
	int				  timeout_ms;
	int				  failures;
	int				  successes;
	double			  max_down_fraction;
	char			  role[NAMEDATALEN];
	char			  error[CHECKER_ERROR_LEN]; /* why the last round did nothing, or a note */
	int				  nnodes;
	CheckerNodeStatus nodes[FLEXIBLE_ARRAY_MEMBER];
} CheckerShared;

static CheckerShared *checker_shared = NULL;

/* ------------------------------------------------------------------------
 * the worker's memory
 * ---------------------------------------------------------------------- */

typedef struct CheckerKey
{
	char ring[HASHRING_RING_NAME_MAX + 1];
	char node[HASHRING_NODE_NAME_MAX + 1];
} CheckerKey;

/* A node across rounds (hash table entry; the key is st.ring, st.node). */
typedef struct CheckerEntry
{
	CheckerKey		  key;
	CheckerNodeStatus st;
	bool			  seen;			 /* listed in this round */
	bool			  probed;		 /* has a target */
	bool			  held;			 /* kept active by the fraction limit */
	TimestampTz		  failing_since; /* first of the consecutive failures */
} CheckerEntry;

typedef enum CheckerProbeState
{
	PROBE_IDLE,		  /* not started: unresolved target */
	PROBE_CONNECTING, /* PQconnectPoll until OK */
	PROBE_SETTING,	  /* SET statement_timeout sent */
	PROBE_QUERYING,	  /* the probe query sent */
	PROBE_DONE
} CheckerProbeState;

/* One probe of one round. */
typedef struct CheckerProbe
{
	CheckerEntry			 *entry;
	const char				**keys; /* NULL: unresolved, see error */
	const char				**vals;
	bool					  check_password;
	PGconn					 *conn;
	CheckerProbeState		  state;
	PostgresPollingStatusType poll;
	TimestampTz				  deadline;
	TimestampTz				  query_start;
	bool					  ok;
	char					 *error;
	double					  latency_ms;
} CheckerProbe;

/* What a round read: probes and, per ring, who is live. */
typedef struct CheckerRound
{
	MemoryContext  cxt;
	Oid			   roleid;
	CheckerProbe  *probes;
	int			   nprobes;
	CheckerEntry **entries; /* every node listed, in (ring, node) order */
	int			   nentries;
} CheckerRound;

static HTAB *checker_nodes = NULL;

static void	 checker_publish(CheckerRound *r, TimestampTz started);
static int64 checker_round_no = 0;

/* ------------------------------------------------------------------------
 * shared memory
 * ---------------------------------------------------------------------- */

static Size
checker_shared_size(void)
{
	return add_size(offsetof(CheckerShared, nodes),
					mul_size(sizeof(CheckerNodeStatus), hashring_setting_health()->max_nodes));
}

void
hashring_checker_shmem_request(void)
{
	RequestAddinShmemSpace(checker_shared_size());
	RequestNamedLWLockTranche("hashring_health", 1);
}

void
hashring_checker_shmem_startup(void)
{
	bool found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	checker_shared = ShmemInitStruct("hashring_health", checker_shared_size(), &found);
	if (!found)
	{
		memset(checker_shared, 0, offsetof(CheckerShared, nodes));
		checker_shared->lock = &(GetNamedLWLockTranche("hashring_health"))->lock;
		checker_shared->max_nodes = hashring_setting_health()->max_nodes;
	}
	LWLockRelease(AddinShmemInitLock);
}

void
hashring_checker_register(void)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* it writes membership: a standby's runs after promotion */
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 10;
	strlcpy(w.bgw_library_name, "hashring", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "hashring_checker_main", BGW_MAXLEN);
	strlcpy(w.bgw_name, "hashring health checker", BGW_MAXLEN);
	strlcpy(w.bgw_type, "hashring health checker", BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}

static void
checker_detach_shmem(int code, Datum arg)
{
	LWLockAcquire(checker_shared->lock, LW_EXCLUSIVE);
	checker_shared->pid = 0;
	LWLockRelease(checker_shared->lock);
}

/* Sets the checker-level note (empty: none), under the lock. */
static void
checker_note(const char *fmt, ...) pg_attribute_printf(1, 2);

static void
checker_note(const char *fmt, ...)
{
	char	buf[CHECKER_ERROR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	LWLockAcquire(checker_shared->lock, LW_EXCLUSIVE);
	strlcpy(checker_shared->error, buf, sizeof(checker_shared->error));
	LWLockRelease(checker_shared->lock);
}

/*
 * A round that can do nothing (no role, no extension, no access): the
 * reason goes into the status, and into the log as a WARNING when it
 * differs from the last one, not at every round.
 */
static char checker_last_idle[CHECKER_ERROR_LEN] = "";

static void
checker_idle(int sqlerrcode, const char *msg, TimestampTz started)
{
	if (strcmp(checker_last_idle, msg) != 0)
	{
		ereport(WARNING,
				(errcode(sqlerrcode),
				 errmsg("health checker cannot run: %s", msg)));
		strlcpy(checker_last_idle, msg, sizeof(checker_last_idle));
	}
	checker_note("%s", msg);
	checker_publish(NULL, started);
}

/* ------------------------------------------------------------------------
 * small helpers
 * ---------------------------------------------------------------------- */

/* A libpq or server message on one line, without its trailing newline. */
static char *
checker_one_line(MemoryContext cxt, const char *msg)
{
	char *out = MemoryContextAlloc(cxt, strlen(msg) + 1);
	char *o = out;

	for (const char *p = msg; *p; p++)
	{
		if (*p == '\n' || *p == '\r' || *p == '\t')
		{
			if (o > out && o[-1] != ' ')
				*o++ = ' ';
		}
		else
			*o++ = *p;
	}
	while (o > out && o[-1] == ' ')
		o--;
	*o = '\0';
	return out;
}

static void
checker_set_action(CheckerEntry *e, const char *action, TimestampTz now)
{
	if (strcmp(e->st.last_action, action) != 0)
		e->st.last_action_at = now;
	strlcpy(e->st.last_action, action, sizeof(e->st.last_action));
}

static void
checker_error_context(void *arg)
{
	errcontext("hashring health checker, round " INT64_FORMAT, checker_round_no);
}

/*
 * The owner of schema hashring, who installed the extension: the marks are
 * the extension's bookkeeping, written as it, never as the checker's role.
 */
static Oid
checker_extension_owner(void)
{
	HeapTuple tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(get_namespace_oid("hashring", false)));
	Oid		  owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for schema hashring");
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Runs fn(arg) in a transaction of its own as role `roleid` (restored
 * after commit, so deferred triggers at commit see it too).  An error is
 * caught and the transaction rolled back; returns false then, with the
 * error in *edp (in the caller's memory context) for the caller to report.
 */
static bool
checker_transaction(Oid roleid, void (*fn)(void *), void *arg, ErrorData **edp)
{
	MemoryContext cxt = CurrentMemoryContext;
	Oid			  save_user;
	int			  save_sec;
	volatile bool ok = true;

	GetUserIdAndSecContext(&save_user, &save_sec);
	StartTransactionCommand();
	PG_TRY();
	{
		if (OidIsValid(roleid))
			SetUserIdAndSecContext(roleid, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		fn(arg);
		PopActiveSnapshot();
		SPI_finish();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(cxt);
		*edp = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
		ok = false;
	}
	PG_END_TRY();
	SetUserIdAndSecContext(save_user, save_sec);
	MemoryContextSwitchTo(cxt);
	return ok;
}

/* ------------------------------------------------------------------------
 * 1. reading the nodes and resolving their targets
 * ---------------------------------------------------------------------- */

/* The probe's libpq options from its target, or p->error. */
static void
checker_resolve(CheckerRound *r, CheckerProbe *p, const char *target)
{
	const HashringHealthSettings *s = hashring_setting_health();
	MemoryContext				  cxt = MemoryContextSwitchTo(r->cxt);
	ResourceOwner				  owner = CurrentResourceOwner;
	const char					**keys = NULL;
	const char					**vals = NULL;
	int							  n = 0;

	if (GetForeignServerByName(target, true) != NULL)
	{
		bool password_required = true;

		/* its errors (not postgres_fdw, no USAGE, no user mapping) are reports */
		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(r->cxt);
		PG_TRY();
		{
			n = hashring_fdw_options(target, p->entry->st.node, r->roleid, 3, &keys, &vals, &password_required);
			p->check_password = password_required && !superuser_arg(r->roleid);
			ReleaseCurrentSubTransaction();
		}
		PG_CATCH();
		{
			ErrorData *ed;

			MemoryContextSwitchTo(r->cxt);
			ed = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			p->error = pstrdup(ed->message);
			FreeErrorData(ed);
			keys = NULL;
		}
		PG_END_TRY();
		MemoryContextSwitchTo(r->cxt);
		CurrentResourceOwner = owner;
		if (keys == NULL)
			goto done;
	}
	else if (strchr(target, '=') != NULL || strncmp(target, "postgres://", 11) == 0 ||
			 strncmp(target, "postgresql://", 13) == 0)
	{
		char			 *err = NULL;
		PQconninfoOption *opts = PQconninfoParse(target, &err);
		int				  count = 0;

		if (opts == NULL)
		{
			p->error = psprintf("invalid connection string in the target of node \"%s\": %s", p->entry->st.node,
								err ? checker_one_line(r->cxt, err) : "out of memory");
			if (err)
				PQfreemem(err);
			goto done;
		}
		for (PQconninfoOption *o = opts; o->keyword; o++)
			count++;
		keys = palloc0(sizeof(char *) * (count + 4));
		vals = palloc0(sizeof(char *) * (count + 4));
		for (PQconninfoOption *o = opts; o->keyword; o++)
			if (o->val != NULL)
			{
				keys[n] = pstrdup(o->keyword);
				vals[n++] = pstrdup(o->val);
			}
		PQconninfoFree(opts);
		/* a connection string is the administrator's: no password rule */
		p->check_password = false;
	}
	else
	{
		p->error = psprintf("target \"%s\" of node \"%s\" is neither a postgres_fdw server nor a connection string",
							target, p->entry->st.node);
		goto done;
	}

	/* ours last: they override the target's */
	keys[n] = "connect_timeout";
	vals[n++] = psprintf("%d", Max(1, (s->timeout_ms + 999) / 1000));
	keys[n] = "application_name";
	vals[n++] = "hashring health checker";
	keys[n] = NULL;
	vals[n] = NULL;
	p->keys = keys;
	p->vals = vals;
done:
	MemoryContextSwitchTo(cxt);
}

static void
checker_read_nodes(void *arg)
{
	CheckerRound				 *r = arg;
	const HashringHealthSettings *s = hashring_setting_health();
	char						 *list = pstrdup(s->rings);
	List						 *names = NIL;
	bool						  all;
	Datum						 *elems;
	ListCell					 *lc;
	int							  i = 0;
	Oid							  argtypes[2] = {BOOLOID, TEXTARRAYOID};
	Datum						  args[2];
	int							  nprobes = 0;
	bool						  truncated = false;

	if (!OidIsValid(get_extension_oid("hashring", true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("extension \"hashring\" is not installed in database \"%s\"", get_database_name(MyDatabaseId)),
				 errhint("Create it there, or set hashring.health_check_database (a restart) to the database it is in.")));
	if (!OidIsValid(get_relname_relid("health_marks", get_namespace_oid("hashring", false))))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the installed version of extension \"hashring\" has no health checker"),
				 errhint("ALTER EXTENSION hashring UPDATE.")));

	(void) SplitGUCList(list, ',', &names); /* checked by the setting's check hook */
	all = names == NIL || (list_length(names) == 1 && strcmp(linitial(names), "*") == 0);
	elems = palloc(sizeof(Datum) * (list_length(names) + 1));
	foreach (lc, names)
		elems[i++] = CStringGetTextDatum(lfirst(lc));
	args[0] = BoolGetDatum(all);
	args[1] = PointerGetDatum(construct_array(elems, i, TEXTOID, -1, false, TYPALIGN_INT));

	if (SPI_execute_with_args("SELECT n.ring, n.node, n.state, n.target, m.node IS NOT NULL "
							  "FROM hashring.nodes AS n LEFT JOIN hashring.health_marks AS m "
							  "ON m.ring OPERATOR(pg_catalog.=) n.ring AND m.node OPERATOR(pg_catalog.=) n.node "
							  "WHERE $1 OR n.ring OPERATOR(pg_catalog.=) ANY ($2) "
							  "ORDER BY n.ring COLLATE \"C\", n.node COLLATE \"C\"",
							  2, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading hashring.nodes failed");

	r->entries = MemoryContextAlloc(r->cxt, sizeof(CheckerEntry *) * (SPI_processed + 1));
	r->probes = MemoryContextAllocZero(r->cxt, sizeof(CheckerProbe) * (SPI_processed + 1));
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	  tup = SPI_tuptable->vals[row];
		TupleDesc	  desc = SPI_tuptable->tupdesc;
		char		 *ring = SPI_getvalue(tup, desc, 1);
		char		 *node = SPI_getvalue(tup, desc, 2);
		char		 *state = SPI_getvalue(tup, desc, 3);
		char		 *target = SPI_getvalue(tup, desc, 4);
		bool		  isnull;
		bool		  marked = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		CheckerKey	  key;
		CheckerEntry *e;
		bool		  found;

		CHECK_FOR_INTERRUPTS();
		if (target != NULL && nprobes >= s->max_nodes)
		{
			truncated = true;
			target = NULL;
		}
		memset(&key, 0, sizeof(key));
		strlcpy(key.ring, ring, sizeof(key.ring));
		strlcpy(key.node, node, sizeof(key.node));
		e = hash_search(checker_nodes, &key, HASH_ENTER, &found);
		if (!found)
		{
			memset(&e->st, 0, sizeof(e->st));
			strlcpy(e->st.ring, ring, sizeof(e->st.ring));
			strlcpy(e->st.node, node, sizeof(e->st.node));
			e->st.latency_ms = -1;
			e->failing_since = 0;
			e->held = false;
		}
		e->seen = true;
		e->probed = target != NULL;
		e->st.down = strcmp(state, "active") != 0;
		e->st.marked = marked;
		strlcpy(e->st.target, target ? target : "", sizeof(e->st.target));
		r->entries[r->nentries++] = e;
		if (target != NULL)
		{
			CheckerProbe *p = &r->probes[r->nprobes++];

			p->entry = e;
			checker_resolve(r, p, target);
			nprobes++;
		}
	}
	if (truncated)
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("the health checker probes only %d nodes", s->max_nodes),
				 errhint("Raise hashring.health_check_max_nodes (a restart), or name fewer rings in hashring.health_check_rings.")));
	if (truncated)
		checker_note("only the first %d nodes are probed (hashring.health_check_max_nodes)", s->max_nodes);
	else
		checker_note("%s", "");
}

/* ------------------------------------------------------------------------
 * 2. probing
 * ---------------------------------------------------------------------- */

static void
checker_fail(CheckerProbe *p, MemoryContext cxt, const char *msg)
{
	p->state = PROBE_DONE;
	p->ok = false;
	if (p->error == NULL)
		p->error = checker_one_line(cxt, msg);
	if (p->conn)
	{
		PQfinish(p->conn);
		p->conn = NULL;
	}
}

static void
checker_send(CheckerProbe *p, MemoryContext cxt, const char *sql, CheckerProbeState next)
{
	if (!PQsendQuery(p->conn, sql))
	{
		checker_fail(p, cxt, PQerrorMessage(p->conn));
		return;
	}
	p->state = next;
	p->poll = PGRES_POLLING_READING;
	if (next == PROBE_QUERYING)
		p->query_start = GetCurrentTimestamp();
}

/* One step of a probe whose socket is ready (or that has not polled yet). */
static void
checker_advance(CheckerProbe *p, MemoryContext cxt)
{
	const HashringHealthSettings *s = hashring_setting_health();

	if (p->state == PROBE_CONNECTING)
	{
		PostgresPollingStatusType st = PQconnectPoll(p->conn);

		if (st == PGRES_POLLING_FAILED)
			checker_fail(p, cxt, PQerrorMessage(p->conn));
		else if (st != PGRES_POLLING_OK)
			p->poll = st;
		else if (p->check_password && !PQconnectionUsedPassword(p->conn))
			checker_fail(p, cxt,
						 "password is required: the server did not ask the checker's role for a password "
						 "(set password_required 'false' in the user mapping, as a superuser, or use password authentication)");
		else
		{
			char sql[64];

			snprintf(sql, sizeof(sql), "SET statement_timeout = %d", s->timeout_ms);
			checker_send(p, cxt, sql, PROBE_SETTING);
		}
		return;
	}

	if (!PQconsumeInput(p->conn))
	{
		checker_fail(p, cxt, PQerrorMessage(p->conn));
		return;
	}
	while (!PQisBusy(p->conn))
	{
		PGresult *res = PQgetResult(p->conn);

		if (res == NULL)
		{
			if (p->error != NULL)
				checker_fail(p, cxt, p->error);
			else if (p->state == PROBE_SETTING)
				checker_send(p, cxt, s->query, PROBE_QUERYING);
			else
			{
				p->ok = true;
				p->latency_ms = (double) (GetCurrentTimestamp() - p->query_start) / 1000.0;
				p->state = PROBE_DONE;
				PQfinish(p->conn);
				p->conn = NULL;
			}
			return;
		}
		if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK && p->error == NULL)
			p->error = checker_one_line(cxt, psprintf("probe query failed: %s", PQresultErrorMessage(res)));
		PQclear(res);
	}
}

/*
 * Runs every probe of the round at once; returns when each has succeeded,
 * failed or passed its deadline.
 */
static void
checker_probe_all(CheckerRound *r)
{
	const HashringHealthSettings *s = hashring_setting_health();
	TimestampTz					  start = GetCurrentTimestamp();
	int							  active = 0;
	WaitEvent					 *events = MemoryContextAlloc(r->cxt, sizeof(WaitEvent) * (r->nprobes + 2));

	for (int i = 0; i < r->nprobes; i++)
	{
		CheckerProbe *p = &r->probes[i];

		if (p->keys == NULL)
			continue;
		p->deadline = TimestampTzPlusMilliseconds(start, s->timeout_ms);
		p->conn = PQconnectStartParams(p->keys, p->vals, 0);
		if (p->conn == NULL)
			checker_fail(p, r->cxt, "out of memory");
		else if (PQstatus(p->conn) == CONNECTION_BAD)
			checker_fail(p, r->cxt, PQerrorMessage(p->conn));
		else
		{
			p->state = PROBE_CONNECTING;
			p->poll = PGRES_POLLING_WRITING;
			active++;
		}
	}

	while (active > 0)
	{
		TimestampTz	  now = GetCurrentTimestamp();
		TimestampTz	  next = 0;
		WaitEventSet *set;
		int			  n;

		for (int i = 0; i < r->nprobes; i++)
		{
			CheckerProbe *p = &r->probes[i];

			if (p->conn == NULL)
				continue;
			if (now >= p->deadline)
				checker_fail(p, r->cxt,
							 psprintf("timed out after %d ms %s", s->timeout_ms,
									  p->state == PROBE_CONNECTING ? "connecting" : "waiting for the probe query"));
			else if (next == 0 || p->deadline < next)
				next = p->deadline;
		}
		active = 0;
		for (int i = 0; i < r->nprobes; i++)
			active += r->probes[i].conn != NULL;
		if (active == 0)
			break;

#if PG_VERSION_NUM >= 170000
		set = CreateWaitEventSet(CurrentResourceOwner, active + 2);
#else
		set = CreateWaitEventSet(r->cxt, active + 2);
#endif
		AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
		AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
		for (int i = 0; i < r->nprobes; i++)
		{
			CheckerProbe *p = &r->probes[i];

			if (p->conn != NULL)
				AddWaitEventToSet(set, p->poll == PGRES_POLLING_WRITING ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE,
								  PQsocket(p->conn), NULL, p);
		}
		n = WaitEventSetWait(set, Max(1, (long) ((next - now + 999) / 1000)), events, active + 2, PG_WAIT_EXTENSION);
		FreeWaitEventSet(set);
		for (int i = 0; i < n; i++)
		{
			if (events[i].events & WL_LATCH_SET)
				ResetLatch(MyLatch);
			else if (events[i].user_data != NULL)
				checker_advance(events[i].user_data, r->cxt);
		}
		CHECK_FOR_INTERRUPTS();
	}
}

/* ------------------------------------------------------------------------
 * 3. state changes
 * ---------------------------------------------------------------------- */

typedef struct CheckerChange
{
	CheckerEntry *entry;
	bool		  down;
	const char	 *result; /* set by checker_change */
} CheckerChange;

/*
 * Under the membership lock every writer takes first, the node must still
 * be what the round saw (active; or down with our mark): a person's change
 * in between wins.
 */
static void
checker_change(void *arg)
{
	CheckerChange *c = arg;
	Oid			   argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		   args[3];
	bool		   isnull;
	bool		   marked;
	char		  *state;
	Oid			   save_user;
	int			   save_sec;

	args[0] = CStringGetTextDatum(c->entry->st.ring);
	args[1] = CStringGetTextDatum(c->entry->st.node);
	args[2] = CStringGetTextDatum(c->down ? "down" : "active");
	if (SPI_execute("LOCK TABLE hashring.rings IN SHARE UPDATE EXCLUSIVE MODE", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "LOCK TABLE hashring.rings failed");
	if (SPI_execute_with_args("SELECT n.state, EXISTS (SELECT FROM hashring.health_marks AS m "
							  "WHERE m.ring OPERATOR(pg_catalog.=) n.ring AND m.node OPERATOR(pg_catalog.=) n.node) "
							  "FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) $1 AND n.node OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading hashring.nodes failed");
	if (SPI_processed == 0)
	{
		c->result = "skipped: node removed meanwhile";
		return;
	}
	state = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	marked = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (c->down ? strcmp(state, "active") != 0 : (strcmp(state, "down") != 0 || !marked))
	{
		c->result = "skipped: state changed meanwhile";
		return;
	}
	if (SPI_execute_with_args("SELECT hashring.ring_set_state($1, $2, $3)", 3, argtypes, args, NULL, false, 0) !=
		SPI_OK_SELECT)
		elog(ERROR, "hashring.ring_set_state failed");
	if (c->down)
	{
		/* the node's trigger removed any older mark; ours, as the owner */
		GetUserIdAndSecContext(&save_user, &save_sec);
		SetUserIdAndSecContext(checker_extension_owner(),
							   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		PG_TRY();
		{
			args[2] = CStringGetTextDatum(GetUserNameFromId(save_user, false));
			if (SPI_execute_with_args("INSERT INTO hashring.health_marks (ring, node, marked_at, marked_by) "
									  "VALUES ($1, $2, pg_catalog.now(), $3) ON CONFLICT (ring, node) DO UPDATE "
									  "SET marked_at = excluded.marked_at, marked_by = excluded.marked_by",
									  3, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "writing hashring.health_marks failed");
		}
		PG_FINALLY();
		{
			SetUserIdAndSecContext(save_user, save_sec);
		}
		PG_END_TRY();
	}
	c->result = c->down ? "set down" : "set active";
}

static void
checker_apply(CheckerRound *r, CheckerEntry *e, bool down, TimestampTz now)
{
	CheckerChange c = {e, down, NULL};
	ErrorData	 *ed = NULL;

	if (!checker_transaction(r->roleid, checker_change, &c, &ed))
	{
		ereport(WARNING,
				(errcode(ed->sqlerrcode),
				 errmsg("health checker could not set node \"%s\" of ring \"%s\" %s: %s", e->st.node, e->st.ring,
						down ? "down" : "active", ed->message)));
		strlcpy(e->st.last_error, ed->message, sizeof(e->st.last_error));
		FreeErrorData(ed);
		checker_set_action(e, down ? "failed to set down" : "failed to set active", now);
		return;
	}
	checker_set_action(e, c.result, now);
	if (strcmp(c.result, "set down") == 0)
	{
		e->st.down = true;
		e->st.marked = true;
		ereport(LOG,
				(errmsg("health checker set node \"%s\" of ring \"%s\" down after %d failed probes", e->st.node,
						e->st.ring, e->st.failures),
				 errdetail_internal("%s", e->st.last_error)));
	}
	else if (strcmp(c.result, "set active") == 0)
	{
		e->st.down = false;
		e->st.marked = false;
		ereport(LOG, (errmsg("health checker set node \"%s\" of ring \"%s\" active again after %d good probes",
							 e->st.node, e->st.ring, e->st.successes)));
	}
}

static int
checker_cmp_failing(const void *a, const void *b)
{
	const CheckerEntry *x = *(CheckerEntry *const *) a;
	const CheckerEntry *y = *(CheckerEntry *const *) b;

	if (x->failing_since != y->failing_since)
		return x->failing_since < y->failing_since ? -1 : 1;
	return strcmp(x->st.node, y->st.node);
}

/* The decisions for ring entries[from, to). */
static void
checker_decide_ring(CheckerRound *r, int from, int to, TimestampTz now)
{
	const HashringHealthSettings *s = hashring_setting_health();
	CheckerEntry				**cand = palloc(sizeof(CheckerEntry *) * (to - from));
	int							  ncand = 0;
	int							  live = 0;
	int							  marked = 0;
	int							  limit;
	int							  allowed;
	int							  newly_held = 0;

	for (int i = from; i < to; i++)
	{
		CheckerEntry *e = r->entries[i];

		if (!e->st.down)
			live++;
		else if (e->st.marked)
			marked++;
	}
	live += marked; /* the base: active nodes and the checker's, constant through the round */
	limit = (int) floor(s->max_down_fraction * live + 1e-9);

	/* back first: a node that answers again makes room for another */
	for (int i = from; i < to; i++)
	{
		CheckerEntry *e = r->entries[i];

		if (e->probed && e->st.down && e->st.marked && e->st.successes >= s->successes)
		{
			checker_apply(r, e, false, now);
			if (!e->st.down)
				marked--;
		}
	}
	for (int i = from; i < to; i++)
	{
		CheckerEntry *e = r->entries[i];

		if (e->probed && !e->st.down && e->st.failures >= s->failures)
			cand[ncand++] = e;
		else
			e->held = false;
	}
	/* the longest failing first */
	qsort(cand, ncand, sizeof(CheckerEntry *), checker_cmp_failing);
	allowed = Max(0, limit - marked);
	for (int i = 0; i < ncand; i++)
	{
		CheckerEntry *e = cand[i];

		if (i < allowed)
		{
			e->held = false;
			checker_apply(r, e, true, now);
		}
		else
		{
			if (!e->held)
				newly_held++;
			e->held = true;
			checker_set_action(e, "held: max_down_fraction", now);
		}
	}
	if (newly_held > 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("not setting %d failing nodes of ring \"%s\" down", ncand - Min(ncand, allowed),
						r->entries[from]->st.ring),
				 errdetail("Setting them down would exceed hashring.health_check_max_down_fraction = %g: at most %d of the ring's %d live nodes may be down by the health checker, and %d are.",
						   s->max_down_fraction, limit, live, marked + Min(ncand, allowed)),
				 errhint("When every probe fails at once, the coordinator may have lost its network; the nodes stay active until the probes succeed or someone sets them down.")));
	pfree(cand);
}

/* ------------------------------------------------------------------------
 * the round and the loop
 * ---------------------------------------------------------------------- */

static void
checker_publish(CheckerRound *r, TimestampTz started)
{
	const HashringHealthSettings *s = hashring_setting_health();

	LWLockAcquire(checker_shared->lock, LW_EXCLUSIVE);
	checker_shared->nnodes = 0;
	for (int i = 0; r && i < r->nentries && checker_shared->nnodes < checker_shared->max_nodes; i++)
		if (r->entries[i]->probed)
			checker_shared->nodes[checker_shared->nnodes++] = r->entries[i]->st;
	checker_shared->enabled = s->enabled;
	checker_shared->round_started = started;
	checker_shared->round_finished = GetCurrentTimestamp();
	checker_shared->rounds = checker_round_no;
	checker_shared->interval_ms = s->interval_ms;
	checker_shared->timeout_ms = s->timeout_ms;
	checker_shared->failures = s->failures;
	checker_shared->successes = s->successes;
	checker_shared->max_down_fraction = s->max_down_fraction;
	strlcpy(checker_shared->role, s->role, sizeof(checker_shared->role));
	LWLockRelease(checker_shared->lock);
}

static void
checker_round(MemoryContext cxt)
{
	const HashringHealthSettings *s = hashring_setting_health();
	CheckerRound				  r;
	TimestampTz					  started = GetCurrentTimestamp();
	TimestampTz					  now;
	HASH_SEQ_STATUS				  seq;
	CheckerEntry				 *e;
	ErrorData					 *ed = NULL;
	int							  from;

	checker_round_no++;
	memset(&r, 0, sizeof(r));
	r.cxt = cxt;
	if (s->role[0] == '\0')
	{
		checker_idle(ERRCODE_INVALID_PARAMETER_VALUE, "hashring.health_check_role is not set", started);
		return;
	}
	StartTransactionCommand();
	r.roleid = get_role_oid(s->role, true);
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	if (!OidIsValid(r.roleid))
	{
		checker_idle(ERRCODE_UNDEFINED_OBJECT,
					 psprintf("role \"%s\" (hashring.health_check_role) does not exist", s->role), started);
		return;
	}

	hash_seq_init(&seq, checker_nodes);
	while ((e = hash_seq_search(&seq)) != NULL)
		e->seen = false;
	if (!checker_transaction(r.roleid, checker_read_nodes, &r, &ed))
	{
		checker_idle(ed->sqlerrcode, ed->message, started);
		return;
	}
	checker_last_idle[0] = '\0';
	/* nodes no longer listed are forgotten */
	hash_seq_init(&seq, checker_nodes);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!e->seen)
			hash_search(checker_nodes, &e->key, HASH_REMOVE, NULL);

	checker_probe_all(&r);

	now = GetCurrentTimestamp();
	for (int i = 0; i < r.nprobes; i++)
	{
		CheckerProbe *p = &r.probes[i];

		e = p->entry;
		if (p->keys == NULL)
		{
			/* a target that names nothing is a configuration error, not an outage */
			e->st.failures = e->st.successes = 0;
			e->failing_since = 0;
			e->st.latency_ms = -1;
			strlcpy(e->st.last_error, p->error, sizeof(e->st.last_error));
			checker_set_action(e, "not probed: target unresolved", now);
			continue;
		}
		e->st.last_probe = started;
		if (p->ok)
		{
			e->st.successes++;
			e->st.failures = 0;
			e->failing_since = 0;
			e->st.latency_ms = p->latency_ms;
			e->st.last_error[0] = '\0';
		}
		else
		{
			if (e->st.failures++ == 0)
				e->failing_since = now;
			e->st.successes = 0;
			e->st.latency_ms = -1;
			strlcpy(e->st.last_error, p->error ? p->error : "probe failed", sizeof(e->st.last_error));
		}
		if (e->st.last_action[0] == '\0')
			checker_set_action(e, "probed", now);
	}

	for (int i = 0; i < r.nentries; i = from)
	{
		for (from = i + 1; from < r.nentries && strcmp(r.entries[from]->st.ring, r.entries[i]->st.ring) == 0; from++)
			;
		checker_decide_ring(&r, i, from, now);
	}
	checker_publish(&r, started);
}

void
hashring_checker_main(Datum arg)
{
	const HashringHealthSettings *s = hashring_setting_health();
	MemoryContext				  round_cxt;
	HASHCTL						  ctl;
	ErrorContextCallback		  errcb;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	LWLockAcquire(checker_shared->lock, LW_EXCLUSIVE);
	checker_shared->pid = MyProcPid;
	LWLockRelease(checker_shared->lock);
	before_shmem_exit(checker_detach_shmem, 0);

	/*
	 * Not connected until first switched on: a server that preloads hashring
	 * only for its cache never needs the checker's database to exist.
	 */
	while (!s->enabled)
	{
		checker_publish(NULL, 0);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_EXIT_ON_PM_DEATH, -1L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}

	/* connected as the bootstrap superuser; every transaction runs as the role */
	BackgroundWorkerInitializeConnection(s->database, NULL, 0);
	pgstat_report_appname("hashring health checker");

	errcb.callback = checker_error_context;
	errcb.arg = NULL;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(CheckerKey);
	ctl.entrysize = sizeof(CheckerEntry);
	ctl.hcxt = TopMemoryContext;
	checker_nodes = hash_create("hashring health checker nodes", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	round_cxt = AllocSetContextCreate(TopMemoryContext, "hashring health checker round", ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		TimestampTz started = GetCurrentTimestamp();
		long		delay;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (s->enabled)
		{
			MemoryContextSwitchTo(round_cxt);
			checker_round(round_cxt);
			MemoryContextSwitchTo(TopMemoryContext);
			MemoryContextReset(round_cxt);
			delay = Max(0, s->interval_ms - (long) ((GetCurrentTimestamp() - started) / 1000));
		}
		else
		{
			checker_note("%s", "");
			checker_last_idle[0] = '\0';
			checker_publish(NULL, started);
			hash_destroy(checker_nodes);
			checker_nodes = hash_create("hashring health checker nodes", 64, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
			delay = CHECKER_IDLE_MS;
		}
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, delay, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ------------------------------------------------------------------------
 * SQL: hashring.health_status(), hashring.health_checker()
 * ---------------------------------------------------------------------- */

/*
 * Without preloading there is no checker and nothing to show: zero rows
 * (health_checker() says why), so a monitoring query never fails.
 */
Datum
hashring_health_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo	  *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CheckerNodeStatus *copy;
	int				   n;

	InitMaterializedSRF(fcinfo, 0);
	if (checker_shared == NULL)
		return (Datum) 0;
	LWLockAcquire(checker_shared->lock, LW_SHARED);
	n = checker_shared->nnodes;
	copy = palloc(sizeof(CheckerNodeStatus) * Max(n, 1));
	memcpy(copy, checker_shared->nodes, sizeof(CheckerNodeStatus) * n);
	LWLockRelease(checker_shared->lock);

	for (int i = 0; i < n; i++)
	{
		CheckerNodeStatus *st = &copy[i];
		Datum			   values[12];
		bool			   nulls[12] = {0};

		values[0] = CStringGetTextDatum(st->ring);
		values[1] = CStringGetTextDatum(st->node);
		values[2] = CStringGetTextDatum(st->target);
		values[3] = CStringGetTextDatum(st->down ? "down" : "active");
		values[4] = BoolGetDatum(st->marked);
		values[5] = TimestampTzGetDatum(st->last_probe);
		nulls[5] = st->last_probe == 0;
		values[6] = Float8GetDatum(st->latency_ms);
		nulls[6] = st->latency_ms < 0;
		values[7] = Int32GetDatum(st->failures);
		values[8] = Int32GetDatum(st->successes);
		values[9] = CStringGetTextDatum(st->last_error);
		nulls[9] = st->last_error[0] == '\0';
		values[10] = CStringGetTextDatum(st->last_action);
		nulls[10] = st->last_action[0] == '\0';
		values[11] = TimestampTzGetDatum(st->last_action_at);
		nulls[11] = st->last_action_at == 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

Datum
hashring_health_checker(PG_FUNCTION_ARGS)
{
	TupleDesc	  desc;
	Datum		  values[13];
	bool		  nulls[13] = {0};
	CheckerShared c;
	const char	 *status;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (checker_shared == NULL)
	{
		for (int i = 0; i < 13; i++)
			nulls[i] = true;
		values[0] = CStringGetTextDatum("not preloaded");
		nulls[0] = false;
		PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
	}
	LWLockAcquire(checker_shared->lock, LW_SHARED);
	memcpy(&c, checker_shared, offsetof(CheckerShared, nodes));
	LWLockRelease(checker_shared->lock);

	if (c.pid == 0)
		status = "not running";
	else if (!c.enabled)
		status = "off";
	else if (c.error[0] != '\0' && c.rounds > 0 && c.nnodes == 0)
		status = "idle";
	else
		status = "running";
	values[0] = CStringGetTextDatum(status);
	values[1] = Int32GetDatum(c.pid);
	nulls[1] = c.pid == 0;
	values[2] = CStringGetTextDatum(c.role);
	nulls[2] = c.role[0] == '\0';
	values[3] = Int64GetDatum(c.rounds);
	values[4] = TimestampTzGetDatum(c.round_started);
	nulls[4] = c.round_started == 0;
	values[5] = Float8GetDatum((double) (c.round_finished - c.round_started) / 1000.0);
	nulls[5] = c.round_started == 0;
	values[6] = Int32GetDatum(c.nnodes);
	values[7] = Int32GetDatum(c.interval_ms);
	values[8] = Int32GetDatum(c.timeout_ms);
	values[9] = Int32GetDatum(c.failures);
	values[10] = Int32GetDatum(c.successes);
	values[11] = Float8GetDatum(c.max_down_fraction);
	values[12] = CStringGetTextDatum(c.error);
	nulls[12] = c.error[0] == '\0';
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
