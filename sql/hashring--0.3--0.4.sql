/* hashring--0.3--0.4.sql -- rebalancing that never loses a row */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.4'" to load this file. \quit

-- The schema must still be owned by the extension's owner: an installation
-- into a schema another role created is under that role's control (0.4
-- refuses such a schema at CREATE EXTENSION; see docs/reference.md).
DO $$
DECLARE
    nsp_owner oid := (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname OPERATOR(pg_catalog.=) 'hashring');
    ext_owner oid := (SELECT e.extowner FROM pg_catalog.pg_extension AS e WHERE e.extname OPERATOR(pg_catalog.=) 'hashring');
BEGIN
    IF nsp_owner OPERATOR(pg_catalog.<>) ext_owner THEN
        RAISE EXCEPTION 'schema "hashring" is owned by role "%", not by the extension''s owner "%"',
                        pg_catalog.pg_get_userbyid(nsp_owner), pg_catalog.pg_get_userbyid(ext_owner)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'That role controls every object of the extension.',
                  HINT = 'Check the schema''s objects, then ALTER SCHEMA hashring OWNER TO the extension''s owner and update again.';
    END IF;
END
$$;

/*
 * The coordinator's foreign table through which applications and loaders
 * reach `tbl` on the server named by a node's target:
 * hashring_fdw_<server>.<table>, imported on first use.  It uses only what
 * it created itself or a superuser did: a schema or relation of that name
 * owned by anyone else is refused (someone with CREATE on the database
 * could otherwise plant a table with triggers that run as the caller).
 */
CREATE OR REPLACE FUNCTION hashring._shard_table(ring text, node text, tbl text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    server text;
    srv_oid oid;
    nsp text;
    rel text;
    owner oid;
    found_rel record;
    remote_schema text := COALESCE(pg_catalog.split_part(tbl, '.', -2), '');
    remote_table text := pg_catalog.split_part(tbl, '.', -1);
BEGIN
    IF remote_schema = '' OR pg_catalog.strpos(tbl, '.') = 0 THEN
        remote_schema := 'public';
    END IF;
    SELECT n.target INTO server FROM hashring.nodes AS n
     WHERE n.ring OPERATOR(pg_catalog.=) _shard_table.ring AND n.node OPERATOR(pg_catalog.=) _shard_table.node;
    IF server IS NULL THEN
        RAISE EXCEPTION 'node "%" of ring "%" has no target', node, ring
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Set hashring.nodes.target to the name of the node''s postgres_fdw foreign server.';
    END IF;
    SELECT s.oid INTO srv_oid FROM pg_catalog.pg_foreign_server AS s WHERE s.srvname OPERATOR(pg_catalog.=) server;
    IF srv_oid IS NULL THEN
        RAISE EXCEPTION 'foreign server "%" (target of node "%") does not exist', server, node
            USING ERRCODE = 'undefined_object',
                  HINT = 'CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw, with a user mapping.';
    END IF;
    nsp := 'hashring_fdw_' OPERATOR(pg_catalog.||) server;
    IF pg_catalog.octet_length(nsp) OPERATOR(pg_catalog.>) 63 THEN
        RAISE EXCEPTION 'foreign server name "%" is too long for schema hashring_fdw_<server>', server
            USING ERRCODE = 'name_too_long',
                  DETAIL = 'The schema name would be truncated to 63 bytes, and two servers could share it.',
                  HINT = 'Use server names of at most 50 bytes, or create the foreign table yourself.';
    END IF;
    SELECT n.nspowner INTO owner FROM pg_catalog.pg_namespace AS n WHERE n.nspname OPERATOR(pg_catalog.=) nsp;
    IF owner IS NOT NULL AND owner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
       AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.oid OPERATOR(pg_catalog.=) owner) THEN
        RAISE EXCEPTION 'schema "%" is owned by role "%", not by the current user or a superuser', nsp, pg_catalog.pg_get_userbyid(owner)
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'hashring creates that schema itself; drop the schema, or have its owner''s objects checked.';
    END IF;
    rel := pg_catalog.format('%I.%I', nsp, remote_table);
    IF owner IS NULL THEN
        EXECUTE pg_catalog.format('CREATE SCHEMA %I', nsp);
    END IF;
    SELECT c.relkind, c.relowner, ft.ftserver INTO found_rel
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      LEFT JOIN pg_catalog.pg_foreign_table AS ft ON ft.ftrelid OPERATOR(pg_catalog.=) c.oid
     WHERE n.nspname OPERATOR(pg_catalog.=) nsp AND c.relname OPERATOR(pg_catalog.=) remote_table;
    IF FOUND THEN
        IF found_rel.relkind OPERATOR(pg_catalog.<>) 'f' OR found_rel.ftserver OPERATOR(pg_catalog.<>) srv_oid
           OR (found_rel.relowner OPERATOR(pg_catalog.<>) (SELECT r.oid FROM pg_catalog.pg_roles AS r WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
               AND NOT (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.oid OPERATOR(pg_catalog.=) found_rel.relowner)) THEN
            RAISE EXCEPTION 'relation % is not a foreign table of server "%" owned by the current user or a superuser', rel, server
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN rel;
    END IF;
    EXECUTE pg_catalog.format('IMPORT FOREIGN SCHEMA %I LIMIT TO (%I) FROM SERVER %I INTO %I',
                              remote_schema, remote_table, server, nsp);
    IF pg_catalog.to_regclass(rel) IS NULL THEN
        RAISE EXCEPTION 'table %.% does not exist on server "%" (node "%")', remote_schema, remote_table, server, node
            USING ERRCODE = 'undefined_table';
    END IF;
    RETURN rel;
END
$$;
COMMENT ON FUNCTION hashring._shard_table(text, text, text) IS 'the coordinator''s foreign table for a node''s shard of a table (created on first use; refuses objects others planted)';

/* ======================== from 0.4 ======================== */

/*
 * What a rebalance would move in one table: rows and bytes per flow, and the
 * keys with the most rows (a few hot keys can dominate a skewed table).
 * The key is routed as ring_node routes it: integer, bigint and uuid keys
 * by their typed value (pg_hash hashes it), every other type as text.
 */
CREATE OR REPLACE FUNCTION hashring.ring_plan_moves(ring text, tbl regclass, key_column name,
                                         from_version bigint, to_version bigint DEFAULT NULL,
                                         top_keys integer DEFAULT 5,
    OUT from_node text, OUT to_node text, OUT rows bigint, OUT bytes bigint, OUT hot_keys text[])
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_expr text;
BEGIN
    IF ring IS NULL OR tbl IS NULL OR key_column IS NULL OR from_version IS NULL THEN
        RAISE EXCEPTION 'ring, table, key column and from_version must not be null'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF top_keys IS NULL OR top_keys OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'top_keys must be zero or more' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute AS a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) key_column
                      AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
        RAISE EXCEPTION 'column "%" of relation % does not exist', key_column, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    key_expr := CASE WHEN (SELECT a.atttypid FROM pg_catalog.pg_attribute AS a
                             WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) key_column)
                          IN ('pg_catalog.int4'::pg_catalog.regtype, 'pg_catalog.int8'::pg_catalog.regtype,
                              'pg_catalog.uuid'::pg_catalog.regtype)
                     THEN pg_catalog.format('t.%I', key_column)
                     ELSE pg_catalog.format('t.%I::text', key_column) END;
    RETURN QUERY EXECUTE pg_catalog.format($q$
        WITH routed AS (
            SELECT hashring.ring_node(%1$L, %7$s, %4$s) AS f,
                   %5$s AS t, t.%3$I::text AS k, pg_catalog.pg_column_size(t.*)::bigint AS sz
              FROM %2$s AS t),
        per_key AS (
            SELECT f, t, k, pg_catalog.count(*) AS c, pg_catalog.sum(sz) AS b
              FROM routed WHERE f OPERATOR(pg_catalog.<>) t GROUP BY f, t, k),
        ranked AS (
            SELECT *, pg_catalog.row_number() OVER (PARTITION BY f, t ORDER BY c DESC, k) AS rn FROM per_key)
        SELECT f, t, pg_catalog.sum(c)::bigint, pg_catalog.sum(b)::bigint,
               COALESCE(pg_catalog.array_agg(k OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) c OPERATOR(pg_catalog.||) ')'
                                             ORDER BY c DESC, k) FILTER (WHERE rn OPERATOR(pg_catalog.<=) %6$s), '{}')
          FROM ranked GROUP BY f, t ORDER BY f, t$q$,
        ring, tbl, key_column, from_version,
        CASE WHEN to_version IS NULL THEN pg_catalog.format('hashring.ring_node(%L, %s)', ring, key_expr)
             ELSE pg_catalog.format('hashring.ring_node(%L, %s, %s)', ring, key_expr, to_version) END,
        top_keys, key_expr);
END
$$;
COMMENT ON FUNCTION hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer) IS 'rows, bytes and hottest keys of a table that move per flow between two ring versions';


/* ---------------------------------------------------------------------------
 * Moving a sharded table's rows safely (src/move.c, docs/rebalancing.md).
 *
 * hashring.moves: per ring and shard table, the ring version its rows are
 * placed by (settled_version) and, while a move runs or after one was
 * interrupted, the version it moves them to (moving_to); plus the progress
 * of the last move.  ring_placement() reads it to tell applications where a
 * key's row may be.
 * ------------------------------------------------------------------------- */
CREATE TABLE hashring.moves (
    ring            text        NOT NULL REFERENCES hashring.rings (ring) ON DELETE CASCADE,
    tbl             text        NOT NULL,
    key_column      name        NOT NULL,
    settled_version bigint,
    moving_to       bigint,
    pid             integer,
    lock_key        bigint,
    started_at      timestamptz,
    updated_at      timestamptz,
    source          text,
    target          text,
    rows_moved      bigint      NOT NULL DEFAULT 0,
    rows_scanned    bigint      NOT NULL DEFAULT 0,
    rows_planned    bigint      NOT NULL DEFAULT 0,
    rows_estimated  bigint      NOT NULL DEFAULT 0,
    batches         bigint      NOT NULL DEFAULT 0,
    retries         bigint      NOT NULL DEFAULT 0,
    last_error      text,
    PRIMARY KEY (ring, tbl)
);
COMMENT ON TABLE hashring.moves IS 'per ring and shard table: the version its rows are placed by, the version a running or interrupted move takes them to, and that move''s progress';
-- not dumped: its version numbers refer to ring_history, which a restore
-- renumbers (docs/reference.md)

-- a table name as the mover and ring_placement spell it: schema-qualified
CREATE FUNCTION hashring._move_table(tbl text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN pg_catalog.strpos(tbl, '.') OPERATOR(pg_catalog.=) 0
            THEN 'public.' OPERATOR(pg_catalog.||) tbl ELSE tbl END
$$;
COMMENT ON FUNCTION hashring._move_table(text) IS 'internal: a shard table''s name, schema-qualified (public when none is given)';

-- a table's hashring.moves row, created if missing and locked; its key
-- column must be the one given
CREATE FUNCTION hashring._moves_row(ring text, tbl text, key_column text)
RETURNS hashring.moves
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec hashring.moves;
BEGIN
    INSERT INTO hashring.moves AS m (ring, tbl, key_column) VALUES (_moves_row.ring, _moves_row.tbl, _moves_row.key_column)
        ON CONFLICT DO NOTHING;
    SELECT * INTO rec FROM hashring.moves AS m
     WHERE m.ring OPERATOR(pg_catalog.=) _moves_row.ring AND m.tbl OPERATOR(pg_catalog.=) _moves_row.tbl FOR UPDATE;
    IF rec.key_column OPERATOR(pg_catalog.<>) _moves_row.key_column THEN
        RAISE EXCEPTION 'table % of ring "%" is sharded by column "%", not "%"', _moves_row.tbl, _moves_row.ring,
                        rec.key_column, _moves_row.key_column
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN rec;
END
$$;
COMMENT ON FUNCTION hashring._moves_row(text, text, text) IS 'internal: a sharded table''s hashring.moves row, created if missing, locked, with its key column checked';

/*
 * Starts or resumes a move: returns the version the rows are placed by and
 * the version this move takes them to (an interrupted move is finished
 * first, to its recorded version).
 */
CREATE FUNCTION hashring._move_begin(ring text, tbl text, key_column text, requested bigint, lock_key bigint,
                                     OUT from_version bigint, OUT to_version bigint)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
    rec hashring.moves;
    t text := hashring._move_table(_move_begin.tbl);
BEGIN
    SELECT r.ring_id, r.version INTO cur FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) _move_begin.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', _move_begin.ring USING ERRCODE = 'undefined_object';
    END IF;
    IF $4 IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM hashring.ring_history AS h
             WHERE h.ring_id OPERATOR(pg_catalog.=) cur.ring_id AND h.version OPERATOR(pg_catalog.=) $4) THEN
        RAISE EXCEPTION 'version % of ring "%" is not in its history', $4, _move_begin.ring
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'hashring.ring_versions() lists the versions routing can use.';
    END IF;
    rec := hashring._moves_row(_move_begin.ring, t, _move_begin.key_column);
    IF rec.moving_to IS NOT NULL THEN
        IF $4 IS NOT NULL AND $4 OPERATOR(pg_catalog.<>) rec.settled_version THEN
            RAISE EXCEPTION 'a move of % from version % to version % of ring "%" was interrupted',
                            t, rec.settled_version, rec.moving_to, _move_begin.ring
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Run ring_move without from_version to finish it.';
        END IF;
        from_version := rec.settled_version;
        to_version := rec.moving_to;
        RAISE NOTICE 'finishing the interrupted move of % to version %', t, rec.moving_to;
    ELSE
        from_version := COALESCE($4, rec.settled_version);
        IF from_version IS NULL THEN
            RAISE EXCEPTION 'no ring version is known to place the rows of % on ring "%"', t, _move_begin.ring
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'A table''s first move must say which version its rows are placed by.',
                      HINT = 'Pass from_version => the ring version the rows were loaded by (hashring.ring_versions() lists them).';
        END IF;
        to_version := cur.version;
    END IF;
    UPDATE hashring.moves AS m
       SET settled_version = _move_begin.from_version, moving_to = _move_begin.to_version,
           pid = pg_catalog.pg_backend_pid(), lock_key = _move_begin.lock_key, started_at = pg_catalog.clock_timestamp(),
           updated_at = pg_catalog.clock_timestamp(), source = NULL, target = NULL,
           rows_moved = 0, rows_scanned = 0, rows_planned = 0, rows_estimated = 0, batches = 0, retries = 0,
           last_error = NULL
     WHERE m.ring OPERATOR(pg_catalog.=) _move_begin.ring AND m.tbl OPERATOR(pg_catalog.=) t;
END
$$;
COMMENT ON FUNCTION hashring._move_begin(text, text, text, bigint, bigint) IS 'internal: records the start of ring_move, returns the versions it moves between';

-- every node of either version, with its target (the newer version's)
CREATE FUNCTION hashring._move_nodes(ring text, from_version bigint, to_version bigint,
                                     OUT node text, OUT target text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT DISTINCT ON (n.value OPERATOR(pg_catalog.->>) 'node')
       n.value OPERATOR(pg_catalog.->>) 'node', n.value OPERATOR(pg_catalog.->>) 'target'
  FROM hashring.ring_history AS h
  JOIN hashring.rings AS r ON r.ring_id OPERATOR(pg_catalog.=) h.ring_id
 CROSS JOIN LATERAL pg_catalog.jsonb_array_elements(h.nodes) AS n
 WHERE r.ring OPERATOR(pg_catalog.=) $1 AND h.version IN ($2, $3)
 ORDER BY n.value OPERATOR(pg_catalog.->>) 'node', h.version DESC
$$;
COMMENT ON FUNCTION hashring._move_nodes(text, bigint, bigint) IS 'internal: the nodes ring_move reads from and writes to';

CREATE FUNCTION hashring._move_progress(ring text, tbl text, source text, target text,
                                        rows_moved bigint, rows_scanned bigint, retries bigint, last_error text,
                                        rows_planned bigint, rows_estimated bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
UPDATE hashring.moves AS m
   SET source = $3, target = $4, rows_moved = $5, rows_scanned = $6,
       batches = m.batches OPERATOR(pg_catalog.+) CASE WHEN $8 IS NULL THEN 1 ELSE 0 END,
       retries = $7, last_error = COALESCE($8, m.last_error), rows_planned = $9, rows_estimated = $10,
       updated_at = pg_catalog.clock_timestamp()
 WHERE m.ring OPERATOR(pg_catalog.=) $1 AND m.tbl OPERATOR(pg_catalog.=) $2
$$;
COMMENT ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint) IS 'internal: ring_move''s progress after a batch';

-- a finished move: the rows are placed by to_version; returns the ring's version now
CREATE FUNCTION hashring._move_end(ring text, tbl text, to_version bigint, rows_moved bigint,
                                   rows_scanned bigint, rows_planned bigint)
RETURNS bigint
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
UPDATE hashring.moves AS m
   SET settled_version = $3, moving_to = NULL, pid = NULL, source = NULL, target = NULL,
       rows_moved = $4, rows_scanned = $5, rows_planned = $6, updated_at = pg_catalog.clock_timestamp()
 WHERE m.ring OPERATOR(pg_catalog.=) $1 AND m.tbl OPERATOR(pg_catalog.=) $2;
SELECT r.version FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) $1;
$$;
COMMENT ON FUNCTION hashring._move_end(text, text, bigint, bigint, bigint, bigint) IS 'internal: records a finished ring_move';

DROP PROCEDURE hashring.ring_move(text, text, name, integer);
CREATE PROCEDURE hashring.ring_move(ring text, tbl text, key_column name, batch_size integer DEFAULT 5000,
                                    from_version bigint DEFAULT NULL, rows_per_second integer DEFAULT NULL,
                                    max_retries integer DEFAULT 10)
AS 'MODULE_PATHNAME', 'hashring_ring_move'
LANGUAGE C;
COMMENT ON PROCEDURE hashring.ring_move(text, text, name, integer, bigint, integer, integer) IS 'moves a sharded table''s rows to their owners at the ring''s current version, batch by batch, never deleting a row before its copy has committed';

-- integer, bigint and uuid keys at a committed version (pg_hash hashes the
-- typed value, every other algorithm its text form, as ring_node does)
CREATE FUNCTION hashring.ring_node(ring text, key integer, version bigint)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_typed_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, integer, bigint) IS 'node that owned the integer key at a committed version of the ring';
CREATE FUNCTION hashring.ring_node(ring text, key bigint, version bigint)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_typed_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, bigint, bigint) IS 'node that owned the bigint key at a committed version of the ring';
CREATE FUNCTION hashring.ring_node(ring text, key uuid, version bigint)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_typed_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, uuid, bigint) IS 'node that owned the uuid key at a committed version of the ring';

/*
 * Where a key's row of a moving table may be, in the order to try:
 * applications read or write the first node that has the row, and insert a
 * new key on the last (docs/rebalancing.md).  Keys are routed as the mover
 * routes them: integer, bigint and uuid by their typed value, others as text.
 * It reads hashring.moves as the extension's owner: routing needs only the
 * route capability.
 */
CREATE FUNCTION hashring._placement(ring text, tbl text, key anyelement)
RETURNS text[]
LANGUAGE plpgsql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rec record;
    a text;
    b text;
BEGIN
    SELECT m.settled_version, m.moving_to INTO rec FROM hashring.moves AS m
     WHERE m.ring OPERATOR(pg_catalog.=) _placement.ring
       AND m.tbl OPERATOR(pg_catalog.=) hashring._move_table(_placement.tbl);
    IF NOT FOUND THEN
        RETURN ARRAY[hashring.ring_node(_placement.ring, _placement.key)];
    END IF;
    IF rec.settled_version IS NULL THEN
        RETURN ARRAY[hashring.ring_node(_placement.ring, _placement.key)];
    END IF;
    a := hashring.ring_node(_placement.ring, _placement.key, rec.settled_version);
    IF rec.moving_to IS NULL THEN
        RETURN ARRAY[a];
    END IF;
    b := hashring.ring_node(_placement.ring, _placement.key, rec.moving_to);
    RETURN CASE WHEN a OPERATOR(pg_catalog.=) b THEN ARRAY[a] ELSE ARRAY[a, b] END;
END
$$;
COMMENT ON FUNCTION hashring._placement(text, text, anyelement) IS 'internal: ring_placement for every key type';
CREATE FUNCTION hashring.ring_placement(ring text, tbl text, key text)
RETURNS text[] LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$ SELECT hashring._placement(ring, tbl, key) $$;
COMMENT ON FUNCTION hashring.ring_placement(text, text, text) IS 'the nodes a key''s row of a sharded table may be on, in the order applications try them (two while a move runs)';
CREATE FUNCTION hashring.ring_placement(ring text, tbl text, key integer)
RETURNS text[] LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$ SELECT hashring._placement(ring, tbl, key) $$;
COMMENT ON FUNCTION hashring.ring_placement(text, text, integer) IS 'the nodes an integer key''s row of a sharded table may be on, in the order applications try them';
CREATE FUNCTION hashring.ring_placement(ring text, tbl text, key bigint)
RETURNS text[] LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$ SELECT hashring._placement(ring, tbl, key) $$;
COMMENT ON FUNCTION hashring.ring_placement(text, text, bigint) IS 'the nodes a bigint key''s row of a sharded table may be on, in the order applications try them';
CREATE FUNCTION hashring.ring_placement(ring text, tbl text, key uuid)
RETURNS text[] LANGUAGE sql STABLE STRICT SET search_path = pg_catalog, pg_temp
AS $$ SELECT hashring._placement(ring, tbl, key) $$;
COMMENT ON FUNCTION hashring.ring_placement(text, text, uuid) IS 'the nodes a uuid key''s row of a sharded table may be on, in the order applications try them';

CREATE VIEW hashring.ring_move_progress AS
SELECT m.ring, m.tbl, m.settled_version AS from_version, m.moving_to AS to_version, m.pid,
       -- running: that backend still holds the move's advisory lock
       EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
                  AND l.pid OPERATOR(pg_catalog.=) m.pid AND l.objsubid OPERATOR(pg_catalog.=) 1
                  AND l.classid::pg_catalog.int8 OPERATOR(pg_catalog.=) ((m.lock_key OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295)
                  AND l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) (m.lock_key OPERATOR(pg_catalog.&) 4294967295)) AS running,
       m.source, m.target, m.rows_moved, m.rows_planned, m.rows_scanned, m.rows_estimated, m.batches, m.retries,
       CASE WHEN m.updated_at OPERATOR(pg_catalog.>) m.started_at
            THEN (m.rows_moved::double precision OPERATOR(pg_catalog./)
                  pg_catalog.date_part('epoch', m.updated_at OPERATOR(pg_catalog.-) m.started_at))::bigint END
           AS rows_per_second,
       m.started_at, m.updated_at, m.last_error
  FROM hashring.moves AS m
 WHERE m.moving_to IS NOT NULL;
COMMENT ON VIEW hashring.ring_move_progress IS 'moves of sharded tables that are running or were interrupted, with their progress';

/*
 * Records the ring version a sharded table's rows are placed by, without
 * moving anything: call it when the table is loaded, so that ring_placement
 * keeps answering by that version after membership changes, until the
 * table's next move.
 */
CREATE FUNCTION hashring.ring_settle(ring text, tbl text, key_column name, version bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur record;
    rec hashring.moves;
    t text;
    v bigint;
BEGIN
    IF ring IS NULL OR tbl IS NULL OR key_column IS NULL THEN
        RAISE EXCEPTION 'ring, table and key column must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    t := hashring._move_table(tbl);
    SELECT r.ring_id, r.version INTO cur FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_settle.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_settle.ring USING ERRCODE = 'undefined_object';
    END IF;
    v := COALESCE(ring_settle.version, cur.version);
    IF NOT EXISTS (SELECT 1 FROM hashring.ring_history AS h
                    WHERE h.ring_id OPERATOR(pg_catalog.=) cur.ring_id AND h.version OPERATOR(pg_catalog.=) v) THEN
        RAISE EXCEPTION 'version % of ring "%" is not in its history', v, ring_settle.ring
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'hashring.ring_versions() lists the versions routing can use; a change made in this transaction is recorded when it commits.';
    END IF;
    rec := hashring._moves_row(ring_settle.ring, t, ring_settle.key_column);
    IF rec.moving_to IS NOT NULL THEN
        RAISE EXCEPTION 'a move of % to version % of ring "%" is running or was interrupted', t, rec.moving_to, ring_settle.ring
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Finish it with ring_move.';
    END IF;
    UPDATE hashring.moves AS m SET settled_version = v, updated_at = pg_catalog.clock_timestamp()
     WHERE m.ring OPERATOR(pg_catalog.=) ring_settle.ring AND m.tbl OPERATOR(pg_catalog.=) t;
    RETURN v;
END
$$;
COMMENT ON FUNCTION hashring.ring_settle(text, text, name, bigint) IS 'records the ring version a sharded table''s rows are placed by (default: the current one), without moving anything';

/* ---------------------------------------------------------------------------
 * Privileges (docs/reference.md, "Privileges").  Four capabilities, each
 * granted by one call of hashring.ring_grant(role, capability):
 *   route   the lookup functions
 *   read    route + membership, history, balance, diffs and move state
 *   change  read + the membership functions and plain DML on membership
 *   move    read + ring_move and its helpers
 * Nothing is granted to PUBLIC.  The catalog is read for routing as the
 * extension's owner, so the answer to "may this role route or see this"
 * is EXECUTE on the function it calls, checked on every call, never who
 * warmed the cache.  History is written only by _record_version (C, as the
 * owner, through _write_history, which only the owner may execute).
 * ------------------------------------------------------------------------- */

/*
 * History of the version a transaction commits (called, as the extension's
 * owner, only by the rings_record_version trigger).  The first event of the
 * transaction does the work; the others find the version recorded.
 */
CREATE FUNCTION hashring._write_history(ring_id bigint, committed_by name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur hashring.rings;
BEGIN
    SELECT r.* INTO cur FROM hashring.rings AS r WHERE r.ring_id OPERATOR(pg_catalog.=) _write_history.ring_id;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM hashring.ring_history AS h
                             WHERE h.ring_id OPERATOR(pg_catalog.=) cur.ring_id
                               AND h.version OPERATOR(pg_catalog.=) cur.version) THEN
        RETURN;
    END IF;
    -- the membership must be routable: build it once, as every lookup would
    -- (a slots ring with unassigned slots is allowed while it is being set up)
    BEGIN
        PERFORM hashring._check_ring(cur.ring);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        NULL;
    END;
    INSERT INTO hashring.ring_history
    VALUES (cur.ring_id, cur.ring, cur.version, pg_catalog.clock_timestamp(), _write_history.committed_by,
            cur.algorithm, cur.vnodes, cur.replicas, cur.table_size,
            COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'node', n.node, 'weight', n.weight, 'state', n.state, 'ordinal', n.ordinal,
                          'node_id', pg_catalog.encode(n.node_id, 'hex'), 'target', n.target, 'zone', n.zone)
                          ORDER BY n.node)
                        FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) cur.ring), '[]'),
            COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                          'node', s.node, 'first_slot', s.first_slot, 'last_slot', s.last_slot)
                          ORDER BY s.first_slot)
                        FROM hashring.slot_ranges AS s WHERE s.ring OPERATOR(pg_catalog.=) cur.ring), '[]'));
END
$$;
COMMENT ON FUNCTION hashring._write_history(bigint, name) IS 'internal: writes the history row of a committed ring version (only the extension owner may run it)';

/* A node's target names a foreign server, never carries a password. */
CREATE FUNCTION hashring._nodes_check_target()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.target OPERATOR(pg_catalog.~*) '(^|[[:space:]?&])password[[:space:]]*='
       OR NEW.target OPERATOR(pg_catalog.~*) '^postgres(ql)?://[^/@]*:[^/@]*@' THEN
        RAISE EXCEPTION 'the target of node "%" of ring "%" contains a password', NEW.node, NEW.ring
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Targets are copied into hashring.ring_history, which every role that may read membership can read.',
                  HINT = 'Keep secrets in a user mapping (CREATE USER MAPPING ... OPTIONS (password ...)) and set the target to the foreign server''s name.';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION hashring._nodes_check_target() IS 'internal: refuses node targets that contain a password';
CREATE TRIGGER nodes_check_target BEFORE INSERT OR UPDATE OF target ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._nodes_check_target();

/*
 * What each capability adds, by object: ('function', name) grants EXECUTE
 * on every routine of that name, ('table', name) the listed privileges.
 */
CREATE FUNCTION hashring._capability(capability text, OUT kind text, OUT object text, OUT privileges text)
RETURNS SETOF record
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT c.kind, c.object, c.privileges FROM (VALUES
    ('route', 'schema', 'hashring', 'USAGE'),
    ('route', 'function', 'ring_node', 'EXECUTE'), ('route', 'function', 'ring_nodes', 'EXECUTE'),
    ('route', 'function', 'ring_hash', 'EXECUTE'), ('route', 'function', 'ring_slot', 'EXECUTE'),
    ('route', 'function', 'ring_placement', 'EXECUTE'), ('route', 'function', '_placement', 'EXECUTE'),
    ('route', 'function', '_move_table', 'EXECUTE'),
    ('read', 'function', 'ring_balance', 'EXECUTE'), ('read', 'function', 'ring_diff', 'EXECUTE'),
    ('read', 'function', 'ring_versions', 'EXECUTE'), ('read', 'function', 'ring_plan_moves', 'EXECUTE'),
    ('read', 'function', 'ring_cache_info', 'EXECUTE'), ('read', 'function', 'node_points', 'EXECUTE'),
    ('read', 'table', 'rings', 'SELECT'), ('read', 'table', 'nodes', 'SELECT'),
    ('read', 'table', 'slot_ranges', 'SELECT'), ('read', 'table', 'ring_history', 'SELECT'),
    ('read', 'table', 'moves', 'SELECT'), ('read', 'table', 'ring_move_progress', 'SELECT'),
    ('change', 'function', 'ring_create', 'EXECUTE'), ('change', 'function', 'ring_drop', 'EXECUTE'),
    ('change', 'function', 'ring_add_node', 'EXECUTE'), ('change', 'function', 'ring_remove_node', 'EXECUTE'),
    ('change', 'function', 'ring_set_weight', 'EXECUTE'), ('change', 'function', 'ring_set_state', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_id', 'EXECUTE'), ('change', 'function', 'ring_assign_slots', 'EXECUTE'),
    ('change', 'function', 'ring_clear_slots', 'EXECUTE'), ('change', 'function', 'ring_prune_versions', 'EXECUTE'),
    ('change', 'function', '_check_name', 'EXECUTE'), ('change', 'function', '_node_not_found', 'EXECUTE'),
    ('change', 'function', '_check_point_limit', 'EXECUTE'), ('change', 'function', '_check_jump_removal', 'EXECUTE'),
    ('change', 'function', '_is_prime', 'EXECUTE'),
    ('change', 'table', 'rings', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'nodes', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'slot_ranges', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('move', 'function', 'ring_move', 'EXECUTE'), ('move', 'function', '_move_begin', 'EXECUTE'),
    ('move', 'function', '_move_nodes', 'EXECUTE'), ('move', 'function', '_move_progress', 'EXECUTE'),
    ('move', 'function', '_move_end', 'EXECUTE'), ('move', 'function', '_shard_table', 'EXECUTE'),
    ('move', 'function', 'ring_settle', 'EXECUTE')
) AS c (cap, kind, object, privileges)
WHERE c.cap OPERATOR(pg_catalog.=) capability
$$;
COMMENT ON FUNCTION hashring._capability(text) IS 'internal: the objects and privileges one capability adds';

CREATE FUNCTION hashring._capability_apply(role regrole, capability text, grant_it boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c record;
    f regprocedure;
BEGIN
    FOR c IN SELECT * FROM hashring._capability(capability) LOOP
        IF c.kind OPERATOR(pg_catalog.=) 'function' THEN
            FOR f IN SELECT p.oid FROM pg_catalog.pg_proc AS p
                      WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
                        AND p.proname OPERATOR(pg_catalog.=) c.object LOOP
                EXECUTE pg_catalog.format(CASE WHEN grant_it THEN 'GRANT EXECUTE ON ROUTINE %s TO %s'
                                               ELSE 'REVOKE EXECUTE ON ROUTINE %s FROM %s' END, f, role);
            END LOOP;
        ELSIF c.kind OPERATOR(pg_catalog.=) 'schema' THEN
            EXECUTE pg_catalog.format(CASE WHEN grant_it THEN 'GRANT USAGE ON SCHEMA hashring TO %s'
                                           ELSE 'REVOKE USAGE ON SCHEMA hashring FROM %s' END, role);
        ELSE
            EXECUTE pg_catalog.format(CASE WHEN grant_it THEN 'GRANT %s ON TABLE hashring.%I TO %s'
                                           ELSE 'REVOKE %s ON TABLE hashring.%I FROM %s' END,
                                      c.privileges, c.object, role);
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION hashring._capability_apply(regrole, text, boolean) IS 'internal: grants or revokes what one capability adds';

/*
 * Grants a capability (and those it builds on) to a role in this database:
 * 'route', 'read' (route + reading), 'change' (read + membership changes),
 * 'move' (read + ring_move).  Only the extension's owner (or a superuser)
 * may call it.
 */
CREATE FUNCTION hashring.ring_grant(role regrole, capability text)
RETURNS void
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF capability OPERATOR(pg_catalog.<>) ALL (ARRAY['route', 'read', 'change', 'move']) THEN
        RAISE EXCEPTION 'unknown hashring capability "%"', capability
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The capabilities are route, read, change and move.';
    END IF;
    PERFORM hashring._capability_apply(role, 'route', true);
    IF capability OPERATOR(pg_catalog.<>) 'route' THEN
        PERFORM hashring._capability_apply(role, 'read', true);
    END IF;
    IF capability OPERATOR(pg_catalog.=) ANY (ARRAY['change', 'move']) THEN
        PERFORM hashring._capability_apply(role, capability, true);
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_grant(regrole, text) IS 'grants a hashring capability (route, read, change or move) to a role';

/*
 * Revokes a capability and every capability built on it: 'route' revokes
 * all four, 'read' also change and move.
 */
CREATE FUNCTION hashring.ring_revoke(role regrole, capability text)
RETURNS void
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF capability OPERATOR(pg_catalog.<>) ALL (ARRAY['route', 'read', 'change', 'move']) THEN
        RAISE EXCEPTION 'unknown hashring capability "%"', capability
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The capabilities are route, read, change and move.';
    END IF;
    IF capability OPERATOR(pg_catalog.=) ANY (ARRAY['route', 'read', 'change']) THEN
        PERFORM hashring._capability_apply(role, 'change', false);
    END IF;
    IF capability OPERATOR(pg_catalog.=) ANY (ARRAY['route', 'read', 'move']) THEN
        PERFORM hashring._capability_apply(role, 'move', false);
    END IF;
    IF capability OPERATOR(pg_catalog.=) ANY (ARRAY['route', 'read']) THEN
        PERFORM hashring._capability_apply(role, 'read', false);
    END IF;
    IF capability OPERATOR(pg_catalog.=) 'route' THEN
        PERFORM hashring._capability_apply(role, 'route', false);
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_revoke(regrole, text) IS 'revokes a hashring capability and those built on it from a role';

-- history is written only as the extension's owner
CREATE OR REPLACE FUNCTION hashring._record_version()
RETURNS trigger AS 'MODULE_PATHNAME', 'hashring_record_version'
LANGUAGE C;
COMMENT ON FUNCTION hashring._record_version() IS 'internal: records the committed version of a ring in ring_history, as the extension owner';
ALTER FUNCTION hashring.ring_prune_versions(text, bigint) SECURITY DEFINER;

-- targets written before 0.4 are not checked again: say so if one has a password
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM hashring.nodes AS n
                WHERE n.target OPERATOR(pg_catalog.~*) '(^|[[:space:]?&])password[[:space:]]*='
                   OR n.target OPERATOR(pg_catalog.~*) '^postgres(ql)?://[^/@]*:[^/@]*@') THEN
        RAISE WARNING 'some node targets contain a password'
            USING DETAIL = 'Targets are copied into hashring.ring_history, which every role that may read membership can read.',
                  HINT = 'Move the secret into a user mapping and set the target to the foreign server''s name.';
    END IF;
END
$$;

-- nothing for PUBLIC: every capability is granted explicitly
REVOKE ALL ON ALL ROUTINES IN SCHEMA hashring FROM PUBLIC;
REVOKE ALL ON SCHEMA hashring FROM PUBLIC;
