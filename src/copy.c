/*-------------------------------------------------------------------------
 *
 * copy.c
 *	  The COPY path of distributed tables: rows are routed to their shard
 *	  here, as PostgreSQL's tuple routing would (the partition key's hash
 *	  support function, the partition bound's remainder), and streamed in
 *	  COPY text format to each shard's table over the remote transaction
 *	  bound to the local one (conn.c), one COPY per shard.
 *
 * PostgreSQL 15's postgres_fdw sends a COPY into a foreign partition one
 * INSERT per row; later majors batch it into multi-row INSERTs.  Either way
 * far slower than a COPY on the shard's server, which this path is.  Two
 * users:
 *	- COPY ... FROM (STDIN, a file or a program) into a distributed table,
 *	  run as a transaction of its own (outside a transaction block).  Inside
 *	  a block PostgreSQL's path runs instead: postgres_fdw's own connection
 *	  must see the rows for the rest of the transaction to read its writes.
 *	  Also left to PostgreSQL: COPY with WHERE, into a table with INSERT triggers,
 *	  row-level security or generated columns, or by a role without INSERT
 *	  on the whole table or without the right to read the file or run the
 *	  program (PostgreSQL's checks then speak).
 *	- _shard_copy(src, dst), distribute_table's copy of the local rows.
 *
 * Locks: COPY takes ROW EXCLUSIVE on the table (as PostgreSQL's COPY FROM);
 * _shard_copy reads src with the caller's lock (distribute_table holds
 * EXCLUSIVE).  Remote transactions: one per shard server, opened at the
 * server's first row, committed by conn.c at the local PRE_COMMIT in the
 * order they were opened, before the local commit.  Values travel as the
 * local output functions write them: the remote session takes the local
 * DateStyle and IntervalStyle, and extra_float_digits is 3 while rows are
 * converted (floats exact whatever the session's setting).
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "commands/copy.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "parser/parse_node.h"
#include "partitioning/partbounds.h"
#include "partitioning/partdesc.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/partcache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"

#include "conn.h"
#include "dist.h"

PG_FUNCTION_INFO_V1(hashring_shard_copy);

/* bytes of COPY data gathered per shard before they are sent */
#define COPY_FLUSH_BYTES 65536

/* one partition: a shard */
typedef struct CopySink
{
	char		  *server;
	char		  *node;	 /* for messages: the node, else the server */
	char		  *table;	 /* schema.table there: the connection's channel */
	char		  *copy_sql; /* COPY schema.table (columns) FROM STDIN */
	HashringConn  *conn;	 /* bound, once the first row came */
	StringInfoData buf;
	int64		   rows;
} CopySink;

typedef struct CopyRouter
{
	const char	 *who;
	PartitionKey  pkey;
	PartitionDesc pdesc;
	CopySink	 *sinks; /* by partition index */
	int			  ncols;
	int			 *cols;	  /* source attribute indexes (0-based) sent, in order */
	FmgrInfo	 *out;	  /* their output functions */
	int			  keycol; /* source attribute index of the partition key */
	int			  guc_level;
	MemoryContext rowcxt;
	int64		  rows;
} CopyRouter;

/* Appends s to buf in COPY text format. */
static void
copy_escape(StringInfo buf, const char *s)
{
	const char *start = s;

	for (; *s; s++)
	{
		const char *rep;

		switch (*s)
		{
			case '\\':
				rep = "\\\\";
				break;
			case '\n':
				rep = "\\n";
				break;
			case '\r':
				rep = "\\r";
				break;
			case '\t':
				rep = "\\t";
				break;
			default:
				continue;
		}
		appendBinaryStringInfo(buf, start, s - start);
		appendStringInfoString(buf, rep);
		start = s + 1;
	}
	appendBinaryStringInfo(buf, start, s - start);
}

/* Each sink's node, from hashring.shards (a table being distributed has none yet). */
static void
copy_router_nodes(CopyRouter *r, Oid parent)
{
	HashringDistSpi st;
	Oid				argtypes[1] = {OIDOID};
	Datum			args[1] = {ObjectIdGetDatum(parent)};
	MemoryContext	cxt = CurrentMemoryContext;

	for (int i = 0; i < r->pdesc->nparts; i++)
		r->sinks[i].node = r->sinks[i].server;
	hashring_dist_spi_begin(&st);
	if (SPI_execute_with_args("SELECT s.partition::pg_catalog.oid, s.node FROM hashring.shards AS s"
							  " WHERE s.tbl OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read hashring.shards");
	for (uint64 j = 0; j < SPI_processed; j++)
	{
		bool isnull;
		Oid	 part = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 1, &isnull));

		for (int i = 0; i < r->pdesc->nparts; i++)
			if (r->pdesc->oids[i] == part)
				r->sinks[i].node = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[j], SPI_tuptable->tupdesc, 2));
	}
	hashring_dist_spi_end(&st);
}

/*
 * Prepares to route rows of the descriptor src into the partitions of the
 * distributed table parent: every partition must be a postgres_fdw foreign
 * table.  The columns sent are src's that are neither dropped nor
 * generated, by name.
 */
static void
copy_router_begin(CopyRouter *r, Relation parent, TupleDesc src, const char *who)
{
	TupleDesc	   pdesc_t = RelationGetDescr(parent);
	const char	  *keyname;
	StringInfoData cols;

	memset(r, 0, sizeof(*r));
	r->who = who;
	r->pkey = RelationGetPartitionKey(parent);
	r->pdesc = RelationGetPartitionDesc(parent, true);
	if (r->pkey->strategy != PARTITION_STRATEGY_HASH || r->pkey->partnatts != 1 || r->pkey->partattrs[0] == 0)
		elog(ERROR, "\"%s\" is not partitioned by the hash of one column", RelationGetRelationName(parent));
	if (r->pdesc->nparts == 0 || r->pdesc->boundinfo == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("distributed table \"%s\" has no partitions", RelationGetRelationName(parent))));
	keyname = NameStr(TupleDescAttr(pdesc_t, r->pkey->partattrs[0] - 1)->attname);

	r->cols = palloc(sizeof(int) * src->natts);
	r->out = palloc(sizeof(FmgrInfo) * src->natts);
	r->ncols = 0;
	r->keycol = -1;
	initStringInfo(&cols);
	for (int i = 0; i < src->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(src, i);
		Oid				  outfn;
		bool			  varlena;

		if (a->attisdropped || a->attgenerated)
			continue;
		if (strcmp(NameStr(a->attname), keyname) == 0)
			r->keycol = i;
		getTypeOutputInfo(a->atttypid, &outfn, &varlena);
		fmgr_info(outfn, &r->out[r->ncols]);
		r->cols[r->ncols++] = i;
		appendStringInfo(&cols, "%s%s", cols.len ? ", " : "", quote_identifier(NameStr(a->attname)));
	}
	if (r->keycol < 0)
		elog(ERROR, "the rows copied have no column \"%s\"", keyname);

	r->sinks = palloc0(sizeof(CopySink) * r->pdesc->nparts);
	for (int i = 0; i < r->pdesc->nparts; i++)
	{
		Oid			   part = r->pdesc->oids[i];
		ForeignTable  *ft;
		ForeignServer *fs;
		const char	  *schema = NULL;
		const char	  *table = NULL;
		ListCell	  *lc;

		/* as PostgreSQL's routing would: a shard move holding it waits for us, or we for it */
		LockRelationOid(part, RowExclusiveLock);
		if (get_rel_relkind(part) != RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("partition \"%s\" of distributed table \"%s\" is not a foreign table", get_rel_name(part),
							RelationGetRelationName(parent))));
		ft = GetForeignTable(part);
		fs = GetForeignServer(ft->serverid);
		foreach (lc, ft->options)
		{
			DefElem *d = lfirst(lc);

			if (strcmp(d->defname, "schema_name") == 0)
				schema = defGetString(d);
			else if (strcmp(d->defname, "table_name") == 0)
				table = defGetString(d);
		}
		if (schema == NULL)
			schema = get_namespace_name(get_rel_namespace(part));
		if (table == NULL)
			table = get_rel_name(part);
		r->sinks[i].server = fs->servername;
		r->sinks[i].table = quote_qualified_identifier(schema, table);
		r->sinks[i].copy_sql = psprintf("SET datestyle = %s; SET intervalstyle = %s; COPY %s (%s) FROM STDIN",
										quote_literal_cstr(GetConfigOption("datestyle", false, false)),
										quote_literal_cstr(GetConfigOption("intervalstyle", false, false)),
										r->sinks[i].table, cols.data);
		initStringInfo(&r->sinks[i].buf);
	}
	copy_router_nodes(r, RelationGetRelid(parent));
	r->rowcxt = AllocSetContextCreate(CurrentMemoryContext, "hashring COPY row", ALLOCSET_DEFAULT_SIZES);

	/* floats exactly, while rows are converted (output only) */
	r->guc_level = NewGUCNestLevel();
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

static void
copy_sink_send(CopySink *s)
{
	if (s->buf.len > 0)
		hashring_conn_put_copy(s->conn, s->buf.data, s->buf.len);
	resetStringInfo(&s->buf);
}

/* Routes one row (values and nulls of the source descriptor). */
static void
copy_router_row(CopyRouter *r, Datum *values, bool *nulls)
{
	PartitionBoundInfo bound = r->pdesc->boundinfo;
	uint64			   hash;
	int				   index;
	CopySink		  *s;
	MemoryContext	   old;

	hash = compute_partition_hash_value(1, r->pkey->partsupfunc, r->pkey->partcollation, &values[r->keycol],
										&nulls[r->keycol]);
	index = bound->indexes[hash % (uint64) bound->nindexes];
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("no partition of the distributed table was found for a row")));
	s = &r->sinks[index];
	if (s->conn == NULL)
	{
		s->conn = hashring_xact_conn(s->server, s->table, s->node, r->who);
		PQclear(hashring_conn_exec(s->conn, s->copy_sql, 0, NULL, PGRES_COPY_IN, "starting COPY"));
	}
	old = MemoryContextSwitchTo(r->rowcxt);
	for (int i = 0; i < r->ncols; i++)
	{
		int c = r->cols[i];

		if (i > 0)
			appendStringInfoChar(&s->buf, '\t');
		if (nulls[c])
			appendStringInfoString(&s->buf, "\\N");
		else
			copy_escape(&s->buf, OutputFunctionCall(&r->out[i], values[c]));
	}
	appendStringInfoChar(&s->buf, '\n');
	MemoryContextSwitchTo(old);
	MemoryContextReset(r->rowcxt);
	s->rows++;
	r->rows++;
	if (s->buf.len >= COPY_FLUSH_BYTES)
		copy_sink_send(s);
}

/* Ends every shard's COPY (the rows commit with the local transaction). */
static void
copy_router_end(CopyRouter *r)
{
	for (int i = 0; i < r->pdesc->nparts; i++)
	{
		CopySink *s = &r->sinks[i];

		if (s->conn == NULL)
			continue;
		copy_sink_send(s);
		hashring_conn_end_copy(s->conn, "ending COPY");
	}
	AtEOXact_GUC(true, r->guc_level);
}

/*
 * Whether a COPY into the distributed table parent would fire a trigger:
 * its own INSERT triggers (row triggers, cloned to the partitions, and
 * statement triggers), or a row-level INSERT trigger made on a partition.
 * hashring's hashring_shard_guard (UPDATE OF the key on the table, INSERT
 * on a partition named by the statement itself) never fires for it.
 */
static bool
copy_fires_insert_triggers(Relation parent)
{
	TriggerDesc	 *t = parent->trigdesc;
	PartitionDesc pd;

	if (t != NULL && (t->trig_insert_before_row || t->trig_insert_after_row || t->trig_insert_instead_row ||
					  t->trig_insert_before_statement || t->trig_insert_after_statement || t->trig_insert_new_table))
		return true;
	if (parent->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
		return false;
	pd = RelationGetPartitionDesc(parent, true);
	for (int i = 0; i < pd->nparts; i++)
	{
		Relation part = relation_open(pd->oids[i], RowExclusiveLock);
		bool	 fires = part->trigdesc != NULL &&
					 (part->trigdesc->trig_insert_before_row || part->trigdesc->trig_insert_after_row ||
					  part->trigdesc->trig_insert_instead_row || part->trigdesc->trig_insert_new_table);

		relation_close(part, NoLock);
		if (fires)
			return true;
	}
	return false;
}

/*
 * COPY ... FROM STDIN into a distributed table, when it is a transaction of
 * its own: returns false (PostgreSQL's COPY runs) in the other cases the
 * file header lists.
 */
bool
hashring_copy_utility(PlannedStmt *pstmt, const char *queryString, QueryCompletion *qc)
{
	CopyStmt	 *stmt = (CopyStmt *) pstmt->utilityStmt;
	Oid			  relid;
	Relation	  rel;
	TupleDesc	  desc;
	bool		  plain = true;
	ParseState	 *pstate;
	CopyFromState cstate;
	CopyRouter	  r;
	EState		 *estate;
	ExprContext	 *econtext;
	Datum		 *values;
	bool		 *nulls;

	if (!stmt->is_from || stmt->relation == NULL || stmt->whereClause != NULL || IsTransactionBlock() ||
		!hashring_dist_catalog_ready())
		return false;
	/* a server file or program: with the rights PostgreSQL's COPY asks for, else its error */
	if (stmt->filename != NULL &&
		!has_privs_of_role(GetUserId(), stmt->is_program ? ROLE_PG_EXECUTE_SERVER_PROGRAM : ROLE_PG_READ_SERVER_FILES))
		return false;
	relid = RangeVarGetRelid(stmt->relation, NoLock, true);
	if (!OidIsValid(relid) || !hashring_dist_is_distributed(relid))
		return false;
	rel = table_open(relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	for (int i = 0; i < desc->natts; i++)
		if (TupleDescAttr(desc, i)->attgenerated)
			plain = false;
	if (!plain || copy_fires_insert_triggers(rel) || check_enable_rls(relid, InvalidOid, true) != RLS_NONE ||
		pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		rel->rd_rel->relkind != RELKIND_PARTITIONED_TABLE)
	{
		table_close(rel, RowExclusiveLock);
		return false;
	}
	PreventCommandIfReadOnly("COPY FROM");
	PreventCommandIfParallelMode("COPY FROM");

	pstate = make_parsestate(NULL);
	pstate->p_sourcetext = queryString;
	cstate = BeginCopyFrom(pstate, rel, NULL, stmt->filename, stmt->is_program, NULL, stmt->attlist, stmt->options);
	copy_router_begin(&r, rel, desc, "hashring");
	estate = CreateExecutorState();
	econtext = GetPerTupleExprContext(estate);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(estate);
		if (!NextCopyFrom(cstate, econtext, values, nulls))
			break;
		copy_router_row(&r, values, nulls);
	}
	EndCopyFrom(cstate);
	copy_router_end(&r);
	FreeExecutorState(estate);
	hashring_inject("copy:after_rows");
	table_close(rel, NoLock);
	if (qc)
		SetQueryCompletion(qc, CMDTAG_COPY, r.rows);
	return true;
}

/*
 * _shard_copy(src regclass, dst regclass) returns bigint: every row of the
 * local table src, sent to its shard of the distributed table dst (same
 * columns by name).  The caller holds the locks (distribute_table).
 */
Datum
hashring_shard_copy(PG_FUNCTION_ARGS)
{
	Relation		src = table_open(PG_GETARG_OID(0), AccessShareLock);
	Relation		dst = table_open(PG_GETARG_OID(1), AccessShareLock);
	AclResult		acl = pg_class_aclcheck(RelationGetRelid(src), GetUserId(), ACL_SELECT);
	CopyRouter		r;
	TableScanDesc	scan;
	TupleTableSlot *slot;

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, RelationGetRelationName(src));
	copy_router_begin(&r, dst, RelationGetDescr(src), "distribute_table");
	slot = table_slot_create(src, NULL);
	scan = table_beginscan(src, GetActiveSnapshot(), 0, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		CHECK_FOR_INTERRUPTS();
		slot_getallattrs(slot);
		copy_router_row(&r, slot->tts_values, slot->tts_isnull);
	}
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	copy_router_end(&r);
	table_close(dst, NoLock);
	table_close(src, NoLock);
	PG_RETURN_INT64(r.rows);
}
