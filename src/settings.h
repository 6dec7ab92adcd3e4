/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  The hashring.* settings (settings.c): defined once by _PG_init, read
 *	  by every subsystem through these accessors.  Includes nothing of
 *	  hashring's, so every file may include it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HASHRING_SETTINGS_H
#define HASHRING_SETTINGS_H

extern void hashring_settings_define(void);

/* the settings, read-only outside settings.c */
extern const char *hashring_setting_default_ring(void);
extern double	   hashring_setting_balance_alert_ratio(void);
extern Size		   hashring_setting_shared_memory_bytes(void);
extern int		   hashring_setting_inject_commit_pause_ms(void);
extern const char *hashring_setting_inject_move_fault(void);
extern bool		   hashring_setting_track_routing(void);
extern int		   hashring_setting_track_routing_max(void);
extern bool		   hashring_setting_track_keys(void);
extern int		   hashring_setting_track_keys_counters(void);
extern int		   hashring_setting_track_keys_rings(void);
extern double	   hashring_setting_track_keys_sample_rate(void);

/* the health checker's settings (hashring.health_check*), read by checker.c */
typedef struct HashringHealthSettings
{
	bool   enabled;
	int	   interval_ms;
	int	   timeout_ms;
	int	   failures;
	int	   successes;
	char  *rings; /* comma-separated ring names; '' or '*': every ring */
	char  *role;
	char  *database;
	double max_down_fraction;
	char  *query;
	int	   max_nodes;
} HashringHealthSettings;

extern const HashringHealthSettings *hashring_setting_health(void);

/*
 * A fault-injection point for the tests (hashring.inject_fault =
 * 'step:error' or 'step:pause:ms'): fails or pauses when step is the one
 * named; does nothing otherwise.
 */
extern void hashring_inject(const char *step);
extern void hashring_sleep_ms(long ms);

#endif /* HASHRING_SETTINGS_H */
