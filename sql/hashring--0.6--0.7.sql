/* hashring--0.6--0.7.sql -- zone-aware replicas and the health checker */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.7'" to load this file. \quit
