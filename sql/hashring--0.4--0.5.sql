/* hashring--0.4--0.5.sql -- the catalog triggers ask the library about algorithms;
 * ring_history keeps nodes and slot ranges in the shape of the current tables */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.5'" to load this file. \quit

/*
 * What the library's algorithms are and take (the registry, algorithms.c):
 * the triggers ask it rather than naming algorithms.
 */
CREATE FUNCTION hashring.ring_algorithms(OUT algorithm text, OUT weighted boolean, OUT typed_keys boolean,
                                         OUT slot_ranges boolean, OUT fixed_order boolean,
                                         OUT parameter text, OUT key_space text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'hashring_ring_algorithms'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_algorithms() IS 'lists the routing algorithms and what each takes';

REVOKE ALL ON FUNCTION hashring.ring_algorithms() FROM PUBLIC;

-- ring_algorithms belongs to the read capability: every role that has it
-- (EXECUTE on ring_balance) gets it, as ring_grant(role, 'read') now gives.
DO $$
DECLARE
    r regrole;
BEGIN
    FOR r IN SELECT DISTINCT a.grantee::regrole
               FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
                AND p.proname OPERATOR(pg_catalog.=) 'ring_balance'
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_algorithms() TO %s', r);
    END LOOP;
END
$$;

/* The triggers: the same rules, read from ring_algorithms() instead of lists of names. */

CREATE OR REPLACE FUNCTION hashring._rings_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    algo record;
    names text;
BEGIN
    PERFORM hashring._check_name('ring', NEW.ring, 63);
    IF TG_OP = 'INSERT' THEN
        IF EXISTS (SELECT 1 FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) NEW.ring) THEN
            RAISE EXCEPTION 'ring "%" already exists', NEW.ring USING ERRCODE = 'duplicate_object';
        END IF;
        NEW.version := 1;
    ELSE
        IF NEW.ring OPERATOR(pg_catalog.<>) OLD.ring OR NEW.ring_id OPERATOR(pg_catalog.<>) OLD.ring_id THEN
            RAISE EXCEPTION 'cannot rename ring "%" or change its ring_id', OLD.ring
                USING ERRCODE = 'feature_not_supported',
                      HINT = 'Create a new ring and add the nodes to it.';
        END IF;
        NEW.version := OLD.version OPERATOR(pg_catalog.+) 1;
    END IF;
    SELECT a.* INTO algo FROM hashring.ring_algorithms() AS a
     WHERE a.algorithm OPERATOR(pg_catalog.=) NEW.algorithm;
    IF NOT FOUND THEN
        SELECT pg_catalog.string_agg(a.algorithm, ', ' ORDER BY a.ordinality) INTO names
          FROM hashring.ring_algorithms() WITH ORDINALITY AS a;
        RAISE EXCEPTION 'unknown ring algorithm "%"', NEW.algorithm
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = pg_catalog.format('Supported algorithms: %s.', names);
    END IF;
    IF NEW.table_size IS NOT NULL THEN
        IF algo.parameter IS DISTINCT FROM 'table_size' THEN
            SELECT pg_catalog.string_agg(a.algorithm, ', ') INTO names
              FROM hashring.ring_algorithms() AS a WHERE a.parameter OPERATOR(pg_catalog.=) 'table_size';
            RAISE EXCEPTION 'table_size applies only to % rings', names
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT hashring._is_prime(NEW.table_size) OR NEW.table_size OPERATOR(pg_catalog.>) 16777213 THEN
            RAISE EXCEPTION 'maglev table_size must be a prime between 2 and 16777213'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('The value given was %s.', NEW.table_size),
                      HINT = 'The default, 65537, is prime; so are 251, 4093, 131071 and 1048573.';
        END IF;
    END IF;
    IF algo.parameter OPERATOR(pg_catalog.=) 'table_size' THEN
        IF (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>) COALESCE(NEW.table_size, 65537) THEN
            RAISE EXCEPTION '% table_size must be at least the number of nodes', NEW.algorithm
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.algorithm OPERATOR(pg_catalog.<>) OLD.algorithm
       AND NOT algo.weighted
       AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring AND n.weight OPERATOR(pg_catalog.<>) 1) THEN
        RAISE EXCEPTION 'algorithm % does not support weights', NEW.algorithm
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Some nodes of the ring have a weight other than 1.';
    END IF;
    IF NEW.vnodes IS NULL OR NEW.vnodes OPERATOR(pg_catalog.<) 1 OR NEW.vnodes OPERATOR(pg_catalog.>) 100000 THEN
        RAISE EXCEPTION 'vnodes must be between 1 and 100000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The value given was %s.', COALESCE(NEW.vnodes::text, 'NULL'));
    END IF;
    IF NEW.replicas IS NULL OR NEW.replicas OPERATOR(pg_catalog.<) 1 OR NEW.replicas OPERATOR(pg_catalog.>) 1000 THEN
        RAISE EXCEPTION 'replicas must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The value given was %s.', COALESCE(NEW.replicas::text, 'NULL'));
    END IF;
    IF algo.slot_ranges
       AND (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>) 16384 THEN
        RAISE EXCEPTION '% ring "%" cannot have more nodes than its 16384 slots', NEW.algorithm, NEW.ring
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF algo.parameter OPERATOR(pg_catalog.=) 'table_size'
       AND (TG_OP = 'INSERT' OR NEW.table_size IS DISTINCT FROM OLD.table_size
            OR NEW.algorithm OPERATOR(pg_catalog.<>) OLD.algorithm)
       -- the shared region also holds the allocator's own bookkeeping: 1 MB is ample
       AND (4::bigint OPERATOR(pg_catalog.*) COALESCE(NEW.table_size, 65537))
           OPERATOR(pg_catalog.>) (COALESCE(pg_catalog.pg_size_bytes(
               pg_catalog.current_setting('hashring.shared_memory', true)), 9223372036854775807)
           OPERATOR(pg_catalog.-) 1048576) THEN
        RAISE WARNING '% ring "%" will not fit in hashring shared memory', NEW.algorithm, NEW.ring
            USING DETAIL = pg_catalog.format('Its table of %s entries takes %s; hashring.shared_memory is %s, less the allocator''s own bookkeeping.',
                                             COALESCE(NEW.table_size, 65537),
                                             pg_catalog.pg_size_pretty(4::bigint OPERATOR(pg_catalog.*) COALESCE(NEW.table_size, 65537)),
                                             pg_catalog.current_setting('hashring.shared_memory')),
                  HINT = 'Every backend will build its own copy.  Increase hashring.shared_memory or use a smaller table_size.';
    END IF;
    IF TG_OP = 'INSERT' THEN
        NEW.points_total := 0;
    ELSIF NEW.vnodes OPERATOR(pg_catalog.<>) OLD.vnodes OR NEW.algorithm OPERATOR(pg_catalog.<>) OLD.algorithm THEN
        SELECT COALESCE(pg_catalog.sum(hashring.node_points(n.weight, NEW.vnodes)), 0) INTO NEW.points_total
          FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring;
        IF algo.parameter OPERATOR(pg_catalog.=) 'vnodes' THEN
            PERFORM hashring._check_point_limit(NEW.ring, NEW.points_total);
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION hashring._nodes_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ring_vnodes integer;
    ring_algorithm text;
    ring_table_size integer;
    ring_points bigint;
    algo record;
BEGIN
    PERFORM hashring._check_name('ring', NEW.ring, 63);
    PERFORM hashring._check_name('node', NEW.node, 255);
    -- Locking the ring row first serialises all writers of one ring, so the
    -- duplicate and point-limit checks below see every committed change.
    SELECT r.vnodes, r.algorithm, r.table_size, r.points_total
      INTO ring_vnodes, ring_algorithm, ring_table_size, ring_points
      FROM hashring.rings AS r
     WHERE r.ring OPERATOR(pg_catalog.=) NEW.ring FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', NEW.ring USING ERRCODE = 'undefined_object';
    END IF;
    SELECT a.* INTO algo FROM hashring.ring_algorithms() AS a
     WHERE a.algorithm OPERATOR(pg_catalog.=) ring_algorithm;
    IF (TG_OP = 'INSERT' OR NEW.ring OPERATOR(pg_catalog.<>) OLD.ring OR NEW.node OPERATOR(pg_catalog.<>) OLD.node)
       AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring AND n.node OPERATOR(pg_catalog.=) NEW.node) THEN
        RAISE EXCEPTION 'node "%" already exists in ring "%"', NEW.node, NEW.ring USING ERRCODE = 'duplicate_object';
    END IF;
    IF NEW.weight IS NULL OR NEW.weight OPERATOR(pg_catalog.<=) 0
       OR NEW.weight OPERATOR(pg_catalog.=) 'NaN'::real OR NEW.weight OPERATOR(pg_catalog.=) 'Infinity'::real THEN
        RAISE EXCEPTION 'node weight must be a finite number greater than zero'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The value given was %s.', COALESCE(NEW.weight::text, 'NULL'));
    END IF;
    IF NEW.weight OPERATOR(pg_catalog.<>) 1 AND NOT algo.weighted THEN
        RAISE EXCEPTION 'algorithm % does not support weights', ring_algorithm
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('Node "%s" was given weight %s; every node of a %s ring has weight 1.',
                                             NEW.node, NEW.weight, ring_algorithm);
    END IF;
    IF NEW.node_id IS NOT NULL AND pg_catalog.octet_length(NEW.node_id) OPERATOR(pg_catalog.<>) 20 THEN
        RAISE EXCEPTION 'node_id must be 20 bytes long'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The value given is %s bytes long.', pg_catalog.octet_length(NEW.node_id));
    END IF;
    IF TG_OP = 'INSERT' AND algo.parameter OPERATOR(pg_catalog.=) 'table_size'
       AND (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>=) COALESCE(ring_table_size, 65537) THEN
        RAISE EXCEPTION '% ring "%" cannot have more nodes than its % table entries', ring_algorithm, NEW.ring, COALESCE(ring_table_size, 65537)
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Use a larger prime table_size.';
    END IF;
    IF TG_OP = 'INSERT' AND algo.slot_ranges
       AND (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>=) 16384 THEN
        RAISE EXCEPTION '% ring "%" cannot have more nodes than its 16384 slots', ring_algorithm, NEW.ring
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.<>) OLD.ring THEN
        -- leaving a ring is removing the node from it
        PERFORM hashring._check_jump_removal(OLD.ring, OLD.node, OLD.ordinal);
        IF NEW.ordinal IS NOT DISTINCT FROM OLD.ordinal THEN
            -- and it joins the other ring at the end, as ring_add_node would
            NEW.ordinal := NULL;
        END IF;
    END IF;
    IF algo.fixed_order THEN
        IF TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.=) OLD.ring
           AND NEW.ordinal IS DISTINCT FROM OLD.ordinal THEN
            RAISE EXCEPTION 'cannot change the ordinal of node "%" of % ring "%"', NEW.node, ring_algorithm, NEW.ring
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Jump consistent hash numbers its buckets in node order; a new ordinal would renumber buckets and move their keys.';
        END IF;
        IF (TG_OP = 'INSERT' OR NEW.ring OPERATOR(pg_catalog.<>) OLD.ring) AND NEW.ordinal IS NOT NULL
           AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                        WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring
                          AND n.ordinal OPERATOR(pg_catalog.>=) NEW.ordinal) THEN
            RAISE EXCEPTION 'node "%" must come after every node of % ring "%"', NEW.node, ring_algorithm, NEW.ring
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = pg_catalog.format('Its ordinal %s is not greater than the ordinals of the nodes already in the ring; jump adds buckets only at the end.', NEW.ordinal),
                      HINT = 'Leave the ordinal NULL: the next one is assigned.';
        END IF;
    END IF;
    IF NEW.state IS NULL OR NEW.state OPERATOR(pg_catalog.<>) ALL (ARRAY['active', 'down']) THEN
        RAISE EXCEPTION 'unknown node state "%"', NEW.state
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Valid states are active and down.';
    END IF;
    IF TG_OP = 'INSERT' OR NEW.ring OPERATOR(pg_catalog.<>) OLD.ring THEN
        IF NEW.ordinal IS NULL THEN
            SELECT COALESCE(pg_catalog.max(n.ordinal) OPERATOR(pg_catalog.+) 1, 0) INTO NEW.ordinal
              FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring;
        END IF;
    END IF;
    IF NEW.ordinal IS NULL OR NEW.ordinal OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'node ordinal must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF algo.parameter OPERATOR(pg_catalog.=) 'vnodes' AND
       (TG_OP = 'INSERT' OR NEW.weight OPERATOR(pg_catalog.<>) OLD.weight OR NEW.ring OPERATOR(pg_catalog.<>) OLD.ring) THEN
        -- O(1): the ring row keeps the total (see _nodes_bump)
        PERFORM hashring._check_point_limit(NEW.ring,
            ring_points OPERATOR(pg_catalog.+) hashring.node_points(NEW.weight, ring_vnodes)
            OPERATOR(pg_catalog.-) CASE WHEN TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.=) OLD.ring
                                        THEN hashring.node_points(OLD.weight, ring_vnodes) ELSE 0 END);
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION hashring._slot_ranges_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ring_algorithm text;
    clash record;
BEGIN
    SELECT r.algorithm INTO ring_algorithm FROM hashring.rings AS r
     WHERE r.ring OPERATOR(pg_catalog.=) NEW.ring FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', NEW.ring USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hashring.ring_algorithms() AS a
                    WHERE a.algorithm OPERATOR(pg_catalog.=) ring_algorithm AND a.slot_ranges) THEN
        RAISE EXCEPTION 'ring "%" does not use the slots algorithm', NEW.ring
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring AND n.node OPERATOR(pg_catalog.=) NEW.node) THEN
        RAISE EXCEPTION 'node "%" does not exist in ring "%"', NEW.node, NEW.ring USING ERRCODE = 'undefined_object';
    END IF;
    IF NEW.first_slot IS NULL OR NEW.last_slot IS NULL OR NEW.first_slot OPERATOR(pg_catalog.<) 0
       OR NEW.last_slot OPERATOR(pg_catalog.>) 16383 OR NEW.first_slot OPERATOR(pg_catalog.>) NEW.last_slot THEN
        RAISE EXCEPTION 'slot range must satisfy 0 <= first_slot <= last_slot <= 16383'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = pg_catalog.format('The range given was %s-%s.', NEW.first_slot, NEW.last_slot);
    END IF;
    SELECT s.* INTO clash FROM hashring.slot_ranges AS s
     WHERE s.ring OPERATOR(pg_catalog.=) NEW.ring
       AND s.first_slot OPERATOR(pg_catalog.<=) NEW.last_slot AND s.last_slot OPERATOR(pg_catalog.>=) NEW.first_slot
       AND (TG_OP = 'INSERT' OR s.first_slot OPERATOR(pg_catalog.<>) OLD.first_slot)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'slot range %-% overlaps range %-% of node "%"',
                        NEW.first_slot, NEW.last_slot, clash.first_slot, clash.last_slot, clash.node
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Each slot belongs to one node; remove the old range first (hashring.ring_clear_slots() removes them all).';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION hashring._check_jump_removal(ring text, node text, ordinal integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ring_algorithm text;
BEGIN
    -- (when the ring itself is being dropped, its row is already gone)
    SELECT r.algorithm INTO ring_algorithm FROM hashring.rings AS r
     WHERE r.ring OPERATOR(pg_catalog.=) _check_jump_removal.ring;
    IF EXISTS (SELECT 1 FROM hashring.ring_algorithms() AS a
                WHERE a.algorithm OPERATOR(pg_catalog.=) ring_algorithm AND a.fixed_order)
       AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) _check_jump_removal.ring
                      AND n.ordinal OPERATOR(pg_catalog.>) _check_jump_removal.ordinal) THEN
        RAISE EXCEPTION 'cannot remove node "%" from % ring "%"', node, ring_algorithm, ring
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Jump consistent hash numbers its buckets 0 to N-1 in the order nodes were added; removing a node other than the last would renumber every later bucket and move their keys.',
                  HINT = 'Remove nodes in the reverse order they were added, or set the node down with hashring.ring_set_state().';
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION hashring._capability(capability text, OUT kind text, OUT object text, OUT privileges text)
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
    ('read', 'function', 'ring_algorithms', 'EXECUTE'),
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

/*
 * A node and a slot range as ring_history keeps them: the columns of
 * hashring.nodes and hashring.slot_ranges (without the ring), so that a past
 * version is read exactly like the current one.
 */
CREATE TYPE hashring.history_node AS (
    node    text,
    weight  real,
    state   text,
    ordinal integer,
    node_id bytea,
    target  text,
    zone    text
);
COMMENT ON TYPE hashring.history_node IS 'hashring: a node of a past ring version (the columns of hashring.nodes)';
CREATE TYPE hashring.history_slot_range AS (
    node       text,
    first_slot integer,
    last_slot  integer
);
COMMENT ON TYPE hashring.history_slot_range IS 'hashring: a slot range of a past ring version (the columns of hashring.slot_ranges)';

-- existing history, from 0.2's jsonb (node_id was hex)
CREATE FUNCTION hashring._history_nodes_0_4(h jsonb) RETURNS hashring.history_node[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
SELECT COALESCE(pg_catalog.array_agg(ROW(e OPERATOR(pg_catalog.->>) 'node', (e OPERATOR(pg_catalog.->>) 'weight')::real,
                                          e OPERATOR(pg_catalog.->>) 'state', (e OPERATOR(pg_catalog.->>) 'ordinal')::integer,
                                          pg_catalog.decode(e OPERATOR(pg_catalog.->>) 'node_id', 'hex'),
                                          e OPERATOR(pg_catalog.->>) 'target', e OPERATOR(pg_catalog.->>) 'zone')::hashring.history_node
                                      ORDER BY e OPERATOR(pg_catalog.->>) 'node'), '{}')
  FROM pg_catalog.jsonb_array_elements(h) AS e
$$;
CREATE FUNCTION hashring._history_slots_0_4(h jsonb) RETURNS hashring.history_slot_range[]
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp
AS $$
SELECT COALESCE(pg_catalog.array_agg(ROW(e OPERATOR(pg_catalog.->>) 'node', (e OPERATOR(pg_catalog.->>) 'first_slot')::integer,
                                          (e OPERATOR(pg_catalog.->>) 'last_slot')::integer)::hashring.history_slot_range
                                      ORDER BY (e OPERATOR(pg_catalog.->>) 'first_slot')::integer), '{}')
  FROM pg_catalog.jsonb_array_elements(h) AS e
$$;
ALTER TABLE hashring.ring_history
    ALTER COLUMN nodes TYPE hashring.history_node[] USING hashring._history_nodes_0_4(nodes),
    ALTER COLUMN slot_ranges TYPE hashring.history_slot_range[] USING hashring._history_slots_0_4(slot_ranges);
DROP FUNCTION hashring._history_nodes_0_4(jsonb);
DROP FUNCTION hashring._history_slots_0_4(jsonb);

CREATE OR REPLACE FUNCTION hashring.ring_versions(ring text,
    OUT version bigint, OUT committed_at timestamptz, OUT committed_by name,
    OUT nodes integer, OUT active_nodes integer, OUT current boolean)
RETURNS SETOF record
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid bigint;
    cur_version bigint;
BEGIN
    SELECT r.ring_id, r.version INTO rid, cur_version FROM hashring.rings AS r
     WHERE r.ring OPERATOR(pg_catalog.=) ring_versions.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_versions.ring USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    SELECT h.version, h.committed_at, h.committed_by, pg_catalog.cardinality(h.nodes),
           (SELECT pg_catalog.count(*)::integer FROM pg_catalog.unnest(h.nodes) AS e
             WHERE e.state OPERATOR(pg_catalog.=) 'active'),
           h.version OPERATOR(pg_catalog.=) cur_version
      FROM hashring.ring_history AS h
     WHERE h.ring_id OPERATOR(pg_catalog.=) rid
     ORDER BY h.version;
END
$$;

CREATE OR REPLACE FUNCTION hashring._move_nodes(ring text, from_version bigint, to_version bigint,
                                     OUT node text, OUT target text)
RETURNS SETOF record
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT DISTINCT ON (n.node) n.node, n.target
  FROM hashring.ring_history AS h
  JOIN hashring.rings AS r ON r.ring_id OPERATOR(pg_catalog.=) h.ring_id
 CROSS JOIN LATERAL pg_catalog.unnest(h.nodes) AS n
 WHERE r.ring OPERATOR(pg_catalog.=) $1 AND h.version IN ($2, $3)
 ORDER BY n.node, h.version DESC
$$;

CREATE OR REPLACE FUNCTION hashring._write_history(ring_id bigint, committed_by name)
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
            ARRAY(SELECT ROW(n.node, n.weight, n.state, n.ordinal, n.node_id, n.target, n.zone)::hashring.history_node
                    FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY n.node),
            ARRAY(SELECT ROW(s.node, s.first_slot, s.last_slot)::hashring.history_slot_range
                    FROM hashring.slot_ranges AS s WHERE s.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY s.first_slot));
END
$$;
