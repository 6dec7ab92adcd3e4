-- Zone replicas spread over each zone's nodes (0.8, issue 25: 0.7 put all
-- of a zone's copies on one of its nodes on jump, slots and pg_hash): the
-- spread rule of routing-spec.md in SQL against ring_nodes, ring_balance
-- with replicas against the keys, and how evenly the copies spread on
-- larger rings.  A file of its own: its SQL per key and its 40 rings of up
-- to 100 nodes take many minutes under valgrind, and reach no C code
-- sql/zones.sql does not (scripts/sanitize.sh leaves it out there).
-- The rule, in SQL, over the zone-blind list p of every live node: one
-- node of each zone in the order p reaches the zones, then the rest of p.
-- A zone's node is its first in p; with a spread position c (jump, pg_hash:
-- p[1]'s position among its zone's nodes; slots: the key's slot) every zone after
-- p[1]'s gives its node at position c mod its nodes (all, in node order),
-- or the next live one after it.
CREATE FUNCTION pg_temp.zone_pick(ring text, zone text, c bigint) RETURNS text LANGUAGE sql AS $$
    SELECT node FROM (SELECT nd.node, nd.state, row_number() OVER (ORDER BY nd.ordinal) - 1 AS pos, count(*) OVER () AS m
                        FROM hashring.nodes AS nd WHERE nd.ring = zone_pick.ring AND nd.zone IS NOT DISTINCT FROM zone_pick.zone) AS z
     WHERE state = 'active' ORDER BY (pos - c % m + m) % m LIMIT 1
$$;
CREATE FUNCTION pg_temp.zone_rule(ring text, p text[], n integer, c bigint DEFAULT NULL) RETURNS text[] LANGUAGE sql AS $$
    WITH l AS (SELECT x, o, nd.zone, row_number() OVER (PARTITION BY nd.zone ORDER BY o) AS zr
                 FROM unnest(p) WITH ORDINALITY AS u (x, o)
                 JOIN hashring.nodes AS nd ON nd.ring = zone_rule.ring AND nd.node = u.x),
    firsts AS (SELECT o, CASE WHEN c IS NULL OR o = 1 THEN x ELSE pg_temp.zone_pick(ring, zone, c) END AS pick
                 FROM l WHERE zr = 1)
    SELECT (ARRAY(SELECT pick FROM firsts ORDER BY o)
            || ARRAY(SELECT x FROM l WHERE x NOT IN (SELECT pick FROM firsts) ORDER BY o))[1:n]
$$;
-- the spread position of key k on ring r, whose zone-blind list is p
CREATE FUNCTION pg_temp.spread(algorithm text, r text, k text, p text[]) RETURNS bigint LANGUAGE sql AS $$
    SELECT CASE WHEN algorithm IN ('jump', 'pg_hash')
                THEN (SELECT pos FROM (SELECT nd.node, row_number() OVER (PARTITION BY nd.zone ORDER BY nd.ordinal) - 1 AS pos
                                         FROM hashring.nodes AS nd WHERE nd.ring = r) AS o WHERE o.node = p[1])
                WHEN algorithm = 'slots' THEN hashring.ring_slot(k) END
$$;
CREATE TEMP TABLE zk3 AS SELECT 'key:' || i AS k FROM generate_series(1, 3000) i;

-- every algorithm: 3 zones x 4 nodes, one down (as in sql/zones.sql)
CREATE TEMP TABLE zrcheck AS
SELECT a.algorithm, a.weighted FROM hashring.ring_algorithms() AS a;
SELECT hashring.ring_create('zr_' || algorithm, algorithm, vnodes => 40,
                            table_size => CASE WHEN algorithm = 'maglev' THEN 1021 END)
  FROM zrcheck \g /dev/null
SELECT hashring.ring_add_node('zr_' || c.algorithm, 'n' || z || i, zone => 'zone' || z)
  FROM zrcheck AS c, generate_series(1, 4) i, generate_series(1, 3) z ORDER BY c.algorithm, i, z \g /dev/null
SELECT hashring.ring_assign_slots('zr_slots', 'n' || z || i, ((i - 1) * 3 + z - 1) * 1365,
                                  CASE WHEN i = 4 AND z = 3 THEN 16383 ELSE ((i - 1) * 3 + z) * 1365 - 1 END)
  FROM generate_series(1, 4) i, generate_series(1, 3) z \g /dev/null
SELECT hashring.ring_set_state('zr_' || algorithm, 'n22', 'down') FROM zrcheck \g /dev/null
-- the zone-blind lists, at a version with zone_replicas off
SELECT hashring.ring_set_zone_replicas('zr_' || algorithm, false) FROM zrcheck \g /dev/null
CREATE TEMP TABLE zrblind AS
SELECT c.algorithm, (SELECT r.version FROM hashring.rings AS r WHERE r.ring = 'zr_' || c.algorithm) AS v FROM zrcheck AS c;
SELECT hashring.ring_set_zone_replicas('zr_' || algorithm, true) FROM zrcheck \g /dev/null
SELECT c.algorithm,
       count(*) FILTER (WHERE hashring.ring_nodes('zr_' || c.algorithm, k, n)
                              IS DISTINCT FROM pg_temp.zone_rule('zr_' || c.algorithm, s.p, n, pg_temp.spread(c.algorithm, 'zr_' || c.algorithm, k, s.p))) AS not_the_rule,
       count(*) FILTER (WHERE s.p[1] <> hashring.ring_node('zr_' || c.algorithm, k)) AS blind_first_not_owner
  FROM zrcheck AS c JOIN zrblind AS b USING (algorithm),
       LATERAL (SELECT k, 2 + length(k) % 6 AS n, hashring.ring_nodes('zr_' || c.algorithm, k, 11, b.v) AS p FROM zk3) AS s
 GROUP BY c.algorithm ORDER BY c.algorithm;
-- 0.7's rule (zone_spread off) on the same rings
SELECT hashring.ring_set_zone_spread('zr_' || algorithm, false) FROM zrcheck \g /dev/null
SELECT c.algorithm,
       count(*) FILTER (WHERE hashring.ring_nodes('zr_' || c.algorithm, k, n)
                              IS DISTINCT FROM pg_temp.zone_rule('zr_' || c.algorithm, hashring.ring_nodes('zr_' || c.algorithm, k, 11, b.v), n)) AS not_the_0_7_rule
  FROM zrcheck AS c JOIN zrblind AS b USING (algorithm), (SELECT k, 2 + length(k) % 6 AS n FROM zk3) AS s
 WHERE c.algorithm IN ('jump', 'pg_hash', 'slots', 'vnode')
 GROUP BY c.algorithm ORDER BY c.algorithm;
SELECT hashring.ring_set_zone_spread('zr_' || algorithm, true) FROM zrcheck \g /dev/null

-- ring_balance with replicas against the keys: 3,000 keys routed with 3
-- copies on the rings with a node down, per node (sql/zone_spread.sql
-- measures how evenly copies spread on larger rings)
CREATE TEMP TABLE zrcopies AS
SELECT c.algorithm, x AS node, count(*) FILTER (WHERE o = 1) / 3000.0 AS primaries,
       count(*) FILTER (WHERE o > 1) / 6000.0 AS seconds
  FROM zrcheck AS c, zk3 AS zk, unnest(hashring.ring_nodes('zr_' || c.algorithm, zk.k, 3)) WITH ORDINALITY AS r (x, o)
 GROUP BY 1, 2;
SELECT c.algorithm, count(*) AS nodes, bool_and(b.exact) AS exact,
       bool_and(abs(b.replica_share - coalesce(k.seconds, 0)) < 0.02) AS replicas_agree,
       bool_and(abs(b.primary_share - coalesce(k.primaries, 0)) < 0.02) AS primaries_agree,
       abs(sum(b.replica_share) - 1) < 1e-9 AS replicas_sum_to_1,
       bool_and(b.replica_share = 0 AND b.primary_share = 0 AND NOT b.overloaded) FILTER (WHERE b.node = 'n22') AS down_holds_nothing
  FROM zrcheck AS c, hashring.ring_balance('zr_' || c.algorithm, replicas => 3) AS b
  LEFT JOIN zrcopies AS k ON k.node = b.node
 WHERE k.algorithm IS NULL OR k.algorithm = c.algorithm
 GROUP BY c.algorithm ORDER BY c.algorithm;
SELECT hashring.ring_drop('zr_' || algorithm) FROM zrcheck \g /dev/null

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

