/* hashring--0.1--0.2.sql -- seven more algorithms behind the same functions */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.2'" to load this file. \quit

/* ---------------------------------------------------------------------------
 * Catalog: maglev table size, xor node ids, Redis slot ranges
 * ------------------------------------------------------------------------- */

ALTER TABLE hashring.rings ADD COLUMN table_size integer;
COMMENT ON COLUMN hashring.rings.table_size IS 'maglev: lookup table size, a prime (NULL: 65537)';
ALTER TABLE hashring.nodes ADD COLUMN node_id bytea;
ALTER TABLE hashring.rings ADD COLUMN points_total bigint NOT NULL DEFAULT 0;
-- max(ordinal) per ring, for assigning the next ordinal, without a scan
CREATE INDEX nodes_ring_ordinal_idx ON hashring.nodes (ring, ordinal);
COMMENT ON COLUMN hashring.rings.points_total IS 'vnode points of all the ring''s nodes, kept by the triggers for the 2^24 limit';
COMMENT ON COLUMN hashring.nodes.node_id IS 'xor: the node''s 160-bit id (NULL: SHA-1 of the name)';

CREATE TABLE hashring.slot_ranges (
    ring       text    NOT NULL,
    node       text    NOT NULL,
    first_slot integer NOT NULL,
    last_slot  integer NOT NULL,
    PRIMARY KEY (ring, first_slot),
    FOREIGN KEY (ring, node) REFERENCES hashring.nodes (ring, node) ON DELETE CASCADE
);
COMMENT ON TABLE hashring.slot_ranges IS 'slots rings: explicit slot -> node assignment (none: redis-cli''s default)';
SELECT pg_catalog.pg_extension_config_dump('hashring.slot_ranges', '');

CREATE FUNCTION hashring._is_prime(n integer)
RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT n OPERATOR(pg_catalog.>=) 2 AND NOT EXISTS (
        SELECT 1 FROM pg_catalog.generate_series(2, pg_catalog.floor(pg_catalog.sqrt(n::float8))::integer) AS d
         WHERE n OPERATOR(pg_catalog.%) d OPERATOR(pg_catalog.=) 0)
$$;
COMMENT ON FUNCTION hashring._is_prime(integer) IS 'internal: primality test for maglev table sizes';

CREATE FUNCTION hashring._check_point_limit(ring text, total bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF total OPERATOR(pg_catalog.>) 16777216 THEN
        RAISE EXCEPTION 'ring "%" would have too many points', ring
            USING ERRCODE = 'program_limit_exceeded',
                  DETAIL = pg_catalog.format('The ring would have %s points; the limit is 16777216.', total),
                  HINT = 'Use fewer vnodes or smaller weights.';
    END IF;
END
$$;
COMMENT ON FUNCTION hashring._check_point_limit(text, bigint) IS 'internal: enforces the per-ring point limit';
DROP FUNCTION hashring._check_points(text, integer, bigint, text);

/*
 * Every node change bumps the ring's version (and keeps points_total) under
 * the ring row's lock, which serialises concurrent changes to one ring.
 */
CREATE OR REPLACE FUNCTION hashring._nodes_bump()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.ring OPERATOR(pg_catalog.=) OLD.ring THEN
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1,
               points_total = points_total OPERATOR(pg_catalog.+) hashring.node_points(NEW.weight, vnodes)
                              OPERATOR(pg_catalog.-) hashring.node_points(OLD.weight, vnodes)
         WHERE ring OPERATOR(pg_catalog.=) OLD.ring;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1,
               points_total = points_total OPERATOR(pg_catalog.-) hashring.node_points(OLD.weight, vnodes)
         WHERE ring OPERATOR(pg_catalog.=) OLD.ring;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1,
               points_total = points_total OPERATOR(pg_catalog.+) hashring.node_points(NEW.weight, vnodes)
         WHERE ring OPERATOR(pg_catalog.=) NEW.ring;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION hashring._nodes_truncate()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_TABLE_NAME = 'nodes' THEN
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1, points_total = 0;
    ELSE
        UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1;
    END IF;
    RETURN NULL;
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
    IF TG_OP = 'INSERT' THEN
        NEW.points_total := 0;
    ELSIF NEW.vnodes OPERATOR(pg_catalog.<>) OLD.vnodes THEN
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

/* jump renumbers buckets after a removed node: only the last may go. */
CREATE FUNCTION hashring._nodes_check_delete()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- (when the ring itself is being dropped, its row is already gone)
    IF EXISTS (SELECT 1 FROM hashring.rings AS r
                WHERE r.ring OPERATOR(pg_catalog.=) OLD.ring AND r.algorithm OPERATOR(pg_catalog.=) 'jump')
       AND EXISTS (SELECT 1 FROM hashring.nodes AS n
                    WHERE n.ring OPERATOR(pg_catalog.=) OLD.ring AND n.ordinal OPERATOR(pg_catalog.>) OLD.ordinal) THEN
        RAISE EXCEPTION 'cannot remove node "%" from jump ring "%"', OLD.node, OLD.ring
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'Jump consistent hash numbers its buckets 0 to N-1 in the order nodes were added; removing a node other than the last would renumber every later bucket and move their keys.',
                  HINT = 'Remove nodes in the reverse order they were added, or set the node down with hashring.ring_set_state().';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION hashring._nodes_check_delete() IS 'internal: refuses removing a jump ring''s node other than the last';
CREATE TRIGGER nodes_check_delete BEFORE DELETE ON hashring.nodes
    FOR EACH ROW EXECUTE FUNCTION hashring._nodes_check_delete();

CREATE FUNCTION hashring._slot_ranges_validate()
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
    IF ring_algorithm OPERATOR(pg_catalog.<>) 'slots' THEN
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
COMMENT ON FUNCTION hashring._slot_ranges_validate() IS 'internal: validates a slot range';

CREATE FUNCTION hashring._slot_ranges_bump()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE hashring.rings SET version = version OPERATOR(pg_catalog.+) 1
     WHERE ring OPERATOR(pg_catalog.=) (CASE WHEN TG_OP = 'DELETE' THEN OLD.ring ELSE NEW.ring END);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION hashring._slot_ranges_bump() IS 'internal: bumps the ring version after a slot range change';

CREATE TRIGGER slot_ranges_validate BEFORE INSERT OR UPDATE ON hashring.slot_ranges
    FOR EACH ROW EXECUTE FUNCTION hashring._slot_ranges_validate();
CREATE TRIGGER slot_ranges_bump AFTER INSERT OR UPDATE OR DELETE ON hashring.slot_ranges
    FOR EACH ROW EXECUTE FUNCTION hashring._slot_ranges_bump();

/* ---------------------------------------------------------------------------
 * Functions
 * ------------------------------------------------------------------------- */

DROP FUNCTION hashring.ring_create(text, text, integer, integer);
CREATE FUNCTION hashring.ring_create(ring text, algorithm text DEFAULT 'vnode',
                                     vnodes integer DEFAULT 160, replicas integer DEFAULT 3,
                                     table_size integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO hashring.rings AS r (ring, algorithm, vnodes, replicas, table_size)
    VALUES (ring_create.ring, ring_create.algorithm, ring_create.vnodes, ring_create.replicas,
            ring_create.table_size);
END
$$;
COMMENT ON FUNCTION hashring.ring_create(text, text, integer, integer, integer) IS 'creates an empty ring';

CREATE FUNCTION hashring.ring_set_node_id(ring text, node text, node_id bytea)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE hashring.nodes AS n SET node_id = ring_set_node_id.node_id
     WHERE n.ring OPERATOR(pg_catalog.=) ring_set_node_id.ring
       AND n.node OPERATOR(pg_catalog.=) ring_set_node_id.node;
    IF NOT FOUND THEN
        PERFORM hashring._node_not_found(ring_set_node_id.ring, ring_set_node_id.node);
    END IF;
END
$$;
COMMENT ON FUNCTION hashring.ring_set_node_id(text, text, bytea) IS 'sets a node''s 160-bit id for xor rings (NULL: SHA-1 of the name)';

CREATE FUNCTION hashring.ring_assign_slots(ring text, node text, first_slot integer, last_slot integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO hashring.slot_ranges AS s (ring, node, first_slot, last_slot)
    VALUES (ring_assign_slots.ring, ring_assign_slots.node, ring_assign_slots.first_slot,
            ring_assign_slots.last_slot);
END
$$;
COMMENT ON FUNCTION hashring.ring_assign_slots(text, text, integer, integer) IS 'assigns a range of Redis slots to a node of a slots ring';

CREATE FUNCTION hashring.ring_clear_slots(ring text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_clear_slots.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_clear_slots.ring USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM hashring.slot_ranges AS s WHERE s.ring OPERATOR(pg_catalog.=) ring_clear_slots.ring;
END
$$;
COMMENT ON FUNCTION hashring.ring_clear_slots(text) IS 'removes every explicit slot range of a ring (back to the default assignment)';

CREATE FUNCTION hashring.ring_node(ring text, key integer)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_typed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, integer) IS 'node that owns the integer key in the ring';
CREATE FUNCTION hashring.ring_node(ring text, key bigint)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_typed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, bigint) IS 'node that owns the bigint key in the ring';
CREATE FUNCTION hashring.ring_node(ring text, key uuid)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_typed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, uuid) IS 'node that owns the uuid key in the ring';

CREATE FUNCTION hashring.ring_nodes(ring text, key integer, n integer)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_typed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, integer, integer) IS 'n distinct live nodes for the integer key';
CREATE FUNCTION hashring.ring_nodes(ring text, key bigint, n integer)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_typed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, bigint, integer) IS 'n distinct live nodes for the bigint key';
CREATE FUNCTION hashring.ring_nodes(ring text, key uuid, n integer)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_typed'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, uuid, integer) IS 'n distinct live nodes for the uuid key';

CREATE FUNCTION hashring.ring_hash(ring text, key text)
RETURNS bigint AS 'MODULE_PATHNAME', 'hashring_ring_hash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_hash(text, text) IS 'the key''s position under the ring''s hash';
CREATE FUNCTION hashring.ring_hash(ring text, key bytea)
RETURNS bigint AS 'MODULE_PATHNAME', 'hashring_ring_hash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_hash(text, bytea) IS 'the binary key''s position under the ring''s hash';
CREATE FUNCTION hashring.ring_hash(ring text, key integer)
RETURNS bigint AS 'MODULE_PATHNAME', 'hashring_ring_hash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_hash(text, integer) IS 'the integer key''s position under the ring''s hash';
CREATE FUNCTION hashring.ring_hash(ring text, key bigint)
RETURNS bigint AS 'MODULE_PATHNAME', 'hashring_ring_hash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_hash(text, bigint) IS 'the bigint key''s position under the ring''s hash';
CREATE FUNCTION hashring.ring_hash(ring text, key uuid)
RETURNS bigint AS 'MODULE_PATHNAME', 'hashring_ring_hash'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_hash(text, uuid) IS 'the uuid key''s position under the ring''s hash';

CREATE FUNCTION hashring.ring_slot(key text)
RETURNS integer AS 'MODULE_PATHNAME', 'hashring_ring_slot'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_slot(text) IS 'Redis Cluster hash slot of the key (CRC16/XMODEM, {hash tag} rule)';
CREATE FUNCTION hashring.ring_slot(key bytea)
RETURNS integer AS 'MODULE_PATHNAME', 'hashring_ring_slot'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_slot(bytea) IS 'Redis Cluster hash slot of the binary key';

-- TRUNCATE of slot ranges (directly, or by TRUNCATE hashring.nodes CASCADE)
-- changes routing of slots rings: bump every ring's version.
CREATE TRIGGER slot_ranges_truncate AFTER TRUNCATE ON hashring.slot_ranges
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._nodes_truncate();

/* ---------------------------------------------------------------------------
 * Ring history: every committed version's membership, for routing as of a
 * version (ring_node(ring, key, version)) and for rebalance planning.
 * ------------------------------------------------------------------------- */

CREATE TABLE hashring.ring_history (
    ring_id      bigint      NOT NULL,
    ring         text        NOT NULL,
    version      bigint      NOT NULL,
    committed_at timestamptz NOT NULL,
    committed_by name        NOT NULL,
    algorithm    text        NOT NULL,
    vnodes       integer     NOT NULL,
    replicas     integer     NOT NULL,
    table_size   integer,
    nodes        jsonb       NOT NULL,
    slot_ranges  jsonb       NOT NULL,
    PRIMARY KEY (ring_id, version),
    -- a ring's history goes with the ring
    FOREIGN KEY (ring_id) REFERENCES hashring.rings (ring_id) ON DELETE CASCADE
);
CREATE INDEX ring_history_ring_idx ON hashring.ring_history (ring, version);
COMMENT ON TABLE hashring.ring_history IS 'hashring: the membership of every committed ring version';
-- Not registered with pg_extension_config_dump: a restore renumbers the
-- versions of the rings it inserts (the triggers run), so dumped history
-- would name versions that no longer mean what they meant; after a restore
-- the history starts again from the restored membership.

/*
 * Deferred to commit, so that a transaction making several changes records
 * one version: the one it commits.  The first event of the transaction does
 * the work; the others find the version recorded.
 */
CREATE FUNCTION hashring._record_version()
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
COMMENT ON FUNCTION hashring._record_version() IS 'internal: records the committed version of a ring in ring_history';
CREATE CONSTRAINT TRIGGER rings_record_version AFTER INSERT OR UPDATE ON hashring.rings
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION hashring._record_version();
-- pruning must reach the caches of routing-by-version
CREATE TRIGGER ring_history_invalidate AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON hashring.ring_history
    FOR EACH STATEMENT EXECUTE FUNCTION hashring._invalidate();

CREATE FUNCTION hashring.ring_versions(ring text,
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
    SELECT h.version, h.committed_at, h.committed_by, pg_catalog.jsonb_array_length(h.nodes),
           (SELECT pg_catalog.count(*)::integer FROM pg_catalog.jsonb_array_elements(h.nodes) AS e
             WHERE e OPERATOR(pg_catalog.->>) 'state' OPERATOR(pg_catalog.=) 'active'),
           h.version OPERATOR(pg_catalog.=) cur_version
      FROM hashring.ring_history AS h
     WHERE h.ring_id OPERATOR(pg_catalog.=) rid
     ORDER BY h.version;
END
$$;
COMMENT ON FUNCTION hashring.ring_versions(text) IS 'committed versions of a ring kept in its history';

CREATE FUNCTION hashring.ring_prune_versions(ring text, keep_from bigint)
RETURNS bigint
LANGUAGE plpgsql STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rid bigint;
    cur_version bigint;
    removed bigint;
BEGIN
    SELECT r.ring_id, r.version INTO rid, cur_version FROM hashring.rings AS r
     WHERE r.ring OPERATOR(pg_catalog.=) ring_prune_versions.ring;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_prune_versions.ring USING ERRCODE = 'undefined_object';
    END IF;
    DELETE FROM hashring.ring_history AS h
     WHERE h.ring_id OPERATOR(pg_catalog.=) rid
       AND h.version OPERATOR(pg_catalog.<) keep_from
       AND h.version OPERATOR(pg_catalog.<>) cur_version;
    GET DIAGNOSTICS removed = ROW_COUNT;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION hashring.ring_prune_versions(text, bigint) IS 'removes a ring''s versions older than keep_from from its history (never the current one)';

CREATE FUNCTION hashring.ring_node(ring text, key text, version bigint)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, text, bigint) IS 'node that owned the key at a committed version of the ring';
CREATE FUNCTION hashring.ring_node(ring text, key bytea, version bigint)
RETURNS text AS 'MODULE_PATHNAME', 'hashring_ring_node_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_node(text, bytea, bigint) IS 'node that owned the binary key at a committed version of the ring';
CREATE FUNCTION hashring.ring_nodes(ring text, key text, n integer, version bigint)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, text, integer, bigint) IS 'n distinct live nodes for the key at a committed version of the ring';
CREATE FUNCTION hashring.ring_nodes(ring text, key bytea, n integer, version bigint)
RETURNS text[] AS 'MODULE_PATHNAME', 'hashring_ring_nodes_at'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hashring.ring_nodes(text, bytea, integer, bigint) IS 'n distinct live nodes for the binary key at a committed version of the ring';

CREATE FUNCTION hashring.ring_diff(ring text, from_version bigint, to_version bigint DEFAULT NULL,
    OUT from_node text, OUT to_node text, OUT share double precision, OUT ranges numrange[])
RETURNS SETOF record AS 'MODULE_PATHNAME', 'hashring_ring_diff'
LANGUAGE C STABLE PARALLEL SAFE ROWS 100;
COMMENT ON FUNCTION hashring.ring_diff(text, bigint, bigint) IS 'exact share of the key space moving from node to node between two versions (NULL: the version this transaction sees)';

/*
 * What a rebalance would move in one table: rows and bytes per flow, and the
 * keys with the most rows (a few hot keys can dominate a skewed table).
 * The key is routed in its text form (as every algorithm but pg_hash does).
 */
CREATE FUNCTION hashring.ring_plan_moves(ring text, tbl regclass, key_column name,
                                         from_version bigint, to_version bigint DEFAULT NULL,
                                         top_keys integer DEFAULT 5,
    OUT from_node text, OUT to_node text, OUT rows bigint, OUT bytes bigint, OUT hot_keys text[])
RETURNS SETOF record
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
    RETURN QUERY EXECUTE pg_catalog.format($q$
        WITH routed AS (
            SELECT hashring.ring_node(%1$L, t.%3$I::text, %4$s) AS f,
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
        CASE WHEN to_version IS NULL THEN pg_catalog.format('hashring.ring_node(%L, t.%I::text)', ring, key_column)
             ELSE pg_catalog.format('hashring.ring_node(%L, t.%I::text, %s)', ring, key_column, to_version) END,
        top_keys);
END
$$;
COMMENT ON FUNCTION hashring.ring_plan_moves(text, regclass, name, bigint, bigint, integer) IS 'rows, bytes and hottest keys of a table that move per flow between two ring versions';

-- points_total of the rings that exist already (this bumps their versions
-- once, and so records their current membership as their first history)
UPDATE hashring.rings AS r
   SET points_total = COALESCE((SELECT pg_catalog.sum(hashring.node_points(n.weight, r.vnodes))
                                  FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) r.ring), 0);

/* ---------------------------------------------------------------------------
 * Moving a sharded table's rows to their owners, over postgres_fdw.
 * ------------------------------------------------------------------------- */

/*
 * The foreign table through which the coordinator reaches `tbl` on the
 * server named by a node's target: hashring_fdw_<server>.<table>, imported
 * on first use.  Clear errors when the server or the remote table is missing.
 */
CREATE FUNCTION hashring._shard_table(ring text, node text, tbl text)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    server text;
    nsp text;
    rel text;
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
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_foreign_server AS s WHERE s.srvname OPERATOR(pg_catalog.=) server) THEN
        RAISE EXCEPTION 'foreign server "%" (target of node "%") does not exist', server, node
            USING ERRCODE = 'undefined_object',
                  HINT = 'CREATE SERVER ... FOREIGN DATA WRAPPER postgres_fdw, with a user mapping.';
    END IF;
    nsp := 'hashring_fdw_' OPERATOR(pg_catalog.||) server;
    rel := pg_catalog.format('%I.%I', nsp, remote_table);
    IF pg_catalog.to_regclass(rel) IS NULL THEN
        EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', nsp);
        EXECUTE pg_catalog.format('IMPORT FOREIGN SCHEMA %I LIMIT TO (%I) FROM SERVER %I INTO %I',
                                  remote_schema, remote_table, server, nsp);
        IF pg_catalog.to_regclass(rel) IS NULL THEN
            RAISE EXCEPTION 'table %.% does not exist on server "%" (node "%")', remote_schema, remote_table, server, node
                USING ERRCODE = 'undefined_table';
        END IF;
    END IF;
    RETURN rel;
END
$$;
COMMENT ON FUNCTION hashring._shard_table(text, text, text) IS 'internal: the coordinator''s foreign table for a node''s shard of a table';

/*
 * Moves every row of `tbl` that is not on its owner under the ring's current
 * version to that owner, shard by shard, in batches: copy to the owner first
 * (INSERT ... ON CONFLICT DO NOTHING, so the shards' tables need a unique
 * key on the sharding column), then delete from where it was, and commit.
 * A crash or cancel leaves every row present at least once; running it again
 * finishes the move with every row exactly once.  Must be called with CALL
 * outside a transaction block (it commits per batch).
 */
CREATE PROCEDURE hashring.ring_move(ring text, tbl text, key_column name, batch_size integer DEFAULT 5000)
LANGUAGE plpgsql
AS $$
DECLARE
    src record;
    dst record;
    src_rel text;
    dst_rel text;
    keys text[];
    moved bigint;
    total bigint := 0;
BEGIN
    IF ring IS NULL OR tbl IS NULL OR key_column IS NULL OR batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
        RAISE EXCEPTION 'ring, table and key column must be given and batch_size must be at least 1'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hashring.rings AS r WHERE r.ring OPERATOR(pg_catalog.=) ring_move.ring) THEN
        RAISE EXCEPTION 'ring "%" does not exist', ring_move.ring USING ERRCODE = 'undefined_object';
    END IF;
    -- resolve every shard first, so that a missing server or table fails before anything moves
    FOR src IN SELECT n.node FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) ring_move.ring ORDER BY n.node LOOP
        PERFORM hashring._shard_table(ring_move.ring, src.node, ring_move.tbl);
    END LOOP;
    COMMIT;
    FOR src IN SELECT n.node FROM hashring.nodes AS n WHERE n.ring OPERATOR(pg_catalog.=) ring_move.ring ORDER BY n.node LOOP
        src_rel := hashring._shard_table(ring_move.ring, src.node, ring_move.tbl);
        LOOP
            EXECUTE pg_catalog.format(
                'SELECT pg_catalog.array_agg(k) FROM (SELECT t.%1$I::text AS k FROM %2$s AS t
                  WHERE hashring.ring_node(%3$L, t.%1$I::text) OPERATOR(pg_catalog.<>) %4$L LIMIT %5$s) s',
                key_column, src_rel, ring_move.ring, src.node, batch_size) INTO keys;
            EXIT WHEN keys IS NULL;
            FOR dst IN SELECT DISTINCT hashring.ring_node(ring_move.ring, k) AS node FROM pg_catalog.unnest(keys) AS k LOOP
                dst_rel := hashring._shard_table(ring_move.ring, dst.node, ring_move.tbl);
                EXECUTE pg_catalog.format(
                    'INSERT INTO %1$s SELECT t.* FROM %2$s AS t
                      WHERE t.%3$I::text OPERATOR(pg_catalog.=) ANY ($1)
                        AND hashring.ring_node(%4$L, t.%3$I::text) OPERATOR(pg_catalog.=) %5$L
                     ON CONFLICT DO NOTHING',
                    dst_rel, src_rel, key_column, ring_move.ring, dst.node) USING keys;
                GET DIAGNOSTICS moved = ROW_COUNT;
                RAISE NOTICE 'hashring.ring_move: % row(s) copied from % to %', moved, src.node, dst.node;
            END LOOP;
            EXECUTE pg_catalog.format('DELETE FROM %1$s AS t WHERE t.%2$I::text OPERATOR(pg_catalog.=) ANY ($1)',
                                      src_rel, key_column) USING keys;
            GET DIAGNOSTICS moved = ROW_COUNT;
            total := total OPERATOR(pg_catalog.+) moved;
            COMMIT;
            RAISE NOTICE 'hashring.ring_move: % row(s) removed from % (% in all so far)', moved, src.node, total;
        END LOOP;
    END LOOP;
    RAISE NOTICE 'hashring.ring_move: done, % row(s) moved', total;
END
$$;
COMMENT ON PROCEDURE hashring.ring_move(text, text, name, integer) IS 'moves a sharded table''s rows to their owners under the current ring version, copy-then-delete in committed batches, over postgres_fdw';
