/* hashring--0.6--0.7.sql -- zone-aware replicas and the health checker */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION hashring UPDATE TO '0.7'" to load this file. \quit

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


-- Upgrade only (a fresh install has these in its body): the read capability
-- covers the health checker's function, view and marks, and every role that
-- holds read (EXECUTE on ring_balance) gets them, as ring_grant(role,
-- 'read') now gives.
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
    ('read', 'function', 'health_status', 'EXECUTE'), ('read', 'function', 'health_checker', 'EXECUTE'),
    ('read', 'table', 'health_status', 'SELECT'), ('read', 'table', 'health_marks', 'SELECT'),
    ('change', 'function', 'ring_create', 'EXECUTE'), ('change', 'function', 'ring_drop', 'EXECUTE'),
    ('change', 'function', 'ring_add_node', 'EXECUTE'), ('change', 'function', 'ring_remove_node', 'EXECUTE'),
    ('change', 'function', 'ring_set_weight', 'EXECUTE'), ('change', 'function', 'ring_set_state', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_id', 'EXECUTE'), ('change', 'function', 'ring_assign_slots', 'EXECUTE'),
    ('change', 'function', 'ring_add_servers', 'EXECUTE'),
    ('change', 'function', 'ring_clear_slots', 'EXECUTE'), ('change', 'function', 'ring_prune_versions', 'EXECUTE'),
    ('change', 'function', '_check_name', 'EXECUTE'), ('change', 'function', '_node_not_found', 'EXECUTE'),
    ('change', 'function', '_check_point_limit', 'EXECUTE'), ('change', 'function', '_check_jump_removal', 'EXECUTE'),
    ('change', 'function', '_is_prime', 'EXECUTE'),
    ('change', 'function', 'ring_set_node_tokens', 'EXECUTE'),
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
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.health_status() TO %s', r);
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION hashring.health_checker() TO %s', r);
        EXECUTE pg_catalog.format('GRANT SELECT ON TABLE hashring.health_status TO %s', r);
        EXECUTE pg_catalog.format('GRANT SELECT ON TABLE hashring.health_marks TO %s', r);
    END LOOP;
END
$$;

/* --- end health checker --- */
