/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  Schema changes of distributed tables: the ones that can reach every
 *	  shard's table reach it in the same command; the others are refused,
 *	  saying what to do instead.
 *
 *	  ALTER TABLE ... ADD COLUMN, DROP COLUMN, ALTER COLUMN TYPE (without
 *	  USING), ALTER COLUMN SET/DROP DEFAULT, SET/DROP NOT NULL, RENAME
 *	  COLUMN: run here first (PostgreSQL changes the table and its foreign
 *	  partitions), then the same change on every shard table.
 *	  CREATE INDEX: on every shard table (a partitioned table whose
 *	  partitions are foreign tables has no index here), recorded in
 *	  hashring.distributed_indexes; DROP INDEX of such an index: dropped on
 *	  every shard.  OWNER TO, RENAME TO, SET SCHEMA and the statistics
 *	  settings concern this server only and pass.  DROP TABLE of a
 *	  distributed table or of one of its partitions, and every other
 *	  ALTER TABLE form, are refused (SQLSTATE 0A000).
 *
 * Locks: the statement's own (ALTER TABLE takes ACCESS EXCLUSIVE on the
 * table here; CREATE INDEX takes SHARE), taken before any shard changes.
 * Remote transactions: one per shard server (conn.c, channel "ddl"), in
 * which every shard table of that server is changed; they commit at the
 * local PRE_COMMIT, before the local commit, so a failure on any shard
 * before that fails the command and changes nothing anywhere.  (A server
 * that fails its COMMIT after another committed leaves that one changed
 * and the command failed: docs/distributed.md, "Limits".)
 *
 * Catalog reads and writes run as the extension's owner (the caller's
 * rights were checked by PostgreSQL's own command, or here: only the
 * table's owner may create or drop its indexes).
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/xact.h"
#include "storage/lmgr.h"
#include "catalog/partition.h"
#include "catalog/namespace.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"

#include "conn.h"
#include "dist.h"

PG_FUNCTION_INFO_V1(hashring_ddl_internal);

/* statements of hashring's own (_ddl_internal) under way: not refused */
static int ddl_internal_depth = 0;

/* one shard table, with the server that holds it */
typedef struct DdlShard
{
	char *table;  /* schema.table there, quoted */
	char *server; /* the partition's foreign server */
	char *node;
} DdlShard;

/* ------------------------------------------------------------------------
 * the catalog, as the extension's owner
 * ---------------------------------------------------------------------- */

/* The shard tables of distributed table relid, in shard order. */
static DdlShard *
ddl_shards(Oid relid, int *n)
{
	HashringDistSpi st;
	Oid				argtypes[1] = {OIDOID};
	Datum			args[1] = {ObjectIdGetDatum(relid)};
	DdlShard	   *shards;
	MemoryContext	cxt = CurrentMemoryContext;

	hashring_dist_spi_begin(&st);
	if (SPI_execute_with_args("SELECT s.shard_table, v.srvname::text, s.node FROM hashring.shards AS s"
							  " JOIN pg_catalog.pg_foreign_table AS f ON f.ftrelid OPERATOR(pg_catalog.=) s.partition"
							  " JOIN pg_catalog.pg_foreign_server AS v ON v.oid OPERATOR(pg_catalog.=) f.ftserver"
							  " WHERE s.tbl OPERATOR(pg_catalog.=) $1 ORDER BY s.shard",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read hashring.shards");
	*n = (int) SPI_processed;
	shards = MemoryContextAlloc(cxt, sizeof(DdlShard) * Max(*n, 1));
	for (int i = 0; i < *n; i++)
	{
		HeapTuple t = SPI_tuptable->vals[i];
		TupleDesc d = SPI_tuptable->tupdesc;

		shards[i].table = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 1));
		shards[i].server = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 2));
		shards[i].node = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 3));
	}
	hashring_dist_spi_end(&st);
	return shards;
}

/* Runs sql (a format with one %s: the shard table) on every shard table. */
static void
ddl_on_shards(Oid relid, const char *fmt)
{
	int		  n;
	DdlShard *shards = ddl_shards(relid, &n);

	for (int i = 0; i < n; i++)
	{
		HashringConn *c = hashring_xact_conn(shards[i].server, "ddl", shards[i].node, "schema change");

		hashring_conn_command(c, psprintf(fmt, shards[i].table), "changing a shard table");
	}
}

/* The distributed table a partition belongs to, or InvalidOid. */
static Oid
ddl_partition_parent(Oid relid)
{
	Oid parent;

	if (!get_rel_relispartition(relid))
		return InvalidOid;
	parent = get_partition_parent(relid, true);
	return hashring_dist_is_distributed(parent) ? parent : InvalidOid;
}

/* ------------------------------------------------------------------------
 * ALTER TABLE
 * ---------------------------------------------------------------------- */

static void
ddl_refuse(const char *what, Oid relid) __attribute__((noreturn));

static void
ddl_refuse(const char *what, Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("%s is not supported on distributed table \"%s\"", what, get_rel_name(relid)),
			 errdetail("The shard tables on the nodes would be left out of step."),
			 errhint("Distributed tables take ADD, DROP, RENAME and ALTER COLUMN ... TYPE (without USING), SET/DROP "
					 "DEFAULT and NOT NULL, CREATE and DROP INDEX.  For anything else CALL "
					 "hashring.undistribute_table(), change the table, and distribute it again.")));
}

/* Whether the column is NOT NULL now. */
static bool
ddl_column_notnull(Oid relid, const char *column)
{
	HeapTuple tup = SearchSysCacheAttName(relid, column);
	bool	  notnull;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "column \"%s\" of relation %u does not exist", column, relid);
	notnull = ((Form_pg_attribute) GETSTRUCT(tup))->attnotnull;
	ReleaseSysCache(tup);
	return notnull;
}

/* The column's definition as the table now has it: type, collation. */
static char *
ddl_column_type(Oid relid, const char *column)
{
	AttrNumber		  att = get_attnum(relid, column);
	HeapTuple		  tup;
	Form_pg_attribute a;
	char			 *type;

	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(att));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "column \"%s\" of relation %u does not exist", column, relid);
	a = (Form_pg_attribute) GETSTRUCT(tup);
	type = format_type_with_typemod(a->atttypid, a->atttypmod);
	if (OidIsValid(a->attcollation) && a->attcollation != get_typcollation(a->atttypid))
		type = psprintf("%s COLLATE %s", type, generate_collation_name(a->attcollation));
	ReleaseSysCache(tup);
	return type;
}

/*
 * The column's default as the table now has it, when it needs nothing of
 * this database (a sequence, a function of its own): else NULL, and the
 * shards have none (rows come through here, where the default applies).
 */
static char *
ddl_column_default(Oid relid, const char *column)
{
	HashringDistSpi st;
	Oid				argtypes[2] = {OIDOID, INT2OID};
	Datum			args[2] = {ObjectIdGetDatum(relid), Int16GetDatum(get_attnum(relid, column))};
	char		   *result = NULL;
	MemoryContext	cxt = CurrentMemoryContext;

	hashring_dist_spi_begin(&st);
	if (SPI_execute_with_args("SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid) FROM pg_catalog.pg_attrdef AS d"
							  " WHERE d.adrelid OPERATOR(pg_catalog.=) $1 AND d.adnum OPERATOR(pg_catalog.=) $2"
							  " AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend AS p"
							  "   WHERE p.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass"
							  "     AND p.objid OPERATOR(pg_catalog.=) d.oid"
							  "     AND NOT (p.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass"
							  "              AND p.refobjid OPERATOR(pg_catalog.=) $1))",
							  2, argtypes, args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_attrdef");
	if (SPI_processed > 0)
		result = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	hashring_dist_spi_end(&st);
	return result;
}

/* Checks every subcommand before anything runs. */
static void
ddl_alter_check(AlterTableStmt *stmt, Oid relid)
{
	ListCell *lc;

	foreach (lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);

		switch (cmd->subtype)
		{
			case AT_AddColumn:
			{
				ColumnDef *def = (ColumnDef *) cmd->def;
				ListCell  *c;

				if (def->identity || def->generated)
					ddl_refuse("ADD COLUMN with an identity or generated column", relid);
				foreach (c, def->constraints)
				{
					Constraint *con = lfirst(c);

					if (con->contype != CONSTR_NOTNULL && con->contype != CONSTR_NULL &&
						con->contype != CONSTR_DEFAULT)
						ddl_refuse("ADD COLUMN with a constraint other than NOT NULL or DEFAULT", relid);
				}
				break;
			}
			case AT_AlterColumnType:
				if (((ColumnDef *) cmd->def)->raw_default != NULL)
					ddl_refuse("ALTER COLUMN ... TYPE ... USING", relid);
				break;
			case AT_DropColumn:
			case AT_ColumnDefault:
			case AT_SetNotNull:
			case AT_DropNotNull:
			case AT_ChangeOwner:
			case AT_SetStatistics:
				break;
			default:
				ddl_refuse("this form of ALTER TABLE", relid);
		}
	}
}

/* After the local change: the same change on every shard table. */
static void
ddl_alter_shards(AlterTableStmt *stmt, Oid relid)
{
	StringInfoData sql;
	ListCell	  *lc;

	initStringInfo(&sql);
	foreach (lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst(lc);
		const char	  *col = cmd->name;
		char		  *part = NULL;

		switch (cmd->subtype)
		{
			case AT_AddColumn:
			{
				ColumnDef *def = (ColumnDef *) cmd->def;
				char	  *dflt;

				col = def->colname;
				if (get_attnum(relid, col) == InvalidAttrNumber)
					break; /* IF NOT EXISTS, and it did */
				dflt = ddl_column_default(relid, col);
				part = psprintf("ADD COLUMN %s%s %s%s%s", cmd->missing_ok ? "IF NOT EXISTS " : "",
								quote_identifier(col), ddl_column_type(relid, col),
								dflt ? psprintf(" DEFAULT %s", dflt) : "",
								ddl_column_notnull(relid, col) ? " NOT NULL" : "");
				break;
			}
			case AT_DropColumn:
				part = psprintf("DROP COLUMN %s%s%s", cmd->missing_ok ? "IF EXISTS " : "", quote_identifier(col),
								cmd->behavior == DROP_CASCADE ? " CASCADE" : "");
				break;
			case AT_AlterColumnType:
				part = psprintf("ALTER COLUMN %s TYPE %s", quote_identifier(col), ddl_column_type(relid, col));
				break;
			case AT_ColumnDefault:
			{
				char *dflt = cmd->def ? ddl_column_default(relid, col) : NULL;

				part = dflt ? psprintf("ALTER COLUMN %s SET DEFAULT %s", quote_identifier(col), dflt)
							: psprintf("ALTER COLUMN %s DROP DEFAULT", quote_identifier(col));
				break;
			}
			case AT_SetNotNull:
				part = psprintf("ALTER COLUMN %s SET NOT NULL", quote_identifier(col));
				break;
			case AT_DropNotNull:
				part = psprintf("ALTER COLUMN %s DROP NOT NULL", quote_identifier(col));
				break;
			default:
				break; /* this server only */
		}
		if (part)
			appendStringInfo(&sql, "%s%s", sql.len ? ", " : "ALTER TABLE %s ", part);
	}
	if (sql.len > 0)
		ddl_on_shards(relid, sql.data);
}

/* ------------------------------------------------------------------------
 * CREATE INDEX and DROP INDEX
 * ---------------------------------------------------------------------- */

/*
 * Runs, on every shard table of relid, the statement that makes (make) or
 * drops the recorded index name (each shard's copy is <name>_<shard>, in
 * the shard table's schema).
 */
static void
ddl_index_on_shards(Oid relid, const char *name, bool make)
{
	HashringDistSpi st;
	Oid				argtypes[2] = {OIDOID, NAMEOID};
	Datum			args[2] = {ObjectIdGetDatum(relid), CStringGetDatum(name)};
	MemoryContext	cxt = CurrentMemoryContext;
	int				n;
	DdlShard	   *todo;

	hashring_dist_spi_begin(&st);
	if (SPI_execute_with_args(psprintf("SELECT %s, v.srvname::text, s.node"
									   " FROM hashring.shards AS s"
									   " JOIN hashring.distributed_indexes AS x ON x.tbl OPERATOR(pg_catalog.=) s.tbl"
									   " JOIN pg_catalog.pg_foreign_table AS f ON f.ftrelid OPERATOR(pg_catalog.=) s.partition"
									   " JOIN pg_catalog.pg_foreign_server AS v ON v.oid OPERATOR(pg_catalog.=) f.ftserver"
									   " WHERE s.tbl OPERATOR(pg_catalog.=) $1 AND x.name OPERATOR(pg_catalog.=) $2"
									   " ORDER BY s.shard",
									   make ? "hashring._shard_index_sql(s.shard_table, s.shard, x.name, x.kind, x.definition)"
											: "pg_catalog.format('DROP INDEX IF EXISTS %I.%I', (pg_catalog.parse_ident(s.shard_table))[1],"
											  " hashring._shard_name(x.name, s.shard))"),
							  2, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read hashring.distributed_indexes");
	n = (int) SPI_processed;
	todo = MemoryContextAlloc(cxt, sizeof(DdlShard) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple t = SPI_tuptable->vals[i];
		TupleDesc d = SPI_tuptable->tupdesc;

		todo[i].table = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 1)); /* the statement */
		todo[i].server = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 2));
		todo[i].node = MemoryContextStrdup(cxt, SPI_getvalue(t, d, 3));
	}
	hashring_dist_spi_end(&st);
	for (int i = 0; i < n; i++)
	{
		HashringConn *c = hashring_xact_conn(todo[i].server, "ddl", todo[i].node, "schema change");

		hashring_conn_command(c, todo[i].table, make ? "creating an index" : "dropping an index");
	}
}

/* Inserts (kind != 0) or deletes the catalog row of index name of relid; returns whether a row changed. */
static bool
ddl_index_record(Oid relid, const char *name, char kind, const char *def)
{
	HashringDistSpi st;
	Oid				argtypes[4] = {OIDOID, NAMEOID, CHAROID, TEXTOID};
	Datum			args[4] = {ObjectIdGetDatum(relid), CStringGetDatum(name), CharGetDatum(kind),
					   def ? CStringGetTextDatum(def) : (Datum) 0};
	bool			changed;

	hashring_dist_spi_begin(&st);
	if (kind)
		SPI_execute_with_args("INSERT INTO hashring.distributed_indexes (tbl, name, kind, definition)"
							  " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
							  4, argtypes, args, NULL, false, 0);
	else
		SPI_execute_with_args("DELETE FROM hashring.distributed_indexes AS x"
							  " WHERE x.tbl OPERATOR(pg_catalog.=) $1 AND x.name OPERATOR(pg_catalog.=) $2",
							  2, argtypes, args, NULL, false, 0);
	changed = SPI_processed > 0;
	hashring_dist_spi_end(&st);
	return changed;
}

/*
 * CREATE INDEX on a distributed table: PostgreSQL builds the index on an
 * empty temporary table of the same columns (so that its own code checks,
 * names and describes it), and pg_get_indexdef's definition is made on
 * every shard table and recorded.
 */
static void
ddl_create_index(PlannedStmt *pstmt, IndexStmt *stmt, Oid relid, const char *queryString, ParamListInfo params,
				 QueryEnvironment *queryEnv)
{
	const char	 *relname = get_rel_name(relid);
	const char	 *qualified = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);
	Relation	  rel = table_open(relid, ShareLock);
	char		 *keyname = get_attname(relid, RelationGetPartitionKey(rel)->partattrs[0], false);
	IndexStmt	 *copy;
	PlannedStmt	 *wrap;
	MemoryContext cxt = CurrentMemoryContext;
	char		 *name;
	char		 *def;
	bool		  unique;
	bool		  has_key;

	table_close(rel, NoLock);
	if (!hashring_is_owner(relid))
		aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_TABLE, relname);
	if (stmt->concurrent)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("CREATE INDEX CONCURRENTLY is not supported on distributed table \"%s\"", relname),
				 errhint("Use CREATE INDEX: it builds the index on every shard table, one transaction per node.")));

	SPI_connect();
	if (SPI_execute(psprintf("CREATE TEMP TABLE %s (LIKE %s)", quote_identifier(relname), qualified), false, 0) !=
		SPI_OK_UTILITY)
		elog(ERROR, "could not create the scratch table");
	SPI_finish();
	copy = copyObject(stmt);
	copy->relation = makeRangeVar("pg_temp", pstrdup(relname), -1);
	copy->if_not_exists = false;
	wrap = makeNode(PlannedStmt);
	wrap->commandType = CMD_UTILITY;
	wrap->utilityStmt = (Node *) copy;
	wrap->stmt_location = pstmt->stmt_location;
	wrap->stmt_len = pstmt->stmt_len;
	hashring_dist_next_utility(wrap, queryString, false, PROCESS_UTILITY_SUBCOMMAND, params, queryEnv, None_Receiver,
							   NULL);
	CommandCounterIncrement();

	SPI_connect();
	{
		Oid	  argtypes[1] = {NAMEOID};
		Datum args[1] = {CStringGetDatum(keyname)};

		if (SPI_execute_with_args(
				psprintf("SELECT c.relname, pg_catalog.substring(pg_catalog.pg_get_indexdef(i.indexrelid), ' USING (.*)$'),"
						 " i.indisunique, (SELECT a.attnum FROM pg_catalog.pg_attribute AS a"
						 "   WHERE a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attname OPERATOR(pg_catalog.=) $1)"
						 "   OPERATOR(pg_catalog.=) ANY (i.indkey::pg_catalog.int2[])"
						 " FROM pg_catalog.pg_index AS i JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) i.indexrelid"
						 " WHERE i.indrelid OPERATOR(pg_catalog.=) 'pg_temp.%s'::pg_catalog.regclass",
						 quote_identifier(relname)),
				1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "could not read the scratch index");
	}
	name = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1));
	def = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	unique = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3), "t") == 0;
	has_key = strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4), "t") == 0;
	SPI_execute(psprintf("DROP TABLE pg_temp.%s", quote_identifier(relname)), false, 0);
	SPI_finish();

	if (unique && !has_key)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unique index \"%s\" on distributed table \"%s\" must include the key column \"%s\"", name, relname,
						keyname),
				 errdetail("Each shard enforces its own indexes: a unique index without the key cannot hold over the table.")));
	if (OidIsValid(get_relname_relid(name, get_rel_namespace(relid))) || !ddl_index_record(relid, name, unique ? 'x' : 'i', def))
	{
		if (stmt->if_not_exists)
		{
			ereport(NOTICE, (errmsg("relation \"%s\" already exists, skipping", name)));
			return;
		}
		ereport(ERROR, (errcode(ERRCODE_DUPLICATE_TABLE), errmsg("relation \"%s\" already exists", name)));
	}
	ddl_index_on_shards(relid, name, true);
}

/*
 * The distributed table whose recorded index `names` (a DROP INDEX
 * object: [schema.]name) is, with no index of that name here; else
 * InvalidOid.
 */
static Oid
ddl_recorded_index(List *names, char **name)
{
	RangeVar	   *rv = makeRangeVarFromNameList(names);
	HashringDistSpi st;
	Oid				argtypes[2] = {NAMEOID, NAMEOID};
	Datum			args[2];
	char			nulls[2] = {' ', ' '};
	Oid				relid = InvalidOid;
	bool			isnull;

	if (OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		return InvalidOid;
	args[0] = CStringGetDatum(rv->relname);
	args[1] = CStringGetDatum(rv->schemaname ? rv->schemaname : "");
	if (rv->schemaname == NULL)
		nulls[1] = 'n';
	*name = rv->relname;
	hashring_dist_spi_begin(&st);
	if (SPI_execute_with_args("SELECT x.tbl::pg_catalog.oid FROM hashring.distributed_indexes AS x"
							  " JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) x.tbl"
							  " JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
							  " WHERE x.name OPERATOR(pg_catalog.=) $1 AND (n.nspname OPERATOR(pg_catalog.=) $2"
							  "   OR ($2 IS NULL AND n.nspname OPERATOR(pg_catalog.=) ANY (pg_catalog.current_schemas(false))))"
							  " ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname::text) LIMIT 1",
							  2, argtypes, args, nulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read hashring.distributed_indexes");
	if (SPI_processed > 0)
		relid = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	hashring_dist_spi_end(&st);
	return relid;
}

/* DROP INDEX: the recorded indexes of distributed tables are dropped here; returns the others. */
static List *
ddl_drop_indexes(DropStmt *stmt)
{
	List	 *rest = NIL;
	ListCell *lc;

	foreach (lc, stmt->objects)
	{
		char *name;
		Oid	  relid = ddl_recorded_index(lfirst(lc), &name);

		if (!OidIsValid(relid))
		{
			rest = lappend(rest, lfirst(lc));
			continue;
		}
		if (stmt->concurrent)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DROP INDEX CONCURRENTLY is not supported on distributed table \"%s\"", get_rel_name(relid))));
		LockRelationOid(relid, AccessExclusiveLock);
		if (!hashring_is_owner(relid))
			aclcheck_error(ACLCHECK_NOT_OWNER, OBJECT_INDEX, name);
		ddl_index_on_shards(relid, name, false);
		(void) ddl_index_record(relid, name, 0, NULL);
	}
	return rest;
}

/* ------------------------------------------------------------------------
 * the dispatcher
 * ---------------------------------------------------------------------- */

/*
 * Whether a statement ddl.c handles or refuses concerns a distributed
 * table (or one of its partitions or recorded indexes): for the event
 * trigger that guards statements which did not go through the hook.
 */
bool
hashring_ddl_targets_distributed(Node *stmt)
{
	RangeVar *rv = NULL;
	Oid		  relid;

	if (stmt == NULL || !hashring_dist_catalog_ready())
		return false;
	switch (nodeTag(stmt))
	{
		case T_AlterTableStmt:
			rv = ((AlterTableStmt *) stmt)->relation;
			break;
		case T_RenameStmt:
			rv = ((RenameStmt *) stmt)->relation;
			break;
		case T_IndexStmt:
			rv = ((IndexStmt *) stmt)->relation;
			break;
		case T_DropStmt:
		{
			DropStmt *d = (DropStmt *) stmt;
			ListCell *lc;

			if (d->removeType != OBJECT_TABLE && d->removeType != OBJECT_FOREIGN_TABLE &&
				d->removeType != OBJECT_INDEX)
				return false;
			foreach (lc, d->objects)
			{
				char *name;

				if (d->removeType == OBJECT_INDEX)
				{
					if (OidIsValid(ddl_recorded_index(lfirst(lc), &name)))
						return true;
					continue;
				}
				relid = RangeVarGetRelid(makeRangeVarFromNameList(lfirst(lc)), NoLock, true);
				if (hashring_dist_is_distributed(relid) || OidIsValid(ddl_partition_parent(relid)))
					return true;
			}
			return false;
		}
		default:
			return false;
	}
	if (rv == NULL)
		return false;
	relid = RangeVarGetRelid(rv, NoLock, true);
	return OidIsValid(relid) && (hashring_dist_is_distributed(relid) || OidIsValid(ddl_partition_parent(relid)));
}

/*
 * Handles, or refuses, a utility statement on a distributed table; returns
 * false when the statement is none of ddl.c's business.
 */
bool
hashring_ddl_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node *node = pstmt->utilityStmt;

	if (ddl_internal_depth > 0)
		return false;
	switch (nodeTag(node))
	{
		case T_AlterTableStmt:
		{
			AlterTableStmt *stmt = (AlterTableStmt *) node;
			Oid				relid;

			if (!hashring_dist_catalog_ready())
				return false;
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
			if (!OidIsValid(relid))
				return false;
			if (OidIsValid(ddl_partition_parent(relid)))
				ddl_refuse("ALTER on a partition (a shard)", ddl_partition_parent(relid));
			if (!hashring_dist_is_distributed(relid))
				return false;
			ddl_alter_check(stmt, relid);
			hashring_dist_next_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
			CommandCounterIncrement();
			ddl_alter_shards(stmt, relid);
			return true;
		}
		case T_RenameStmt:
		{
			RenameStmt *stmt = (RenameStmt *) node;
			Oid			relid;

			if (stmt->relation == NULL || !hashring_dist_catalog_ready())
				return false;
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
			if (!OidIsValid(relid))
				return false;
			if (OidIsValid(ddl_partition_parent(relid)) && stmt->renameType != OBJECT_TABLE &&
				stmt->renameType != OBJECT_FOREIGN_TABLE)
				ddl_refuse("RENAME on a partition (a shard)", ddl_partition_parent(relid));
			if (!hashring_dist_is_distributed(relid))
				return false;
			if (stmt->renameType == OBJECT_TABLE)
				return false; /* this server only: the shard tables keep their names */
			if (stmt->renameType != OBJECT_COLUMN)
				ddl_refuse("this form of RENAME", relid);
			hashring_dist_next_utility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
			ddl_on_shards(relid, psprintf("ALTER TABLE %%s RENAME COLUMN %s TO %s", quote_identifier(stmt->subname),
										  quote_identifier(stmt->newname)));
			return true;
		}
		case T_IndexStmt:
		{
			IndexStmt *stmt = (IndexStmt *) node;
			Oid		   relid;

			if (!hashring_dist_catalog_ready())
				return false;
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
			if (!OidIsValid(relid) || !hashring_dist_is_distributed(relid))
				return false;
			ddl_create_index(pstmt, stmt, relid, queryString, params, queryEnv);
			return true;
		}
		case T_DropStmt:
		{
			DropStmt *stmt = (DropStmt *) node;
			ListCell *lc;

			if (!hashring_dist_catalog_ready())
				return false;
			if (stmt->removeType == OBJECT_TABLE || stmt->removeType == OBJECT_FOREIGN_TABLE)
			{
				foreach (lc, stmt->objects)
				{
					Oid relid = RangeVarGetRelid(makeRangeVarFromNameList(lfirst(lc)), NoLock, true);

					if (hashring_dist_is_distributed(relid) || OidIsValid(ddl_partition_parent(relid)))
						ereport(ERROR,
								(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
								 errmsg("cannot drop \"%s\": it is a distributed table or one of its shards",
										get_rel_name(relid)),
								 errhint("CALL hashring.undistribute_table() first: it brings the rows back "
										 "and drops the shard tables.")));
				}
				return false;
			}
			if (stmt->removeType == OBJECT_INDEX)
			{
				List *rest = ddl_drop_indexes(stmt);

				if (list_length(rest) == list_length(stmt->objects))
					return false;
				if (rest != NIL)
				{
					PlannedStmt *wrap = copyObject(pstmt);

					((DropStmt *) wrap->utilityStmt)->objects = rest;
					hashring_dist_next_utility(wrap, queryString, false, context, params, queryEnv, dest, qc);
				}
				return true;
			}
			return false;
		}
		default:
			return false;
	}
}

/*
 * _ddl_internal(sql text): runs sql, partition DDL of a distributed table
 * that hashring itself makes (split_shards: DETACH PARTITION, the owner of
 * a new partition), without the refusals above; its own procedure keeps
 * the shard tables in step.  Revoked from PUBLIC.
 */
Datum
hashring_ddl_internal(PG_FUNCTION_ARGS)
{
	char *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));

	ddl_internal_depth++;
	PG_TRY();
	{
		SPI_connect();
		if (SPI_execute(sql, false, 0) < 0)
			elog(ERROR, "could not run \"%s\"", sql);
		SPI_finish();
	}
	PG_FINALLY();
	{
		ddl_internal_depth--;
	}
	PG_END_TRY();
	PG_RETURN_VOID();
}
