/*-------------------------------------------------------------------------
 *
 * hashring.c
 *	  Module entry point: defines the settings (settings.c), then starts
 *	  every subsystem and installs the hooks.  It stands above the
 *	  subsystems: none of them calls into this file.
 *
 * With shared_preload_libraries = 'hashring' the module requests a shared
 * region of hashring.shared_memory bytes (plus a small directory) and one
 * LWLock; cache.c documents how they are used.  It also registers the
 * health checker background worker and its status array (checker.c).
 * Loaded any other way, the settings still exist and every ring image is
 * kept in backend memory.
 *
 * No shared state of its own.
 *
 *-------------------------------------------------------------------------
 */
#include "hashring.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "dist.h"

PG_MODULE_MAGIC;

/* Built and tested on PostgreSQL 15, 17 and 18 (README.md). */
#if PG_VERSION_NUM < 150000
#error "hashring needs PostgreSQL 15 or later"
#endif

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void _PG_init(void);

static void
hashring_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	hashring_shmem_request();
	hashring_checker_shmem_request();
	hashring_stats_shmem_request();
	hashring_hotkeys_shmem_request();
}

static void
hashring_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	hashring_shmem_startup();
	hashring_checker_shmem_startup();
	hashring_stats_shmem_startup();
	hashring_hotkeys_shmem_startup();
}

void
_PG_init(void)
{
	hashring_settings_define();

	hashring_register_xact_callback();
	hashring_stats_init();
	hashring_hotkeys_init();
	hashring_dist_init();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = hashring_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = hashring_shmem_startup_hook;

	hashring_checker_register();
}
