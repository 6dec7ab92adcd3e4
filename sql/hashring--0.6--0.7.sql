/* hashring--0.6--0.7.sql -- zone-aware replicas and the health checker */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.7'" to load this file. \quit

/* ======================== 0.7: zone-aware replicas ======================== */

/*
 * ring_nodes spreads a key's replicas over the zones of the ring's nodes
 * (docs/routing-spec.md, "Zones") unless the ring opts out.  Rings that
 * exist when the extension is updated to 0.7 keep their zone-blind
 * placement (false: updating never moves a replica); rings created later
 * spread them (the default, true).  ring_history records it; rows written
 * before 0.7 have NULL, which reads as false.
 */
ALTER TABLE hashring.rings ADD COLUMN zone_replicas boolean NOT NULL DEFAULT false;
ALTER TABLE hashring.rings ALTER COLUMN zone_replicas SET DEFAULT true;
COMMENT ON COLUMN hashring.rings.zone_replicas IS 'ring_nodes takes replicas from zones not yet used first (false: zone-blind preference order)';
ALTER TABLE hashring.ring_history ADD COLUMN zone_replicas boolean;
COMMENT ON COLUMN hashring.ring_history.zone_replicas IS 'rings.zone_replicas of the version (NULL: recorded before 0.7, zone-blind)';

/* A zone is NULL (the node has none) or a name of 1 to 255 bytes. */
CREATE FUNCTION hashring._nodes_check_zone()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.zone IS NOT NULL THEN
        PERFORM hashring._check_name('zone', NEW.zone, 255);
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION hashring._nodes_check_zone() IS 'internal: validates a node''s zone name';
CREATE TRIGGER nodes_check_zone BEFORE INSERT OR UPDATE OF zone ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._nodes_check_zone();

CREATE FUNCTION hashring.ring_set_zone_replicas(ring text, enabled boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ring_set_zone_replicas.ring IS NULL OR ring_set_zone_replicas.enabled IS NULL THEN
        RAISE EXCEPTION 'ring and enabled must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE hashring.rings AS r SET zone_replicas = ring_set_zone_replicas.enabled
     WHERE r.ring OPERATOR(pg_catalog.=) ring_set_zone_replicas.ring
       AND r.zone_replicas OPERATOR(pg_catalog.<>) ring_set_zone_replicas.enabled;
    IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM hashring.rings AS r
                                  WHERE r.ring OPERATOR(pg_catalog.=) ring_set_zone_replicas.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_set_zone_replicas.ring USING ERRCODE = 'undefined_object';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_set_zone_replicas(text, boolean) IS 'turns zone-aware replica placement of a ring on or off (a new version when it changes)';

CREATE FUNCTION hashring.ring_zone_balance(ring text, replicas integer DEFAULT NULL,
    OUT zone text, OUT nodes integer, OUT weight double precision, OUT expected_share double precision,
    OUT primary_share double precision, OUT replica_share double precision, OUT overloaded boolean,
    OUT exact boolean)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_ring_zone_balance'
LANGUAGE C STABLE PARALLEL SAFE ROWS 10;
COMMENT ON FUNCTION hashring.ring_zone_balance(text, integer) IS 'each zone''s share of primaries and of replica placements against its share of the live weight';

CREATE FUNCTION hashring.ring_nodes(ring text, key integer, n integer, version bigint)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_typed_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, integer, integer, bigint) IS 'n distinct live nodes for the integer key at a committed version of the ring';
CREATE FUNCTION hashring.ring_nodes(ring text, key bigint, n integer, version bigint)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_typed_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, bigint, integer, bigint) IS 'n distinct live nodes for the bigint key at a committed version of the ring';
CREATE FUNCTION hashring.ring_nodes(ring text, key uuid, n integer, version bigint)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_typed_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, uuid, integer, bigint) IS 'n distinct live nodes for the uuid key at a committed version of the ring';

/* ====================== end of 0.7: zone-aware replicas ====================== */

/* ======================== 0.7: per-key pins ======================== */

/*
 * A pin routes one key to one node, whatever its hash says (tenant
 * isolation: a hot key on a node of its own).  Pins are membership: a
 * change is a new version, recorded in ring_history, dumped, replayed by
 * standbys, and validated like every membership change.  The key is the
 * bytes the ring routes by: a text key as stored, a bytea key's bytes, an
 * integer, bigint or uuid key its text form (docs/routing-spec.md, "Pins").
 * A pinned key's preference list is its node, then its own list without
 * that node; a pin of a down node routes to the next of them.
 */
CREATE TABLE hashring.pins (
    ring text NOT NULL,
    key  text NOT NULL,
    node text NOT NULL,
    PRIMARY KEY (ring, key),
    FOREIGN KEY (ring, node) REFERENCES hashring.nodes (ring, node) ON UPDATE CASCADE ON DELETE CASCADE
);
CREATE INDEX pins_node_idx ON hashring.pins (ring, node);
COMMENT ON TABLE hashring.pins IS 'hashring: keys routed to a node of their ring regardless of their hash';
SELECT pg_catalog.pg_extension_config_dump('hashring.pins', '');

CREATE TYPE hashring.history_pin AS (
    key  text,
    node text
);
COMMENT ON TYPE hashring.history_pin IS 'hashring: a pin of a past ring version (the columns of hashring.pins)';
ALTER TABLE hashring.ring_history ADD COLUMN pins hashring.history_pin[];
COMMENT ON COLUMN hashring.ring_history.pins IS 'the pins of the version (NULL: recorded before 0.7, none)';

CREATE FUNCTION hashring._pins_validate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ring_algorithm text;
BEGIN
    SELECT r.algorithm INTO ring_algorithm FROM hashring.rings AS r
     WHERE r.ring OPERATOR(pg_catalog.=) NEW.ring FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', NEW.ring USING ERRCODE = 'undefined_object';
    END IF;
    IF EXISTS (SELECT 1 FROM hashring.ring_algorithms() AS a
                WHERE a.algorithm OPERATOR(pg_catalog.=) ring_algorithm AND a.typed_keys) THEN
        RAISE EXCEPTION 'ring "%" uses the % algorithm, whose keys cannot be pinned', NEW.ring, ring_algorithm
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Its placement is that of PostgreSQL''s hash partitioning, which routes every key by its hash.';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) NEW.ring AND n.node OPERATOR(pg_catalog.=) NEW.node) THEN
        PERFORM hashring._node_not_found(NEW.ring, NEW.node);
    END IF;
    IF pg_catalog.octet_length(NEW.key) OPERATOR(pg_catalog.>) 1024 THEN
        RAISE EXCEPTION 'a pinned key must be at most 1024 bytes long'
            USING ERRCODE = 'string_data_right_truncation',
                  DETAIL = pg_catalog.format('The key given is %s bytes long.', pg_catalog.octet_length(NEW.key));
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION hashring._pins_validate() IS 'internal: validates a pin';

CREATE FUNCTION hashring._pins_bump()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1 WHERE ring OPERATOR(pg_catalog.=) OLD.ring;
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.<>) OLD.ring) THEN
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1 WHERE ring OPERATOR(pg_catalog.=) NEW.ring;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION hashring._pins_bump() IS 'internal: bumps the ring version after a pin change';

/* A node with pinned keys is not removed (dropping its ring removes them). */
CREATE FUNCTION hashring._nodes_check_pins()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    npins bigint;
BEGIN
    SELECT pg_catalog.count(*) INTO npins FROM hashring.pins AS p
     WHERE p.ring OPERATOR(pg_catalog.=) OLD.ring AND p.node OPERATOR(pg_catalog.=) OLD.node;
    IF npins OPERATOR(pg_catalog.>) 0
       AND EXISTS (SELECT 1 FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) OLD.ring) THEN
        RAISE EXCEPTION 'node "%" of ring "%" has % pinned keys', OLD.node, OLD.ring, npins
            USING ERRCODE = 'dependent_objects_still_exist',
                  HINT = 'Pin them to another node with hashring.ring_pin() or unpin them with hashring.ring_unpin() first.';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION hashring._nodes_check_pins() IS 'internal: refuses removing a node that has pinned keys';
CREATE TRIGGER nodes_check_pins BEFORE DELETE ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._nodes_check_pins();

CREATE TRIGGER pins_lock BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.pins
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._lock_membership();
CREATE TRIGGER pins_validate BEFORE INSERT OR UPDATE ON hashring.pins
    FOR EACH ROW EXECUTE FUNCTION hashring._pins_validate();
CREATE TRIGGER pins_bump AFTER INSERT OR UPDATE OR DELETE ON hashring.pins
    FOR EACH ROW EXECUTE FUNCTION hashring._pins_bump();
CREATE TRIGGER pins_truncate AFTER TRUNCATE ON hashring.pins
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._nodes_truncate();
CREATE TRIGGER pins_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.pins
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER pins_invalidate_replica AFTER INSERT OR UPDATE OR DELETE ON hashring.pins
    FOR EACH ROW EXECUTE FUNCTION hashring._invalidate();
CREATE TRIGGER pins_truncate_replica AFTER TRUNCATE ON hashring.pins
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._invalidate();
ALTER TABLE hashring.pins ENABLE REPLICA TRIGGER pins_invalidate_replica;
ALTER TABLE hashring.pins ENABLE REPLICA TRIGGER pins_truncate_replica;

CREATE FUNCTION hashring.ring_pin(ring text, key text, node text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ring_pin.ring IS NULL OR ring_pin.key IS NULL OR ring_pin.node IS NULL THEN
        RAISE EXCEPTION 'ring, key and node must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO hashring.pins AS p (ring, key, node) VALUES (ring_pin.ring, ring_pin.key, ring_pin.node)
        ON CONFLICT ON CONSTRAINT pins_pkey DO UPDATE SET node = EXCLUDED.node
        WHERE p.node OPERATOR(pg_catalog.<>) EXCLUDED.node;
END
$$;
COMMENT ON FUNCTION hashring.ring_pin(text, text, text) IS 'routes a key to a node of the ring regardless of its hash (a new version)';

CREATE FUNCTION hashring.ring_unpin(ring text, key text)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF ring_unpin.ring IS NULL OR ring_unpin.key IS NULL THEN
        RAISE EXCEPTION 'ring and key must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_unpin.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_unpin.ring USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM hashring.pins AS p
     WHERE p.ring OPERATOR(pg_catalog.=) ring_unpin.ring AND p.key OPERATOR(pg_catalog.=) ring_unpin.key;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION hashring.ring_unpin(text, text) IS 'routes a pinned key by its hash again (a new version if it was pinned)';

CREATE FUNCTION hashring.ring_pins(ring text, version bigint DEFAULT NULL,
    OUT key text, OUT node text, OUT routes_to text)
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid bigint;
BEGIN
    IF ring_pins.ring IS NULL THEN
        RAISE EXCEPTION 'ring must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT r.ring_id INTO rid FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_pins.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_pins.ring USING ERRCODE = 'undefined_object';
    END IF;
    IF ring_pins.version IS NULL THEN
        RETURN QUERY SELECT p.key, p.node, hashring.ring_node(ring_pins.ring, p.key)
                       FROM hashring.pins AS p WHERE p.ring OPERATOR(pg_catalog.=) ring_pins.ring ORDER BY p.key;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hashring.ring_history AS h
                    WHERE h.ring_id OPERATOR(pg_catalog.=) rid AND h.version OPERATOR(pg_catalog.=) ring_pins.version) THEN
        RAISE EXCEPTION 'version % of ring "%" does not exist', ring_pins.version, ring_pins.ring
            USING ERRCODE = 'undefined_object',
                  HINT = 'Only committed versions are kept, until they are pruned; hashring.ring_versions() lists them.';
    END IF;
    RETURN QUERY SELECT e.key, e.node, hashring.ring_node(ring_pins.ring, e.key, ring_pins.version)
                   FROM hashring.ring_history AS h, pg_catalog.unnest(h.pins) AS e
                  WHERE h.ring_id OPERATOR(pg_catalog.=) rid AND h.version OPERATOR(pg_catalog.=) ring_pins.version
                  ORDER BY e.key;
END
$$;
COMMENT ON FUNCTION hashring.ring_pins(text, bigint) IS 'the pinned keys of a ring (at a committed version), each with the node it routes to';

REVOKE ALL ON TABLE hashring.pins FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._pins_validate() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._pins_bump() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._nodes_check_pins() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_pin(text, text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_unpin(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_pins(text, bigint) FROM PUBLIC;

/* ====================== end of 0.7: per-key pins ====================== */

-- history records zone_replicas
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
                    FROM hashring.pins AS p WHERE p.ring OPERATOR(pg_catalog.=) cur.ring ORDER BY p.key));
END
$$;

/*
 * ring_diff and ring_plan_moves take replicas (flows of replica copies): a
 * new argument, so they are dropped and created again, with EXECUTE given
 * back to the roles that had it (the read capability).
 */
DO $update$
DECLARE
    grantees regrole[];
    balance_grantees regrole[];
    r regrole;
BEGIN
    SELECT pg_catalog.array_agg(DISTINCT a.grantee::regrole) INTO grantees
      FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
       AND p.proname OPERATOR(pg_catalog.=) 'ring_diff'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) 0
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
    SELECT pg_catalog.array_agg(DISTINCT a.grantee::regrole) INTO balance_grantees
      FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
     WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
       AND p.proname OPERATOR(pg_catalog.=) 'ring_balance'
       AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
       AND a.grantee OPERATOR(pg_catalog.<>) 0
       AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;
    DROP FUNCTION hashring.ring_diff(text, bigint, bigint);
    DROP FUNCTION hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer);
    DROP FUNCTION hashring.ring_balance(text);
    DROP FUNCTION hashring.ring_balance();
-- (the definitions unindented: their text is that of a fresh install)
CREATE FUNCTION hashring.ring_diff(ring text, from_version bigint, to_version bigint DEFAULT NULL,
    replicas integer DEFAULT NULL,
    OUT from_node text, OUT to_node text, OUT share double precision, OUT ranges numrange[],
    OUT pinned_keys text[])
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_ring_diff'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION hashring.ring_diff(text, bigint, bigint, integer) IS 'exact share of the key space moving from node to node between two versions (NULL: the version this transaction sees; with replicas: of replica copies), and the pinned keys that change node';
CREATE FUNCTION hashring.ring_balance(ring text,
    OUT node text, OUT weight real, OUT points bigint, OUT share double precision,
    OUT expected_share double precision, OUT deviation double precision, OUT overloaded boolean,
    OUT pinned_keys bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_ring_balance'
LANGUAGE C STABLE STRICT PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION hashring.ring_balance(text) IS 'exact share of the hash space owned by each node, and the pinned keys routed to it';

CREATE FUNCTION hashring.ring_balance(
    OUT node text, OUT weight real, OUT points bigint, OUT share double precision,
    OUT expected_share double precision, OUT deviation double precision, OUT overloaded boolean,
    OUT pinned_keys bigint)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_ring_balance_default'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION hashring.ring_balance() IS 'exact share of the hash space owned by each node of the default ring, and the pinned keys routed to it';
CREATE FUNCTION hashring.ring_plan_moves(ring text, tbl regclass, key_column name,
                                         from_version bigint, to_version bigint DEFAULT NULL,
                                         top_keys integer DEFAULT 5, replicas integer DEFAULT NULL,
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
    IF replicas OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'number of replicas must be at least 1'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = pg_catalog.format('The value given was %s.', replicas);
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
            SELECT %4$s AS fa, %5$s AS ta, t.%3$I::text AS k, pg_catalog.pg_column_size(t.*)::bigint AS sz
              FROM %2$s AS t),
        copies AS (
            SELECT p.f, p.t, r.k, r.sz
              FROM routed AS r,
                   LATERAL (SELECT l.x AS f, g.x AS t
                              FROM (SELECT u.x, pg_catalog.row_number() OVER (ORDER BY u.o) AS i
                                      FROM pg_catalog.unnest(r.fa) WITH ORDINALITY AS u (x, o)
                                     WHERE u.x OPERATOR(pg_catalog.<>) ALL (r.ta)) AS l
                              FULL JOIN (SELECT u.x, pg_catalog.row_number() OVER (ORDER BY u.o) AS i
                                           FROM pg_catalog.unnest(r.ta) WITH ORDINALITY AS u (x, o)
                                          WHERE u.x OPERATOR(pg_catalog.<>) ALL (r.fa)) AS g
                                ON l.i OPERATOR(pg_catalog.=) g.i) AS p),
        per_key AS (
            SELECT f, t, k, pg_catalog.count(*) AS c, pg_catalog.sum(sz) AS b FROM copies GROUP BY f, t, k),
        ranked AS (
            SELECT *, pg_catalog.row_number() OVER (PARTITION BY f, t ORDER BY c DESC, k) AS rn FROM per_key)
        SELECT f, t, pg_catalog.sum(c)::bigint, pg_catalog.sum(b)::bigint,
               COALESCE(pg_catalog.array_agg(k OPERATOR(pg_catalog.||) ' (' OPERATOR(pg_catalog.||) c OPERATOR(pg_catalog.||) ')'
                                             ORDER BY c DESC, k) FILTER (WHERE rn OPERATOR(pg_catalog.<=) %6$s), '{}')
          FROM ranked GROUP BY f, t ORDER BY f, t$q$,
        ring, tbl, key_column,
        CASE WHEN replicas IS NULL THEN pg_catalog.format('ARRAY[hashring.ring_node(%L, %s, %s)]', ring, key_expr, from_version)
             ELSE pg_catalog.format('hashring.ring_nodes(%L, %s, %s, %s)', ring, key_expr, replicas, from_version) END,
        CASE WHEN replicas IS NULL AND to_version IS NULL
                  THEN pg_catalog.format('ARRAY[hashring.ring_node(%L, %s)]', ring, key_expr)
             WHEN replicas IS NULL THEN pg_catalog.format('ARRAY[hashring.ring_node(%L, %s, %s)]', ring, key_expr, to_version)
             WHEN to_version IS NULL THEN pg_catalog.format('hashring.ring_nodes(%L, %s, %s)', ring, key_expr, replicas)
             ELSE pg_catalog.format('hashring.ring_nodes(%L, %s, %s, %s)', ring, key_expr, replicas, to_version) END,
        top_keys);
END
$$;
COMMENT ON FUNCTION hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer, integer) IS 'rows, bytes and hottest keys of a table that move per flow between two ring versions (with replicas: of their replica copies)';
    REVOKE ALL ON FUNCTION hashring.ring_diff(text, bigint, bigint, integer) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer, integer) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hashring.ring_balance(text) FROM PUBLIC;
    REVOKE ALL ON FUNCTION hashring.ring_balance() FROM PUBLIC;
    FOREACH r IN ARRAY COALESCE(balance_grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_balance(text), hashring.ring_balance() TO %s', r);
    END LOOP;
    FOREACH r IN ARRAY COALESCE(grantees, '{}') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_diff(text, bigint, bigint, integer) TO %s', r);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer, integer) TO %s', r);
    END LOOP;
END
$update$;

-- ring_zone_balance belongs to the read capability, ring_set_zone_replicas to
-- change, the health checker's status to read
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

REVOKE ALL ON FUNCTION hashring._nodes_check_zone() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_set_zone_replicas(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_zone_balance(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_nodes(text, integer, integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_nodes(text, bigint, integer, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_nodes(text, uuid, integer, bigint) FROM PUBLIC;


/* --- health checker (0.7) --- */

/*
 * The nodes the health checker set down (src/checker.c): only these may it
 * set active again.  Written by the checker as the extension's owner; any
 * other change of a node's state, name or ring, its removal or a TRUNCATE of
 * the nodes deletes the node's mark (_health_forget), so a node a person set
 * down, or set down again, stays down.  Kept by pg_dump with the membership
 * it describes.
 */
CREATE TABLE hashring.health_marks (
    ring      text        NOT NULL,
    node      text        NOT NULL,
    marked_at timestamptz NOT NULL,
    marked_by text        NOT NULL,
    PRIMARY KEY (ring, node)
);
COMMENT ON TABLE hashring.health_marks IS 'nodes the health checker set down, which it may set active again';
SELECT pg_catalog.pg_extension_config_dump('hashring.health_marks', '');

CREATE FUNCTION hashring._health_forget()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP OPERATOR(pg_catalog.=) 'TRUNCATE' THEN
        DELETE FROM hashring.health_marks;
    ELSE
        DELETE FROM hashring.health_marks AS m
         WHERE m.ring OPERATOR(pg_catalog.=) OLD.ring AND m.node OPERATOR(pg_catalog.=) OLD.node;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION hashring._health_forget() IS 'internal: a change of a node''s state by anyone (the checker writes its mark after its own) forgets the health checker''s mark';
CREATE TRIGGER nodes_health_forget AFTER UPDATE OF ring, node, state OR DELETE ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._health_forget();
CREATE TRIGGER nodes_health_forget_all AFTER TRUNCATE ON hashring.nodes
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._health_forget();

CREATE FUNCTION hashring.health_status(
    OUT ring text, OUT node text, OUT target text, OUT state text, OUT down_by_checker boolean,
    OUT last_probe timestamptz, OUT latency_ms double precision,
    OUT consecutive_failures integer, OUT consecutive_successes integer,
    OUT last_error text, OUT last_action text, OUT last_action_at timestamptz)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_health_status'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 100;
COMMENT ON FUNCTION hashring.health_status() IS 'the health checker''s last probe of every node it checks, and what it did';

CREATE VIEW hashring.health_status AS
    SELECT s.ring, s.node, s.target, s.state, s.down_by_checker, s.last_probe, s.latency_ms,
           s.consecutive_failures, s.consecutive_successes, s.last_error, s.last_action, s.last_action_at
      FROM hashring.health_status() AS s;
COMMENT ON VIEW hashring.health_status IS 'the health checker''s last probe of every node it checks, and what it did';

CREATE FUNCTION hashring.health_checker(
    OUT status text, OUT pid integer, OUT role text, OUT rounds bigint,
    OUT last_round timestamptz, OUT last_round_ms double precision, OUT nodes integer,
    OUT interval_ms integer, OUT timeout_ms integer, OUT failures integer, OUT successes integer,
    OUT max_down_fraction double precision, OUT note text)
RETURNS record AS 'MODULE_PATHNAME', 'hashring_health_checker'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring.health_checker() IS 'the health checker worker: whether it runs, its last round and the settings it works with';

REVOKE ALL ON FUNCTION hashring._health_forget() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.health_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.health_checker() FROM PUBLIC;



/* --- end health checker --- */

/* --- routing statistics (0.7) --- */

/*
 * Lookups routed to each node (src/stats.c), counted with
 * hashring.track_routing on in each backend and added to shared memory at
 * commit and at backend exit; reset by a restart.
 */
CREATE FUNCTION hashring._routing_counts(OUT ring_id bigint, OUT node text, OUT lookups bigint, OUT since timestamptz)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_routing_counts'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring._routing_counts() IS 'internal: this database''s routing counters, by ring_id and node';

CREATE FUNCTION hashring._routing_reset(ring_id bigint)
RETURNS void AS 'MODULE_PATHNAME', 'hashring_routing_reset'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring._routing_reset(bigint) IS 'internal: forgets the routing counters of one ring of this database (NULL: all)';

CREATE FUNCTION hashring.routing_stats_info(OUT tracking boolean, OUT preloaded boolean, OUT entries bigint,
                                            OUT max_entries integer, OUT dropped bigint)
RETURNS record AS 'MODULE_PATHNAME', 'hashring_routing_stats_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring.routing_stats_info() IS 'whether lookups are counted, the counters in use and the lookups no counter was left for';

CREATE FUNCTION hashring.ring_stats_reset(ring text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF ring_stats_reset.ring IS NULL THEN
        PERFORM hashring._routing_reset(NULL);
        RETURN;
    END IF;
    SELECT r.ring_id INTO id FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_stats_reset.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_stats_reset.ring USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM hashring._routing_reset(id);
END
$$;
COMMENT ON FUNCTION hashring.ring_stats_reset(text) IS 'forgets the routing statistics of a ring (NULL: of every ring of this database)';

CREATE VIEW hashring.routing_stats AS
WITH c AS (
    SELECT r.ring, s.node, s.lookups, s.since
      FROM hashring._routing_counts() AS s
      JOIN hashring.rings AS r ON r.ring_id OPERATOR(pg_catalog.=) s.ring_id),
t AS (
    SELECT c.*, c.lookups::double precision OPERATOR(pg_catalog./)
                NULLIF(pg_catalog.sum(c.lookups) OVER (PARTITION BY c.ring), 0)::double precision AS traffic_share
      FROM c),
b AS (
    SELECT x.ring, rb.node, rb.share, rb.expected_share
      FROM (SELECT DISTINCT c.ring FROM c) AS x, LATERAL hashring.ring_balance(x.ring) AS rb)
SELECT t.ring, t.node, t.lookups, t.traffic_share, b.share AS key_share, b.expected_share,
       COALESCE(t.traffic_share OPERATOR(pg_catalog.>)
                (COALESCE(pg_catalog.current_setting('hashring.balance_alert_ratio', true)::double precision, 2)
                 OPERATOR(pg_catalog.*) b.expected_share), false) AS overloaded,
       t.since
  FROM t LEFT JOIN b ON b.ring OPERATOR(pg_catalog.=) t.ring AND b.node OPERATOR(pg_catalog.=) t.node;
COMMENT ON VIEW hashring.routing_stats IS 'lookups routed to each node, its share of the ring''s traffic against its share of the key space and of the weight';

REVOKE ALL ON FUNCTION hashring._routing_counts() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._routing_reset(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.routing_stats_info() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_stats_reset(text) FROM PUBLIC;
REVOKE ALL ON TABLE hashring.routing_stats FROM PUBLIC;

/* --- end routing statistics --- */

/* --- hottest keys (0.7) --- */

/*
 * The most looked-up keys of each ring (src/hotkeys.c): a Space-Saving
 * summary of hashring.track_keys_counters keys per ring, counted with
 * hashring.track_keys and hashring.track_routing on in each backend and
 * merged into shared memory at commit and at backend exit; reset by a
 * restart.
 */
CREATE FUNCTION hashring._hot_keys_raw(OUT ring_id bigint, OUT key text, OUT key_type regtype, OUT count bigint,
                                       OUT error bigint, OUT lookups_summarized bigint, OUT floor bigint,
                                       OUT truncated boolean, OUT sampled boolean)
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_hot_keys_raw'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring._hot_keys_raw() IS 'internal: this database''s hottest-keys summaries, by ring_id';

CREATE FUNCTION hashring._hot_keys_reset(ring_id bigint)
RETURNS void AS 'MODULE_PATHNAME', 'hashring_hot_keys_reset'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring._hot_keys_reset(bigint) IS 'internal: forgets the hottest-keys summary of one ring of this database (NULL: all)';

CREATE FUNCTION hashring.hot_keys_info(OUT tracking boolean, OUT preloaded boolean, OUT rings integer,
                                       OUT max_rings integer, OUT counters integer, OUT bytes_per_ring bigint,
                                       OUT sample_rate double precision, OUT dropped bigint)
RETURNS record AS 'MODULE_PATHNAME', 'hashring_hot_keys_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring.hot_keys_info() IS 'whether keys are counted, the rings summarized, the shared memory per ring and the lookups no summary was left for';

CREATE FUNCTION hashring._hot_key_owner(ring text, key text, key_type regtype)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_hot_key_owner'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION hashring._hot_key_owner(text, text, regtype) IS 'internal: the owner of a key in the form _hot_keys_raw() shows it, routed without being counted (NULL: no active node)';

CREATE FUNCTION hashring.ring_hot_keys(ring text, n integer DEFAULT 10, OUT key text, OUT lookups bigint,
                                       OUT error bigint, OUT guaranteed boolean, OUT node text,
                                       OUT traffic_share double precision, OUT truncated boolean)
RETURNS SETOF record
LANGUAGE plpgsql STRICT VOLATILE PARALLEL RESTRICTED
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF ring_hot_keys.n OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'number of keys must be at least 1' USING ERRCODE = 'invalid_parameter_value',
            DETAIL = pg_catalog.format('The value given was %s.', ring_hot_keys.n);
    END IF;
    SELECT r.ring_id INTO id FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_hot_keys.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_hot_keys.ring USING ERRCODE = 'undefined_object';
    END IF;
    RETURN QUERY
    WITH o AS (
        SELECT h.*, pg_catalog.row_number() OVER (ORDER BY h.count DESC, h.key) AS rank
          FROM hashring._hot_keys_raw() AS h
         WHERE h.ring_id OPERATOR(pg_catalog.=) id),
    b AS (
        SELECT GREATEST(COALESCE((SELECT o.count FROM o WHERE o.rank OPERATOR(pg_catalog.=) (ring_hot_keys.n OPERATOR(pg_catalog.+) 1)), 0),
                        COALESCE((SELECT o.floor FROM o LIMIT 1), 0)) AS outside)
    SELECT o.key, o.count, o.error,
           NOT o.sampled AND (o.count OPERATOR(pg_catalog.-) o.error) OPERATOR(pg_catalog.>=) b.outside,
           CASE WHEN NOT o.truncated THEN hashring._hot_key_owner(ring_hot_keys.ring, o.key, o.key_type) END,
           o.count::double precision OPERATOR(pg_catalog./) NULLIF(o.lookups_summarized, 0)::double precision,
           o.truncated
      FROM o, b
     WHERE o.rank OPERATOR(pg_catalog.<=) ring_hot_keys.n
     ORDER BY o.rank;
END
$$;
COMMENT ON FUNCTION hashring.ring_hot_keys(text, integer) IS 'the n most looked-up keys of a ring: estimated lookups, error bound, whether surely in the top n, current owner and share of the ring''s traffic';

CREATE FUNCTION hashring.ring_hot_keys_reset(ring text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF ring_hot_keys_reset.ring IS NULL THEN
        PERFORM hashring._hot_keys_reset(NULL);
        RETURN;
    END IF;
    SELECT r.ring_id INTO id FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_hot_keys_reset.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_hot_keys_reset.ring USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM hashring._hot_keys_reset(id);
END
$$;
COMMENT ON FUNCTION hashring.ring_hot_keys_reset(text) IS 'forgets the hottest keys of a ring (NULL: of every ring of this database)';

REVOKE ALL ON FUNCTION hashring._hot_keys_raw() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._hot_keys_reset(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring._hot_key_owner(text, text, regtype) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.hot_keys_info() FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_hot_keys(text, integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION hashring.ring_hot_keys_reset(text) FROM PUBLIC;

/* --- end hottest keys --- */

/*
 * Every role that has a capability gets what 0.7 adds to it, as
 * ring_grant(role, capability) now gives: route (EXECUTE on ring_nodes)
 * the versioned typed ring_nodes; read (ring_balance) ring_zone_balance,
 * the health checker's status, the routing statistics and the hottest
 * keys; change (ring_add_node) ring_set_zone_replicas, ring_stats_reset
 * and ring_hot_keys_reset.
 */
DO $$
DECLARE
    g record;
BEGIN
    FOR g IN SELECT DISTINCT a.grantee::regrole AS r, p.proname AS f
               FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
              WHERE p.pronamespace OPERATOR(pg_catalog.=) 'hashring'::pg_catalog.regnamespace
                AND p.proname OPERATOR(pg_catalog.=) ANY (ARRAY['ring_nodes', 'ring_balance', 'ring_add_node'])
                AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
                AND a.grantee OPERATOR(pg_catalog.<>) 0
                AND a.grantee OPERATOR(pg_catalog.<>) p.proowner LOOP
        IF g.f OPERATOR(pg_catalog.=) 'ring_nodes' THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_nodes(text, integer, integer, bigint), '
                                      'hashring.ring_nodes(text, bigint, integer, bigint), '
                                      'hashring.ring_nodes(text, uuid, integer, bigint) TO %s', g.r);
        ELSIF g.f OPERATOR(pg_catalog.=) 'ring_balance' THEN
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_zone_balance(text, integer), '
                                      'hashring.health_status(), hashring.health_checker(), '
                                      'hashring._routing_counts(), hashring.routing_stats_info(), '
                                      'hashring._hot_keys_raw(), hashring._hot_key_owner(text, text, regtype), '
                                      'hashring.hot_keys_info(), hashring.ring_hot_keys(text, integer), '
                                      'hashring.ring_pins(text, bigint) TO %s', g.r);
            EXECUTE pg_catalog.format('GRANT SELECT ON TABLE hashring.health_status, hashring.health_marks, '
                                      'hashring.routing_stats, hashring.pins TO %s', g.r);
        ELSE
            EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.ring_set_zone_replicas(text, boolean), '
                                      'hashring.ring_stats_reset(text), hashring._routing_reset(bigint), '
                                      'hashring.ring_hot_keys_reset(text), hashring._hot_keys_reset(bigint), '
                                      'hashring.ring_pin(text, text, text), hashring.ring_unpin(text, text) TO %s', g.r);
            EXECUTE pg_catalog.format('GRANT INSERT, UPDATE, DELETE, TRUNCATE ON TABLE hashring.pins TO %s', g.r);
        END IF;
    END LOOP;
END
$$;
