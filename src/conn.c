/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  libpq connections to the ring's nodes: the connection options of a
 *	  node's target (a postgres_fdw server with the caller's user mapping,
 *	  under postgres_fdw's rules), connecting and running statements
 *	  interruptibly, COPY IN, and remote transactions bound to the local
 *	  one.  ring_move and the health checker open connections of their
 *	  own through it; distributed tables (dist.c, copy.c, ddl.c) use the
 *	  bound ones.  postgres_fdw's connection.c is the model.
 *
 * Bound connections (hashring_xact_conn): one per foreign server, channel
 * and local transaction, kept in a list in TopMemoryContext.  A channel
 * lets one transaction hold several connections to one server (one COPY
 * per shard table at a time is all a connection can do); what one remote
 * transaction creates, only its own connection sees until the commit.  The first use begins a
 * remote transaction (REPEATABLE READ, as postgres_fdw) and a savepoint
 * for every open local subtransaction level; a subtransaction's commit
 * releases its savepoint, its abort rolls back to it.  At the local
 * PRE_COMMIT every remote transaction commits, in the order the
 * connections were opened; a failure there raises an ERROR, which aborts
 * the local transaction (remote transactions committed before it stay
 * committed: commits across servers are not atomic, docs/distributed.md).
 * At the local transaction's end, commit or abort, every bound connection
 * is closed; closing one that is still in a transaction rolls it back.
 * PREPARE TRANSACTION is refused once a bound connection exists.
 *
 * Nothing here is shared between backends; no locks are taken.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "settings.h"

/* a bound connection */
typedef struct ConnBound
{
	HashringConn c;
	char		*channel; /* several bound connections to one server: one per channel */
	int			 depth;	  /* local nesting level its savepoints reach (1: the transaction) */
	bool		 broken;  /* a rollback to a savepoint failed: the transaction cannot commit */
	int			 owner;	  /* local nesting level the remote transaction belongs to */
} ConnBound;

static List *conn_bound = NIL; /* ConnBound *, in TopMemoryContext */

/* ------------------------------------------------------------------------
 * options
 * ---------------------------------------------------------------------- */

static bool
conn_is_libpq_option(const char *keyword)
{
	static PQconninfoOption *defaults = NULL;

	if (defaults == NULL)
	{
		defaults = PQconndefaults();
		if (defaults == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	for (PQconninfoOption *o = defaults; o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0 && strcmp(keyword, "client_encoding") != 0 &&
			strcmp(keyword, "replication") != 0 && strcmp(keyword, "fallback_application_name") != 0)
			return true;
	return false;
}

static void
conn_add_options(List *options, const char **keys, const char **vals, int *n, bool *password_required)
{
	ListCell *lc;

	foreach (lc, options)
	{
		DefElem *d = lfirst(lc);

		if (strcmp(d->defname, "password_required") == 0)
			*password_required = defGetBoolean(d);
		else if (conn_is_libpq_option(d->defname))
		{
			keys[*n] = d->defname;
			vals[*n] = defGetString(d);
			(*n)++;
		}
	}
}

/* Raises the permission error unless userid has USAGE on server fs. */
void
hashring_check_server_usage(ForeignServer *fs, Oid userid)
{
#if PG_VERSION_NUM >= 160000
	AclResult acl = object_aclcheck(ForeignServerRelationId, fs->serverid, userid, ACL_USAGE);
#else
	AclResult acl = pg_foreign_server_aclcheck(fs->serverid, userid, ACL_USAGE);
#endif

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_FOREIGN_SERVER, fs->servername);
}

/*
 * The libpq keywords and values that reach the postgres_fdw server `server`
 * (the target of node `node`) as role `userid`: the server's options, then
 * userid's user mapping's, under the rules postgres_fdw applies (USAGE on
 * the server; whether a non-superuser must authenticate with a password is
 * returned in *password_required, for the caller to check once connected).
 * The arrays (palloc'd, in keyword order) have room for `extra` more entries
 * and the terminating NULLs; returns how many are filled.
 */
int
hashring_fdw_options(const char *server, const char *node, Oid userid, int extra, const char ***keys_out,
					 const char ***vals_out, bool *password_required)
{
	ForeignServer	   *fs = GetForeignServerByName(server, true);
	ForeignDataWrapper *fdw;
	UserMapping		   *um;
	const char		  **keys;
	const char		  **vals;
	int					n = 0;

	if (fs == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("foreign server \"%s\" (target of node \"%s\") does not exist", server, node),
				 errhint("CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw, with a user mapping.")));
	fdw = GetForeignDataWrapper(fs->fdwid);
	if (strcmp(fdw->fdwname, "postgres_fdw") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("foreign server \"%s\" (target of node \"%s\") does not use postgres_fdw", server, node)));
	hashring_check_server_usage(fs, userid);
	um = GetUserMapping(userid, fs->serverid);

	keys = palloc0(sizeof(char *) * (list_length(fs->options) + list_length(um->options) + extra + 1));
	vals = palloc0(sizeof(char *) * (list_length(fs->options) + list_length(um->options) + extra + 1));
	*password_required = true;
	conn_add_options(fs->options, keys, vals, &n, password_required);
	conn_add_options(um->options, keys, vals, &n, password_required);
	*keys_out = keys;
	*vals_out = vals;
	return n;
}

/* ------------------------------------------------------------------------
 * libpq, interruptibly
 * ---------------------------------------------------------------------- */

/* Waits until the connection is readable (or writable), or for an interrupt. */
void
hashring_conn_wait(PGconn *conn, bool for_write)
{
	int rc = WaitLatchOrSocket(MyLatch,
							   WL_LATCH_SET | WL_EXIT_ON_PM_DEATH |
								   (for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
							   PQsocket(conn), -1L, PG_WAIT_EXTENSION);

	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

void
hashring_conn_error(HashringConn *c, const char *what)
{
	char *msg = pstrdup(c->conn ? PQerrorMessage(c->conn) : "");

	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("lost the connection to server \"%s\" (node \"%s\") while %s", c->server, c->node, what),
			 errdetail_internal("%s", msg)));
}

/* Reports a failed result as an ERROR with the remote SQLSTATE. */
void
hashring_conn_result_error(HashringConn *c, PGresult *res, const char *what)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	int			code = ERRCODE_CONNECTION_FAILURE;
	char	   *msg;
	char	   *det = detail ? pstrdup(detail) : NULL;
	char	   *hnt = hint ? pstrdup(hint) : NULL;

	if (state && strlen(state) == 5)
		code = MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4]);
	msg = pstrdup(primary ? primary : PQerrorMessage(c->conn));
	if (res)
		PQclear(res);
	ereport(ERROR,
			(errcode(code),
			 errmsg("%s", msg),
			 det ? errdetail_internal("%s", det) : 0,
			 hnt ? errhint("%s", hnt) : 0,
			 errcontext("%s %s on server \"%s\" (node \"%s\")", c->who, what, c->server, c->node)));
}

/* The last result of the query sent on c (a COPY result comes back at once). */
PGresult *
hashring_conn_result(HashringConn *c)
{
	PGresult *last = NULL;

	for (;;)
	{
		PGresult *res;

		while (PQisBusy(c->conn))
		{
			hashring_conn_wait(c->conn, false);
			if (!PQconsumeInput(c->conn))
			{
				if (last)
					PQclear(last);
				hashring_conn_error(c, "waiting for a result");
			}
		}
		res = PQgetResult(c->conn);
		if (res == NULL)
			break;
		if (PQresultStatus(res) == PGRES_COPY_IN || PQresultStatus(res) == PGRES_COPY_OUT)
		{
			if (last)
				PQclear(last);
			return res;
		}
		if (last)
			PQclear(last);
		last = res;
	}
	return last;
}

/*
 * Runs sql with text parameters on c and checks its status; returns the
 * result (the caller clears it).
 */
PGresult *
hashring_conn_exec(HashringConn *c, const char *sql, int nparams, const char *const *params, ExecStatusType expect,
				   const char *what)
{
	PGresult *res;

	if (!(nparams > 0 ? PQsendQueryParams(c->conn, sql, nparams, NULL, params, NULL, NULL, 0)
					  : PQsendQuery(c->conn, sql)))
		hashring_conn_error(c, what);
	res = hashring_conn_result(c);
	if (res == NULL || PQresultStatus(res) != expect)
		hashring_conn_result_error(c, res, what);
	return res;
}

void
hashring_conn_command(HashringConn *c, const char *sql, const char *what)
{
	PQclear(hashring_conn_exec(c, sql, 0, NULL, PGRES_COMMAND_OK, what));
}

/* Sends everything libpq has buffered (the connection is non-blocking). */
static void
conn_flush(HashringConn *c, const char *what)
{
	for (;;)
	{
		int r = PQflush(c->conn);

		if (r == 0)
			return;
		if (r < 0)
			hashring_conn_error(c, what);
		hashring_conn_wait(c->conn, true);
		if (!PQconsumeInput(c->conn))
			hashring_conn_error(c, what);
	}
}

/* Queues len bytes of COPY data (c is in COPY IN). */
void
hashring_conn_put_copy(HashringConn *c, const char *data, int len)
{
	for (;;)
	{
		int r = PQputCopyData(c->conn, data, len);

		if (r == 1)
			break;
		if (r < 0)
			hashring_conn_error(c, "sending COPY data");
		hashring_conn_wait(c->conn, true);
		if (!PQconsumeInput(c->conn))
			hashring_conn_error(c, "sending COPY data");
	}
	conn_flush(c, "sending COPY data");
}

/* Ends COPY IN and checks that the server took every row. */
void
hashring_conn_end_copy(HashringConn *c, const char *what)
{
	PGresult *res;

	for (;;)
	{
		int r = PQputCopyEnd(c->conn, NULL);

		if (r == 1)
			break;
		if (r < 0)
			hashring_conn_error(c, what);
		hashring_conn_wait(c->conn, true);
	}
	conn_flush(c, what);
	res = hashring_conn_result(c);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		hashring_conn_result_error(c, res, what);
	PQclear(res);
}

/* ------------------------------------------------------------------------
 * connecting
 * ---------------------------------------------------------------------- */

/*
 * Connects to c->server (a postgres_fdw server) with the caller's user
 * mapping, in the database's encoding.
 */
void
hashring_conn_open(HashringConn *c, const char *appname)
{
	hashring_conn_open_replication(c, appname, NULL);
}

/*
 * The same, with libpq's replication option (NULL: none; "database": a
 * walsender for logical replication commands, in the node's database).
 */
void
hashring_conn_open_replication(HashringConn *c, const char *appname, const char *replication)
{
	const char **keys;
	const char **vals;
	bool		 password_required;
	int			 n = hashring_fdw_options(c->server, c->node, GetUserId(), 4, &keys, &vals, &password_required);

	keys[n] = "fallback_application_name";
	vals[n++] = appname;
	keys[n] = "client_encoding";
	vals[n++] = GetDatabaseEncodingName();
	if (replication != NULL)
	{
		keys[n] = "replication";
		vals[n++] = replication;
	}
	keys[n] = NULL;
	vals[n] = NULL;

	c->conn = PQconnectStartParams(keys, vals, false);
	if (c->conn == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	for (;;)
	{
		PostgresPollingStatusType st = PQconnectPoll(c->conn);

		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
		{
			char *msg = pstrdup(PQerrorMessage(c->conn));

			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to server \"%s\" (node \"%s\")", c->server, c->node),
					 errdetail_internal("%s", msg)));
		}
		hashring_conn_wait(c->conn, st == PGRES_POLLING_WRITING);
	}
	if (!superuser_arg(GetUserId()) && password_required && !PQconnectionUsedPassword(c->conn))
		ereport(ERROR,
				(errcode(ERRCODE_S_R_E_PROHIBITED_SQL_STATEMENT_ATTEMPTED),
				 errmsg("password is required to connect to server \"%s\" (node \"%s\")", c->server, c->node),
				 errdetail("Non-superuser cannot connect if the server does not request a password."),
				 errhint("Target server's authentication method must be changed or set password_required=false in the user mapping attributes.")));
}

/* Asks the server to cancel the statement c still runs, if any; no error. */
static void
conn_cancel_running(HashringConn *c)
{
	PGcancel *cancel;
	char	  errbuf[256];

	if (PQtransactionStatus(c->conn) != PQTRANS_ACTIVE || (cancel = PQgetCancel(c->conn)) == NULL)
		return;
	(void) PQcancel(cancel, errbuf, sizeof(errbuf));
	PQfreeCancel(cancel);
}

/* Closes c (cancelling a statement still running); never raises an error. */
void
hashring_conn_close(HashringConn *c)
{
	if (c->conn == NULL)
		return;
	conn_cancel_running(c);
	PQfinish(c->conn);
	c->conn = NULL;
}

/* ------------------------------------------------------------------------
 * remote transactions bound to the local one
 * ---------------------------------------------------------------------- */

/*
 * Runs sql during an abort, where no ERROR may be raised: a statement or
 * COPY still in progress is ended first; waits at most 30 s in all.
 * Returns whether sql succeeded.
 */
static bool
conn_cleanup_query(HashringConn *c, const char *sql)
{
	TimestampTz end = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 30000);
	bool		ok = true;

	conn_cancel_running(c);
	for (int round = 0; round < 2; round++)
	{
		if (round == 1 && !PQsendQuery(c->conn, sql))
			return false;
		for (;;)
		{
			PGresult *res;

			while (PQisBusy(c->conn))
			{
				long left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), end);
				int	 rc;

				if (left <= 0)
					return false;
				rc = WaitLatchOrSocket(MyLatch, WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
									   PQsocket(c->conn), left, PG_WAIT_EXTENSION);
				if (rc & WL_LATCH_SET)
					ResetLatch(MyLatch);
				if (!PQconsumeInput(c->conn))
					return false;
			}
			res = PQgetResult(c->conn);
			if (res == NULL)
				break;
			if (PQresultStatus(res) == PGRES_COPY_IN)
			{
				PQclear(res);
				if (PQputCopyEnd(c->conn, "aborted by the local transaction") != 1 || PQflush(c->conn) != 0)
					return false;
				continue;
			}
			if (round == 1 && PQresultStatus(res) != PGRES_COMMAND_OK)
				ok = false;
			PQclear(res);
		}
	}
	return ok && PQtransactionStatus(c->conn) == PQTRANS_INTRANS;
}

HashringConn *
hashring_xact_conn(const char *server, const char *channel, const char *node, const char *who)
{
	return hashring_xact_conn_snapshot(server, channel, node, who, NULL);
}

/*
 * The same, with the remote transaction on the exported snapshot `snapshot`
 * (pg_export_snapshot, or a replication slot's): the connection must not
 * be open yet in this local transaction.
 */
HashringConn *
hashring_xact_conn_snapshot(const char *server, const char *channel, const char *node, const char *who,
							const char *snapshot)
{
	int			  level = GetCurrentTransactionNestLevel();
	ConnBound	 *b = NULL;
	ListCell	 *lc;
	MemoryContext old;

	foreach (lc, conn_bound)
	{
		ConnBound *e = lfirst(lc);

		if (strcmp(e->c.server, server) == 0 && strcmp(e->channel, channel) == 0)
		{
			b = e;
			break;
		}
	}
	if (b != NULL && snapshot != NULL)
		elog(ERROR, "a remote transaction on server \"%s\" is open already: it cannot take snapshot %s", server,
			 snapshot);
	if (b == NULL)
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		b = palloc0(sizeof(ConnBound));
		b->c.server = pstrdup(server);
		b->c.node = pstrdup(node);
		b->channel = pstrdup(channel);
		conn_bound = lappend(conn_bound, b);
		MemoryContextSwitchTo(old);
		b->c.who = who;
		hashring_conn_open(&b->c, "hashring");
		if (PQsetnonblocking(b->c.conn, 1) != 0)
			hashring_conn_error(&b->c, "connecting");
		/*
		 * A pinned environment: the statements sent name every object with
		 * its schema, and values travel as text in these formats (those
		 * postgres_fdw uses, copy.c sets them locally while it converts).
		 */
		hashring_conn_command(&b->c,
							  psprintf("SET search_path = pg_catalog, pg_temp; SET datestyle = ISO; "
									   "SET intervalstyle = postgres; SET extra_float_digits = 3; "
									   "START TRANSACTION ISOLATION LEVEL REPEATABLE READ%s%s",
									   snapshot ? "; SET TRANSACTION SNAPSHOT " : "",
									   snapshot ? quote_literal_cstr(snapshot) : ""),
							  "starting a remote transaction");
		b->depth = 1;
		b->owner = level;
	}
	b->c.who = who;
	if (b->broken)
		ereport(ERROR,
				(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
				 errmsg("the remote transaction on server \"%s\" could not be rolled back to a savepoint", server),
				 errhint("Roll back the transaction.")));
	while (b->depth < level)
	{
		char sql[64];

		snprintf(sql, sizeof(sql), "SAVEPOINT s%d", b->depth + 1);
		hashring_conn_command(&b->c, sql, "opening a savepoint");
		b->depth++;
	}
	return &b->c;
}

static void
conn_free_bound(ConnBound *b)
{
	hashring_conn_close(&b->c);
	pfree(b->c.server);
	pfree(b->c.node);
	pfree(b->channel);
	pfree(b);
}

static void
conn_close_bound(void)
{
	ListCell *lc;

	foreach (lc, conn_bound)
		conn_free_bound(lfirst(lc));
	list_free(conn_bound);
	conn_bound = NIL;
}

static void
conn_xact_callback(XactEvent event, void *arg)
{
	ListCell *lc;

	if (conn_bound == NIL)
		return;
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			hashring_inject("commit:before_remote_commit");
			foreach (lc, conn_bound)
			{
				ConnBound *b = lfirst(lc);

				if (b->broken)
					ereport(ERROR,
							(errcode(ERRCODE_IN_FAILED_SQL_TRANSACTION),
							 errmsg("the remote transaction on server \"%s\" could not be rolled back to a savepoint",
									b->c.server)));
				hashring_conn_command(&b->c, "COMMIT TRANSACTION", "committing");
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot PREPARE a transaction that has written to a distributed table's shards")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			conn_close_bound();
			break;
	}
}

static void
conn_subxact_callback(SubXactEvent event, SubTransactionId mySubid, SubTransactionId parentSubid, void *arg)
{
	int		  level = GetCurrentTransactionNestLevel();
	ListCell *lc;
	char	  sql[96];

	if (event != SUBXACT_EVENT_PRE_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	foreach (lc, conn_bound)
	{
		ConnBound *b = lfirst(lc);

		if (b->depth < level)
			continue;
		if (event == SUBXACT_EVENT_ABORT_SUB && b->owner >= level)
		{
			/*
			 * The remote transaction began inside the aborted subtransaction:
			 * all of it goes, whatever state its connection is in.
			 */
			conn_free_bound(b);
			conn_bound = foreach_delete_current(conn_bound, lc);
			continue;
		}
		if (event == SUBXACT_EVENT_PRE_COMMIT_SUB)
		{
			b->owner = Min(b->owner, level - 1);
			snprintf(sql, sizeof(sql), "RELEASE SAVEPOINT s%d", level);
			hashring_conn_command(&b->c, sql, "releasing a savepoint");
		}
		else if (!b->broken)
		{
			snprintf(sql, sizeof(sql), "ROLLBACK TO SAVEPOINT s%d; RELEASE SAVEPOINT s%d", level, level);
			if (!conn_cleanup_query(&b->c, sql))
				b->broken = true;
		}
		b->depth = level - 1;
	}
}

/* Registers the transaction callbacks (once, from _PG_init). */
void
hashring_conn_init(void)
{
	RegisterXactCallback(conn_xact_callback, NULL);
	RegisterSubXactCallback(conn_subxact_callback, NULL);
}
