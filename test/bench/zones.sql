-- Zones (docs/production.md, "Zones"), two measurements:
--
--   psql -X -d DB -f test/bench/zones.sql   (a database with hashring)
--
-- 1. How many replica sets change when one node joins a zoned ring:
-- zone-aware placement against the zone-blind walk.
-- For each shape and algorithm rings with the same nodes are built, one
-- zone-blind, one zone-aware and, on jump, pg_hash and slots, one
-- zone-aware by 0.7's rule (zone_spread off: each zone's first node in the
-- walk); then one node (weight 1) joins zone z1 of each.  Printed per ring,
-- with 3 replicas: the share of 100,000 keys whose replica set (as a set)
-- changed; the replica copies that move per key, counted over the same
-- keys (ring_diff gives them exactly where it can: not on jump and
-- pg_hash); the largest node's share of the second and third copies
-- against its weight's, before the join (ring_balance with replicas); and,
-- for scale, 3 x the new
-- node's share of the weight (the copies a weight-proportional placement
-- gives it; with zones its zone's nodes share that zone's copies instead, so
-- zone-aware rings can move less).  Deterministic: the same figures on
-- every machine.  Creates and drops rings named zc_*.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE TEMP TABLE zc_ring (ring text, shape text, algorithm text, placement text, v0 bigint, spread numeric);
CREATE TEMP TABLE zc_keys AS SELECT 'tenant:' || i AS k FROM generate_series(1, 100000) i;

DO $$
DECLARE
    s record;
    a text;
    p text;
    r text;
BEGIN
    FOR s IN SELECT * FROM (VALUES ('3 zones x 4', 3, 4, false), ('5 zones x 20, unequal', 5, 20, true))
                        AS t (shape, zones, per_zone, unequal) LOOP
        FOREACH a IN ARRAY ARRAY['vnode', 'ketama', 'maglev', 'jump', 'pg_hash', 'slots'] LOOP
            FOREACH p IN ARRAY ARRAY['zone-blind', 'zone-aware 0.7', 'zone-aware'] LOOP
                CONTINUE WHEN p = 'zone-aware 0.7' AND a NOT IN ('jump', 'pg_hash', 'slots');
                r := format('zc_%s_%s_%s', a, s.zones, replace(replace(p, '-', '_'), ' 0.7', '07'));
                PERFORM hashring.ring_create(r, a, vnodes => 160);
                PERFORM hashring.ring_set_zone_replicas(r, p <> 'zone-blind');
                PERFORM hashring.ring_set_zone_spread(r, p = 'zone-aware');
                PERFORM hashring.ring_add_node(r, 'n' || z || '-' || i,
                                               CASE WHEN s.unequal AND a IN ('vnode', 'ketama', 'maglev')
                                                    THEN (ARRAY[1, 0.5, 1.25, 3, 2, 0.75, 1.5])[1 + (i * 5 + z) % 7]
                                                    ELSE 1 END::real,
                                               zone => 'z' || z)
                   FROM generate_series(1, s.zones) z, generate_series(1, s.per_zone) i;
                INSERT INTO zc_ring VALUES (r, s.shape, a, p, 0);
            END LOOP;
        END LOOP;
    END LOOP;
END
$$;
UPDATE zc_ring AS c SET v0 = r.version FROM hashring.rings AS r WHERE r.ring = c.ring;
UPDATE zc_ring AS c SET spread = (SELECT round(max(b.replica_share / b.expected_share)::numeric, 2)
                                    FROM hashring.ring_balance(c.ring, replicas => 3) AS b);
SELECT hashring.ring_add_node(ring, 'joiner', 1, zone => 'z1') FROM zc_ring \g /dev/null

SELECT c.shape, c.algorithm, c.placement,
       round(100.0 * (SELECT count(*) FROM zc_keys AS k
                       WHERE (SELECT array_agg(x ORDER BY x) FROM unnest(hashring.ring_nodes(c.ring, k.k, 3, c.v0)) AS x)
                             <> (SELECT array_agg(x ORDER BY x) FROM unnest(hashring.ring_nodes(c.ring, k.k, 3)) AS x))
             / 100000, 2) AS "keys whose set changed %",
       round((SELECT count(*) FROM zc_keys AS k, unnest(hashring.ring_nodes(c.ring, k.k, 3)) AS x
               WHERE NOT x = ANY (hashring.ring_nodes(c.ring, k.k, 3, c.v0))) / 100000.0, 4) AS "copies moved per key",
       c.spread AS "max replica share / weight share",
       round((3.0 / (SELECT sum(n.weight) FROM hashring.nodes AS n WHERE n.ring = c.ring))::numeric, 4) AS "3 x joiner's weight share"
  FROM zc_ring AS c
 ORDER BY c.shape, c.algorithm, c.placement;

SELECT hashring.ring_drop(ring) FROM zc_ring \g /dev/null

-- 2. What zones cost ring_nodes: the same 100-node ring (5 zones x 20) with
-- zone_replicas on and off, 500,000 keys, n = 3 and 5; medians of 5 runs,
-- interleaved, server-side execution time (EXPLAIN ANALYZE, TIMING OFF);
-- the ratio is zone-aware over zone-blind, measured in the same run.
SET jit = off;
SET max_parallel_workers_per_gather = 0;
SELECT hashring.ring_create('zp_on', 'vnode', 160) \g /dev/null
SELECT hashring.ring_create('zp_off', 'vnode', 160) \g /dev/null
SELECT hashring.ring_add_node(r, 'n' || z || '-' || i, zone => 'z' || z)
  FROM (VALUES ('zp_on'), ('zp_off')) v (r), generate_series(1, 5) z, generate_series(1, 20) i \g /dev/null
SELECT hashring.ring_set_zone_replicas('zp_off', false) \g /dev/null
CREATE TEMP TABLE pk AS SELECT 'tenant:' || i AS k FROM generate_series(1, 500000) i;
CREATE FUNCTION pg_temp.t(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE l text; ms numeric;
BEGIN
  FOR l IN EXECUTE 'EXPLAIN (ANALYZE, TIMING OFF) ' || q LOOP
    IF l LIKE 'Execution Time%' THEN ms := substring(l from '([0-9.]+) ms')::numeric; END IF;
  END LOOP;
  RETURN ms;
END $$;
CREATE TEMP TABLE res (ring text, n int, rep int, ms numeric);
DO $$ BEGIN
  FOR rep IN 1..5 LOOP
    FOR n IN 1..2 LOOP
      INSERT INTO res SELECT 'zp_off', CASE n WHEN 1 THEN 3 ELSE 5 END, rep, pg_temp.t(format('SELECT count(hashring.ring_nodes(%L, k, %s)) FROM pk', 'zp_off', CASE n WHEN 1 THEN 3 ELSE 5 END));
      INSERT INTO res SELECT 'zp_on', CASE n WHEN 1 THEN 3 ELSE 5 END, rep, pg_temp.t(format('SELECT count(hashring.ring_nodes(%L, k, %s)) FROM pk', 'zp_on', CASE n WHEN 1 THEN 3 ELSE 5 END));
    END LOOP;
  END LOOP;
END $$;
SELECT n, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE ring = 'zp_off') AS blind_ms,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE ring = 'zp_on') AS zones_ms,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE ring = 'zp_on') /
              percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FILTER (WHERE ring = 'zp_off'))::numeric, 2) AS ratio
  FROM res GROUP BY n ORDER BY n;
SELECT hashring.ring_drop('zp_on'), hashring.ring_drop('zp_off') \g /dev/null
