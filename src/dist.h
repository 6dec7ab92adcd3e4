/*-------------------------------------------------------------------------
 *
 * dist.h
 *	  Distributed tables: a table partitioned by hash whose partitions are
 *	  postgres_fdw foreign tables, one per shard, each on the server of
 *	  the node that holds the shard (docs/distributed.md).  The procedures
 *	  that create and remove them are SQL (hashring--0.8.sql, "distributed
 *	  tables"); these files are what needs C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HASHRING_DIST_H
#define HASHRING_DIST_H

#include "nodes/params.h"
#include "nodes/plannodes.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/rel.h"

/* in dist.c: the module's utility hook, and the catalog */
extern void hashring_dist_init(void);
extern bool hashring_dist_catalog_ready(void);
extern bool hashring_dist_is_distributed(Oid relid);
extern bool hashring_is_owner(Oid relid);

typedef struct HashringDistSpi
{
	Oid saved_user;
	int saved_sec;
} HashringDistSpi;

extern void hashring_dist_spi_begin(HashringDistSpi *st);
extern void hashring_dist_spi_end(HashringDistSpi *st);
extern void hashring_dist_next_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
									   ProcessUtilityContext context, ParamListInfo params,
									   QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc);

/* in copy.c: COPY FROM into a distributed table, streamed to each shard */
extern bool hashring_copy_utility(PlannedStmt *pstmt, const char *queryString, QueryCompletion *qc);

/* in ddl.c: schema changes that reach every shard, or are refused */
extern bool hashring_ddl_targets_distributed(Node *stmt);
extern bool hashring_ddl_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
								 ProcessUtilityContext context, ParamListInfo params, QueryEnvironment *queryEnv,
								 DestReceiver *dest, QueryCompletion *qc);

#endif /* HASHRING_DIST_H */
