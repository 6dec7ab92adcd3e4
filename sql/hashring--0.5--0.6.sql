/* hashring--0.5--0.6.sql -- ketama as twemproxy, libmemcached and uhashring
 * build it (the algorithms themselves live in the library); Cassandra-style
 * token rings */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.6'" to load this file. \quit
