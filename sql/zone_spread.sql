-- How evenly the second and third copies of every key spread over the
-- nodes of zoned rings, by ring_balance(ring, replicas => 3) (issue 25:
-- 0.7 put all of a zone's copies on one of its nodes on jump, slots and
-- pg_hash).  A file of its own: its 40 rings of up to 100 nodes take
-- minutes under valgrind and reach no code sql/zones.sql does not
-- (scripts/sanitize.sh leaves it out there).
-- Every node live: 3 zones x 4 nodes added zone by zone, and 5 zones x 20
-- nodes added round-robin; equal weights (every algorithm) and unequal
-- ones (1, 2, 3 within each zone, so that the zones weigh the same, as each
-- holds one copy of every key: the weighted algorithms).  Each node's share
-- of the copies 2..3 against its share of the weight: exact, or from
-- 100,000 keys where the key space is not enumerable (rendezvous, xor).
CREATE TEMP TABLE zspread AS
SELECT a.algorithm, a.weighted, sh.zones, sh.per, w.unequal,
       format('zs_%s_%s_%s', a.algorithm, sh.zones, CASE WHEN w.unequal THEN 'w' ELSE 'e' END) AS r
  FROM hashring.ring_algorithms() AS a, (VALUES (3, 4), (5, 20)) AS sh (zones, per), (VALUES (false), (true)) AS w (unequal)
 WHERE a.weighted OR NOT w.unequal;
SELECT hashring.ring_create(r, algorithm) FROM zspread \g /dev/null
SELECT hashring.ring_add_node(s.r, format('z%s-n%s', z, i), CASE WHEN s.unequal THEN 1 + i % 3 ELSE 1 END,
                              zone => 'z' || z)
  FROM zspread AS s, generate_series(0, s.zones - 1) z, generate_series(0, s.per - 1) i
 ORDER BY s.r, CASE WHEN s.zones = 3 THEN z * 100 + i ELSE i * 100 + z END \g /dev/null
SELECT s.algorithm, s.zones || 'x' || s.per AS shape, s.unequal, bool_and(b.exact) AS exact,
       round(max(b.replica_share / b.expected_share)::numeric, 2) AS max_ratio,
       round(min(b.replica_share / b.expected_share)::numeric, 2) AS min_ratio,
       max(b.replica_share / b.expected_share) <= 1.3 AS within_1_3
  FROM zspread AS s, hashring.ring_balance(s.r, replicas => 3) AS b
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- the same rings by 0.7's rule: jump, slots and pg_hash pile up
SELECT hashring.ring_set_zone_spread(r, false) FROM zspread WHERE algorithm IN ('jump', 'slots', 'pg_hash') \g /dev/null
SELECT s.algorithm, s.zones || 'x' || s.per AS shape,
       round(max(b.replica_share / b.expected_share)::numeric, 2) AS max_ratio_0_7,
       count(*) FILTER (WHERE b.replica_share = 0) AS nodes_without_copies
  FROM zspread AS s, hashring.ring_balance(s.r, replicas => 3) AS b
 WHERE s.algorithm IN ('jump', 'slots', 'pg_hash')
 GROUP BY 1, 2 ORDER BY 1, 2;
SELECT hashring.ring_drop(r) FROM zspread \g /dev/null

