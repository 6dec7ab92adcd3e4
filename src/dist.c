/*-------------------------------------------------------------------------
 *
 * dist.c
 *	  Distributed tables: the utility hook that sends COPY (copy.c) and
 *	  schema changes (ddl.c) of a distributed table their own way, the
 *	  catalog lookups they share, and the C helpers of the SQL procedures
 *	  that create and remove distributed tables (hashring--0.8.sql):
 *	  _shard_exec (a statement in the remote transaction bound to the local
 *	  one, conn.c), _table_partition (the partition PostgreSQL routes a key
 *	  to), _inject and _prevent_transaction_block.
 *
 * Locks: none of its own; the lookups read hashring.distributed_tables
 * with the caller's snapshot.  Remote transactions: those of conn.c,
 * committed at the local PRE_COMMIT.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "access/genam.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"

#include "conn.h"
#include "dist.h"

PG_FUNCTION_INFO_V1(hashring_shard_exec);
PG_FUNCTION_INFO_V1(hashring_ddl_guard);
PG_FUNCTION_INFO_V1(hashring_node_command);
PG_FUNCTION_INFO_V1(hashring_table_partition);
PG_FUNCTION_INFO_V1(hashring_inject_point);
PG_FUNCTION_INFO_V1(hashring_prevent_transaction_block);

static ProcessUtility_hook_type dist_prev_utility = NULL;

/* utility statements under way that went through dist_utility */
static int dist_hook_depth = 0;

/* ------------------------------------------------------------------------
 * the catalog
 * ---------------------------------------------------------------------- */

/*
 * Whether this database has hashring 0.8's catalog of distributed tables
 * (the extension created, and updated to 0.8 or later).
 */
bool
hashring_dist_catalog_ready(void)
{
	Oid nsp;

	if (!IsTransactionState() || !OidIsValid(get_extension_oid("hashring", true)))
		return false;
	nsp = get_namespace_oid("hashring", true);
	return OidIsValid(nsp) && OidIsValid(get_relname_relid("distributed_tables", nsp));
}

/*
 * SPI as the extension's owner, for the catalog reads and writes of the
 * hooks: whoever runs COPY or ALTER TABLE needs no rights on hashring's
 * tables.  Queries name every object with its schema.
 */
void
hashring_dist_spi_begin(HashringDistSpi *st)
{
	Oid			ext = get_extension_oid("hashring", false);
	Oid			owner = InvalidOid;
	HeapTuple	tup;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber, F_OIDEQ, ObjectIdGetDatum(ext));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		owner = ((Form_pg_extension) GETSTRUCT(tup))->extowner;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	if (!OidIsValid(owner))
		elog(ERROR, "extension hashring has no owner");
	GetUserIdAndSecContext(&st->saved_user, &st->saved_sec);
	SetUserIdAndSecContext(owner, st->saved_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	SPI_connect();
}

void
hashring_dist_spi_end(HashringDistSpi *st)
{
	SPI_finish();
	SetUserIdAndSecContext(st->saved_user, st->saved_sec);
}

/* Whether the current user owns relation relid (or is a member of its owner). */
bool
hashring_is_owner(Oid relid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(RelationRelationId, relid, GetUserId());
#else
	return pg_class_ownercheck(relid, GetUserId());
#endif
}

/* Whether relid is a distributed table (hashring.distributed_tables). */
bool
hashring_dist_is_distributed(Oid relid)
{
	Oid	  argtypes[1] = {OIDOID};
	Datum args[1] = {ObjectIdGetDatum(relid)};
	bool  found;

	HashringDistSpi st;

	if (!OidIsValid(relid) || !hashring_dist_catalog_ready())
		return false;
	hashring_dist_spi_begin(&st);
	if (SPI_execute_with_args("SELECT 1 FROM hashring.distributed_tables WHERE tbl OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read hashring.distributed_tables");
	found = SPI_processed > 0;
	hashring_dist_spi_end(&st);
	return found;
}

/* ------------------------------------------------------------------------
 * the utility hook
 * ---------------------------------------------------------------------- */

/* The rest of the utility chain: the hook installed before ours, or PostgreSQL's. */
void
hashring_dist_next_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
						   ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv,
						   DestReceiver *dest, QueryCompletion *qc)
{
	if (dist_prev_utility)
		dist_prev_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
}

static void
dist_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, ProcessUtilityContext context,
			 ParamListInfo params, QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node *stmt = pstmt->utilityStmt;

	dist_hook_depth++;
	PG_TRY();
	{
		if (IsA(stmt, CopyStmt) ? !hashring_copy_utility(pstmt, queryString, qc)
								: !hashring_ddl_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv,
														dest, qc))
			hashring_dist_next_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		dist_hook_depth--;
	}
	PG_END_TRY();
}

/*
 * The event trigger hashring_ddl_guard (ddl_command_start): a schema
 * change that did not go through dist_utility -- hashring was loaded only
 * by this trigger, after the statement had started -- must not change a
 * distributed table here alone.  It is refused; in this session hashring
 * is loaded now, so the same statement run again goes through ddl.c.
 */
Datum
hashring_ddl_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_EVENT_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hashring._ddl_guard() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (dist_hook_depth == 0 && hashring_ddl_targets_distributed(trigdata->parsetree))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("hashring was not loaded when this statement on a distributed table started"),
				 errdetail("Its shard tables would have been left out of step."),
				 errhint("Run the statement again (hashring is loaded in this session now), and add hashring to "
						 "shared_preload_libraries or session_preload_libraries.")));
	PG_RETURN_VOID();
}

/* Installs the utility hook and the remote transactions' callbacks. */
void
hashring_dist_init(void)
{
	dist_prev_utility = ProcessUtility_hook;
	ProcessUtility_hook = dist_utility;
	hashring_conn_init();
}

/* ------------------------------------------------------------------------
 * SQL-callable helpers
 * ---------------------------------------------------------------------- */

/*
 * Runs sql on c; returns the first column of the first row of its last
 * result, or NULL.
 */
static text *
dist_exec(HashringConn *c, const char *sql)
{
	PGresult *last = NULL;
	text	 *result = NULL;

	if (!PQsendQuery(c->conn, sql))
		hashring_conn_error(c, "sending a statement");
	for (;;)
	{
		PGresult *res;

		while (PQisBusy(c->conn))
		{
			hashring_conn_wait(c->conn, false);
			if (!PQconsumeInput(c->conn))
				hashring_conn_error(c, "waiting for a result");
		}
		res = PQgetResult(c->conn);
		if (res == NULL)
			break;
		if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			if (last)
				PQclear(last);
			/*
			 * read the rest, so that the connection is ready for the rollback
			 * (waiting only while there is more to come: the server may have
			 * sent everything with the error)
			 */
			while (PQisBusy(c->conn))
			{
				hashring_conn_wait(c->conn, false);
				if (!PQconsumeInput(c->conn))
					break;
			}
			hashring_conn_result_error(c, res, "running a statement");
		}
		if (last)
			PQclear(last);
		last = res;
	}
	if (last && PQresultStatus(last) == PGRES_TUPLES_OK && PQntuples(last) > 0 && PQnfields(last) > 0 &&
		!PQgetisnull(last, 0, 0))
		result = cstring_to_text(PQgetvalue(last, 0, 0));
	if (last)
		PQclear(last);
	return result;
}

/*
 * _shard_exec(server text, node text, sql text, channel text) returns
 * text: runs sql in the remote transaction bound to this one on server and
 * channel (conn.c); returns the first column of the first row of its last
 * result, or NULL.
 */
Datum
hashring_shard_exec(PG_FUNCTION_ARGS)
{
	HashringConn *c;
	text		 *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("server, node, statement and channel must not be null")));
	c = hashring_xact_conn(text_to_cstring(PG_GETARG_TEXT_PP(0)), text_to_cstring(PG_GETARG_TEXT_PP(3)),
						   text_to_cstring(PG_GETARG_TEXT_PP(1)), "hashring");
	result = dist_exec(c, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

/*
 * _node_command(server text, node text, sql text) returns text: runs sql
 * on a connection of its own, committed at once (what must not wait for
 * this transaction, such as a schema that several bound connections
 * create tables in).
 */
Datum
hashring_node_command(PG_FUNCTION_ARGS)
{
	HashringConn c = {0};
	text *volatile result = NULL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("server, node and statement must not be null")));
	c.server = text_to_cstring(PG_GETARG_TEXT_PP(0));
	c.node = text_to_cstring(PG_GETARG_TEXT_PP(1));
	c.who = "hashring";
	PG_TRY();
	{
		hashring_conn_open(&c, "hashring");
		hashring_conn_command(&c, "SET search_path = pg_catalog, pg_temp", "setting up the session");
		result = dist_exec(&c, text_to_cstring(PG_GETARG_TEXT_PP(2)));
	}
	PG_FINALLY();
	{
		hashring_conn_close(&c);
	}
	PG_END_TRY();
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

/*
 * _table_partition(tbl regclass, key anyelement) returns regclass: the
 * partition of hash-partitioned tbl that PostgreSQL routes a row with this
 * key to (the key converted to the partition key's type, through text when
 * the types differ); NULL when tbl is NULL.
 */
Datum
hashring_table_partition(PG_FUNCTION_ARGS)
{
	Oid			  relid;
	Relation	  rel;
	PartitionKey  pkey;
	PartitionDesc pdesc;
	Oid			  argtype = get_fn_expr_argtype(fcinfo->flinfo, 1);
	Datum		  value = PG_GETARG_DATUM(1);
	bool		  isnull = PG_ARGISNULL(1);
	uint64		  hash;
	int			  index;
	Oid			  result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	rel = try_relation_open(relid, AccessShareLock);
	if (rel == NULL)
		ereport(ERROR, (errcode(ERRCODE_UNDEFINED_TABLE), errmsg("relation with OID %u does not exist", relid)));
	if (rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE ||
		RelationGetPartitionKey(rel)->strategy != PARTITION_STRATEGY_HASH ||
		RelationGetPartitionKey(rel)->partnatts != 1)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%s\" is not a distributed table", RelationGetRelationName(rel)),
				 errhint("CALL hashring.distribute_table(...) makes it one.")));
	pkey = RelationGetPartitionKey(rel);
	if (!isnull && argtype != pkey->parttypid[0])
	{
		Oid	  outfn;
		Oid	  infn;
		Oid	  ioparam;
		bool  varlena;
		char *str;

		if (argtype == UNKNOWNOID)
			str = DatumGetCString(value);
		else
		{
			getTypeOutputInfo(argtype, &outfn, &varlena);
			str = OidOutputFunctionCall(outfn, value);
		}
		getTypeInputInfo(pkey->parttypid[0], &infn, &ioparam);
		value = OidInputFunctionCall(infn, str, ioparam, pkey->parttypmod[0]);
	}
	hash = compute_partition_hash_value(1, pkey->partsupfunc, pkey->partcollation, &value, &isnull);
	pdesc = RelationGetPartitionDesc(rel, true);
	if (pdesc->nparts == 0 || pdesc->boundinfo == NULL ||
		(index = pdesc->boundinfo->indexes[hash % (uint64) pdesc->boundinfo->nindexes]) < 0)
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_NULL();
	}
	result = pdesc->oids[index];
	relation_close(rel, AccessShareLock);
	PG_RETURN_OID(result);
}

/* _inject(step text): the injection point of that step (settings.h). */
Datum
hashring_inject_point(PG_FUNCTION_ARGS)
{
	char *step = text_to_cstring(PG_GETARG_TEXT_PP(0));

	hashring_inject(step);
	PG_RETURN_VOID();
}

/* _prevent_transaction_block(what text): what must run outside a transaction block. */
Datum
hashring_prevent_transaction_block(PG_FUNCTION_ARGS)
{
	char *what = text_to_cstring(PG_GETARG_TEXT_PP(0));

	PreventInTransactionBlock(true, what);
	PG_RETURN_VOID();
}
