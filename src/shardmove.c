/*-------------------------------------------------------------------------
 *
 * shardmove.c
 *	  The C helpers of move_shard and rebalance_table (hashring--0.8.sql,
 *	  "shard moves"): _shard_transfer streams a shard table from the node
 *	  that holds it to another, as a COPY pipe through this backend, and
 *	  _partition_set_server points a distributed table's partition at the
 *	  foreign server of its new node, and _node_conninfo is the connection
 *	  string a logical move's subscription reaches the source node with.
 *
 * Locks: _partition_set_server takes ACCESS EXCLUSIVE on the partition
 * only (never on the distributed table: writers lock the table before its
 * partitions, so a mover holding a partition and waiting for the table
 * would deadlock with them), and RowExclusiveLock on pg_foreign_table.
 * The caller (move_shard) holds EXCLUSIVE on the partition from before the
 * copy, so no write reaches the shard between the copy and the switch.
 *
 * Remote transactions: both ends of _shard_transfer are conn.c's remote
 * transactions bound to the local one (the target's on the channel of the
 * shard table, the one move_shard created it on); they commit at the
 * local PRE_COMMIT, the source's (read only) and the target's in the order
 * they were opened, before the local commit that switches the partition.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "commands/progress.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "conn.h"
#include "dist.h"

PG_FUNCTION_INFO_V1(hashring_shard_transfer);
PG_FUNCTION_INFO_V1(hashring_partition_set_server);
PG_FUNCTION_INFO_V1(hashring_partition_block_writes);
PG_FUNCTION_INFO_V1(hashring_node_conninfo);
PG_FUNCTION_INFO_V1(hashring_shard_move_slot);

/* the COPY data gathered before one PQputCopyData */
#define TRANSFER_CHUNK (256 * 1024)

/*
 * Sends the gathered COPY data to the new node and reports the progress:
 * rows is the number of rows gathered so far, *bytes the bytes sent.  The
 * first time, the injection point move:during_copy (a move paused there
 * has sent part of the shard, or all of a small one).
 */
static void
transfer_put(HashringConn *dst, StringInfo chunk, int64 rows, int64 *bytes, bool *sent)
{
	const int index[] = {PROGRESS_COPY_BYTES_PROCESSED, PROGRESS_COPY_TUPLES_PROCESSED};
	int64	  value[2];

	hashring_conn_put_copy(dst, chunk->data, chunk->len);
	*bytes += chunk->len;
	resetStringInfo(chunk);
	value[0] = *bytes;
	value[1] = rows;
	pgstat_progress_update_multi_param(2, index, value);
	if (!*sent)
	{
		*sent = true;
		hashring_inject("move:during_copy");
	}
}

/*
 * Locks relid, a foreign partition the caller owns, in mode (LOCK TABLE
 * refuses foreign tables).
 */
static void
partition_lock(Oid relid, LOCKMODE mode)
{
	LockRelationOid(relid, mode);
	if (get_rel_relkind(relid) != RELKIND_FOREIGN_TABLE || !get_rel_relispartition(relid))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a foreign partition", get_rel_name(relid))));
	if (!hashring_is_owner(relid))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_FOREIGN_TABLE, get_rel_name(relid));
}

/*
 * _partition_block_writes(part regclass): EXCLUSIVE on the partition until
 * the end of the transaction: every write to it waits (INSERT routing,
 * UPDATE, DELETE, COPY lock it ROW EXCLUSIVE first), reads go on.
 */
Datum
hashring_partition_block_writes(PG_FUNCTION_ARGS)
{
	partition_lock(PG_GETARG_OID(0), ExclusiveLock);
	PG_RETURN_VOID();
}

/*
 * _shard_transfer(src_server, src_node, dst_server, dst_node, shard_table,
 * channel, part) -> bigint: copies every row of shard_table on the source to
 * the (empty) table of the same name on the target, and returns the rows;
 * pg_stat_progress_copy shows the copy under part, the partition.
 * Both sessions use ISO dates and exact floats, so that the text form one
 * server writes is what the other reads.
 */
Datum
hashring_shard_transfer(PG_FUNCTION_ARGS)
{
	char		  *src_server = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		  *src_node = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char		  *dst_server = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char		  *dst_node = text_to_cstring(PG_GETARG_TEXT_PP(3));
	char		  *table = text_to_cstring(PG_GETARG_TEXT_PP(4));
	char		  *channel = text_to_cstring(PG_GETARG_TEXT_PP(5));
	Oid			   part = PG_GETARG_OID(6);
	const char	  *styles = "SET LOCAL datestyle = ISO; SET LOCAL intervalstyle = postgres; "
							"SET LOCAL extra_float_digits = 3";
	HashringConn  *src;
	HashringConn  *dst;
	PGresult	  *res;
	StringInfoData chunk;
	int64		   rows = 0;
	int64		   bytes = 0;
	bool		   sent = false;

	src = hashring_xact_conn(src_server, "move_shard:source", src_node, "move_shard");
	dst = hashring_xact_conn(dst_server, channel, dst_node, "move_shard");
	hashring_conn_command(src, styles, "setting the session for COPY");
	hashring_conn_command(dst, styles, "setting the session for COPY");
	PQclear(hashring_conn_exec(dst, psprintf("COPY %s FROM STDIN", table), 0, NULL, PGRES_COPY_IN,
							   "starting COPY into the new shard table"));
	PQclear(hashring_conn_exec(src, psprintf("COPY %s TO STDOUT", table), 0, NULL, PGRES_COPY_OUT,
							   "starting COPY out of the shard table"));
	/*
	 * pg_stat_progress_copy (and shard_move_progress from it): the rows and
	 * bytes that reached the new node, under the partition's OID; a COPY FROM
	 * fed by this backend.  Ended here or by the abort of the transaction.
	 */
	pgstat_progress_start_command(PROGRESS_COMMAND_COPY, part);
	{
		const int	index[] = {PROGRESS_COPY_COMMAND, PROGRESS_COPY_TYPE};
		const int64 value[] = {PROGRESS_COPY_COMMAND_FROM, PROGRESS_COPY_TYPE_CALLBACK};

		pgstat_progress_update_multi_param(2, index, value);
	}
	initStringInfo(&chunk);
	for (;;)
	{
		char *buf;
		int	  len = PQgetCopyData(src->conn, &buf, 1);

		if (len > 0)
		{
			appendBinaryStringInfo(&chunk, buf, len);
			PQfreemem(buf);
			rows++; /* the server sends one row per message */
			if (chunk.len >= TRANSFER_CHUNK)
				transfer_put(dst, &chunk, rows, &bytes, &sent);
			continue;
		}
		if (len == 0)
		{
			hashring_conn_wait(src->conn, false);
			if (!PQconsumeInput(src->conn))
				hashring_conn_error(src, "reading COPY data");
			continue;
		}
		if (len == -2)
			hashring_conn_error(src, "reading COPY data");
		break; /* -1: the COPY is over */
	}
	if (chunk.len > 0)
		transfer_put(dst, &chunk, rows, &bytes, &sent);
	res = hashring_conn_result(src);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
		hashring_conn_result_error(src, res, "copying the shard table out");
	if (strtoi64(PQcmdTuples(res), NULL, 10) != rows)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("COPY out of %s on node \"%s\" reported %s rows, %lld were received", table, src_node,
						PQcmdTuples(res), (long long) rows)));
	PQclear(res);
	hashring_conn_end_copy(dst, "copying into the new shard table");
	pgstat_progress_end_command();
	PG_RETURN_INT64(rows);
}

/*
 * _partition_set_server(part regclass, server text): the foreign table part
 * (a partition of a distributed table) reads and writes through server
 * from now on -- what ALTER FOREIGN TABLE would do if it could change a
 * foreign table's server: pg_foreign_table.ftserver and the dependency on
 * the server, then a relcache invalidation so that every cached plan of
 * the table is made again.  The caller must own part and have USAGE on
 * server, which must use the same foreign-data wrapper.
 */
Datum
hashring_partition_set_server(PG_FUNCTION_ARGS)
{
	Oid			   relid = PG_GETARG_OID(0);
	char		  *srvname = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ForeignServer *newsrv;
	ForeignTable  *ft;
	ForeignServer *oldsrv;
	Relation	   rel;
	HeapTuple	   tup;

	partition_lock(relid, AccessExclusiveLock);
	newsrv = GetForeignServerByName(srvname, false);
	hashring_check_server_usage(newsrv, GetUserId());
	ft = GetForeignTable(relid);
	oldsrv = GetForeignServer(ft->serverid);
	if (oldsrv->fdwid != newsrv->fdwid)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("foreign server \"%s\" uses another foreign-data wrapper than \"%s\"", newsrv->servername,
						oldsrv->servername)));
	if (oldsrv->serverid == newsrv->serverid)
		PG_RETURN_VOID();

	rel = table_open(ForeignTableRelationId, RowExclusiveLock);
	tup = SearchSysCacheCopy1(FOREIGNTABLEREL, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for foreign table %u", relid);
	((Form_pg_foreign_table) GETSTRUCT(tup))->ftserver = newsrv->serverid;
	CatalogTupleUpdate(rel, &tup->t_self, tup);
	heap_freetuple(tup);
	table_close(rel, RowExclusiveLock);
	if (changeDependencyFor(RelationRelationId, relid, ForeignServerRelationId, oldsrv->serverid,
							newsrv->serverid) != 1)
		elog(ERROR, "foreign table \"%s\" has no dependency on server \"%s\"", get_rel_name(relid),
			 oldsrv->servername);
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_VOID();
}

/*
 * _node_conninfo(server text, node text) -> text: the libpq connection
 * string of server (a node's target) for the current user: the server's
 * and the user mapping's libpq options, as the subscription of a logical
 * shard move on the new node connects to the old one (docs/distributed.md,
 * "Moving shards").  It holds the mapping's password, if it has one: it is
 * stored in pg_subscription on the new node (readable by superusers only)
 * for the length of the move.
 */
Datum
hashring_node_conninfo(PG_FUNCTION_ARGS)
{
	char		  *server = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		  *node = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char	 **keys;
	const char	 **vals;
	bool		   password_required;
	int			   n = hashring_fdw_options(server, node, GetUserId(), 0, &keys, &vals, &password_required);
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		appendStringInfo(&buf, "%s%s='", i > 0 ? " " : "", keys[i]);
		for (const char *c = vals[i]; *c; c++)
		{
			if (*c == '\\' || *c == '\'')
				appendStringInfoChar(&buf, '\\');
			appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '\'');
	}
	PG_RETURN_TEXT_P(cstring_to_text(buf.data));
}

/*
 * _shard_move_slot(src_server text, src_node text, slot text) -> text: the
 * first step of a logical move's copy.  Creates the logical replication
 * slot `slot` (pgoutput) on the old node over a replication connection,
 * exporting the snapshot of its consistent point, and begins this
 * transaction's remote transaction to the old node (the channel
 * _shard_transfer reads from) on that snapshot: the copy then holds every
 * row committed before the slot's first change, and the subscription
 * (created on the slot, without a copy of its own) streams every change
 * after it.  What CREATE SUBSCRIPTION's table synchronization does, with
 * the copy as fast as a block_writes move's.  Returns the consistent
 * point.  The slot stays (a failed or killed move's is dropped by
 * _shard_move_cleanup); the replication connection closes here, once the
 * snapshot is imported.
 */
Datum
hashring_shard_move_slot(PG_FUNCTION_ARGS)
{
	char		*server = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char		*node = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char		*slot = text_to_cstring(PG_GETARG_TEXT_PP(2));
	HashringConn repl = {.server = server, .node = node, .who = "move_shard"};
	char *volatile lsn = NULL;

	PG_TRY();
	{
		PGresult *res;
		char	 *snapshot;

		hashring_conn_open_replication(&repl, "hashring", "database");
		if (PQsetnonblocking(repl.conn, 1) != 0)
			hashring_conn_error(&repl, "connecting");
		res = hashring_conn_exec(&repl,
								 psprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export')",
										  quote_identifier(slot)),
								 0, NULL, PGRES_TUPLES_OK, "creating the replication slot of the move");
		if (PQntuples(res) != 1 || PQnfields(res) < 3 || PQgetisnull(res, 0, 2))
		{
			PQclear(res);
			ereport(ERROR,
					(errcode(ERRCODE_PROTOCOL_VIOLATION),
					 errmsg("node \"%s\" did not export a snapshot with replication slot \"%s\"", node, slot)));
		}
		lsn = pstrdup(PQgetvalue(res, 0, 1));
		snapshot = pstrdup(PQgetvalue(res, 0, 2));
		PQclear(res);
		hashring_xact_conn_snapshot(server, "move_shard:source", node, "move_shard", snapshot);
	}
	PG_FINALLY();
	{
		hashring_conn_close(&repl);
	}
	PG_END_TRY();
	PG_RETURN_TEXT_P(cstring_to_text(lsn));
}
