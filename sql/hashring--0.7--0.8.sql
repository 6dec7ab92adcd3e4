/* hashring--0.7--0.8.sql -- zone replicas spread over each zone's nodes; ring_move of tables sharded by a non-unique key, rows_per_second with the throttle's waits */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.8'" to load this file. \quit

/* ============ 0.8: zone replicas spread over each zone's nodes ============ */

/*
 * On algorithms whose preference list follows node order (jump, pg_hash)
 * or slot order (slots), 0.7's zone rule took the first node of each
 * further zone in that order: nearly always the same node of each zone,
 * which then held every second and third copy.  With zone_spread each
 * further zone gives its node at a position that turns with the owner
 * (docs/routing-spec.md, "Zones").  Other algorithms are the same either
 * way.  Rings that exist when the extension is updated to 0.8 keep 0.7's
 * rule (false: updating never moves a replica); rings created later spread
 * (the default, true).  ring_history records it; rows written before 0.8
 * have NULL, which reads as false.
 */
ALTER TABLE hashring.rings ADD COLUMN zone_spread boolean NOT NULL DEFAULT false;
ALTER TABLE hashring.rings ALTER COLUMN zone_spread SET DEFAULT true;
COMMENT ON COLUMN hashring.rings.zone_spread IS 'with zone_replicas, on jump, slots and pg_hash: each further zone gives a node that turns with the key''s owner or slot (false: its first node in the walk, as 0.7)';
ALTER TABLE hashring.ring_history ADD COLUMN zone_spread boolean;
COMMENT ON COLUMN hashring.ring_history.zone_spread IS 'rings.zone_spread of the version (NULL: recorded before 0.8, false)';

CREATE FUNCTION hashring.ring_set_zone_spread(ring text, spread boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ring_set_zone_spread.ring IS NULL OR ring_set_zone_spread.spread IS NULL THEN
        RAISE EXCEPTION 'ring and spread must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE hashring.rings AS r SET zone_spread = ring_set_zone_spread.spread
     WHERE r.ring OPERATOR(pg_catalog.=) ring_set_zone_spread.ring
       AND r.zone_spread OPERATOR(pg_catalog.<>) ring_set_zone_spread.spread;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM hashring.rings AS r
                                  WHERE r.ring OPERATOR(pg_catalog.=) ring_set_zone_spread.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_set_zone_spread.ring USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_set_zone_spread(text, boolean) IS 'on jump, slots and pg_hash rings with zone replicas: spread each zone''s copies over its nodes, or take its first node in the walk as 0.7 (a new version when it changes)';

CREATE FUNCTION hashring.ring_balance(ring text, replicas integer,
    OUT node text, OUT zone text, OUT weight real, OUT expected_share double precision,
    OUT primary_share double precision, OUT replica_share double precision, OUT overloaded boolean,
    OUT exact boolean)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_ring_balance_replicas'
LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION hashring.ring_balance(text, integer) IS 'each node''s share of primaries and of the replica copies 2..n against its share of the live weight';

REVOKE ALL ON FUNCTION hashring.ring_set_zone_spread(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_balance(text, integer) FROM PUBLIC;

/* ========== end of 0.8: zone replicas spread over each zone's nodes ========== */

-- history records zone_spread
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
            ARRAY(SELECT ROW(n.node, n.weight, n.state, n.ordinal, n.node_id, n.target, n.zone, n.tokens)::hashring.history_node
                    FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY n.node),
            ARRAY(SELECT ROW(s.node, s.first_slot, s.last_slot)::hashring.history_slot_range
                    FROM hashring.slot_ranges AS s WHERE s.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY s.first_slot),
            cur.zone_replicas,
            ARRAY(SELECT ROW(p.key, p.node)::hashring.history_pin
                    FROM hashring.pins AS p WHERE p.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY p.key),
            cur.zone_spread);
END
$$;
COMMENT ON FUNCTION hashring._write_history(bigint, name) IS 'internal: writes the history row of a committed ring version (only the extension owner may run it)';

-- ring_set_zone_spread belongs to the change capability (ring_balance's
-- new form to read, by its name)
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
    ('read', 'function', 'ring_algorithms', 'EXECUTE'), ('read', 'function', 'ring_zone_balance', 'EXECUTE'),
    ('read', 'table', 'rings', 'SELECT'), ('read', 'table', 'nodes', 'SELECT'),
    ('read', 'table', 'slot_ranges', 'SELECT'), ('read', 'table', 'ring_history', 'SELECT'),
    ('read', 'table', 'moves', 'SELECT'), ('read', 'table', 'ring_move_progress', 'SELECT'),
    ('read', 'function', 'health_status', 'EXECUTE'), ('read', 'function', 'health_checker', 'EXECUTE'),
    ('read', 'table', 'health_status', 'SELECT'), ('read', 'table', 'health_marks', 'SELECT'),
    ('read', 'function', '_routing_counts', 'EXECUTE'), ('read', 'function', 'routing_stats_info', 'EXECUTE'),
    ('read', 'table', 'routing_stats', 'SELECT'),
    ('read', 'table', 'pins', 'SELECT'), ('read', 'function', 'ring_pins', 'EXECUTE'),
    ('read', 'function', '_hot_keys_raw', 'EXECUTE'), ('read', 'function', '_hot_key_owner', 'EXECUTE'),
    ('read', 'function', 'hot_keys_info', 'EXECUTE'), ('read', 'function', 'ring_hot_keys', 'EXECUTE'),
    ('change', 'function', 'ring_create', 'EXECUTE'), ('change', 'function', 'ring_drop', 'EXECUTE'),
    ('change', 'function', 'ring_add_node', 'EXECUTE'), ('change', 'function', 'ring_remove_node', 'EXECUTE'),
    ('change', 'function', 'ring_set_weight', 'EXECUTE'), ('change', 'function', 'ring_set_state', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_id', 'EXECUTE'), ('change', 'function', 'ring_assign_slots', 'EXECUTE'),
    ('change', 'function', 'ring_add_servers', 'EXECUTE'),
    ('change', 'function', 'ring_clear_slots', 'EXECUTE'), ('change', 'function', 'ring_prune_versions', 'EXECUTE'),
    ('change', 'function', '_check_name', 'EXECUTE'), ('change', 'function', '_node_not_found', 'EXECUTE'),
    ('change', 'function', '_check_point_limit', 'EXECUTE'), ('change', 'function', '_check_jump_removal', 'EXECUTE'),
    ('change', 'function', '_is_prime', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_tokens', 'EXECUTE'), ('change', 'function', 'ring_set_zone_replicas', 'EXECUTE'),
    ('change', 'function', 'ring_set_zone_spread', 'EXECUTE'),
    ('change', 'function', 'ring_stats_reset', 'EXECUTE'), ('change', 'function', '_routing_reset', 'EXECUTE'),
    ('change', 'function', 'ring_hot_keys_reset', 'EXECUTE'), ('change', 'function', '_hot_keys_reset', 'EXECUTE'),
    ('change', 'table', 'rings', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'nodes', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'slot_ranges', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'table', 'pins', 'INSERT, UPDATE, DELETE, TRUNCATE'),
    ('change', 'function', 'ring_pin', 'EXECUTE'), ('change', 'function', 'ring_unpin', 'EXECUTE'),
    ('move', 'function', 'ring_move', 'EXECUTE'), ('move', 'function', '_move_begin', 'EXECUTE'),
    ('move', 'function', '_move_nodes', 'EXECUTE'), ('move', 'function', '_move_progress', 'EXECUTE'),
    ('move', 'function', '_move_end', 'EXECUTE'), ('move', 'function', '_shard_table', 'EXECUTE'),
    ('move', 'function', 'ring_settle', 'EXECUTE')
) AS c (cap, kind, object, privileges)
WHERE c.cap OPERATOR(pg_catalog.=) capability
$$;
COMMENT ON FUNCTION hashring._capability(text) IS 'internal: the objects and privileges one capability adds';

/*
 * Every role that has a capability gets what 0.8 adds to it, as
 * ring_grant(role, capability) now gives: read (ring_balance) the
 * ring_balance(ring, replicas) form; change (ring_add_node)
 * ring_set_zone_spread.
 */
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::regrole AS r, p.proname AS f
               FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
                AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['ring_balance', 'ring_add_node'])
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
        IF g.f OPERATOR(pg_catalog.=) 'ring_balance' THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_balance(text, integer) TO %s', g.r);
        ELSE
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_set_zone_spread(text, boolean) TO %s', g.r);
        END IF;
    END LOOP;
END
$$;
/* ==== 0.8: tutorials (issue 26) ==== */

/*
 * ring_move_progress.rows_per_second counts the throttle's waits: the mover
 * records, with each batch, until when the throttle then waits
 * (moves.paused_until), and the rate is rows moved over the time from the
 * start to now for a running move, or to the end of its last batch and the
 * wait after it for an interrupted one; never past the end of a wait the
 * throttle is in.  (0.7 divided by the time up to the last batch only: a
 * move throttled to 2,000 rows/s and cancelled after its first batch read
 * 27,794.)  _move_progress takes the wait as an eleventh argument, so this
 * block drops the ten-argument one and creates it again.
 */
ALTER TABLE hashring.moves ADD COLUMN paused_until timestamptz;
DO $update$
DECLARE
    grantees regrole[];
    r regrole;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT a.grantee::regrole) INTO grantees
      FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
       AND p.proname OPERATOR(pg_catalog.=) '_move_progress'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) 0
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
    DROP FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint);
-- (the definition unindented: its text is that of a fresh install)
CREATE FUNCTION hashring._move_progress(ring text, tbl text, source text, target text,
                                        rows_moved bigint, rows_scanned bigint, retries bigint, last_error text,
                                        rows_planned bigint, rows_estimated bigint, pause_ms bigint)
RETURNS void
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
UPDATE hashring.moves AS m
   SET source = $3, target = $4, rows_moved = $5, rows_scanned = $6,
       batches = m.batches OPERATOR(pg_catalog.+) CASE WHEN $8 IS NULL THEN 1 ELSE 0 END,
       retries = $7, last_error = COALESCE($8, m.last_error), rows_planned = $9, rows_estimated = $10,
       updated_at = pg_catalog.clock_timestamp(),
       paused_until = pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+)
                      pg_catalog.make_interval(secs => $11 OPERATOR(pg_catalog./) 1000.0)
 WHERE m.ring OPERATOR(pg_catalog.=) $1 AND m.tbl OPERATOR(pg_catalog.=) $2
$$;
COMMENT ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint) IS 'internal: ring_move''s progress after a batch, with the throttle''s wait that follows it';
    REVOKE ALL ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint) FROM PUBLIC;

    FOREACH r IN ARRAY COALESCE(grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring._move_progress(text, text, text, text, bigint, bigint, bigint, text, bigint, bigint, bigint) TO %s', r);
    END LOOP;
END
$update$;

CREATE OR REPLACE VIEW hashring.ring_move_progress AS
SELECT m.ring, m.tbl, m.settled_version AS from_version, m.moving_to AS to_version, m.pid,
       st.running,
       m.source, m.target, m.rows_moved, m.rows_planned, m.rows_scanned, m.rows_estimated, m.batches, m.retries,
       CASE WHEN e.upto OPERATOR(pg_catalog.>) m.started_at
            THEN (m.rows_moved::double precision OPERATOR(pg_catalog./)
                  pg_catalog.date_part('epoch', e.upto OPERATOR(pg_catalog.-) m.started_at))::bigint END
           AS rows_per_second,
       m.started_at, m.updated_at, m.last_error
  FROM hashring.moves AS m
 CROSS JOIN LATERAL (
       -- running: that backend still holds the move's advisory lock
       SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks AS l
                WHERE l.locktype OPERATOR(pg_catalog.=) 'advisory' AND l.granted
                  AND l.pid OPERATOR(pg_catalog.=) m.pid AND l.objsubid OPERATOR(pg_catalog.=) 1
                  AND l.classid::pg_catalog.int8 OPERATOR(pg_catalog.=) ((m.lock_key OPERATOR(pg_catalog.>>) 32) OPERATOR(pg_catalog.&) 4294967295)
                  AND l.objid::pg_catalog.int8 OPERATOR(pg_catalog.=) (m.lock_key OPERATOR(pg_catalog.&) 4294967295)) AS running) AS st
 CROSS JOIN LATERAL (
       -- the rate's time: up to now while it runs, else up to its last
       -- batch; either way at least to the end of the throttle's wait
       SELECT GREATEST(CASE WHEN st.running THEN pg_catalog.clock_timestamp() ELSE m.updated_at END,
                       m.paused_until) AS upto) AS e
 WHERE m.moving_to IS NOT NULL;
COMMENT ON VIEW hashring.ring_move_progress IS 'moves of sharded tables that are running or were interrupted, with their progress';
/* ==== end ==== */
