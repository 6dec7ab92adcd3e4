-- Bad input gets a clear error with a specific SQLSTATE and changes nothing.
-- err() runs a statement and shows its SQLSTATE and message.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT hashring.ring_create('b', vnodes => 4);
SELECT hashring.ring_add_node('b', 'n1');
SELECT version AS v0 FROM hashring.rings WHERE ring = 'b' \gset
-- unknown ring or node (42704)
SELECT pg_temp.err($q$SELECT hashring.ring_node('nope', 'k')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_nodes('nope', 'k', 2)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_balance('nope')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_drop('nope')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('nope', 'n')$q$);
SELECT pg_temp.err($q$INSERT INTO hashring.nodes (ring, node) VALUES ('nope', 'n')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_remove_node('b', 'nope')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_remove_node('nope', 'n1')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_weight('b', 'nope', 2)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_state('b', 'nope', 'down')$q$);
-- duplicates (42710)
SELECT pg_temp.err($q$SELECT hashring.ring_create('b')$q$);
SELECT pg_temp.err($q$INSERT INTO hashring.rings (ring) VALUES ('b')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'n1')$q$);
SELECT pg_temp.err($q$INSERT INTO hashring.nodes (ring, node) VALUES ('b', 'n1')$q$);
-- weights (22023)
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'w', 0)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'w', -1)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'w', 'NaN')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'w', 'Infinity')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'w', NULL)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_weight('b', 'n1', 0)$q$);
SELECT pg_temp.err($q$UPDATE hashring.nodes SET weight = 'NaN' WHERE node = 'n1'$q$);
-- vnodes and replicas (22023)
SELECT pg_temp.err($q$SELECT hashring.ring_create('v', vnodes => 0)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('v', vnodes => 100001)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('v', replicas => 0)$q$);
SELECT pg_temp.err($q$UPDATE hashring.rings SET vnodes = -5 WHERE ring = 'b'$q$);
-- too many points in one ring (54000)
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', 'huge', 5000000)$q$);
-- unknown algorithm and state (22023)
SELECT pg_temp.err($q$SELECT hashring.ring_create('v', 'md5-ring')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('v', NULL)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_state('b', 'n1', 'sleeping')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_state('b', 'n1', NULL)$q$);
-- names: null (22004), empty (42602), too long (42622); limits are 63 and 255 bytes
SELECT pg_temp.err($q$SELECT hashring.ring_create(NULL)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create(repeat('r', 64))$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', '')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', repeat('é', 128))$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('b', NULL)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_node(repeat('r', 64), 'k')$q$);
-- renaming a ring or changing its id (0A000)
SELECT pg_temp.err($q$UPDATE hashring.rings SET ring = 'b2' WHERE ring = 'b'$q$);
SELECT pg_temp.err($q$UPDATE hashring.rings SET ring_id = ring_id + 100 WHERE ring = 'b'$q$);
-- impossible counts (22023)
SELECT pg_temp.err($q$SELECT hashring.ring_nodes('b', 'k', 0)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_nodes('b', 'k', -1)$q$);
-- nothing above changed the ring
SELECT version = :v0 AS unchanged FROM hashring.rings WHERE ring = 'b';
SELECT ring, node, weight, state FROM hashring.nodes ORDER BY 1, 2;
SELECT ring FROM hashring.rings ORDER BY 1;
-- empty ring and ring with only down nodes at lookup time (55000)
SELECT hashring.ring_create('empty');
SELECT pg_temp.err($q$SELECT hashring.ring_node('empty', 'k')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_nodes('empty', 'k', 1)$q$);
SELECT * FROM hashring.ring_balance('empty');
SELECT hashring.ring_set_state('b', 'n1', 'down');
SELECT pg_temp.err($q$SELECT hashring.ring_node('b', 'k')$q$);
SELECT node, share, expected_share, deviation, overloaded FROM hashring.ring_balance('b');
SELECT hashring.ring_set_state('b', 'n1', 'active');
-- NULL keys and rings route to NULL
SELECT hashring.ring_node('b', NULL::text) IS NULL AS null_key,
       hashring.ring_node(NULL, 'k') IS NULL AS null_ring,
       hashring.ring_node(NULL::bytea) IS NULL AS null_default,
       hashring.ring_nodes('b', NULL::text, 2) IS NULL AS null_nodes,
       hashring.ring_nodes('b', 'k', NULL) IS NULL AS null_n;
-- the default ring must exist
SELECT pg_temp.err($q$SELECT hashring.ring_node('k')$q$);
SET hashring.default_ring = '';
SELECT pg_temp.err($q$SELECT hashring.ring_node('k')$q$);
RESET hashring.default_ring;
-- malformed catalog rows written with triggers bypassed: clear error, no crash (XX001)
SET session_replication_role = replica;
INSERT INTO hashring.nodes (ring, node, weight, state, ordinal) VALUES ('b', 'bad', -1, 'active', 9);
SET session_replication_role = DEFAULT;
UPDATE hashring.rings SET replicas = replicas WHERE ring = 'b';  -- bump so caches recheck
SELECT pg_temp.err($q$SELECT hashring.ring_node('b', 'k')$q$);
SET session_replication_role = replica;
UPDATE hashring.nodes SET weight = 1, state = 'zombie' WHERE node = 'bad';
SET session_replication_role = DEFAULT;
UPDATE hashring.rings SET replicas = replicas WHERE ring = 'b';
SELECT pg_temp.err($q$SELECT hashring.ring_node('b', 'k')$q$);
SET session_replication_role = replica;
DELETE FROM hashring.nodes WHERE node = 'bad';
UPDATE hashring.rings SET algorithm = 'bogus' WHERE ring = 'b';
SET session_replication_role = DEFAULT;
SELECT pg_temp.err($q$SELECT hashring.ring_node('b', 'k')$q$);
SET session_replication_role = replica;
UPDATE hashring.rings SET algorithm = 'vnode' WHERE ring = 'b';
SET session_replication_role = DEFAULT;
UPDATE hashring.rings SET replicas = replicas WHERE ring = 'b';
SELECT pg_temp.err($q$SELECT hashring.ring_node('b', 'k')$q$);
-- a key of almost 1 GB: sql/huge_key.sql
SELECT hashring.ring_drop('b');
SELECT hashring.ring_drop('empty');
