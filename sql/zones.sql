-- Zone-aware replicas (docs/routing-spec.md, "Zones"): ring_nodes takes
-- one node of each zone of the preference list first -- its first, or on
-- jump, pg_hash and slots the one at the key's spread position -- then the
-- rest in preference order; ring_balance with replicas; ring_zone_balance;
-- replica flows of ring_diff and ring_plan_moves.  The spread's rule in
-- SQL, ring_balance against the keys and how evenly copies spread over
-- larger rings: sql/zone_spread.sql.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- The rule, in SQL, over the zone-blind list p of every live node: the
-- first node of each zone in p, in p's order, then the rest of p (0.7's
-- rule; sql/zone_spread.sql checks the spread of jump, pg_hash and slots).
CREATE FUNCTION pg_temp.zone_rule(ring text, p text[], n integer) RETURNS text[] LANGUAGE sql AS $$
    WITH l AS (SELECT x, o, row_number() OVER (PARTITION BY nd.zone ORDER BY o) AS zr
                 FROM unnest(p) WITH ORDINALITY AS u (x, o)
                 JOIN hashring.nodes AS nd ON nd.ring = zone_rule.ring AND nd.node = u.x)
    SELECT (array_agg(x ORDER BY zr > 1, o))[1:n] FROM l
$$;
CREATE TEMP TABLE zk AS SELECT 'key:' || i AS k FROM generate_series(1, 10000) i;
-- per algorithm, 3,000 keys (test/t/010_node_compat.pl checks 100,000)
CREATE TEMP TABLE zk3 AS SELECT 'key:' || i AS k FROM generate_series(1, 3000) i;
-- the rule in SQL is an SQL call per key, slow under valgrind: 1,000 keys
-- (sql/zone_spread.sql checks the spread's rule on 3,000)
CREATE TEMP TABLE zk1 AS SELECT 'key:' || i AS k FROM generate_series(1, 1000) i;

-- every algorithm: 3 zones x 4 nodes, one down
CREATE TEMP TABLE zcheck AS
SELECT a.algorithm, a.weighted FROM hashring.ring_algorithms() AS a;
SELECT hashring.ring_create('z_' || algorithm, algorithm, vnodes => 40,
                            table_size => CASE WHEN algorithm = 'maglev' THEN 1021 END)
  FROM zcheck \g /dev/null
SELECT hashring.ring_add_node('z_' || c.algorithm, 'n' || z || i, zone => 'zone' || z)
  FROM zcheck AS c, generate_series(1, 4) i, generate_series(1, 3) z ORDER BY c.algorithm, i, z \g /dev/null
SELECT hashring.ring_assign_slots('z_slots', 'n' || z || i, ((i - 1) * 3 + z - 1) * 1365,
                                  CASE WHEN i = 4 AND z = 3 THEN 16383 ELSE ((i - 1) * 3 + z) * 1365 - 1 END)
  FROM generate_series(1, 4) i, generate_series(1, 3) z \g /dev/null
SELECT hashring.ring_set_state('z_' || algorithm, 'n22', 'down') FROM zcheck \g /dev/null
-- the zone-blind lists, at a version with zone_replicas off
SELECT hashring.ring_set_zone_replicas('z_' || algorithm, false) FROM zcheck \g /dev/null
CREATE TEMP TABLE zblind AS
SELECT c.algorithm, (SELECT r.version FROM hashring.rings AS r WHERE r.ring = 'z_' || c.algorithm) AS v FROM zcheck AS c;
SELECT hashring.ring_set_zone_replicas('z_' || algorithm, true) FROM zcheck \g /dev/null
-- 0.7's rule first (zone_spread off: each zone's first node in the list)
SELECT hashring.ring_set_zone_spread('z_' || algorithm, false) FROM zcheck \g /dev/null
SELECT c.algorithm,
       count(*) FILTER (WHERE (SELECT count(DISTINCT nd.zone) FROM unnest(hashring.ring_nodes('z_' || c.algorithm, k, 3)) AS r (x)
                                 JOIN hashring.nodes AS nd ON nd.ring = 'z_' || c.algorithm AND nd.node = r.x) <> 3) AS not_3_zones,
       count(*) FILTER (WHERE 'n22' = ANY (hashring.ring_nodes('z_' || c.algorithm, k, 11))) AS down_node_used,
       count(*) FILTER (WHERE hashring.ring_nodes('z_' || c.algorithm, k, 1) <> ARRAY[hashring.ring_node('z_' || c.algorithm, k)]) AS first_not_owner,
       count(*) FILTER (WHERE hashring.ring_nodes('z_' || c.algorithm, k, n)
                              IS DISTINCT FROM pg_temp.zone_rule('z_' || c.algorithm, hashring.ring_nodes('z_' || c.algorithm, k, 11, b.v), n)) AS not_the_rule
  FROM zcheck AS c JOIN zblind AS b USING (algorithm), (SELECT k, 2 + length(k) % 6 AS n FROM zk1) AS s
 GROUP BY c.algorithm ORDER BY c.algorithm;
-- spread (0.8, the default for new rings): jump, pg_hash and slots take
-- another node of each further zone, with the same guarantees
-- (sql/zone_spread.sql checks which node, in SQL)
SELECT hashring.ring_set_zone_spread('z_' || algorithm, true) FROM zcheck \g /dev/null
SELECT c.algorithm,
       count(*) FILTER (WHERE (SELECT count(DISTINCT nd.zone) FROM unnest(hashring.ring_nodes('z_' || c.algorithm, k, 3)) AS r (x)
                                 JOIN hashring.nodes AS nd ON nd.ring = 'z_' || c.algorithm AND nd.node = r.x) <> 3) AS not_3_zones,
       count(*) FILTER (WHERE 'n22' = ANY (hashring.ring_nodes('z_' || c.algorithm, k, 11))) AS down_node_used,
       count(*) FILTER (WHERE hashring.ring_nodes('z_' || c.algorithm, k, 1) <> ARRAY[hashring.ring_node('z_' || c.algorithm, k)]) AS first_not_owner,
       count(*) FILTER (WHERE (SELECT count(DISTINCT x) FROM unnest(hashring.ring_nodes('z_' || c.algorithm, k, 11)) AS x) <> 11) AS not_11_distinct
  FROM zcheck AS c, zk3
 WHERE c.algorithm IN ('jump', 'pg_hash', 'slots')
 GROUP BY c.algorithm ORDER BY c.algorithm;
-- one copy: no replica share; primaries are ring_balance's
SELECT bool_and(b.replica_share IS NULL) AS no_replicas,
       bool_and(b.primary_share = rb.share AND b.expected_share = rb.expected_share) AS primaries_are_ring_balance
  FROM hashring.ring_balance('z_vnode', replicas => 1) AS b JOIN hashring.ring_balance('z_vnode') AS rb USING (node);
SELECT node, zone, round(expected_share::numeric, 4) AS expected_share, round(primary_share::numeric, 4) AS primary_share,
       round(replica_share::numeric, 4) AS replica_share, overloaded, exact
  FROM hashring.ring_balance('z_jump', replicas => 3) ORDER BY node;

-- ring_zone_balance: with 3 copies and 3 zones every zone holds one copy of
-- every key; primaries are the exact ring_balance shares summed by zone
SELECT c.algorithm, count(*) AS zones, bool_and(exact) AS exact,
       bool_and(abs(replica_share - 1.0 / 3) < 1e-9) AS one_copy_each,
       abs(sum(primary_share) - 1) < 1e-9 AS primaries_sum_to_1,
       bool_and(abs(primary_share - (SELECT sum(b.share) FROM hashring.ring_balance('z_' || c.algorithm) AS b
                                      JOIN hashring.nodes AS nd ON nd.ring = 'z_' || c.algorithm AND nd.node = b.node
                                     WHERE nd.zone = zb.zone)) < 1e-9) AS primaries_exact
  FROM zcheck AS c, hashring.ring_zone_balance('z_' || c.algorithm, 3) AS zb
 GROUP BY c.algorithm ORDER BY c.algorithm;
-- two copies: placements per zone, exact, against 3,000 keys routed
CREATE TEMP TABLE zplaced AS
SELECT c.algorithm, nd.zone, count(*) / 6000.0 AS placed
  FROM zcheck AS c, zk3 AS zk, unnest(hashring.ring_nodes('z_' || c.algorithm, zk.k, 2)) AS r (x)
  JOIN hashring.nodes AS nd ON nd.node = r.x
 WHERE nd.ring = 'z_' || c.algorithm
 GROUP BY 1, 2;
SELECT c.algorithm,
       bool_and(abs(zb.replica_share - p.placed) < 0.02) AS agrees_with_keys
  FROM zcheck AS c, hashring.ring_zone_balance('z_' || c.algorithm, 2) AS zb
  JOIN zplaced AS p ON p.zone = zb.zone
 WHERE p.algorithm = c.algorithm
 GROUP BY c.algorithm ORDER BY c.algorithm;

-- unequal zones: 3 copies over 4 zones put copies in 3 zones of each key,
-- so the one-node zones hold far more than their weight's share (the
-- nodes without a zone are one zone, shown as NULL): the flag says so
SELECT hashring.ring_create('zu', 'vnode', 64);
SELECT hashring.ring_add_node('zu', 'a' || i, zone => 'big') FROM generate_series(1, 6) i \g /dev/null
SELECT hashring.ring_add_node('zu', 'b' || i, zone => 'mid') FROM generate_series(1, 3) i \g /dev/null
SELECT hashring.ring_add_node('zu', 'c1', zone => 'small');
SELECT hashring.ring_add_node('zu', 'x1');
SELECT zone, nodes, weight, round(expected_share::numeric, 4) AS expected_share,
       round(replica_share::numeric, 4) AS replica_share, overloaded, exact
  FROM hashring.ring_zone_balance('zu');
-- zone-blind (opted out): placements follow the walk, not the zones
SELECT hashring.ring_set_zone_replicas('zu', false);
SELECT zone, round(replica_share::numeric, 2) AS replica_share_blind FROM hashring.ring_zone_balance('zu') WHERE zone = 'small';
SELECT hashring.ring_set_zone_replicas('zu', true);

-- ring_diff with replicas: exact replica-copy flows of one node joining,
-- against the copies 10,000 keys lose and gain
SELECT hashring.ring_add_node('zu', 'c2', zone => 'small');
CREATE TEMP TABLE zflow AS
SELECT k, hashring.ring_nodes('zu', k, 3, (SELECT version - 1 FROM hashring.rings WHERE ring = 'zu')) AS a,
       hashring.ring_nodes('zu', k, 3) AS b FROM zk;
SELECT d.from_node, d.to_node, abs(d.share - s.c / 10000.0) < 0.015 AS agrees_with_keys
  FROM hashring.ring_diff('zu', (SELECT version - 1 FROM hashring.rings WHERE ring = 'zu'), replicas => 3) AS d,
       LATERAL (SELECT count(*) AS c FROM zflow AS f
                 WHERE d.from_node = ANY (f.a) AND NOT d.from_node = ANY (f.b)
                   AND d.to_node = ANY (f.b) AND NOT d.to_node = ANY (f.a)) AS s
 ORDER BY 1, 2;
-- a copy moves only where the key's replica set changes, one per change
SELECT abs(sum(share) - (SELECT count(*) FROM zflow, unnest(b) AS x WHERE NOT x = ANY (a)) / 10000.0) < 0.02
       AS copies_moved_match
  FROM hashring.ring_diff('zu', (SELECT version - 1 FROM hashring.rings WHERE ring = 'zu'), NULL, 3);
-- more copies than live nodes on one side: copies made, with no from node
SELECT hashring.ring_create('zs', 'vnode', 16);
SELECT hashring.ring_add_node('zs', 'p', zone => 'z1');
SELECT hashring.ring_add_node('zs', 'q', zone => 'z2');
SELECT from_node, to_node, round(share::numeric, 6) AS share
  FROM hashring.ring_diff('zs', (SELECT version - 1 FROM hashring.rings WHERE ring = 'zs'), replicas => 2);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_diff('z_jump', (SELECT version - 1 FROM hashring.rings WHERE ring = 'z_jump'), replicas => 2)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_diff('zu', 1, replicas => 0)$q$);

-- ring_plan_moves with replicas: rows per copy flow, as routed key by key
CREATE TABLE zrows (id integer PRIMARY KEY, k text, pad text);
INSERT INTO zrows SELECT i, 'key:' || i, repeat('x', i % 50) FROM generate_series(1, 10000) i;
SELECT p.from_node, p.to_node, p.rows = s.c AS rows_match
  FROM hashring.ring_plan_moves('zu', 'zrows', 'k', (SELECT version - 1 FROM hashring.rings WHERE ring = 'zu'),
                                replicas => 3) AS p,
       LATERAL (SELECT count(*) AS c FROM zflow AS f
                 WHERE p.from_node = ANY (f.a) AND NOT p.from_node = ANY (f.b)
                   AND p.to_node = ANY (f.b) AND NOT p.to_node = ANY (f.a)) AS s
 ORDER BY 1, 2;
-- without replicas: the flows of primaries, unchanged
SELECT count(*) AS primary_flows, sum(rows) = (SELECT count(*) FROM zflow WHERE a[1] <> b[1]) AS rows_match
  FROM hashring.ring_plan_moves('zu', 'zrows', 'k', (SELECT version - 1 FROM hashring.rings WHERE ring = 'zu'));
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_plan_moves('zu', 'zrows', 'k', 1, replicas => 0)$q$);

-- the setting is membership: versioned, in history, in the catalog
SELECT ring, zone_replicas FROM hashring.rings WHERE ring IN ('zu', 'zs') ORDER BY 1;
SELECT h.version, h.zone_replicas FROM hashring.ring_history AS h WHERE h.ring = 'zu' ORDER BY h.version DESC LIMIT 3;
SELECT pg_temp.err($q$SELECT hashring.ring_set_zone_replicas('nosuch', true)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_zone_replicas('zu', NULL)$q$);
SELECT ring, zone_spread FROM hashring.rings WHERE ring = 'z_jump';
SELECT hashring.ring_set_zone_spread('z_jump', false);
SELECT h.version, h.zone_replicas, h.zone_spread FROM hashring.ring_history AS h WHERE h.ring = 'z_jump' ORDER BY h.version DESC LIMIT 2;
SELECT pg_temp.err($q$SELECT hashring.ring_set_zone_spread('nosuch', true)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_set_zone_spread('zu', NULL)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_balance('zu', 0)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_balance('nosuch', 2)$q$);
SELECT count(*) FROM hashring.ring_balance('zu', NULL);
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('zu', 'e1', zone => '')$q$);
SELECT pg_temp.err(format($q$SELECT hashring.ring_add_node('zu', 'e1', zone => %L)$q$, repeat('z', 256)));
SELECT pg_temp.err($q$UPDATE hashring.nodes SET zone = '' WHERE ring = 'zu' AND node = 'x1'$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_zone_balance('zu', 0)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_zone_balance('nosuch')$q$);
SELECT count(*) FROM hashring.ring_zone_balance(NULL);

DROP TABLE zrows;
SELECT hashring.ring_drop(ring) FROM hashring.rings WHERE ring LIKE 'z%' \g /dev/null
