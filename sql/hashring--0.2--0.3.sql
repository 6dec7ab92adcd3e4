/* hashring--0.2--0.3.sql -- routing that is never wrong and never crashes */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.3'" to load this file. \quit

/* ---------------------------------------------------------------------------
 * One lock order for every membership change.  Every statement that writes
 * a membership table first takes hashring.rings in SHARE UPDATE EXCLUSIVE
 * mode (which conflicts only with itself and with VACUUM and DDL, never with
 * reads or routing), before it locks any row.  So membership writers of one
 * database queue on one lock instead of taking node and ring row locks in
 * different orders, which deadlocked functions against plain DML.
 * ------------------------------------------------------------------------- */

CREATE FUNCTION hashring._lock_membership()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    LOCK TABLE hashring.rings IN SHARE UPDATE EXCLUSIVE MODE;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION hashring._lock_membership() IS 'internal: serialises membership changes before any row is locked';

CREATE TRIGGER rings_lock BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.rings
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._lock_membership();
CREATE TRIGGER nodes_lock BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.nodes
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._lock_membership();
CREATE TRIGGER slot_ranges_lock BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.slot_ranges
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._lock_membership();
-- pruning history deletes rows that a dropped ring's cascade deletes too
CREATE TRIGGER ring_history_lock BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.ring_history
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._lock_membership();

/* ---------------------------------------------------------------------------
 * Plain DML keeps every invariant the functions keep
 * ------------------------------------------------------------------------- */

/* jump renumbers buckets after a removed node: only the last may go. */
CREATE FUNCTION hashring._check_jump_removal(ring text, node text, ordinal integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- (when the ring itself is being dropped, its row is already gone)
    IF EXISTS (SELECT 1 FROM hashring.rings AS r
                WHERE r.ring OPERATOR(pg_catalog.=) _check_jump_removal.ring
                  AND r.algorithm OPERATOR(pg_catalog.=) 'jump')
       AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) _check_jump_removal.ring
                      AND n.ordinal OPERATOR(pg_catalog.>) _check_jump_removal.ordinal) THEN
        RAISE EXCEPTION 'cannot remove node "%" from jump ring "%"', node, ring
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Jump consistent hash numbers its buckets 0 to N-1 in the order nodes were added; removing a node other than the last would renumber every later bucket and move their keys.',
                  HINT = 'Remove nodes in the reverse order they were added, or set the node down with hashring.ring_set_state().';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring._check_jump_removal(text, text, integer) IS 'internal: refuses removing a jump ring''s node other than the last';

CREATE OR REPLACE FUNCTION hashring._nodes_check_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM hashring._check_jump_removal(OLD.ring, OLD.node, OLD.ordinal);
    RETURN OLD;
END
$$;

CREATE OR REPLACE FUNCTION hashring._rings_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
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
    IF NEW.algorithm IS NULL OR NEW.algorithm OPERATOR(pg_catalog.<>) ALL
           (ARRAY['vnode', 'ketama', 'jump', 'maglev', 'rendezvous', 'slots', 'xor', 'pg_hash']) THEN
        RAISE EXCEPTION 'unknown ring algorithm "%"', NEW.algorithm
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Supported algorithms: vnode, ketama, jump, maglev, rendezvous, slots, xor, pg_hash.';
    END IF;
    IF NEW.table_size IS NOT NULL THEN
        IF NEW.algorithm OPERATOR(pg_catalog.<>) 'maglev' THEN
            RAISE EXCEPTION 'table_size applies only to maglev rings'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF NOT hashring._is_prime(NEW.table_size) OR NEW.table_size OPERATOR(pg_catalog.>) 16777213 THEN
            RAISE EXCEPTION 'maglev table_size must be a prime between 2 and 16777213'
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = pg_catalog.format('The value given was %s.', NEW.table_size),
                      HINT = 'The default, 65537, is prime; so are 251, 4093, 131071 and 1048573.';
        END IF;
    END IF;
    IF NEW.algorithm OPERATOR(pg_catalog.=) 'maglev' THEN
        IF (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>) COALESCE(NEW.table_size, 65537) THEN
            RAISE EXCEPTION 'maglev table_size must be at least the number of nodes'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.algorithm OPERATOR(pg_catalog.<>) OLD.algorithm
       AND NEW.algorithm OPERATOR(pg_catalog.=) ANY (ARRAY['jump', 'slots', 'xor', 'pg_hash'])
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
    IF NEW.algorithm OPERATOR(pg_catalog.=) 'slots'
       AND (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>) 16384 THEN
        RAISE EXCEPTION 'slots ring "%" cannot have more nodes than its 16384 slots', NEW.ring
            USING ERRCODE = 'program_limit_exceeded';
    END IF;
    IF NEW.algorithm OPERATOR(pg_catalog.=) 'maglev'
       AND (TG_OP = 'INSERT' OR NEW.table_size IS DISTINCT FROM OLD.table_size
            OR NEW.algorithm OPERATOR(pg_catalog.<>) OLD.algorithm)
       -- the shared region also holds the allocator's own bookkeeping: 1 MB is ample
       AND (4::bigint OPERATOR(pg_catalog.*) COALESCE(NEW.table_size, 65537))
           OPERATOR(pg_catalog.>) (COALESCE(pg_catalog.pg_size_bytes(
               pg_catalog.current_setting('hashring.shared_memory', true)), 9223372036854775807)
           OPERATOR(pg_catalog.-) 1048576) THEN
        RAISE WARNING 'maglev ring "%" will not fit in hashring shared memory', NEW.ring
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
        IF NEW.algorithm OPERATOR(pg_catalog.=) 'vnode' THEN
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
    IF NEW.weight OPERATOR(pg_catalog.<>) 1 AND ring_algorithm OPERATOR(pg_catalog.=) ANY (ARRAY['jump', 'slots', 'xor', 'pg_hash']) THEN
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
    IF TG_OP = 'INSERT' AND ring_algorithm OPERATOR(pg_catalog.=) 'maglev'
       AND (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>=) COALESCE(ring_table_size, 65537) THEN
        RAISE EXCEPTION 'maglev ring "%" cannot have more nodes than its % table entries', NEW.ring, COALESCE(ring_table_size, 65537)
            USING ERRCODE = 'program_limit_exceeded',
                  HINT = 'Use a larger prime table_size.';
    END IF;
    IF TG_OP = 'INSERT' AND ring_algorithm OPERATOR(pg_catalog.=) 'slots'
       AND (SELECT pg_catalog.count(*) FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring)
           OPERATOR(pg_catalog.>=) 16384 THEN
        RAISE EXCEPTION 'slots ring "%" cannot have more nodes than its 16384 slots', NEW.ring
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
    IF ring_algorithm OPERATOR(pg_catalog.=) 'jump' THEN
        IF TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.=) OLD.ring
           AND NEW.ordinal IS DISTINCT FROM OLD.ordinal THEN
            RAISE EXCEPTION 'cannot change the ordinal of node "%" of jump ring "%"', NEW.node, NEW.ring
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'Jump consistent hash numbers its buckets in node order; a new ordinal would renumber buckets and move their keys.';
        END IF;
        IF (TG_OP = 'INSERT' OR NEW.ring OPERATOR(pg_catalog.<>) OLD.ring) AND NEW.ordinal IS NOT NULL
           AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                        WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring
                          AND n.ordinal OPERATOR(pg_catalog.>=) NEW.ordinal) THEN
            RAISE EXCEPTION 'node "%" must come after every node of jump ring "%"', NEW.node, NEW.ring
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
    IF ring_algorithm OPERATOR(pg_catalog.=) 'vnode' AND
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

/*
 * The last word: at commit, the membership of every changed ring is built
 * once by the same code that routes, so a change that no lookup could route
 * by (whatever the triggers above missed, e.g. a rows written by a bulk load)
 * fails its commit instead of every lookup after it.
 */
CREATE FUNCTION hashring._check_ring(ring text)
RETURNS void AS 'MODULE_PATHNAME', 'hashring_check_ring'
LANGUAGE C STRICT;
COMMENT ON FUNCTION hashring._check_ring(text) IS 'internal: builds the ring as this transaction sees it, raising what a lookup would raise';

CREATE OR REPLACE FUNCTION hashring._record_version()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cur hashring.rings;
BEGIN
    SELECT r.* INTO cur FROM hashring.rings AS r WHERE r.ring_id OPERATOR(pg_catalog.=) NEW.ring_id;
    IF NOT FOUND OR EXISTS (SELECT 1 FROM hashring.ring_history AS h
                             WHERE h.ring_id OPERATOR(pg_catalog.=) cur.ring_id
                               AND h.version OPERATOR(pg_catalog.=) cur.version) THEN
        RETURN NULL;
    END IF;
    -- the membership must be routable: build it once, as every lookup would
    -- (a slots ring with unassigned slots is allowed while it is being set up)
    BEGIN
        PERFORM hashring._check_ring(cur.ring);
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        NULL;
    END;
    INSERT INTO hashring.ring_history
    VALUES (cur.ring_id, cur.ring, cur.version, pg_catalog.clock_timestamp(), current_user,
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
    RETURN NULL;
END
$$;

/* ---------------------------------------------------------------------------
 * Logical replication: the apply worker runs with session_replication_role
 * = replica and fires only row triggers enabled for replicas, so these tell
 * a subscriber's backends about applied membership changes.
 * ------------------------------------------------------------------------- */

CREATE TRIGGER rings_invalidate_replica AFTER INSERT OR UPDATE OR DELETE ON hashring.rings
    FOR EACH ROW EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER nodes_invalidate_replica AFTER INSERT OR UPDATE OR DELETE ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER slot_ranges_invalidate_replica AFTER INSERT OR UPDATE OR DELETE ON hashring.slot_ranges
    FOR EACH ROW EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER ring_history_invalidate_replica AFTER INSERT OR UPDATE OR DELETE ON hashring.ring_history
    FOR EACH ROW EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER rings_truncate_replica AFTER TRUNCATE ON hashring.rings
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER nodes_truncate_replica AFTER TRUNCATE ON hashring.nodes
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER slot_ranges_truncate_replica AFTER TRUNCATE ON hashring.slot_ranges
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._invalidate();
ALTER TABLE hashring.rings ENABLE REPLICA TRIGGER rings_invalidate_replica;
ALTER TABLE hashring.nodes ENABLE REPLICA TRIGGER nodes_invalidate_replica;
ALTER TABLE hashring.slot_ranges ENABLE REPLICA TRIGGER slot_ranges_invalidate_replica;
ALTER TABLE hashring.ring_history ENABLE REPLICA TRIGGER ring_history_invalidate_replica;
ALTER TABLE hashring.rings ENABLE REPLICA TRIGGER rings_truncate_replica;
ALTER TABLE hashring.nodes ENABLE REPLICA TRIGGER nodes_truncate_replica;
ALTER TABLE hashring.slot_ranges ENABLE REPLICA TRIGGER slot_ranges_truncate_replica;
