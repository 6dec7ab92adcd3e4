/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading ring definitions from the membership catalog, and the
 *	  invalidation that tells backends a ring may have changed.
 *
 * Writers: every change to hashring.rings or hashring.nodes fires the
 * statement trigger hashring._invalidate(), which registers a relcache
 * invalidation of the changed table.  That invalidation is transactional: it
 * is applied to the writer's own backend at the next CommandCounterIncrement,
 * sent to every other backend only at commit (never on rollback), and
 * WAL-logged with the commit record so that hot standbys replay it.  It
 * also marks the transaction as a membership change, which cache.c counts
 * in shared memory around the commit (the commit generation).  On a
 * logical-replication subscriber the same function runs as a row trigger
 * enabled for replicas.  At commit, hashring._check_ring() validates every
 * changed ring as a build would, so a membership that cannot be routed
 * fails its commit.
 *
 * Readers: a relcache callback bumps hashring_inval_epoch and nothing else
 * (it may run at any time, even inside a catalog scan).  cache.c compares
 * that epoch with the one it validated its entries at.
 *
 * Catalog reads use SPI with the caller's active snapshot (read_only), so a
 * transaction sees its own uncommitted membership and a REPEATABLE READ
 * transaction keeps seeing the membership of its snapshot.
 *
 * State: hashring_inval_epoch and the cached relation OIDs are per backend.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(hashring_invalidate);
PG_FUNCTION_INFO_V1(hashring_node_points);
PG_FUNCTION_INFO_V1(hashring_check_ring);
PG_FUNCTION_INFO_V1(hashring_record_version);

uint64 hashring_inval_epoch = 1;

static Oid		  catalog_rings_relid = InvalidOid;
static Oid		  catalog_nodes_relid = InvalidOid;
static bool		  catalog_callback_registered = false;
static bool		  catalog_v2 = false;				/* 0.2 catalog: table_size, node_id, slot_ranges */
static Oid		  catalog_plans_relid = InvalidOid; /* the plans below are for these */
static bool		  catalog_plans_v2 = false;
static SPIPlanPtr catalog_ring_plan = NULL;
static SPIPlanPtr catalog_nodes_plan = NULL;
static SPIPlanPtr catalog_slots_plan = NULL;
static Oid		  catalog_history_relid = InvalidOid; /* 0.2: ring_history */
static SPIPlanPtr catalog_hist_ring_plan = NULL;
static SPIPlanPtr catalog_hist_nodes_plan = NULL;
static SPIPlanPtr catalog_hist_slots_plan = NULL;

static void
catalog_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == catalog_rings_relid ||
		relid == catalog_nodes_relid || relid == catalog_history_relid)
	{
		hashring_inval_epoch++;
		/* The tables may have been dropped: look their OIDs up again. */
		if (relid != InvalidOid)
			catalog_rings_relid = catalog_nodes_relid = catalog_history_relid = InvalidOid;
	}
}

/*
 * Make sure the relcache callback is registered and we know the catalog's
 * relation OIDs.  Called before every catalog read, so that an invalidation
 * that arrives during the read is not missed.
 */
void
hashring_register_invalidation(void)
{
	if (!catalog_callback_registered)
	{
		CacheRegisterRelcacheCallback(catalog_relcache_callback, (Datum) 0);
		catalog_callback_registered = true;
	}
	if (!OidIsValid(catalog_rings_relid) || !OidIsValid(catalog_nodes_relid))
	{
		Oid nsp = get_namespace_oid("hashring", true);

		if (!OidIsValid(nsp))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"hashring\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION hashring.")));
		catalog_rings_relid = get_relname_relid("rings", nsp);
		catalog_nodes_relid = get_relname_relid("nodes", nsp);
		catalog_history_relid = get_relname_relid("ring_history", nsp);

		/*
		 * The library may be newer than the installed extension script
		 * (before ALTER EXTENSION hashring UPDATE): read the catalog of the
		 * installed version.  Plans are prepared again when that or the
		 * tables themselves changed (not on every membership change, which
		 * also lands here).
		 */
		catalog_v2 = OidIsValid(catalog_rings_relid) &&
					 get_attnum(catalog_rings_relid, "table_size") != InvalidAttrNumber;
		if (catalog_rings_relid != catalog_plans_relid || catalog_v2 != catalog_plans_v2)
		{
			if (catalog_ring_plan)
				SPI_freeplan(catalog_ring_plan);
			if (catalog_nodes_plan)
				SPI_freeplan(catalog_nodes_plan);
			if (catalog_slots_plan)
				SPI_freeplan(catalog_slots_plan);
			if (catalog_hist_ring_plan)
				SPI_freeplan(catalog_hist_ring_plan);
			if (catalog_hist_nodes_plan)
				SPI_freeplan(catalog_hist_nodes_plan);
			if (catalog_hist_slots_plan)
				SPI_freeplan(catalog_hist_slots_plan);
			catalog_ring_plan = catalog_nodes_plan = catalog_slots_plan = NULL;
			catalog_hist_ring_plan = catalog_hist_nodes_plan = catalog_hist_slots_plan = NULL;
			catalog_plans_relid = catalog_rings_relid;
			catalog_plans_v2 = catalog_v2;
		}
	}
}

static void
catalog_corrupt(const char *ring, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("ring \"%s\" has an invalid catalog row", ring),
			 errdetail("%s", what),
			 errhint("Fix the row in hashring.rings or hashring.nodes; rows written with triggers disabled are not validated.")));
}

/* Prepare and keep `sql` with parameters of the given types. */
static SPIPlanPtr
catalog_prepare_args(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static SPIPlanPtr
catalog_prepare(const char *sql)
{
	Oid argtypes[1] = {TEXTOID};

	return catalog_prepare_args(sql, 1, argtypes);
}

/*
 * The role the catalog is read as: the owner of schema hashring, who
 * installed the extension (the install refuses a schema someone else
 * owns).  Whether a caller may route or read balance is decided by EXECUTE
 * on the SQL function it calls, checked on every call, never by who built
 * an image first (docs/reference.md, "Privileges").
 */
static Oid
catalog_reader(void)
{
	Oid		  nsp = get_namespace_oid("hashring", true);
	HeapTuple tup;
	Oid		  owner;

	if (!OidIsValid(nsp))
		return GetUserId(); /* not installed: the read fails as the caller */
	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	if (!HeapTupleIsValid(tup))
		return GetUserId();
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	return owner;
}

static bool catalog_read_ring(const char *ring, int64 version, bool with_nodes, HashringDef *def);

/*
 * Read ring `ring` with the active snapshot into *def (palloc'd in the
 * caller's memory context), as catalog_reader().  Returns false if the ring
 * does not exist.  With with_nodes = false only the ring row is read (a
 * version check).
 */
bool
hashring_read_ring(const char *ring, int64 version, bool with_nodes, HashringDef *def)
{
	Oid			  save_user;
	int			  save_sec;
	volatile bool found = false;

	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(catalog_reader(),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		found = catalog_read_ring(ring, version, with_nodes, def);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	return found;
}

static bool
catalog_read_ring(const char *ring, int64 version, bool with_nodes, HashringDef *def)
{
	MemoryContext		callercxt = CurrentMemoryContext;
	Datum				args[2];
	Datum				idargs[2];
	Oid					hist_ring_types[2] = {TEXTOID, INT8OID};
	Oid					hist_id_types[2] = {INT8OID, INT8OID};
	bool				historic = version > 0;
	int					rc;
	bool				isnull;
	HeapTuple			tup;
	TupleDesc			desc;
	char			   *algorithm;
	const HashringAlgo *algo;
	Datum				id;

	hashring_register_invalidation();
	memset(def, 0, sizeof(*def));
	strlcpy(def->ring, ring, sizeof(def->ring));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (catalog_ring_plan == NULL)
		catalog_ring_plan = catalog_prepare(
			catalog_v2 ? "SELECT ring_id, algorithm, vnodes, replicas, version, xmin, table_size "
						 "FROM hashring.rings WHERE ring OPERATOR(pg_catalog.=) $1"
					   : "SELECT ring_id, algorithm, vnodes, replicas, version, xmin, NULL::integer "
						 "FROM hashring.rings WHERE ring OPERATOR(pg_catalog.=) $1");
	if (catalog_nodes_plan == NULL)
		catalog_nodes_plan = catalog_prepare(
			catalog_v2 ? "SELECT node, weight, state, ordinal, node_id "
						 "FROM hashring.nodes WHERE ring OPERATOR(pg_catalog.=) $1"
					   : "SELECT node, weight, state, ordinal, NULL::bytea "
						 "FROM hashring.nodes WHERE ring OPERATOR(pg_catalog.=) $1");
	if (catalog_slots_plan == NULL && catalog_v2)
		catalog_slots_plan = catalog_prepare(
			"SELECT first_slot, last_slot, node "
			"FROM hashring.slot_ranges WHERE ring OPERATOR(pg_catalog.=) $1");
	if (historic)
	{
		/* a past version, from ring_history (same columns, from jsonb) */
		if (!OidIsValid(catalog_history_relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the installed hashring catalog keeps no ring history"),
					 errhint("Run ALTER EXTENSION hashring UPDATE.")));
		if (catalog_hist_ring_plan == NULL)
			catalog_hist_ring_plan = catalog_prepare_args(
				"SELECT ring_id, algorithm, vnodes, replicas, version, xmin, table_size "
				"FROM hashring.ring_history WHERE ring OPERATOR(pg_catalog.=) $1 "
				"AND version OPERATOR(pg_catalog.=) $2 ORDER BY ring_id DESC LIMIT 1",
				2, hist_ring_types);
		if (catalog_hist_nodes_plan == NULL)
			catalog_hist_nodes_plan = catalog_prepare_args(
				"SELECT e OPERATOR(pg_catalog.->>) 'node', (e OPERATOR(pg_catalog.->>) 'weight')::real, "
				"e OPERATOR(pg_catalog.->>) 'state', (e OPERATOR(pg_catalog.->>) 'ordinal')::integer, "
				"pg_catalog.decode(e OPERATOR(pg_catalog.->>) 'node_id', 'hex') "
				"FROM hashring.ring_history AS h, pg_catalog.jsonb_array_elements(h.nodes) AS e "
				"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2",
				2, hist_id_types);
		if (catalog_hist_slots_plan == NULL)
			catalog_hist_slots_plan = catalog_prepare_args(
				"SELECT (e OPERATOR(pg_catalog.->>) 'first_slot')::integer, "
				"(e OPERATOR(pg_catalog.->>) 'last_slot')::integer, e OPERATOR(pg_catalog.->>) 'node' "
				"FROM hashring.ring_history AS h, pg_catalog.jsonb_array_elements(h.slot_ranges) AS e "
				"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2",
				2, hist_id_types);
	}

	args[0] = CStringGetTextDatum(ring);
	args[1] = Int64GetDatum(version);
	rc = SPI_execute_plan(historic ? catalog_hist_ring_plan : catalog_ring_plan, args, NULL, true, 2);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading hashring.rings failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		SPI_finish();
		return false;
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;

	def->ring_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	if (isnull)
		catalog_corrupt(ring, "ring_id is null.");
	algorithm = SPI_getvalue(tup, desc, 2);
	def->algorithm = algorithm ? hashring_algo_id(algorithm) : 0;
	if (def->algorithm == 0)
		catalog_corrupt(ring, psprintf("Unknown algorithm \"%s\".", algorithm ? algorithm : "NULL"));
	algo = hashring_algo(def->algorithm);
	def->vnodes = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	if (isnull || def->vnodes < 1 || def->vnodes > 100000)
		catalog_corrupt(ring, "vnodes is out of range.");
	def->replicas = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	if (isnull || def->replicas < 1 || def->replicas > 1000)
		catalog_corrupt(ring, "replicas is out of range.");
	def->version = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	if (isnull)
		catalog_corrupt(ring, "version is null.");
	def->xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 6, &isnull));
	def->private_version = !historic && TransactionIdIsCurrentTransactionId(def->xmin);
	def->table_size = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	if (isnull)
		def->table_size = 0;
	else if (def->table_size < 2)
		catalog_corrupt(ring, "table_size is out of range.");

	if (with_nodes)
	{
		idargs[0] = Int64GetDatum(def->ring_id);
		idargs[1] = Int64GetDatum(def->version);
		rc = historic ? SPI_execute_plan(catalog_hist_nodes_plan, idargs, NULL, true, 0)
					  : SPI_execute_plan(catalog_nodes_plan, args, NULL, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "reading hashring.nodes failed: %s", SPI_result_code_string(rc));
		desc = SPI_tuptable->tupdesc;
		def->nnodes = (int) SPI_processed;
		def->nodes = MemoryContextAllocZero(callercxt,
											sizeof(HashringDefNode) * Max(def->nnodes, 1));
		for (int i = 0; i < def->nnodes; i++)
		{
			HashringDefNode *n = &def->nodes[i];
			char			*state;
			char			*name;

			tup = SPI_tuptable->vals[i];
			name = SPI_getvalue(tup, desc, 1);
			if (name == NULL || name[0] == '\0' || strlen(name) > HASHRING_NODE_NAME_MAX)
				catalog_corrupt(ring, "A node name is null, empty or too long.");
			n->name_len = (int) strlen(name);
			n->name = MemoryContextStrdup(callercxt, name);
			n->weight = DatumGetFloat4(SPI_getbinval(tup, desc, 2, &isnull));
			if (isnull || !(n->weight > 0) || isinf(n->weight) || (n->weight != 1 && !algo->weighted))
				catalog_corrupt(ring, psprintf("Node \"%s\" has an invalid weight.", name));
			state = SPI_getvalue(tup, desc, 3);
			if (state != NULL && strcmp(state, "active") == 0)
				n->state = HASHRING_NODE_ACTIVE;
			else if (state != NULL && strcmp(state, "down") == 0)
				n->state = HASHRING_NODE_DOWN;
			else
				catalog_corrupt(ring, psprintf("Node \"%s\" has an unknown state.", name));
			n->ordinal = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
			if (isnull || n->ordinal < 0)
				catalog_corrupt(ring, psprintf("Node \"%s\" has no valid ordinal.", name));
			id = SPI_getbinval(tup, desc, 5, &isnull);
			if (!isnull)
			{
				bytea *b = DatumGetByteaPP(id);

				if (VARSIZE_ANY_EXHDR(b) != HASHRING_NODE_ID_LEN)
					catalog_corrupt(ring, psprintf("Node \"%s\" has a node_id that is not %d bytes long.",
												   name, HASHRING_NODE_ID_LEN));
				memcpy(n->id, VARDATA_ANY(b), HASHRING_NODE_ID_LEN);
				n->has_id = true;
			}
		}
		if (algo->slot_ranges && catalog_slots_plan != NULL)
		{
			rc = historic ? SPI_execute_plan(catalog_hist_slots_plan, idargs, NULL, true, 0)
						  : SPI_execute_plan(catalog_slots_plan, args, NULL, true, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "reading hashring.slot_ranges failed: %s", SPI_result_code_string(rc));
			desc = SPI_tuptable->tupdesc;
			def->nranges = (int) SPI_processed;
			def->ranges = MemoryContextAllocZero(callercxt,
												 sizeof(HashringSlotRange) * Max(def->nranges, 1));
			for (int i = 0; i < def->nranges; i++)
			{
				bool  null1, null2;
				char *node;

				tup = SPI_tuptable->vals[i];
				def->ranges[i].first = DatumGetInt32(SPI_getbinval(tup, desc, 1, &null1));
				def->ranges[i].last = DatumGetInt32(SPI_getbinval(tup, desc, 2, &null2));
				node = SPI_getvalue(tup, desc, 3);
				if (null1 || null2 || node == NULL)
					catalog_corrupt(ring, "A slot range has a null column.");
				def->ranges[i].node = MemoryContextStrdup(callercxt, node);
			}
		}
	}
	SPI_finish();
	return true;
}

/*
 * Statement trigger on the catalog tables: register a relcache invalidation
 * of the table.  It travels with the transaction (see file header).
 */
Datum
hashring_invalidate(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hashring._invalidate() must be called as a trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(trigdata->tg_relation));
	hashring_note_membership_change();
	PG_RETURN_POINTER(NULL);
}

/* SQL: hashring.node_points(weight real, vnodes integer) */
Datum
hashring_node_points(PG_FUNCTION_ARGS)
{
	float4 weight = PG_GETARG_FLOAT4(0);
	int32  vnodes = PG_GETARG_INT32(1);

	if (!(weight > 0) || isinf(weight))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("node weight must be a finite number greater than zero")));
	if (vnodes < 1 || vnodes > 100000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("vnodes must be between 1 and 100000")));
	PG_RETURN_INT64(hashring_points_for_weight(weight, vnodes));
}

/*
 * SQL: hashring._check_ring(ring text), called at commit for every changed
 * ring: validate the ring as this transaction sees it, raising whatever a
 * build (and so a lookup) would raise, without computing its points.
 */
Datum
hashring_check_ring(PG_FUNCTION_ARGS)
{
	char		 *ring = text_to_cstring(PG_GETARG_TEXT_PP(0));
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "hashring check",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	HashringDef	  def;

	if (hashring_read_ring(ring, 0, true, &def))
		hashring_image_check(&def);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	PG_RETURN_VOID();
}

/*
 * Deferred constraint trigger on hashring.rings (rings_record_version): at
 * commit, records the version the transaction commits in ring_history.  The
 * history is written only here, as the extension's owner, through
 * hashring._write_history (which no one else may execute), with
 * committed_by naming the role that made the change: no role that may
 * change membership can write, forge or pre-empt history.
 */
Datum
hashring_record_version(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	 rel;
	HeapTuple	 tup;
	int			 attno;
	bool		 isnull;
	Datum		 ring_id;
	Oid			 writer = GetUserId();
	Oid			 save_user;
	int			 save_sec;
	Oid			 argtypes[2] = {INT8OID, NAMEOID};
	Datum		 args[2];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hashring._record_version() must be called as an AFTER ROW trigger")));
	rel = trigdata->tg_relation;
	if (strcmp(RelationGetRelationName(rel), "rings") != 0 ||
		strcmp(get_namespace_name(RelationGetNamespace(rel)), "hashring") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("hashring._record_version() records only hashring.rings")));
	tup = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	attno = SPI_fnumber(RelationGetDescr(rel), "ring_id");
	if (attno <= 0)
		elog(ERROR, "hashring.rings has no ring_id column");
	ring_id = SPI_getbinval(tup, RelationGetDescr(rel), attno, &isnull);
	if (isnull)
		PG_RETURN_POINTER(NULL);

	args[0] = ring_id;
	args[1] = DirectFunctionCall1(namein, CStringGetDatum(GetUserNameFromId(writer, false)));
	GetUserIdAndSecContext(&save_user, &save_sec);
	SetUserIdAndSecContext(catalog_reader(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT hashring._write_history($1, $2)", 2, argtypes, args, NULL, false, 0) !=
			SPI_OK_SELECT)
			elog(ERROR, "hashring._write_history failed");
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_user, save_sec);
	}
	PG_END_TRY();
	PG_RETURN_POINTER(NULL);
}
