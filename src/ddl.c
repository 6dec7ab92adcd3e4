/* placeholder, replaced below */
#include "hashring.h"
#include "dist.h"
bool
hashring_ddl_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	return false;
}
