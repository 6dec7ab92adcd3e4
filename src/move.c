/*-------------------------------------------------------------------------
 *
 * move.c
 *	  ring_move: moves a sharded table's rows to their owners at one pinned
 *	  ring version, over libpq connections of its own to every shard.
 *
 * The rule that makes it safe: a row is deleted from its source only after
 * its copy has committed on its owner, and it stays locked on the source
 * from the moment it is read until its delete commits.  Per batch:
 *
 *	 source: BEGIN; SELECT id ... WHERE key = ANY (keys) FOR UPDATE	(the batch, locked)
 *	 target: BEGIN; COPY stage FROM STDIN			(streamed from the source)
 *			 INSERT ... ON CONFLICT (id) DO UPDATE; COMMIT	(count checked)
 *	 source: DELETE exactly the locked ids; COMMIT		(count checked)
 *
 * "id" is the row identity: the columns of a unique index that begins with
 * the sharding key.  For a key unique by itself it is the key; for a key
 * that is not (a table sharded by tenant, primary key (tenant, id)) it is
 * that index's columns, and a batch is a set of whole keys: every row of a
 * key moves in the same pair of transactions, so at no commit is a key's
 * set of rows split between two shards.
 *
 * The two servers' transactions are separate connections, so their commit
 * order is ours (postgres_fdw commits remote transactions in no order).  A
 * fault anywhere leaves every row on its source, or on both with identical
 * content; a rerun copies again (the upsert is idempotent) and deletes.
 * While a batch is in flight, an application writing the row on the source
 * waits for the lock and then sees it gone: it retries on the next node of
 * ring_placement(), where the committed copy is (docs/rebalancing.md).
 *
 * The version is pinned when the move starts (hashring.moves.moving_to), so
 * a membership change that commits during the move changes nothing about
 * where this move puts rows; the next move takes the table on from there.
 * Before the first batch the move waits for every transaction that may have
 * read the table's placement before the move was recorded (as CREATE INDEX
 * CONCURRENTLY waits for older snapshots).
 *
 * Which rows move: every source node's keys are read once, in key order, a
 * page at a time (keyset pagination on the key, along the unique index: for
 * a key that is not unique, a page of distinct keys with their row counts),
 * and routed here at the pinned version; misplaced keys collect per target
 * into batches of up to batch_size rows (a key with more rows is a batch of
 * its own).
 *
 * Transient errors (serialization failure, deadlock, lock timeout) roll back
 * the batch on both servers and retry it with backoff.  Bookkeeping is in
 * hashring.moves through the SQL helpers _move_begin/_progress/_end, each
 * committed (the procedure commits after every batch; it must be CALLed
 * outside a transaction block).
 *
 * State: connections and batches in a memory context of the call, freed on
 * exit or error; nothing is shared with other backends.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "conn.h"

#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(hashring_ring_move);

/* arguments of the SQL helpers move_spi() runs, at most */
#define MOVE_SPI_MAX_ARGS 12

/* keys read from a source per round trip */
#define MOVE_SCAN_PAGE 10000

/*
 * Session advisory lock (bigint key) every running move holds in share
 * mode: its holders are the moves of this database.
 */
#define MOVE_MARKER_KEY INT64CONST(0x68617368726d7665) /* "hashrmve" */

typedef struct MoveConn
{
	HashringConn hc;	   /* server, node, connection */
	char		*identity; /* server start time, port, database and table oids */
	char		*qtable;   /* the table, quoted */
	char		*qkey;	   /* the key column, quoted */
	Oid			 keytypid; /* INT4OID, INT8OID or UUIDOID: routed typed; else text */
	char		*keytype;  /* its type, as the server spells it */
	char		*columns;  /* the table's columns, quoted, comma-separated */
	char		*set_list; /* c = EXCLUDED.c, ... */
	/*
	 * The row identity: the columns of the unique index the mover uses, the
	 * key first.  One column (the key alone) when the key is unique by
	 * itself; else (grouped) several rows share a key, and a batch moves
	 * every row of its keys, named by these columns.
	 */
	int	   nid;
	char **idcols;	/* quoted */
	char **idtypes; /* as the server spells them */
	char  *idlist;	/* "c1, c2", quoted */
	bool   grouped;
	int	   img_node; /* node index at the pinned version, -1 if not in it */
	List  *pending;	 /* MovePending: keys to move here from the current source */
	int64  npending; /* their rows */
} MoveConn;

/* A key to move and the rows the scan found for it. */
typedef struct MovePending
{
	int64 rows;
	char  key[FLEXIBLE_ARRAY_MEMBER];
} MovePending;

typedef struct Move
{
	char			 *ring;
	char			 *table;
	char			 *key_column;
	int				  batch_size;
	int				  rows_per_second;
	int				  max_retries;
	int64			  from_version;
	int64			  to_version;
	int				  nconns;
	MoveConn		 *conns;
	int				 *by_img_node; /* image node index -> conns index */
	HashringCacheHint hint;
	int64			  moved;
	int64			  scanned;
	int64			  planned;	 /* misplaced rows found so far (exact once all is scanned) */
	int64			  estimated; /* the shards' row estimates (pg_class.reltuples) at the start */
	int64			  retries;
	int64			  batches;
	TimestampTz		  started;
	MemoryContext	  cxt;
	int64			  lock_key; /* session advisory lock: one move per ring and table */
	bool			  locked;
	bool			  marked; /* holds MOVE_MARKER_KEY */
	/* injection point */
	char inject_step[32];
	bool inject_error;
	int	 inject_pause_ms;
} Move;

/* ------------------------------------------------------------------------
 * connections (conn.c)
 * ---------------------------------------------------------------------- */

static int64
move_exec_count(MoveConn *c, const char *sql, const char *param, const char *what)
{
	PGresult *res = hashring_conn_exec(&c->hc, sql, param ? 1 : 0, &param, PGRES_COMMAND_OK, what);
	int64	  n = strtoll(PQcmdTuples(res), NULL, 10);

	PQclear(res);
	return n;
}

/*
 * Connects to the node's target: a postgres_fdw foreign server, with the
 * caller's user mapping (hashring_fdw_options).
 */
static void
move_connect(MoveConn *c)
{
	hashring_conn_open(&c->hc, "hashring ring_move");

	/*
	 * A pinned, minimal environment on the shard.  Every statement the mover
	 * runs selects by key: without enable_seqscan = off the planner reads the
	 * whole table for a batch of more than about 1% of its rows (the bench
	 * showed three full scans per batch).
	 */
	hashring_conn_command(&c->hc, "SET search_path = pg_catalog, pg_temp; SET statement_timeout = 0; "
								  "SET idle_in_transaction_session_timeout = 0; SET lock_timeout = '10s'; "
								  "SET default_transaction_isolation = 'read committed'; SET enable_seqscan = off",
						  "setting up the session");
}

static void
move_disconnect_all(Move *m)
{
	for (int i = 0; i < m->nconns; i++)
		hashring_conn_close(&m->conns[i].hc);
}

/*
 * Learns the table on the node's server: its identity (to refuse two nodes
 * reaching one table), the key's type, the columns, and the unique index
 * the mover names rows by and upserts on: the key alone if it has one; else
 * one whose first column is the key and whose other columns are NOT NULL
 * (the primary key first, then the narrowest), so that a table sharded by a
 * key that is not unique (tenant, with the primary key (tenant, id)) moves
 * every row of a key together.
 */
static void
move_describe(Move *m, MoveConn *c)
{
	const char	  *params[2] = {m->table, m->key_column};
	PGresult	  *res;
	StringInfoData set;
	int			   ncols;

	res = hashring_conn_exec(&c->hc,
							 "SELECT c.oid, pg_catalog.date_part('epoch', pg_catalog.pg_postmaster_start_time())::pg_catalog.text || '/' || "
							 "pg_catalog.current_setting('port') || '/' || d.oid || '/' || c.oid, "
							 "pg_catalog.format('%I.%I', n.nspname, c.relname), "
							 "pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod), "
							 "a.attnum, a.atttypid, "
							 "pg_catalog.has_table_privilege(c.oid, 'SELECT') AND pg_catalog.has_table_privilege(c.oid, 'INSERT') "
							 "AND pg_catalog.has_table_privilege(c.oid, 'UPDATE') AND pg_catalog.has_table_privilege(c.oid, 'DELETE'), "
							 "current_user, GREATEST(c.reltuples, 0)::pg_catalog.int8 "
							 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
							 "JOIN pg_catalog.pg_database d ON d.datname = pg_catalog.current_database() "
							 "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 "
							 "     AND a.attnum > 0 AND NOT a.attisdropped "
							 "WHERE c.oid = pg_catalog.to_regclass($1) AND c.relkind IN ('r', 'p')",
							 2, params, PGRES_TUPLES_OK, "reading the table's definition");
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s does not exist on server \"%s\" (node \"%s\")", m->table, c->hc.server, c->hc.node)));
	}
	if (PQgetisnull(res, 0, 3))
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of table %s does not exist on server \"%s\" (node \"%s\")",
						m->key_column, m->table, c->hc.server, c->hc.node)));
	}
	if (strcmp(PQgetvalue(res, 0, 7), "t") != 0)
	{
		char *user = pstrdup(PQgetvalue(res, 0, 8));

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" on server \"%s\" (node \"%s\") may not select, insert, update and delete in table %s",
						user, c->hc.server, c->hc.node, m->table),
				 errdetail("ring_move needs all four on every shard's table before it moves anything.")));
	}
	c->identity = pstrdup(PQgetvalue(res, 0, 1));
	params[1] = pstrdup(PQgetvalue(res, 0, 5));
	m->estimated += strtoll(PQgetvalue(res, 0, 9), NULL, 10);
	params[0] = pstrdup(PQgetvalue(res, 0, 0));
	c->qtable = pstrdup(PQgetvalue(res, 0, 2));
	c->qkey = pstrdup(PQgetvalue(res, 0, 3));
	c->keytype = pstrdup(PQgetvalue(res, 0, 4));
	/* built-in type oids are the same on every server */
	c->keytypid = (Oid) strtoul(PQgetvalue(res, 0, 6), NULL, 10);
	if (c->keytypid != INT4OID && c->keytypid != INT8OID && c->keytypid != UUIDOID)
		c->keytypid = TEXTOID;
	PQclear(res);

	/* the row identity: a unique index that begins with the key */
	res = hashring_conn_exec(&c->hc,
							 "WITH i AS (SELECT i.indkey::pg_catalog.int2[] AS cols, i.indnkeyatts FROM pg_catalog.pg_index i "
							 "  WHERE i.indrelid = $1::pg_catalog.oid AND i.indisunique AND i.indimmediate "
							 "    AND i.indpred IS NULL AND i.indexprs IS NULL "
							 "    AND i.indkey[0] OPERATOR(pg_catalog.=) $2::pg_catalog.int2 "
							 "    AND NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(i.indkey::pg_catalog.int2[]) WITH ORDINALITY AS u(n, o) "
							 "                    JOIN pg_catalog.pg_attribute b ON b.attrelid = i.indrelid AND b.attnum = u.n "
							 "                    WHERE u.o > 1 AND u.o <= i.indnkeyatts AND NOT b.attnotnull) "
							 "  ORDER BY i.indnkeyatts = 1 DESC, i.indisprimary DESC, i.indnkeyatts, i.indexrelid LIMIT 1) "
							 "SELECT pg_catalog.quote_ident(a.attname), pg_catalog.format_type(a.atttypid, a.atttypmod) "
							 "FROM i, pg_catalog.unnest(i.cols) WITH ORDINALITY AS u(n, o) "
							 "JOIN pg_catalog.pg_attribute a ON a.attrelid = $1::pg_catalog.oid AND a.attnum = u.n "
							 "WHERE u.o <= i.indnkeyatts ORDER BY u.o",
							 2, params, PGRES_TUPLES_OK, "reading the table's unique indexes");
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s on server \"%s\" (node \"%s\") has no unique index that begins with column \"%s\"",
						m->table, c->hc.server, c->hc.node, m->key_column),
				 errdetail("ring_move names the rows it moves by a unique index and copies them with INSERT ... ON "
						   "CONFLICT on it."),
				 errhint("Create a primary key or unique index on the column alone, or on the column first and "
						 "NOT NULL columns after it, such as (%s, id), on every shard.",
						 m->key_column)));
	}
	c->nid = PQntuples(res);
	c->grouped = c->nid > 1;
	c->idcols = palloc(sizeof(char *) * c->nid);
	c->idtypes = palloc(sizeof(char *) * c->nid);
	{
		StringInfoData ids;

		initStringInfo(&ids);
		for (int i = 0; i < c->nid; i++)
		{
			c->idcols[i] = pstrdup(PQgetvalue(res, i, 0));
			c->idtypes[i] = pstrdup(PQgetvalue(res, i, 1));
			appendStringInfo(&ids, "%s%s", i ? ", " : "", c->idcols[i]);
		}
		c->idlist = ids.data;
	}
	PQclear(res);

	res = hashring_conn_exec(&c->hc,
							 "SELECT pg_catalog.quote_ident(a.attname) FROM pg_catalog.pg_attribute a "
							 "WHERE a.attrelid = $1::pg_catalog.oid AND a.attnum > 0 AND NOT a.attisdropped "
							 "AND a.attgenerated = '' ORDER BY a.attnum",
							 1, params, PGRES_TUPLES_OK, "reading the table's columns");
	ncols = PQntuples(res);
	{
		StringInfoData cols;

		initStringInfo(&cols);
		initStringInfo(&set);
		for (int i = 0; i < ncols; i++)
		{
			const char *col = PQgetvalue(res, i, 0);

			appendStringInfo(&cols, "%s%s", i ? ", " : "", col);
			appendStringInfo(&set, "%s%s = EXCLUDED.%s", i ? ", " : "", col, col);
		}
		c->columns = cols.data;
		c->set_list = set.data;
	}
	PQclear(res);
}

/* ------------------------------------------------------------------------
 * the injection point
 * ---------------------------------------------------------------------- */

static void
move_parse_injection(Move *m)
{
	const char *s = hashring_setting_inject_move_fault();
	const char *colon;

	m->inject_step[0] = '\0';
	if (s == NULL || s[0] == '\0')
		return;
	colon = strchr(s, ':');
	if (colon == NULL || colon - s >= (int) sizeof(m->inject_step))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid hashring.inject_move_fault \"%s\"", s),
				 errhint("Use step:error or step:pause:milliseconds.")));
	memcpy(m->inject_step, s, colon - s);
	m->inject_step[colon - s] = '\0';
	if (strcmp(colon + 1, "error") == 0)
		m->inject_error = true;
	else if (strncmp(colon + 1, "pause:", 6) == 0)
		m->inject_pause_ms = atoi(colon + 7);
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid hashring.inject_move_fault \"%s\"", s),
				 errhint("Use step:error or step:pause:milliseconds.")));
}

static void
move_inject(Move *m, const char *step)
{
	if (m->inject_step[0] == '\0' || strcmp(m->inject_step, step) != 0)
		return;
	if (m->inject_error)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("injected fault at ring_move step %s", step)));
	ereport(LOG, (errmsg_internal("ring_move paused at %s (hashring.inject_move_fault)", step)));
	hashring_sleep_ms(m->inject_pause_ms);
}

/* ------------------------------------------------------------------------
 * routing and batches
 * ---------------------------------------------------------------------- */

/*
 * conns index of the key's owner at the pinned version.  The key is its text
 * form from the server; integer, bigint and uuid keys are routed by their
 * typed value (as ring_node(ring, key) routes them), the rest as text.
 */
static int
move_owner(Move *m, Oid keytypid, const char *key, int len)
{
	const HashringImage *img = hashring_get_image(m->ring, strlen(m->ring), m->to_version, &m->hint);
	HashringKey			 k;

	if (img->nlive == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ring \"%s\" has no active nodes at version " INT64_FORMAT, m->ring, m->to_version)));
	if (m->by_img_node == NULL)
	{
		m->by_img_node = MemoryContextAlloc(m->cxt, sizeof(int) * img->nnodes);
		for (uint32 n = 0; n < img->nnodes; n++)
		{
			const char *name = HR_IMAGE_NAME(img, n);
			int			nlen = HR_IMAGE_NODES(img)[n].name_len;

			m->by_img_node[n] = -1;
			for (int i = 0; i < m->nconns; i++)
				if ((int) strlen(m->conns[i].hc.node) == nlen && memcmp(m->conns[i].hc.node, name, nlen) == 0)
					m->by_img_node[n] = i;
		}
	}
	k.data = key;
	k.len = len;
	k.type = keytypid;
	k.collation = DEFAULT_COLLATION_OID;
	k.value = (Datum) 0;
	if (hashring_algo(img->algorithm)->typed_keys)
	{
		switch (keytypid)
		{
			case INT4OID:
				k.value = DirectFunctionCall1(int4in, CStringGetDatum(key));
				break;
			case INT8OID:
				k.value = DirectFunctionCall1(int8in, CStringGetDatum(key));
				break;
			case UUIDOID:
				k.value = DirectFunctionCall1(uuid_in, CStringGetDatum(key));
				break;
			default:
				k.value = PointerGetDatum(cstring_to_text_with_len(key, len));
		}
	}
	return m->by_img_node[hashring_owner(img, &k)];
}

/* The keys of a list of MovePending as one text[] literal: {"a","b\"c"} */
static char *
move_key_array(List *keys)
{
	StringInfoData s;
	ListCell	  *lc;
	bool		   first = true;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	foreach (lc, keys)
	{
		appendStringInfoString(&s, first ? "\"" : ",\"");
		for (const char *p = ((MovePending *) lfirst(lc))->key; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&s, '\\');
			appendStringInfoChar(&s, *p);
		}
		appendStringInfoChar(&s, '"');
		first = false;
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

/* Streams COPY OUT of src into COPY IN of dst and ends both. */
static void
move_stream(MoveConn *src, MoveConn *dst)
{
	for (;;)
	{
		char *buf = NULL;
		int	  len = PQgetCopyData(src->hc.conn, &buf, 1);

		if (len == 0)
		{
			hashring_conn_wait(src->hc.conn, false);
			if (!PQconsumeInput(src->hc.conn))
				hashring_conn_error(&src->hc, "copying rows out");
			continue;
		}
		if (len == -1)
			break;
		if (len < 0)
			hashring_conn_error(&src->hc, "copying rows out");
		if (PQputCopyData(dst->hc.conn, buf, len) != 1)
		{
			PQfreemem(buf);
			hashring_conn_error(&dst->hc, "copying rows in");
		}
		PQfreemem(buf);
	}
	{
		PGresult *res = hashring_conn_result(&src->hc);

		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			hashring_conn_result_error(&src->hc, res, "copying rows out");
		PQclear(res);
	}
	if (PQputCopyEnd(dst->hc.conn, NULL) != 1)
		hashring_conn_error(&dst->hc, "copying rows in");
	{
		PGresult *res = hashring_conn_result(&dst->hc);

		if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
			hashring_conn_result_error(&dst->hc, res, "copying rows in");
		PQclear(res);
	}
}

/* Rolls back whatever transaction a connection is in, if it still can. */
static bool
move_rollback(MoveConn *c)
{
	PGresult *res;

	if (c->hc.conn == NULL || PQstatus(c->hc.conn) != CONNECTION_OK)
		return false;
	if (PQtransactionStatus(c->hc.conn) == PQTRANS_IDLE)
		return true;
	if (PQtransactionStatus(c->hc.conn) != PQTRANS_INTRANS && PQtransactionStatus(c->hc.conn) != PQTRANS_INERROR)
		return false;
	if (!PQsendQuery(c->hc.conn, "ROLLBACK"))
		return false;
	res = hashring_conn_result(&c->hc);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		if (res)
			PQclear(res);
		return false;
	}
	PQclear(res);
	return true;
}

/*
 * The condition that names exactly the rows whose identity columns are in
 * the arrays (SQL expressions giving array literals as text, one per
 * identity column): t.k = ANY (...) for a key unique by itself, a row
 * comparison with the unnested arrays otherwise.
 */
static char *
move_rows_where(MoveConn *c, char **arrays)
{
	StringInfoData s;

	initStringInfo(&s);
	if (c->nid == 1)
	{
		appendStringInfo(&s, "t.%s OPERATOR(pg_catalog.=) ANY (%s::pg_catalog.text[]::%s[])", c->idcols[0], arrays[0],
						 c->idtypes[0]);
		return s.data;
	}
	appendStringInfoChar(&s, '(');
	for (int i = 0; i < c->nid; i++)
		appendStringInfo(&s, "%st.%s", i ? ", " : "", c->idcols[i]);
	appendStringInfoString(&s, ") IN (SELECT * FROM ROWS FROM (");
	for (int i = 0; i < c->nid; i++)
		appendStringInfo(&s, "%spg_catalog.unnest(%s::pg_catalog.text::%s[])", i ? ", " : "", arrays[i],
						 c->idtypes[i]);
	appendStringInfoString(&s, "))");
	return s.data;
}

/*
 * One batch from src to dst: returns the rows moved.  See the file header
 * for the order of steps.  The batch is a set of keys; every row of those
 * keys is locked, copied and deleted together, named by the identity
 * columns (the key itself when it is unique).
 */
static int64
move_batch_once(Move *m, MoveConn *src, MoveConn *dst, List *keys)
{
	char		  *array = move_key_array(keys);
	const char	  *param = array;
	PGresult	  *res;
	char		  *sql;
	int64		   n;
	char		 **locked = palloc0(sizeof(char *) * src->nid);
	char		 **literals = palloc0(sizeof(char *) * src->nid);
	char		 **params = palloc0(sizeof(char *) * src->nid);
	StringInfoData q;

	/* lock every row of the batch's keys, in identity order */
	hashring_conn_command(&src->hc, "BEGIN ISOLATION LEVEL READ COMMITTED", "locking a batch");
	initStringInfo(&q);
	appendStringInfoString(&q, "SELECT ");
	for (int i = 0; i < src->nid; i++)
	{
		appendStringInfo(&q, "pg_catalog.array_agg(i%d ORDER BY ", i);
		for (int j = 0; j < src->nid; j++)
			appendStringInfo(&q, "%si%d", j ? ", " : "", j);
		appendStringInfoString(&q, ")::pg_catalog.text, ");
	}
	appendStringInfoString(&q, "pg_catalog.count(*) FROM (SELECT ");
	for (int i = 0; i < src->nid; i++)
		appendStringInfo(&q, "%st.%s AS i%d", i ? ", " : "", src->idcols[i], i);
	appendStringInfo(&q,
					 " FROM %s AS t WHERE t.%s OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[]::%s[]) "
					 "ORDER BY %s FOR UPDATE OF t) s",
					 src->qtable, src->qkey, src->keytype, src->idlist);
	res = hashring_conn_exec(&src->hc, q.data, 1, &param, PGRES_TUPLES_OK, "locking a batch");
	n = strtoll(PQgetvalue(res, 0, src->nid), NULL, 10);
	for (int i = 0; i < src->nid && n > 0; i++)
		locked[i] = pstrdup(PQgetvalue(res, 0, i));
	PQclear(res);
	if (n == 0)
	{
		hashring_conn_command(&src->hc, "COMMIT", "locking a batch");
		return 0;
	}

	/* copy: the locked rows, streamed into the target's stage, then upserted */
	hashring_conn_command(&dst->hc, "BEGIN ISOLATION LEVEL READ COMMITTED", "copying a batch");
	sql = psprintf("COPY pg_temp.hashring_move_stage (%s) FROM STDIN", src->columns);
	res = hashring_conn_exec(&dst->hc, sql, 0, NULL, PGRES_COPY_IN, "copying a batch");
	PQclear(res);
	for (int i = 0; i < src->nid; i++)
	{
		char *lit = PQescapeLiteral(src->hc.conn, locked[i], strlen(locked[i]));

		if (lit == NULL)
			hashring_conn_error(&src->hc, "quoting keys");
		literals[i] = pstrdup(lit);
		PQfreemem(lit);
	}
	sql = psprintf("COPY (SELECT %s FROM %s AS t WHERE %s) TO STDOUT", src->columns, src->qtable,
				   move_rows_where(src, literals));
	res = hashring_conn_exec(&src->hc, sql, 0, NULL, PGRES_COPY_OUT, "copying a batch");
	PQclear(res);
	move_stream(src, dst);
	sql = psprintf("INSERT INTO %s AS t (%s) SELECT %s FROM pg_temp.hashring_move_stage "
				   "ON CONFLICT (%s) DO UPDATE SET %s",
				   dst->qtable, src->columns, src->columns, dst->idlist, src->set_list);
	if (move_exec_count(dst, sql, NULL, "copying a batch") != n)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("ring_move copied a different number of rows than it locked on \"%s\"", src->hc.node)));
	move_inject(m, "before_target_commit");
	hashring_conn_command(&dst->hc, "COMMIT", "committing the copy");
	move_inject(m, "after_target_commit");

	/* delete exactly the locked rows: they cannot have changed */
	for (int i = 0; i < src->nid; i++)
		params[i] = psprintf("$%d", i + 1);
	sql = psprintf("DELETE FROM %s AS t WHERE %s", src->qtable, move_rows_where(src, params));
	res = hashring_conn_exec(&src->hc, sql, src->nid, (const char *const *) locked, PGRES_COMMAND_OK, "deleting a copied batch");
	if (strtoll(PQcmdTuples(res), NULL, 10) != n)
	{
		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("ring_move deleted a different number of rows than it locked on \"%s\"", src->hc.node)));
	}
	PQclear(res);
	move_inject(m, "before_source_commit");
	hashring_conn_command(&src->hc, "COMMIT", "committing the delete");
	return n;
}

static bool
move_retryable(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE || sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED ||
		   sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE;
}

/*
 * Runs one query of the extension's SQL helpers and, if `commit`, commits
 * so that other sessions see it.  `types` spells the arguments: 't' text (NULL pointer:
 * SQL NULL), 'i' bigint, 'I' bigint that is NULL when 0.  Returns the
 * first row's columns as text (NULL when no row), in the move's context.
 */
static char **
move_spi(Move *m, const char *sql, const char *types, const char *const *texts, const int64 *ints, bool commit)
{
	int			  nargs = strlen(types);
	Oid			  argtypes[MOVE_SPI_MAX_ARGS];
	Datum		  values[MOVE_SPI_MAX_ARGS];
	char		  nulls[MOVE_SPI_MAX_ARGS] = {0};
	MemoryContext old = CurrentMemoryContext;
	char		**row = NULL;

	if (nargs > MOVE_SPI_MAX_ARGS)
		elog(ERROR, "move_spi: too many arguments");
	for (int i = 0; i < nargs; i++)
	{
		bool text = types[i] == 't';

		argtypes[i] = text ? TEXTOID : INT8OID;
		values[i] = text ? (texts[i] ? CStringGetTextDatum(texts[i]) : (Datum) 0) : Int64GetDatum(ints[i]);
		nulls[i] = ((text && !texts[i]) || (types[i] == 'I' && ints[i] == 0)) ? 'n' : ' ';
	}
	if (SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0) < 0)
		elog(ERROR, "%s failed", sql);
	MemoryContextSwitchTo(m->cxt);
	if (SPI_tuptable && SPI_processed == 1)
	{
		int ncols = SPI_tuptable->tupdesc->natts;

		row = palloc0(sizeof(char *) * ncols);
		for (int c = 0; c < ncols; c++)
			row[c] = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, c + 1);
	}
	if (commit)
		SPI_commit();
	MemoryContextSwitchTo(old);
	return row;
}

/*
 * Records the progress after a batch (or a retry).  pause_ms is how long the
 * throttle waits next: hashring.moves.paused_until, so that
 * ring_move_progress.rows_per_second counts the wait that belongs to the
 * batch, also when the move is stopped during it.
 */
static void
move_record_progress(Move *m, MoveConn *src, MoveConn *dst, const char *last_error, long pause_ms)
{
	const char *texts[11] = {m->ring, m->table, src->hc.node, dst->hc.node, NULL, NULL, NULL, last_error, NULL, NULL, NULL};
	int64		ints[11] = {0, 0, 0, 0, m->moved, m->scanned, m->retries, 0, m->planned, m->estimated, pause_ms};

	(void) move_spi(m, "SELECT hashring._move_progress($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)", "ttttiiitiiI",
					texts, ints, true);
}

/*
 * How long to wait now to keep the average rate since the first batch at or
 * under rows_per_second: 0 without a throttle or when behind.
 */
static long
move_throttle_ms(Move *m)
{
	long elapsed_ms;
	long due_ms;

	if (m->rows_per_second <= 0)
		return 0;
	elapsed_ms = (GetCurrentTimestamp() - m->started) / 1000;
	due_ms = (long) (m->moved * 1000 / m->rows_per_second);
	return due_ms > elapsed_ms ? due_ms - elapsed_ms : 0;
}

/* A batch, retried on transient errors; the keys are consumed. */
static void
move_batch(Move *m, MoveConn *src, MoveConn *dst)
{
	List *keys = dst->pending;

	dst->pending = NIL;
	dst->npending = 0;
	if (keys == NIL)
		return;
	for (volatile int attempt = 0;; attempt++)
	{
		MemoryContext oldcxt = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		ErrorData *volatile err = NULL;
		volatile int64 n = 0;
		long		   pause_ms;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcxt);
		PG_TRY();
		{
			n = move_batch_once(m, src, dst, keys);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(oldcxt);
			err = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcxt);
			CurrentResourceOwner = oldowner;
		}
		PG_END_TRY();

		if (err == NULL)
		{
			m->moved += n;
			m->batches++;
			if (n > 0)
				ereport(NOTICE,
						(errmsg(INT64_FORMAT " row(s) moved from %s to %s (" INT64_FORMAT " in all)",
								n, src->hc.node, dst->hc.node, m->moved)));
			list_free_deep(keys);
			move_record_progress(m, src, dst, NULL, move_throttle_ms(m));
			/* again: recording took time, and paused_until was set after it */
			pause_ms = move_throttle_ms(m);
			if (pause_ms > 0)
				hashring_sleep_ms(pause_ms);
			break;
		}
		/*
		 * Not retried: the caller's cleanup closes every connection, which
		 * rolls back whatever the servers still have open.  Retried: both
		 * sides must be back to no transaction first.
		 */
		if (!move_retryable(err->sqlerrcode) || attempt >= m->max_retries ||
			!move_rollback(src) || !move_rollback(dst))
			ReThrowError(err);
		m->retries++;
		ereport(NOTICE,
				(errmsg("batch from %s to %s retried (%d of %d) after: %s",
						src->hc.node, dst->hc.node, attempt + 1, m->max_retries, err->message)));
		move_record_progress(m, src, dst, err->message, 0);
		hashring_sleep_ms(Min(10L << Min(attempt, 8), 2000L));
	}
}

/*
 * Moves dst's pending keys in batches: the full ones, or all if `all`.  A
 * batch takes whole keys up to batch_size rows, and at least one key: a key
 * with more rows than batch_size moves in one batch of its own.
 */
static void
move_flush(Move *m, MoveConn *src, MoveConn *dst, bool all)
{
	while (dst->npending >= m->batch_size || (all && dst->npending > 0))
	{
		List	 *rest = NIL;
		int64	  restn = 0;
		int64	  rows = 0;
		int		  take = 0;
		ListCell *lc;

		foreach (lc, dst->pending)
		{
			int64 r = ((MovePending *) lfirst(lc))->rows;

			if (take > 0 && rows + r > m->batch_size)
				break;
			rows += r;
			take++;
		}
		if (take < list_length(dst->pending))
		{
			rest = list_copy_tail(dst->pending, take);
			restn = dst->npending - rows;
			dst->pending = list_truncate(dst->pending, take);
		}
		move_batch(m, src, dst);
		dst->pending = rest;
		dst->npending = restn;
	}
}

/*
 * Reads every key of the source, a page at a time in key order, and moves
 * the misplaced ones in batches per target.  A NULL key has no owner
 * (ring_node is strict): such rows stay where they are.  When the key is not
 * unique by itself, a page is 10,000 distinct keys with their row counts
 * (GROUP BY along the unique index that begins with the key).
 */
static void
move_source(Move *m, int si)
{
	MoveConn	 *src = &m->conns[si];
	MemoryContext page = AllocSetContextCreate(m->cxt, "hashring move page", ALLOCSET_DEFAULT_SIZES);
	const char	 *count = src->grouped ? "pg_catalog.count(*)" : "1";
	const char	 *group = src->grouped ? psprintf(" GROUP BY t.%s", src->qkey) : "";
	char		 *first_sql = psprintf("SELECT t.%s::pg_catalog.text, %s FROM %s AS t WHERE t.%s IS NOT NULL%s "
											   "ORDER BY t.%s LIMIT %d",
									   src->qkey, count, src->qtable, src->qkey, group, src->qkey, MOVE_SCAN_PAGE);
	char		 *next_sql = psprintf("SELECT t.%s::pg_catalog.text, %s FROM %s AS t "
											  "WHERE t.%s OPERATOR(pg_catalog.>) $1::pg_catalog.text::%s%s ORDER BY t.%s LIMIT %d",
									  src->qkey, count, src->qtable, src->qkey, src->keytype, group, src->qkey,
									  MOVE_SCAN_PAGE);
	char		 *last = NULL;

	for (;;)
	{
		MemoryContext old = MemoryContextSwitchTo(page);
		const char	 *param = last;
		PGresult	 *res = hashring_conn_exec(&src->hc, last ? next_sql : first_sql, last ? 1 : 0, &param,
											   PGRES_TUPLES_OK, "reading keys");
		int			  rows = PQntuples(res);

		MemoryContextSwitchTo(m->cxt);
		if (rows > 0)
			last = pstrdup(PQgetvalue(res, rows - 1, 0));
		MemoryContextSwitchTo(page);

		PushActiveSnapshot(GetTransactionSnapshot());
		for (int r = 0; r < rows; r++)
		{
			const char	*key = PQgetvalue(res, r, 0);
			int			 keylen = PQgetlength(res, r, 0);
			int64		 nrows = strtoll(PQgetvalue(res, r, 1), NULL, 10);
			int			 owner = move_owner(m, src->keytypid, key, keylen);
			MovePending *p;

			CHECK_FOR_INTERRUPTS();
			m->scanned += nrows;
			if (owner == si)
				continue;
			if (owner < 0)
				elog(ERROR, "ring_move: owner of a key is not among the ring's nodes");
			p = MemoryContextAlloc(m->cxt, offsetof(MovePending, key) + keylen + 1);
			p->rows = nrows;
			memcpy(p->key, key, keylen + 1);
			MemoryContextSwitchTo(m->cxt);
			m->conns[owner].pending = lappend(m->conns[owner].pending, p);
			MemoryContextSwitchTo(page);
			m->conns[owner].npending += nrows;
			m->planned += nrows;
		}
		PopActiveSnapshot();
		PQclear(res);
		MemoryContextSwitchTo(old);
		MemoryContextReset(page);

		for (int d = 0; d < m->nconns; d++)
			move_flush(m, src, &m->conns[d], rows < MOVE_SCAN_PAGE);
		if (rows < MOVE_SCAN_PAGE)
			break;
	}
	MemoryContextDelete(page);
}

/*
 * Waits for every transaction of this database that was running when the
 * move was recorded: they may have read the table's placement before it.
 */
static void
move_wait_for_older_transactions(void)
{
	int					  n;
	int					  nmovers;
	LOCKTAG				  tag;
	VirtualTransactionId *vxids = GetCurrentVirtualXIDs(InvalidTransactionId, false, false,
														PROC_IS_AUTOVACUUM | PROC_IN_VACUUM, &n);
	VirtualTransactionId *movers;

	/*
	 * Other moves are not waited for: they read no placement, and two moves
	 * starting together would otherwise wait for each other.  Every move
	 * holds MOVE_MARKER_KEY in share mode for as long as it runs.
	 */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (MOVE_MARKER_KEY >> 32), (uint32) MOVE_MARKER_KEY, 1);
	movers = GetLockConflicts(&tag, ExclusiveLock, &nmovers);
	for (int i = 0; i < n; i++)
	{
		bool mover = false;

		for (int j = 0; j < nmovers && VirtualTransactionIdIsValid(movers[j]); j++)
			if (VirtualTransactionIdEquals(vxids[i], movers[j]))
				mover = true;
		if (!mover)
			(void) VirtualXactLock(vxids[i], true);
	}
}

/* Closes every connection (the servers roll back what they had open) and
 * releases the move's locks. */
static void
move_end(Move *m)
{
	move_disconnect_all(m);
	if (m->locked)
		(void) DirectFunctionCall1(pg_advisory_unlock_int8, Int64GetDatum(m->lock_key));
	if (m->marked)
		(void) DirectFunctionCall1(pg_advisory_unlock_shared_int8, Int64GetDatum(MOVE_MARKER_KEY));
	m->locked = m->marked = false;
}

/*
 * CALL hashring.ring_move(ring, tbl, key_column, batch_size, from_version,
 *							rows_per_second, max_retries)
 */
Datum
hashring_ring_move(PG_FUNCTION_ARGS)
{
	Move		 *m;
	MemoryContext cxt;
	MemoryContext caller = CurrentMemoryContext;
	CallContext	 *call = (CallContext *) fcinfo->context;

	if (call == NULL || !IsA(call, CallContext) || call->atomic)
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("ring_move cannot run inside a transaction block"),
				 errdetail("It commits after every batch."),
				 errhint("CALL it on its own, outside BEGIN ... COMMIT and not from a function.")));
	for (int i = 0; i < 3; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("ring, table and key column must not be null")));
	if (PG_ARGISNULL(3) || PG_GETARG_INT32(3) < 1 || PG_GETARG_INT32(3) > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be between 1 and 1000000")));
	if (!PG_ARGISNULL(5) && PG_GETARG_INT32(5) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows_per_second must be at least 1 (or null: no limit)")));
	if (PG_ARGISNULL(6) || PG_GETARG_INT32(6) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_retries must be zero or more")));

	cxt = AllocSetContextCreate(TopMemoryContext, "hashring move", ALLOCSET_DEFAULT_SIZES);
	m = MemoryContextAllocZero(cxt, sizeof(Move));
	m->cxt = cxt;
	MemoryContextSwitchTo(cxt);
	m->ring = text_to_cstring(PG_GETARG_TEXT_PP(0));
	m->table = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strchr(m->table, '.') == NULL)
		m->table = psprintf("public.%s", m->table);
	m->key_column = pstrdup(NameStr(*PG_GETARG_NAME(2)));
	m->batch_size = PG_GETARG_INT32(3);
	m->from_version = PG_ARGISNULL(4) ? 0 : PG_GETARG_INT64(4);
	m->rows_per_second = PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5);
	m->max_retries = PG_GETARG_INT32(6);
	move_parse_injection(m);
	MemoryContextSwitchTo(caller);

	PG_TRY();
	{
		const char *texts[6] = {m->ring, m->table, m->key_column, NULL, NULL, NULL};
		int64		ints[6] = {0, 0, 0, m->from_version, 0, 0};
		char	  **row;
		char	   *lock_name;
		int64		now_version;

		if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");

		/*
		 * Record the move (checks the ring and the table's state); it commits
		 * only once every shard has been reached and checked below, so that
		 * a refusal leaves no trace.
		 */
		lock_name = psprintf("ring_move %s %s", m->ring, m->table);
		m->lock_key = (int64) hashring_hash_bytes(lock_name, strlen(lock_name));
		if (!DatumGetBool(DirectFunctionCall1(pg_try_advisory_lock_int8, Int64GetDatum(m->lock_key))))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("a move of %s on ring \"%s\" is already running", m->table, m->ring),
					 errhint("hashring.ring_move_progress shows it.")));
		m->locked = true;
		(void) DirectFunctionCall1(pg_advisory_lock_shared_int8, Int64GetDatum(MOVE_MARKER_KEY));
		m->marked = true;
		ints[4] = m->lock_key;
		row = move_spi(m, "SELECT b.from_version::pg_catalog.text, b.to_version::pg_catalog.text "
						  "FROM hashring._move_begin($1, $2, $3, $4, $5) AS b",
					   "tttIi", texts, ints, false);
		if (row == NULL || row[0] == NULL || row[1] == NULL)
			elog(ERROR, "hashring._move_begin failed");
		m->from_version = strtoll(row[0], NULL, 10);
		m->to_version = strtoll(row[1], NULL, 10);

		/* every node of either version, with its target */
		{
			Oid	  types[3] = {TEXTOID, INT8OID, INT8OID};
			Datum values[3] = {CStringGetTextDatum(m->ring), Int64GetDatum(m->from_version),
							   Int64GetDatum(m->to_version)};

			if (SPI_execute_with_args("SELECT n.node, n.target FROM hashring._move_nodes($1, $2, $3) AS n",
									  3, types, values, NULL, true, 0) != SPI_OK_SELECT)
				elog(ERROR, "hashring._move_nodes failed");
		}
		MemoryContextSwitchTo(cxt);
		m->nconns = SPI_processed;
		m->conns = palloc0(sizeof(MoveConn) * Max(m->nconns, 1));
		for (int i = 0; i < m->nconns; i++)
		{
			m->conns[i].hc.who = "ring_move";
			m->conns[i].hc.node = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
			m->conns[i].hc.server = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
			if (m->conns[i].hc.server == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("node \"%s\" of ring \"%s\" has no target", m->conns[i].hc.node, m->ring),
						 errhint("Set the node's target to the name of its postgres_fdw foreign server.")));
		}

		/* connect to every shard and check its table before anything moves */
		for (int i = 0; i < m->nconns; i++)
		{
			move_connect(&m->conns[i]);
			move_describe(m, &m->conns[i]);
			for (int j = 0; j < i; j++)
				if (strcmp(m->conns[i].identity, m->conns[j].identity) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("nodes \"%s\" and \"%s\" of ring \"%s\" reach the same table %s",
									m->conns[j].hc.node, m->conns[i].hc.node, m->ring, m->table),
							 errdetail("Their targets are \"%s\" and \"%s\".", m->conns[j].hc.server, m->conns[i].hc.server),
							 errhint("ring_move needs one table per node; give each logical shard its own database or table.")));
			hashring_conn_command(&m->conns[i].hc,
								  psprintf("CREATE TEMP TABLE hashring_move_stage (LIKE %s) ON COMMIT DELETE ROWS",
										   m->conns[i].qtable),
								  "creating the staging table");
		}
		SPI_commit();
		MemoryContextSwitchTo(cxt);
		move_inject(m, "after_start");
		move_wait_for_older_transactions();

		ereport(NOTICE,
				(errmsg("moving %s of ring \"%s\" from version " INT64_FORMAT " to version " INT64_FORMAT,
						m->table, m->ring, m->from_version, m->to_version)));
		m->started = GetCurrentTimestamp();
		for (int i = 0; i < m->nconns; i++)
			move_source(m, i);

		/* done: the table is placed by to_version */
		ints[2] = m->to_version;
		ints[3] = m->moved;
		ints[4] = m->scanned;
		ints[5] = m->planned;
		row = move_spi(m, "SELECT hashring._move_end($1, $2, $3, $4, $5, $6)::pg_catalog.text", "ttiiii", texts, ints,
					   true);
		now_version = (row && row[0]) ? strtoll(row[0], NULL, 10) : m->to_version;
		ereport(NOTICE,
				(errmsg("done: " INT64_FORMAT " row(s) moved; %s is placed by version " INT64_FORMAT,
						m->moved, m->table, m->to_version),
				 m->retries ? errdetail(INT64_FORMAT " batch(es) retried after transient errors.", m->retries) : 0));
		if (now_version != m->to_version)
			ereport(NOTICE,
					(errmsg("ring \"%s\" is now at version " INT64_FORMAT "; run ring_move again to move %s to it",
							m->ring, now_version, m->table)));
		SPI_finish();
	}
	PG_CATCH();
	{
		move_end(m);
		MemoryContextSwitchTo(caller);

		/*
		 * The error being thrown may point into the move's memory (an error
		 * re-thrown from a batch keeps pointers of its copy): free it with
		 * the error state, after it has been reported.
		 */
		MemoryContextSetParent(cxt, ErrorContext);
		PG_RE_THROW();
	}
	PG_END_TRY();
	move_end(m);
	MemoryContextSwitchTo(caller);
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}
