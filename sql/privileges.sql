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
-- got ('ok' when it worked)
CREATE FUNCTION pg_temp.try(role text, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET LOCAL ROLE %I', role);
    BEGIN
        EXECUTE sql;
        RESET ROLE;
        RETURN 'ok';
    EXCEPTION WHEN OTHERS THEN
        RESET ROLE;
        RETURN SQLSTATE;
    END;
END $$;
GRANT USAGE ON SCHEMA pg_temp TO PUBLIC;
\set VERBOSITY terse
WITH ops(op, sql) AS (VALUES
    ('ring_node',        $$SELECT hashring.ring_node('priv', 'k1')$$),
    ('ring_nodes',       $$SELECT hashring.ring_nodes('priv', 'k1', 2)$$),
    ('ring_node typed',  $$SELECT hashring.ring_node('priv', 42)$$),
    ('ring_placement',   $$SELECT hashring.ring_placement('priv', 'items', 'k1')$$),
    ('ring_balance',     $$SELECT * FROM hashring.ring_balance('priv')$$),
    ('ring_diff',        $$SELECT * FROM hashring.ring_diff('priv', 1)$$),
    ('ring_versions',    $$SELECT * FROM hashring.ring_versions('priv')$$),
    ('select nodes',     $$SELECT * FROM hashring.nodes$$),
    ('select history',   $$SELECT * FROM hashring.ring_history$$),
    ('ring_add_node',    $$SELECT hashring.ring_add_node('priv', 'x_' || current_user)$$),
    ('update nodes',     $$UPDATE hashring.nodes SET weight = 1 WHERE ring = 'priv' AND node = 'n1'$$),
    ('prune',            $$SELECT hashring.ring_prune_versions('priv', 1)$$),
    ('insert history',   $$INSERT INTO hashring.ring_history SELECT * FROM hashring.ring_history LIMIT 0$$),
    ('delete history',   $$DELETE FROM hashring.ring_history WHERE false$$),
    ('write moves',      $$INSERT INTO hashring.moves (ring, tbl, key_column) VALUES ('priv', 'x', 'k')$$),
    ('_move_begin',      $$SELECT hashring._move_begin('priv', 'x', 'k', 1, 0)$$),
    ('_write_history',   $$SELECT hashring._write_history(1, 'someone')$$),
    ('ring_move',        $$CALL hashring.ring_move('priv', 'x', 'k')$$),
    ('ring_grant',       $$SELECT hashring.ring_grant(current_user::regrole, 'change')$$))
SELECT op,
       pg_temp.try('hr_nobody', sql) AS nobody, pg_temp.try('hr_selectonly', sql) AS selectonly,
       pg_temp.try('hr_router', sql) AS router, pg_temp.try('hr_reader', sql) AS reader,
       pg_temp.try('hr_admin', sql) AS admin, pg_temp.try('hr_mover', sql) AS mover
  FROM ops;
\set VERBOSITY default

-- history names the role that made the change, and only the extension wrote it
SELECT committed_by FROM hashring.ring_versions('priv') ORDER BY version DESC LIMIT 1;
-- a membership admin cannot pre-empt the next version's history
SET ROLE hr_admin;
INSERT INTO hashring.ring_history (ring_id, ring, version, committed_at, committed_by, algorithm, vnodes, replicas, nodes, slot_ranges)
SELECT ring_id, ring, version + 1, now(), 'postgres', algorithm, vnodes, replicas, '[{"node": "attacker", "weight": 1, "state": "active", "ordinal": 0}]', '[]'
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
CREATE EXTENSION hashring;
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
