/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Every hashring.* setting: its variable (static), its definition, and
 *	  the read-only accessors the subsystems use (settings.h).
 *
 * This file calls no subsystem; every subsystem may call it.  The module's
 * entry point (hashring.c) defines the settings first, then starts the
 * subsystems.  Settings are backend-local; the PGC_POSTMASTER and
 * PGC_SIGHUP ones are read by the postmaster's children as usual.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "settings.h"

/*
 * Every setting lives here, static; the other files read them through the
 * accessors below (hashring.h), never write them.
 */
static char	 *hashring_default_ring = NULL;
static double hashring_balance_alert_ratio = 2.0;
static int	  hashring_shared_memory_kb = 65536;
static int	  hashring_inject_commit_pause_ms = 0;
static char	 *hashring_inject_move_fault = NULL;
static char	 *hashring_inject_fault = NULL;
static int	  hashring_move_catchup_timeout = 30000; /* read by SQL only: move_shard */
static bool	  hashring_track_routing = false;
static int	  hashring_track_routing_max = 10000;
static bool	  hashring_track_keys = false;
static int	  hashring_track_keys_counters = 1000;
static int	  hashring_track_keys_rings = 16;
static double hashring_track_keys_sample_rate = 1.0;

/* the health checker's (checker.c), one struct for its one reader */
static HashringHealthSettings hashring_health = {
	.enabled = false,
	.interval_ms = 5000,
	.timeout_ms = 2000,
	.failures = 3,
	.successes = 2,
	.max_down_fraction = 0.5,
	.max_nodes = 1024,
};

const char *
hashring_setting_default_ring(void)
{
	return hashring_default_ring;
}

double
hashring_setting_balance_alert_ratio(void)
{
	return hashring_balance_alert_ratio;
}

Size
hashring_setting_shared_memory_bytes(void)
{
	return (Size) hashring_shared_memory_kb * 1024;
}

int
hashring_setting_inject_commit_pause_ms(void)
{
	return hashring_inject_commit_pause_ms;
}

const char *
hashring_setting_inject_move_fault(void)
{
	return hashring_inject_move_fault;
}

bool
hashring_setting_track_routing(void)
{
	return hashring_track_routing;
}

int
hashring_setting_track_routing_max(void)
{
	return hashring_track_routing_max;
}

bool
hashring_setting_track_keys(void)
{
	return hashring_track_keys;
}

int
hashring_setting_track_keys_counters(void)
{
	return hashring_track_keys_counters;
}

int
hashring_setting_track_keys_rings(void)
{
	return hashring_track_keys_rings;
}

double
hashring_setting_track_keys_sample_rate(void)
{
	return hashring_track_keys_sample_rate;
}

const HashringHealthSettings *
hashring_setting_health(void)
{
	return &hashring_health;
}

/* A ring list: names separated by commas, double-quoted where need be. */
static bool
hashring_check_ring_list(char **newval, void **extra, GucSource source)
{
	char *copy = pstrdup(*newval);
	List *names = NIL;
	bool  ok = SplitGUCList(copy, ',', &names);

	list_free(names);
	pfree(copy);
	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	return ok;
}

/* Defines every setting (called once, from _PG_init). */
void
hashring_settings_define(void)
{
	DefineCustomStringVariable("hashring.default_ring",
							   "Sets the ring used by the ring functions called without a ring name.",
							   NULL,
							   &hashring_default_ring,
							   "default",
							   PGC_USERSET,
							   0,
							   NULL, NULL, NULL);

	DefineCustomRealVariable("hashring.balance_alert_ratio",
							 "Sets the share, as a multiple of its expected share, above which ring_balance reports a node as overloaded.",
							 NULL,
							 &hashring_balance_alert_ratio,
							 2.0, 1.0, 1000.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	/*
	 * A PGC_POSTMASTER setting can only be defined while preloading.  Loaded
	 * later (no shared memory to size), the setting is still defined, so that
	 * a value in postgresql.conf is neither an error nor a warning and SHOW
	 * reports it, but at PGC_SIGHUP, where it has no effect.
	 */
	DefineCustomIntVariable("hashring.shared_memory",
							"Sets the maximum shared memory used for cached ring images.",
							"Takes effect only when hashring is in shared_preload_libraries.",
							&hashring_shared_memory_kb,
							65536, 1024, MAX_KILOBYTES,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.inject_commit_pause",
							"Pauses a committing membership change after it became visible and before its invalidations are sent (for tests).",
							"A fault-injection point for the test suite; leave it at 0.",
							&hashring_inject_commit_pause_ms,
							0, 0, 60000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	DefineCustomStringVariable("hashring.inject_move_fault",
							   "Fails or pauses ring_move at one step of every batch (for tests).",
							   "A fault-injection point for the test suite: 'step:error' or 'step:pause:ms', "
							   "step one of after_start, before_target_commit, after_target_commit, before_source_commit; leave it empty.",
							   &hashring_inject_move_fault,
							   "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("hashring.inject_fault",
							   "Fails or pauses a distributed-table operation at one step (for tests).",
							   "A fault-injection point for the test suite: 'step:error' or 'step:pause:ms', "
							   "step one of those listed in docs/distributed.md; leave it empty.",
							   &hashring_inject_fault,
							   "",
							   PGC_SUSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.move_catchup_timeout",
							"How long a logical shard move waits for its subscription to stream, and to catch up with writes blocked.",
							"move_shard fails (55000) once it has waited this long after creating the subscription for "
							"its worker to stream, or once writes to the shard have waited this long for the last catch-up; "
							"nothing moves, and writes go on.",
							&hashring_move_catchup_timeout,
							30000,
							100,
							INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * The health checker (checker.c).  Everything but the database and the
	 * size of the status array is read again at every reload, so turning it
	 * on, off or retuning it needs no restart.
	 */
	DefineCustomBoolVariable("hashring.health_check",
							 "Enables the health checker, which probes the nodes' targets and sets unreachable nodes down.",
							 "Takes effect only when hashring is in shared_preload_libraries.",
							 &hashring_health.enabled,
							 false,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.health_check_interval",
							"Sets the time between the starts of two rounds of health probes.",
							NULL,
							&hashring_health.interval_ms,
							5000, 10, 3600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.health_check_timeout",
							"Sets the time a health probe (connection and probe query) may take before it counts as failed.",
							NULL,
							&hashring_health.timeout_ms,
							2000, 10, 600000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.health_check_failures",
							"Sets the number of consecutive failed probes after which the health checker sets an active node down.",
							NULL,
							&hashring_health.failures,
							3, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.health_check_successes",
							"Sets the number of consecutive successful probes after which the health checker sets a node it set down active again.",
							NULL,
							&hashring_health.successes,
							2, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomStringVariable("hashring.health_check_rings",
							   "Sets the rings the health checker probes (a comma-separated list; empty or * for every ring).",
							   NULL,
							   &hashring_health.rings,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   hashring_check_ring_list, NULL, NULL);

	DefineCustomStringVariable("hashring.health_check_role",
							   "Sets the role the health checker works as: it changes node states and uses its user mappings.",
							   "The role needs the change capability (hashring.ring_grant); while it is empty the checker does nothing.",
							   &hashring_health.role,
							   "",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomRealVariable("hashring.health_check_max_down_fraction",
							 "Sets the largest fraction of a ring's live nodes that the health checker may have set down at one time.",
							 NULL,
							 &hashring_health.max_down_fraction,
							 0.5, 0.0, 1.0,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("hashring.health_check_query",
							   "Sets the query a health probe runs on a node's server once connected.",
							   NULL,
							   &hashring_health.query,
							   "SELECT 1",
							   PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	/* as hashring.shared_memory: PGC_POSTMASTER only while preloading */
	DefineCustomStringVariable("hashring.health_check_database",
							   "Sets the database whose rings the health checker probes and changes.",
							   "Takes effect only when hashring is in shared_preload_libraries.",
							   &hashring_health.database,
							   "postgres",
							   process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.health_check_max_nodes",
							"Sets the maximum number of nodes the health checker probes (the size of its status array).",
							"Takes effect only when hashring is in shared_preload_libraries.",
							&hashring_health.max_nodes,
							1024, 1, 1000000,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("hashring.track_routing",
							 "Counts the lookups routed to each node of each ring (hashring.routing_stats).",
							 "Takes effect only when hashring is in shared_preload_libraries.",
							 &hashring_track_routing,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.track_routing_max",
							"Sets the maximum number of (ring, node) counters hashring.routing_stats keeps.",
							"Takes effect only when hashring is in shared_preload_libraries.",
							&hashring_track_routing_max,
							10000, 100, 10000000,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	/* the hottest keys (hotkeys.c): counted only while track_routing is on too */
	DefineCustomBoolVariable("hashring.track_keys",
							 "Keeps a summary of the most looked-up keys of each ring (hashring.ring_hot_keys) while hashring.track_routing is on.",
							 "Takes effect only when hashring is in shared_preload_libraries.",
							 &hashring_track_keys,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.track_keys_counters",
							"Sets the number of keys the summary of each ring keeps; estimates are at most lookups / counters too high.",
							"Takes effect only when hashring is in shared_preload_libraries.",
							&hashring_track_keys_counters,
							1000, 10, 100000,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("hashring.track_keys_rings",
							"Sets the maximum number of rings whose hottest keys are kept.",
							"Takes effect only when hashring is in shared_preload_libraries.",
							&hashring_track_keys_rings,
							16, 1, 10000,
							process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("hashring.track_keys_sample_rate",
							 "Sets the fraction of lookups counted in the hottest-keys summary (estimates are scaled up by its inverse).",
							 NULL,
							 &hashring_track_keys_sample_rate,
							 1.0, 0.000001, 1.0,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	MarkGUCPrefixReserved("hashring");
}

/* Sleeps ms milliseconds; an interrupt (a cancel) ends it with its error. */
void
hashring_sleep_ms(long ms)
{
	TimestampTz end = GetCurrentTimestamp() + ms * 1000;

	for (;;)
	{
		long left = (end - GetCurrentTimestamp()) / 1000;

		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

void
hashring_inject(const char *step)
{
	const char *s = hashring_inject_fault;
	size_t		len = strlen(step);

	if (s == NULL || strncmp(s, step, len) != 0 || s[len] != ':')
		return;
	s += len + 1;
	if (strcmp(s, "error") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("injected fault at step %s", step)));
	if (strncmp(s, "pause:", 6) != 0 || atoi(s + 6) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid hashring.inject_fault \"%s\"", hashring_inject_fault),
				 errhint("Use step:error or step:pause:milliseconds.")));
	ereport(LOG, (errmsg_internal("paused at step %s (hashring.inject_fault)", step)));
	hashring_sleep_ms(atol(s + 6));
}
