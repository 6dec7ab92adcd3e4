/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading ring definitions from the membership catalog, and the
 *	  catalog's C triggers.
 *
 * The cache protocol (invalidation, epoch, commit generation) is owned and
 * described by cache.c; this file only tells it which relations are the
 * catalog's (hashring_catalog_relation_invalidated).
 *
 * Triggers: hashring._check_ring() (at commit, validates every changed
 * ring as a build would, so a membership that cannot be routed fails its
 * commit) and hashring._record_version() (history).  The invalidation
 * trigger hashring._invalidate() is the writers' side of the cache protocol
 * and lives in cache.c.
 *
 * Catalog reads use SPI with the caller's active snapshot (read_only), so a
 * transaction sees its own uncommitted membership and a REPEATABLE READ
 * transaction keeps seeing the membership of its snapshot.
 *
 * State: the cached relation OIDs, the installed catalog version and the
 * prepared plans are per backend.
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/syscache.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

PG_FUNCTION_INFO_V1(hashring_node_points);
PG_FUNCTION_INFO_V1(hashring_check_ring);
PG_FUNCTION_INFO_V1(hashring_record_version);

static Oid catalog_rings_relid = InvalidOid;
static Oid catalog_nodes_relid = InvalidOid;
static Oid catalog_history_relid = InvalidOid; /* 0.2: ring_history */

/*
 * The queries of each catalog version: the one switch between them.  A
 * library may be newer than the installed extension script (before ALTER
 * EXTENSION hashring UPDATE), so it reads the catalog of the version that
 * is installed, as pg_stat_statements' versioned entry points read the
 * view of theirs.  Every version's queries return the same columns, so one
 * decoder (catalog_decode_*) serves current and past versions alike:
 *	  ring    ring_id, algorithm, vnodes, replicas, version, xmin, table_size,
 *	          zone_replicas, zone_spread
 *	  nodes   node, weight, state, ordinal, node_id, tokens, zone
 *	  slots   first_slot, last_slot, node
 *	  pins    key, node (0.7)
 * (0.2 to 0.4 keep history as jsonb, which their past-version queries
 * unpack; 0.5 keeps it in the shape of the current tables; 0.6 adds
 * murmur3's tokens to nodes and history_node, NULL in older catalogs and
 * in history rows written before the update; 0.7 reads zones and
 * zone_replicas, which older catalogs do not use: NULL, zone-blind; 0.8
 * zone_spread, NULL before: each zone's first node in the walk.)  Current reads
 * take the ring name ($1); past ones the name and version
 * (ring row) or ring_id and version ($1, $2: nodes, slots).  NULL: the
 * version has no such data (0.1 has no slot ranges and no history).
 */
typedef enum CatalogVersion
{
	CATALOG_V1, /* 0.1: no table_size, node_id, slot_ranges, ring_history */
	CATALOG_V2, /* 0.2 to 0.4: ring_history keeps nodes and slot ranges as jsonb */
	CATALOG_V3, /* 0.5: as arrays of history_node and history_slot_range */
	CATALOG_V4, /* 0.6: nodes.tokens, history_node.tokens */
	CATALOG_V5, /* 0.7: rings.zone_replicas, ring_history.zone_replicas; zones read; pins */
	CATALOG_V6, /* 0.8: rings.zone_spread, ring_history.zone_spread */
	CATALOG_NVERSIONS
} CatalogVersion;

typedef enum CatalogQuery
{
	Q_RING,
	Q_NODES,
	Q_SLOTS,
	Q_PAST_RING,
	Q_PAST_NODES,
	Q_PAST_SLOTS,
	Q_PINS,
	Q_PAST_PINS,
	CATALOG_NQUERIES
} CatalogQuery;

#define CATALOG_PAST_NODES_JSONB                                                                  \
	"SELECT e OPERATOR(pg_catalog.->>) 'node', (e OPERATOR(pg_catalog.->>) 'weight')::real, "     \
	"e OPERATOR(pg_catalog.->>) 'state', (e OPERATOR(pg_catalog.->>) 'ordinal')::integer, "       \
	"pg_catalog.decode(e OPERATOR(pg_catalog.->>) 'node_id', 'hex'), NULL::bigint[], NULL::text " \
	"FROM hashring.ring_history AS h, pg_catalog.jsonb_array_elements(h.nodes) AS e "             \
	"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2"
#define CATALOG_PAST_SLOTS_JSONB                                                            \
	"SELECT (e OPERATOR(pg_catalog.->>) 'first_slot')::integer, "                           \
	"(e OPERATOR(pg_catalog.->>) 'last_slot')::integer, e OPERATOR(pg_catalog.->>) 'node' " \
	"FROM hashring.ring_history AS h, pg_catalog.jsonb_array_elements(h.slot_ranges) AS e " \
	"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2"

/* the same from 0.2 on */
#define CATALOG_RING                                                                                        \
	"SELECT ring_id, algorithm, vnodes, replicas, version, xmin, table_size, NULL::boolean, NULL::boolean " \
	"FROM hashring.rings WHERE ring OPERATOR(pg_catalog.=) $1"
#define CATALOG_NODES                                                           \
	"SELECT node, weight, state, ordinal, node_id, NULL::bigint[], NULL::text " \
	"FROM hashring.nodes WHERE ring OPERATOR(pg_catalog.=) $1"
#define CATALOG_SLOTS                     \
	"SELECT first_slot, last_slot, node " \
	"FROM hashring.slot_ranges WHERE ring OPERATOR(pg_catalog.=) $1"
#define CATALOG_PAST_SLOTS                                                    \
	"SELECT e.first_slot, e.last_slot, e.node "                               \
	"FROM hashring.ring_history AS h, pg_catalog.unnest(h.slot_ranges) AS e " \
	"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2"
#define CATALOG_PAST_RING                                                                                   \
	"SELECT ring_id, algorithm, vnodes, replicas, version, xmin, table_size, NULL::boolean, NULL::boolean " \
	"FROM hashring.ring_history WHERE ring OPERATOR(pg_catalog.=) $1 "                                      \
	"AND version OPERATOR(pg_catalog.=) $2 ORDER BY ring_id DESC LIMIT 1"

/* the same from 0.7 on (zones, pins); `spread`: 0.8's zone_spread or NULL */
#define CATALOG_RING_ZONES(spread)                                                                       \
	"SELECT ring_id, algorithm, vnodes, replicas, version, xmin, table_size, zone_replicas, " spread " " \
	"FROM hashring.rings WHERE ring OPERATOR(pg_catalog.=) $1"
#define CATALOG_PAST_RING_ZONES(spread)                                                                  \
	"SELECT ring_id, algorithm, vnodes, replicas, version, xmin, table_size, zone_replicas, " spread " " \
	"FROM hashring.ring_history WHERE ring OPERATOR(pg_catalog.=) $1 "                                   \
	"AND version OPERATOR(pg_catalog.=) $2 ORDER BY ring_id DESC LIMIT 1"
#define CATALOG_NODES_ZONES                                       \
	"SELECT node, weight, state, ordinal, node_id, tokens, zone " \
	"FROM hashring.nodes WHERE ring OPERATOR(pg_catalog.=) $1"
#define CATALOG_PAST_NODES_ZONES                                                \
	"SELECT e.node, e.weight, e.state, e.ordinal, e.node_id, e.tokens, e.zone " \
	"FROM hashring.ring_history AS h, pg_catalog.unnest(h.nodes) AS e "         \
	"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2"
#define CATALOG_PINS "SELECT key, node FROM hashring.pins WHERE ring OPERATOR(pg_catalog.=) $1"
#define CATALOG_PAST_PINS                                              \
	"SELECT e.key, e.node "                                            \
	"FROM hashring.ring_history AS h, pg_catalog.unnest(h.pins) AS e " \
	"WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2"

static const char *const catalog_queries[CATALOG_NVERSIONS][CATALOG_NQUERIES] = {
	[CATALOG_V1] = {
		[Q_RING] = "SELECT ring_id, algorithm, vnodes, replicas, version, xmin, NULL::integer, NULL::boolean, NULL::boolean "
				   "FROM hashring.rings WHERE ring OPERATOR(pg_catalog.=) $1",
		[Q_NODES] = "SELECT node, weight, state, ordinal, NULL::bytea, NULL::bigint[], NULL::text "
					"FROM hashring.nodes WHERE ring OPERATOR(pg_catalog.=) $1",
	},
	[CATALOG_V2] = {
		[Q_RING] = CATALOG_RING,
		[Q_NODES] = CATALOG_NODES,
		[Q_SLOTS] = CATALOG_SLOTS,
		[Q_PAST_RING] = CATALOG_PAST_RING,
		[Q_PAST_NODES] = CATALOG_PAST_NODES_JSONB,
		[Q_PAST_SLOTS] = CATALOG_PAST_SLOTS_JSONB,
	},
	[CATALOG_V3] = {
		[Q_RING] = CATALOG_RING,
		[Q_NODES] = CATALOG_NODES,
		[Q_SLOTS] = CATALOG_SLOTS,
		[Q_PAST_RING] = CATALOG_PAST_RING,
		[Q_PAST_NODES] = "SELECT e.node, e.weight, e.state, e.ordinal, e.node_id, NULL::bigint[], NULL::text "
						 "FROM hashring.ring_history AS h, pg_catalog.unnest(h.nodes) AS e "
						 "WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2",
		[Q_PAST_SLOTS] = CATALOG_PAST_SLOTS,
	},
	[CATALOG_V4] = {
		[Q_RING] = CATALOG_RING,
		[Q_NODES] = "SELECT node, weight, state, ordinal, node_id, tokens, NULL::text "
					"FROM hashring.nodes WHERE ring OPERATOR(pg_catalog.=) $1",
		[Q_SLOTS] = CATALOG_SLOTS,
		[Q_PAST_RING] = CATALOG_PAST_RING,
		[Q_PAST_NODES] = "SELECT e.node, e.weight, e.state, e.ordinal, e.node_id, e.tokens, NULL::text "
						 "FROM hashring.ring_history AS h, pg_catalog.unnest(h.nodes) AS e "
						 "WHERE h.ring_id OPERATOR(pg_catalog.=) $1 AND h.version OPERATOR(pg_catalog.=) $2",
		[Q_PAST_SLOTS] = CATALOG_PAST_SLOTS,
	},
	[CATALOG_V5] = {
		[Q_RING] = CATALOG_RING_ZONES("NULL::boolean"),
		[Q_NODES] = CATALOG_NODES_ZONES,
		[Q_SLOTS] = CATALOG_SLOTS,
		[Q_PAST_RING] = CATALOG_PAST_RING_ZONES("NULL::boolean"),
		[Q_PAST_NODES] = CATALOG_PAST_NODES_ZONES,
		[Q_PAST_SLOTS] = CATALOG_PAST_SLOTS,
		[Q_PINS] = CATALOG_PINS,
		[Q_PAST_PINS] = CATALOG_PAST_PINS,
	},
	[CATALOG_V6] = {
		[Q_RING] = CATALOG_RING_ZONES("zone_spread"),
		[Q_NODES] = CATALOG_NODES_ZONES,
		[Q_SLOTS] = CATALOG_SLOTS,
		[Q_PAST_RING] = CATALOG_PAST_RING_ZONES("zone_spread"),
		[Q_PAST_NODES] = CATALOG_PAST_NODES_ZONES,
		[Q_PAST_SLOTS] = CATALOG_PAST_SLOTS,
		[Q_PINS] = CATALOG_PINS,
		[Q_PAST_PINS] = CATALOG_PAST_PINS,
	},
};

static const Oid catalog_query_args[CATALOG_NQUERIES][2] = {
	[Q_RING] = {TEXTOID},
	[Q_NODES] = {TEXTOID},
	[Q_SLOTS] = {TEXTOID},
	[Q_PAST_RING] = {TEXTOID, INT8OID},
	[Q_PAST_NODES] = {INT8OID, INT8OID},
	[Q_PAST_SLOTS] = {INT8OID, INT8OID},
	[Q_PINS] = {TEXTOID},
	[Q_PAST_PINS] = {INT8OID, INT8OID},
};

static CatalogVersion catalog_version = CATALOG_V6;
static Oid			  catalog_plans_relid = InvalidOid; /* the plans are for this rings table */
static CatalogVersion catalog_plans_version = CATALOG_V6;
static SPIPlanPtr	  catalog_plans[CATALOG_NQUERIES];

/* Which catalog the installed extension script created, from its tables. */
static CatalogVersion
catalog_installed_version(Oid rings, Oid nodes, Oid history)
{
	AttrNumber att;

	if (!OidIsValid(rings) || get_attnum(rings, "table_size") == InvalidAttrNumber)
		return CATALOG_V1;
	att = OidIsValid(history) ? get_attnum(history, "nodes") : InvalidAttrNumber;
	if (att != InvalidAttrNumber && get_atttype(history, att) == JSONBOID)
		return CATALOG_V2;
	if (!OidIsValid(nodes) || get_attnum(nodes, "tokens") == InvalidAttrNumber)
		return CATALOG_V3;
	if (get_attnum(rings, "zone_replicas") == InvalidAttrNumber)
		return CATALOG_V4;
	if (get_attnum(rings, "zone_spread") == InvalidAttrNumber)
		return CATALOG_V5;
	return CATALOG_V6;
}

/* Forget the prepared plans (the catalog's tables or version changed). */
static void
catalog_forget_plans(void)
{
	for (int q = 0; q < CATALOG_NQUERIES; q++)
	{
		if (catalog_plans[q])
			SPI_freeplan(catalog_plans[q]);
		catalog_plans[q] = NULL;
	}
	catalog_plans_relid = catalog_rings_relid;
	catalog_plans_version = catalog_version;
}

/*
 * Called by cache.c's relcache callback when one relation is invalidated:
 * whether it is one of the catalog's tables.  If so, their OIDs are
 * forgotten (the tables may have been dropped) and looked up again at the
 * next read.  InvalidOid (every relation) names none of them: cache.c
 * treats it on its own and the OIDs are kept.  This may run at any time,
 * even inside a catalog scan, so it touches nothing but those OIDs.
 */
bool
hashring_catalog_relation_invalidated(Oid relid)
{
	if (!OidIsValid(relid))
		return false;
	if (relid != catalog_rings_relid && relid != catalog_nodes_relid && relid != catalog_history_relid)
		return false;
	catalog_rings_relid = catalog_nodes_relid = catalog_history_relid = InvalidOid;
	return true;
}

/*
 * Make sure cache.c hears of changes to the catalog, and that we know the
 * catalog's relation OIDs.  Called before every catalog read, so that an
 * invalidation that arrives during the read is not missed: the callback is
 * registered before the OIDs are looked up and the tables are read.
 */
static void
catalog_lookup_relations(void)
{
	hashring_register_invalidation();

	/*
	 * Every lookup below may take in invalidations, and one of these tables
	 * forgets all three OIDs (hashring_catalog_relation_invalidated): look
	 * them up into locals and publish them together, after the last lookup,
	 * and again should they have been forgotten meanwhile.  (Publishing them
	 * one by one let a membership commit that arrived during the lookup
	 * leave ring_history's OID unset, and a read of a past version failed
	 * with "keeps no ring history".)
	 */
	while (!OidIsValid(catalog_rings_relid) || !OidIsValid(catalog_nodes_relid))
	{
		Oid			   nsp = get_namespace_oid("hashring", true);
		Oid			   rings;
		Oid			   nodes;
		Oid			   history;
		CatalogVersion version;

		if (!OidIsValid(nsp))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension \"hashring\" is not installed in this database"),
					 errhint("Run CREATE EXTENSION hashring.")));
		rings = get_relname_relid("rings", nsp);
		nodes = get_relname_relid("nodes", nsp);
		history = get_relname_relid("ring_history", nsp);
		if (!OidIsValid(rings) || !OidIsValid(nodes))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the hashring catalog is incomplete"),
					 errhint("Run ALTER EXTENSION hashring UPDATE, or drop and create the extension.")));

		/*
		 * The library may be newer than the installed extension script
		 * (before ALTER EXTENSION hashring UPDATE): read the catalog of the
		 * installed version.  Plans are prepared again when that or the
		 * tables themselves changed (not on every membership change, which
		 * also lands here).
		 */
		version = catalog_installed_version(rings, nodes, history);
		catalog_rings_relid = rings;
		catalog_nodes_relid = nodes;
		catalog_history_relid = history;
		catalog_version = version;
		if (catalog_rings_relid != catalog_plans_relid || catalog_version != catalog_plans_version)
			catalog_forget_plans();
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

/*
 * Run query q of the installed catalog version with `args`, preparing and
 * keeping its plan on first use.  Returns false (and runs nothing) when that
 * version has no such query.
 */
static bool
catalog_run(CatalogQuery q, Datum *args, const char *what)
{
	const char *sql = catalog_queries[catalog_version][q];
	int			rc;

	if (sql == NULL)
		return false;
	if (catalog_plans[q] == NULL)
	{
		int		   nargs = OidIsValid(catalog_query_args[q][1]) ? 2 : 1;
		SPIPlanPtr plan = SPI_prepare(sql, nargs, (Oid *) catalog_query_args[q]);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		catalog_plans[q] = plan;
	}
	rc = SPI_execute_plan(catalog_plans[q], args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading %s failed: %s", what, SPI_result_code_string(rc));
	return true;
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

/* The ring row (Q_RING, Q_PAST_RING columns) into *def. */
static void
catalog_decode_ring(HeapTuple tup, TupleDesc desc, bool historic, HashringDef *def)
{
	const char *ring = def->ring;
	char	   *algorithm;
	bool		isnull;

	def->id.dboid = MyDatabaseId;
	def->id.ring_id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	if (isnull)
		catalog_corrupt(ring, "ring_id is null.");
	algorithm = SPI_getvalue(tup, desc, 2);
	def->algorithm = algorithm ? hashring_algo_id(algorithm) : 0;
	if (def->algorithm == 0)
		catalog_corrupt(ring, psprintf("Unknown algorithm \"%s\".", algorithm ? algorithm : "NULL"));
	def->vnodes = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	if (isnull || def->vnodes < 1 || def->vnodes > 100000)
		catalog_corrupt(ring, "vnodes is out of range.");
	def->replicas = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
	if (isnull || def->replicas < 1 || def->replicas > 1000)
		catalog_corrupt(ring, "replicas is out of range.");
	def->id.version = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	if (isnull)
		catalog_corrupt(ring, "version is null.");
	def->id.xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 6, &isnull));
	def->private_version = !historic && TransactionIdIsCurrentTransactionId(def->id.xmin);
	def->table_size = DatumGetInt32(SPI_getbinval(tup, desc, 7, &isnull));
	if (isnull)
		def->table_size = 0;
	else if (def->table_size < 2)
		catalog_corrupt(ring, "table_size is out of range.");
	/* NULL: a catalog or a history row older than 0.7, zone-blind */
	def->zone_replicas = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
	if (isnull)
		def->zone_replicas = false;
	/* NULL: older than 0.8, each zone's first node in the walk */
	def->zone_spread = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
	if (isnull)
		def->zone_spread = false;
}

/*
 * murmur3's explicit tokens of one node, checked as strictly as the
 * triggers check them (one dimension, 1 to HASHRING_MAX_NODE_TOKENS
 * elements, no NULL, no duplicate; duplicates across nodes are the
 * builder's).
 */
static void
catalog_decode_tokens(const char *ring, const char *name, ArrayType *arr, HashringDefNode *n, MemoryContext cxt)
{
	Datum *elems;
	bool  *nulls;
	int	   count;

	if (ARR_ELEMTYPE(arr) != INT8OID || ARR_NDIM(arr) != 1)
		catalog_corrupt(ring, psprintf("Node \"%s\" has tokens that are not a one-dimensional bigint array.", name));
	deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &count);
	if (count < 1 || count > HASHRING_MAX_NODE_TOKENS)
		catalog_corrupt(ring, psprintf("Node \"%s\" has %d tokens; 1 to %d are allowed.", name, count,
									   HASHRING_MAX_NODE_TOKENS));
	n->tokens = MemoryContextAlloc(cxt, sizeof(int64) * count);
	for (int i = 0; i < count; i++)
	{
		if (nulls[i])
			catalog_corrupt(ring, psprintf("Node \"%s\" has a NULL token.", name));
		n->tokens[i] = DatumGetInt64(elems[i]);
	}
	n->ntokens = count;
}

/* The node rows (Q_NODES, Q_PAST_NODES columns) into def->nodes, in cxt. */
static void
catalog_decode_nodes(const HashringAlgo *algo, HashringDef *def, MemoryContext cxt)
{
	const char *ring = def->ring;
	TupleDesc	desc = SPI_tuptable->tupdesc;

	def->nnodes = (int) SPI_processed;
	def->nodes = MemoryContextAllocZero(cxt, sizeof(HashringDefNode) * Max(def->nnodes, 1));
	for (int i = 0; i < def->nnodes; i++)
	{
		HeapTuple		 tup = SPI_tuptable->vals[i];
		HashringDefNode *n = &def->nodes[i];
		char			*name = SPI_getvalue(tup, desc, 1);
		char			*state;
		Datum			 id;
		bool			 isnull;

		if (name == NULL || name[0] == '\0' || strlen(name) > HASHRING_NODE_NAME_MAX)
			catalog_corrupt(ring, "A node name is null, empty or too long.");
		n->name_len = (int) strlen(name);
		n->name = MemoryContextStrdup(cxt, name);
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
		id = SPI_getbinval(tup, desc, 6, &isnull);
		if (!isnull)
			catalog_decode_tokens(ring, name, DatumGetArrayTypeP(id), n, cxt);
		n->zone = SPI_getvalue(tup, desc, 7);
		if (n->zone)
		{
			n->zone_len = (int) strlen(n->zone);
			n->zone = MemoryContextStrdup(cxt, n->zone);
		}
	}
}

/* The slot ranges (Q_SLOTS, Q_PAST_SLOTS columns) into def->ranges, in cxt. */
static void
catalog_decode_slots(HashringDef *def, MemoryContext cxt)
{
	TupleDesc desc = SPI_tuptable->tupdesc;

	def->nranges = (int) SPI_processed;
	def->ranges = MemoryContextAllocZero(cxt, sizeof(HashringSlotRange) * Max(def->nranges, 1));
	for (int i = 0; i < def->nranges; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		bool	  null1, null2;
		char	 *node;

		def->ranges[i].first = DatumGetInt32(SPI_getbinval(tup, desc, 1, &null1));
		def->ranges[i].last = DatumGetInt32(SPI_getbinval(tup, desc, 2, &null2));
		node = SPI_getvalue(tup, desc, 3);
		if (null1 || null2 || node == NULL)
			catalog_corrupt(def->ring, "A slot range has a null column.");
		def->ranges[i].node = MemoryContextStrdup(cxt, node);
	}
}

/* The pins (Q_PINS, Q_PAST_PINS columns) into def->pins, in cxt. */
static void
catalog_decode_pins(HashringDef *def, MemoryContext cxt)
{
	TupleDesc desc = SPI_tuptable->tupdesc;

	def->npins = (int) SPI_processed;
	def->pins = MemoryContextAllocZero(cxt, sizeof(HashringDefPin) * Max(def->npins, 1));
	for (int i = 0; i < def->npins; i++)
	{
		HeapTuple tup = SPI_tuptable->vals[i];
		char	 *key = SPI_getvalue(tup, desc, 1);
		char	 *node = SPI_getvalue(tup, desc, 2);

		if (key == NULL || node == NULL)
			catalog_corrupt(def->ring, "A pin has a null key or node.");
		def->pins[i].key_len = (int) strlen(key);
		def->pins[i].key = MemoryContextStrdup(cxt, key);
		def->pins[i].node = MemoryContextStrdup(cxt, node);
	}
}

/*
 * Read the ring row, and with_nodes its nodes, slot ranges and pins, of the
 * current version (version 0, hashring.rings and the tables beside it) or
 * of a past one (ring_history), into *def in the caller's context.
 */
static bool
catalog_read_ring(const char *ring, int64 version, bool with_nodes, HashringDef *def)
{
	MemoryContext		callercxt = CurrentMemoryContext;
	bool				historic = version > 0;
	bool				has_history;
	Datum				args[2];
	const HashringAlgo *algo;

	catalog_lookup_relations();
	has_history = OidIsValid(catalog_history_relid); /* before anything takes in invalidations */
	memset(def, 0, sizeof(*def));
	strlcpy(def->ring, ring, sizeof(def->ring));
	if (historic && !has_history)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the installed hashring catalog keeps no ring history"),
				 errhint("Run ALTER EXTENSION hashring UPDATE.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = CStringGetTextDatum(ring);
	args[1] = Int64GetDatum(version);
	catalog_run(historic ? Q_PAST_RING : Q_RING, args, "hashring.rings");
	if (SPI_processed == 0)
	{
		SPI_finish();
		return false;
	}
	catalog_decode_ring(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, historic, def);
	algo = hashring_algo(def->algorithm);

	if (with_nodes)
	{
		/* past versions are found by ring_id and version */
		if (historic)
		{
			args[0] = Int64GetDatum(def->id.ring_id);
			args[1] = Int64GetDatum(def->id.version);
		}
		catalog_run(historic ? Q_PAST_NODES : Q_NODES, args, "hashring.nodes");
		catalog_decode_nodes(algo, def, callercxt);
		if (algo->slot_ranges && catalog_run(historic ? Q_PAST_SLOTS : Q_SLOTS, args, "hashring.slot_ranges"))
			catalog_decode_slots(def, callercxt);
		if (catalog_run(historic ? Q_PAST_PINS : Q_PINS, args, "hashring.pins"))
			catalog_decode_pins(def, callercxt);
	}
	SPI_finish();
	return true;
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
