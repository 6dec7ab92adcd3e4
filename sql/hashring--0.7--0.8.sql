/* hashring--0.7--0.8.sql -- zone replicas spread over each zone's nodes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.8'" to load this file. \quit
