-- The privilege model: four capabilities granted by ring_grant, nothing for
-- PUBLIC, routing decided by EXECUTE whoever warmed the cache, history
-- written only by the extension, and an install that refuses a schema
-- someone else created.
SET client_min_messages = warning;
CREATE ROLE hr_router;
CREATE ROLE hr_reader;
CREATE ROLE hr_admin;
CREATE ROLE hr_mover;
CREATE ROLE hr_nobody;
CREATE ROLE hr_selectonly;
CREATE ROLE hr_hostile;
-- the hostile role may create schemas and objects in this database
SELECT current_database() AS db \gset
GRANT CREATE ON DATABASE :"db" TO hr_hostile;
SELECT hashring.ring_grant('hr_router', 'route');
SELECT hashring.ring_grant('hr_reader', 'read');
SELECT hashring.ring_grant('hr_admin', 'change');
SELECT hashring.ring_grant('hr_mover', 'move');
GRANT USAGE ON SCHEMA hashring TO hr_selectonly;
GRANT SELECT ON hashring.rings TO hr_selectonly;
SELECT hashring.ring_create('priv');
SELECT hashring.ring_add_node('priv', 'n' || i) FROM generate_series(1, 3) i;
-- the owner routes first: every image is cached before the others try
SELECT hashring.ring_node('priv', 'k1') IS NOT NULL AS owner_routes,
       (SELECT count(*) FROM hashring.ring_balance('priv')) AS owner_balance;

-- what each role may do, run as that role; every cell is the SQLSTATE it
-- got.  42501 is a refusal; anything else means the role was allowed:
-- 'ok', or the call itself failing for its own reasons (25001: ring_move
-- inside try()'s transaction; 55000: version 1 of the ring had no nodes, a
-- node without a target; 42704: no default ring, a node that the rollback of
-- an earlier cell removed; 22023: slot ranges on a vnode ring).  Each cell
-- runs in a subtransaction that is rolled back, whatever happened.
CREATE FUNCTION pg_temp.try(role text, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    BEGIN
        EXECUTE sql;
        RAISE EXCEPTION USING ERRCODE = 'P0099';   -- worked: undo it all the same
    EXCEPTION WHEN SQLSTATE 'P0099' THEN
        RESET ROLE;
        RETURN 'ok';
    WHEN OTHERS THEN
        RESET ROLE;
        RETURN SQLSTATE;
    END;
END $$;
GRANT USAGE ON SCHEMA pg_temp TO PUBLIC;
\set VERBOSITY terse
WITH ops(op, sql) AS (VALUES
    ('ring_node',        $$SELECT hashring.ring_node('priv', 'k1')$$),
    ('ring_node default', $$SELECT hashring.ring_node('k1')$$),
    ('ring_node typed',  $$SELECT hashring.ring_node('priv', 42)$$),
    ('ring_node version', $$SELECT hashring.ring_node('priv', 'k1', 1)$$),
    ('ring_nodes',       $$SELECT hashring.ring_nodes('priv', 'k1', 2)$$),
    ('ring_nodes version', $$SELECT hashring.ring_nodes('priv', 'k1', 2, 1)$$),
    ('ring_hash',        $$SELECT hashring.ring_hash('priv', 'k1')$$),
    ('ring_slot',        $$SELECT hashring.ring_slot('k1')$$),
    ('ring_placement',   $$SELECT hashring.ring_placement('priv', 'items', 'k1')$$),
    ('ring_balance',     $$SELECT * FROM hashring.ring_balance('priv')$$),
    ('ring_diff',        $$SELECT * FROM hashring.ring_diff('priv', 1)$$),
    ('ring_versions',    $$SELECT * FROM hashring.ring_versions('priv')$$),
    ('ring_plan_moves',  $$SELECT * FROM hashring.ring_plan_moves('priv', 'pg_catalog.pg_class', 'relname', 1)$$),
    ('ring_cache_info',  $$SELECT * FROM hashring.ring_cache_info()$$),
    ('node_points',      $$SELECT hashring.node_points(1, 160)$$),
    ('select rings',     $$SELECT * FROM hashring.rings$$),
    ('select nodes',     $$SELECT * FROM hashring.nodes$$),
    ('select slots',     $$SELECT * FROM hashring.slot_ranges$$),
    ('select history',   $$SELECT * FROM hashring.ring_history$$),
    ('select moves',     $$SELECT * FROM hashring.moves$$),
    ('move progress',    $$SELECT * FROM hashring.ring_move_progress$$),
    ('health_status',    $$SELECT * FROM hashring.health_status()$$),
    ('health status view', $$SELECT * FROM hashring.health_status$$),
    ('health_checker',   $$SELECT * FROM hashring.health_checker()$$),
    ('select marks',     $$SELECT * FROM hashring.health_marks$$),
    ('write marks',      $$INSERT INTO hashring.health_marks VALUES ('priv', 'n1', now(), current_user)$$),
    ('ring_create',      $$SELECT hashring.ring_create('c_' || current_user)$$),
    ('ring_add_node',    $$SELECT hashring.ring_add_node('priv', 'x_' || current_user)$$),
    ('ring_set_weight',  $$SELECT hashring.ring_set_weight('priv', 'n3', 1)$$),
    ('ring_set_state',   $$SELECT hashring.ring_set_state('priv', 'n3', 'active')$$),
    ('ring_set_node_id', $$SELECT hashring.ring_set_node_id('priv', 'n3', NULL)$$),
    ('ring_remove_node', $$SELECT hashring.ring_remove_node('priv', 'x_' || current_user)$$),
    ('ring_drop',        $$SELECT hashring.ring_drop('c_' || current_user)$$),
    ('ring_assign_slots', $$SELECT hashring.ring_assign_slots('priv', 'n1', 0, 1)$$),
    ('ring_clear_slots', $$SELECT hashring.ring_clear_slots('priv')$$),
    ('prune',            $$SELECT hashring.ring_prune_versions('priv', 1)$$),
    ('insert rings',     $$INSERT INTO hashring.rings (ring) VALUES ('d_' || current_user)$$),
    ('update nodes',     $$UPDATE hashring.nodes SET weight = 1 WHERE ring = 'priv' AND node = 'n1'$$),
    ('delete nodes',     $$DELETE FROM hashring.nodes WHERE ring = 'priv' AND node = 'nope'$$),
    ('truncate slots',   $$TRUNCATE hashring.slot_ranges$$),
    ('insert history',   $$INSERT INTO hashring.ring_history SELECT * FROM hashring.ring_history LIMIT 0$$),
    ('delete history',   $$DELETE FROM hashring.ring_history WHERE false$$),
    ('write moves',      $$INSERT INTO hashring.moves (ring, tbl, key_column) VALUES ('priv', 'x', 'k')$$),
    ('ring_settle',      $$SELECT hashring.ring_settle('priv', 's_' || current_user, 'k')$$),
    ('_move_begin',      $$SELECT hashring._move_begin('priv', 'x', 'k', 1, 0)$$),
    ('_shard_table',     $$SELECT hashring._shard_table('priv', 'n1', 'items')$$),
    ('_write_history',   $$SELECT hashring._write_history(1, 'someone')$$),
    ('_check_ring',      $$SELECT hashring._check_ring('priv')$$),
    ('ring_move',        $$CALL hashring.ring_move('priv', 'x', 'k')$$),
    ('ring_grant',       $$SELECT hashring.ring_grant(current_user::regrole, 'change')$$),
    ('ring_revoke',      $$SELECT hashring.ring_revoke('hr_router', 'route')$$))
SELECT op,
       pg_temp.try('hr_nobody', sql) AS nobody, pg_temp.try('hr_hostile', sql) AS hostile,
       pg_temp.try('hr_selectonly', sql) AS selectonly,
       pg_temp.try('hr_router', sql) AS router, pg_temp.try('hr_reader', sql) AS reader,
       pg_temp.try('hr_admin', sql) AS admin, pg_temp.try('hr_mover', sql) AS mover,
       pg_temp.try(current_user, sql) AS owner
  FROM ops;
\set VERBOSITY default

-- history names the role that made the change, and only the extension wrote it
SELECT committed_by FROM hashring.ring_versions('priv') ORDER BY version DESC LIMIT 1;
-- a membership admin cannot pre-empt the next version's history
SET ROLE hr_admin;
INSERT INTO hashring.ring_history (ring_id, ring, version, committed_at, committed_by, algorithm, vnodes, replicas, nodes, slot_ranges)
SELECT ring_id, ring, version + 1, now(), 'postgres', algorithm, vnodes, replicas, ARRAY[ROW('attacker', 1, 'active', 0, NULL, NULL, NULL, NULL)::hashring.history_node], '{}'
  FROM hashring.ring_history WHERE ring = 'priv' ORDER BY version DESC LIMIT 1;
SELECT hashring.ring_set_weight('priv', 'n2', 2);
RESET ROLE;
SELECT v.committed_by, hashring.ring_node('priv', 'k1', v.version) <> 'attacker' AS routes_honestly
  FROM hashring.ring_versions('priv') v WHERE v.current;
-- the history trigger function is not callable or reusable by others
SET ROLE hr_admin;
CREATE TEMP TABLE fake (ring_id bigint);
CREATE TRIGGER fake AFTER INSERT ON fake FOR EACH ROW EXECUTE FUNCTION hashring._record_version();
DROP TABLE fake;
RESET ROLE;

-- the cache does not decide: a role without the capability is refused
-- although the owner warmed the image, and after SET ROLE in one backend
SELECT hashring.ring_node('priv', 'k2') IS NOT NULL AS warmed;
SET ROLE hr_nobody;
SELECT hashring.ring_node('priv', 'k2');
RESET ROLE;
SET ROLE hr_selectonly;
SELECT hashring.ring_node('priv', 'k2');
SELECT * FROM hashring.ring_balance('priv');
RESET ROLE;
-- a revoked capability takes effect at once
SELECT hashring.ring_revoke('hr_reader', 'read');
SET ROLE hr_reader;
SELECT hashring.ring_node('priv', 'k2') IS NOT NULL AS still_routes;
SELECT count(*) FROM hashring.ring_balance('priv');
RESET ROLE;
SELECT hashring.ring_grant('hr_reader', 'nonsense');

-- targets never carry passwords
SELECT hashring.ring_add_node('priv', 'secret', target => 'host=db1 password=hunter2');
SELECT hashring.ring_add_node('priv', 'secret', target => 'postgresql://app:hunter2@db1/app');
SELECT hashring.ring_add_node('priv', 'fine', target => 'shard_fine');

-- a schema someone else created is refused by CREATE EXTENSION
SELECT current_database() AS regress_db \gset
CREATE DATABASE hr_hostile_db OWNER hr_hostile;
\c hr_hostile_db
SET ROLE hr_hostile;
CREATE SCHEMA hashring;
RESET ROLE;
-- terse: PostgreSQL 18 adds the extension script's text to the context
\set VERBOSITY terse
CREATE EXTENSION hashring;
\set VERBOSITY default
SELECT count(*) AS installed FROM pg_extension WHERE extname = 'hashring';
-- its own empty schema is accepted
DROP SCHEMA hashring;
CREATE SCHEMA hashring;
CREATE EXTENSION hashring;
SELECT extversion FROM pg_extension WHERE extname = 'hashring';
\c :regress_db
DROP DATABASE hr_hostile_db;

SELECT hashring.ring_drop('priv');
DROP OWNED BY hr_router, hr_reader, hr_admin, hr_mover, hr_nobody, hr_selectonly, hr_hostile;
DROP ROLE hr_router, hr_reader, hr_admin, hr_mover, hr_nobody, hr_selectonly, hr_hostile;
