/*-------------------------------------------------------------------------
 *
 * conn.h
 *	  libpq connections to the ring's nodes (conn.c): the one place that
 *	  turns a node's target (a postgres_fdw server and the caller's user
 *	  mapping) into a connection, runs statements on it interruptibly, and
 *	  binds remote transactions to the local one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef HASHRING_CONN_H
#define HASHRING_CONN_H

#include "foreign/foreign.h"
#include "libpq-fe.h"

/*
 * One connection.  server and node name it in messages; who is the
 * operation ("ring_move", "distribute_table", ...) for error contexts.
 */
typedef struct HashringConn
{
	char	   *server;
	char	   *node;
	const char *who;
	PGconn	   *conn;
} HashringConn;

/* connections of their caller's own (ring_move, the health checker) */
extern void		 hashring_check_server_usage(ForeignServer *fs, Oid userid);
extern int		 hashring_fdw_options(const char *server, const char *node, Oid userid, int extra, const char ***keys,
									  const char ***vals, bool *password_required);
extern void		 hashring_conn_open(HashringConn *c, const char *appname);
extern void		 hashring_conn_open_replication(HashringConn *c, const char *appname, const char *replication);
extern void		 hashring_conn_close(HashringConn *c);
extern void		 hashring_conn_wait(PGconn *conn, bool for_write);
extern PGresult *hashring_conn_result(HashringConn *c);
extern PGresult *hashring_conn_exec(HashringConn *c, const char *sql, int nparams, const char *const *params,
									ExecStatusType expect, const char *what);
extern void		 hashring_conn_command(HashringConn *c, const char *sql, const char *what);
extern void		 hashring_conn_error(HashringConn *c, const char *what) __attribute__((noreturn));
extern void		 hashring_conn_result_error(HashringConn *c, PGresult *res, const char *what) __attribute__((noreturn));
extern void		 hashring_conn_put_copy(HashringConn *c, const char *data, int len);
extern void		 hashring_conn_end_copy(HashringConn *c, const char *what);

/*
 * Remote transactions bound to the local one: the connection to `server`
 * on `channel` (any name: one connection per server and channel) for this
 * local transaction, opened on first use with a remote
 * transaction (and savepoints to the local nesting level) begun.  Every
 * remote transaction commits at the local PRE_COMMIT, in the order the
 * connections were opened, before the local commit; any failure there
 * aborts the local transaction.  A local (sub)transaction abort rolls the
 * remote ones back (to the savepoint).  The connections close at the end
 * of the local transaction.
 */
extern HashringConn *hashring_xact_conn(const char *server, const char *channel, const char *node, const char *who);
extern HashringConn *hashring_xact_conn_snapshot(const char *server, const char *channel, const char *node,
												 const char *who, const char *snapshot);
extern void			 hashring_conn_init(void);

#endif /* HASHRING_CONN_H */
