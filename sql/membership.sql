-- Membership functions and plain DML on the catalog go through the same checks.
SELECT hashring.ring_create('m');
SELECT ring, algorithm, vnodes, replicas, version FROM hashring.rings WHERE ring = 'm';
SELECT hashring.ring_add_node('m', 'a');
SELECT hashring.ring_add_node('m', 'b', 2, 'host=b port=5432', 'zone-1');
-- plain INSERT works like ring_add_node
INSERT INTO hashring.nodes (ring, node, weight) VALUES ('m', 'c', 0.5);
SELECT node, weight, state, target, zone, ordinal FROM hashring.nodes WHERE ring = 'm' ORDER BY ordinal;
-- every change bumps the version: create + 3 adds
SELECT version FROM hashring.rings WHERE ring = 'm';
SELECT hashring.ring_set_weight('m', 'a', 3);
SELECT hashring.ring_set_state('m', 'c', 'down');
UPDATE hashring.nodes SET zone = 'zone-2' WHERE ring = 'm' AND node = 'a';
SELECT version FROM hashring.rings WHERE ring = 'm';
SELECT node, weight, state, zone FROM hashring.nodes WHERE ring = 'm' ORDER BY node;
-- a version cannot be set by hand: any update of the ring row bumps it by one
UPDATE hashring.rings SET version = 1 WHERE ring = 'm';
SELECT version FROM hashring.rings WHERE ring = 'm';
UPDATE hashring.rings SET vnodes = 100 WHERE ring = 'm';
SELECT vnodes, version FROM hashring.rings WHERE ring = 'm';
SELECT hashring.ring_remove_node('m', 'c');
DELETE FROM hashring.nodes WHERE ring = 'm' AND node = 'b';
SELECT node FROM hashring.nodes WHERE ring = 'm' ORDER BY node;
SELECT version FROM hashring.rings WHERE ring = 'm';
-- ordinals record the order of addition: a new node gets the highest ordinal plus one
SELECT hashring.ring_add_node('m', 'd');
SELECT node, ordinal FROM hashring.nodes WHERE ring = 'm' ORDER BY ordinal;
-- TRUNCATE of nodes bumps every ring's version
SELECT hashring.ring_create('m2', vnodes => 10);
SELECT ring, version FROM hashring.rings WHERE ring IN ('m', 'm2') ORDER BY ring;
TRUNCATE hashring.nodes CASCADE;  -- CASCADE: slot_ranges refers to nodes
SELECT ring, version FROM hashring.rings WHERE ring IN ('m', 'm2') ORDER BY ring;
-- dropping a ring drops its nodes
SELECT hashring.ring_add_node('m2', 'x');
SELECT hashring.ring_drop('m2');
SELECT count(*) FROM hashring.nodes WHERE ring = 'm2';
DELETE FROM hashring.rings WHERE ring = 'm';
SELECT count(*) FROM hashring.rings;
