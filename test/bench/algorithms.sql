-- Algorithm comparison (issue #4): for each algorithm on the same 100 nodes
-- (weights 1): balance (max and min share / mean share, exact from
-- ring_balance), movement when a 101st node joins and when it leaves again
-- (fraction of 200,000 keys whose owner changes, against the ideal 1/101),
-- and lookup cost (ring_node over the same 200,000 keys, median of 3, as a
-- ratio to vnode in the same run).  Run with psql in a database with the
-- extension; jit and parallelism off.
SET jit = off;
SET max_parallel_workers_per_gather = 0;
\set nkeys 200000
DROP TABLE IF EXISTS bench_alg_keys, bench_alg_before, bench_alg_result;
CREATE TABLE bench_alg_keys AS SELECT 'user:' || i AS k FROM generate_series(1, :nkeys) i;
CREATE TABLE bench_alg_result (algorithm text PRIMARY KEY, max_over_mean float8, min_over_mean float8,
                               moved_on_add float8, moved_elsewhere_on_add bigint, moved_on_remove float8, lookup_ms float8);
SELECT hashring.ring_drop(ring) FROM hashring.rings WHERE ring LIKE 'bench_alg_%' \g /dev/null
DO $$
DECLARE
    a text;
    t0 timestamptz;
    times float8[];
    n bigint;
BEGIN
    FOREACH a IN ARRAY ARRAY['vnode', 'ketama', 'jump', 'maglev', 'rendezvous', 'slots', 'xor', 'pg_hash'] LOOP
        PERFORM hashring.ring_create('bench_alg_' || a, a);
        PERFORM hashring.ring_add_node('bench_alg_' || a, 'node-' || i) FROM generate_series(1, 100) i;
        INSERT INTO bench_alg_result (algorithm, max_over_mean, min_over_mean)
        SELECT a, max(share) * count(*), min(share) * count(*) FROM hashring.ring_balance('bench_alg_' || a);
        times := '{}';
        FOR rep IN 1..3 LOOP
            t0 := clock_timestamp();
            PERFORM count(hashring.ring_node('bench_alg_' || a, k)) FROM bench_alg_keys;
            times := times || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
        END LOOP;
        UPDATE bench_alg_result SET lookup_ms = (SELECT x FROM unnest(times) x ORDER BY x OFFSET 1 LIMIT 1) WHERE algorithm = a;
        EXECUTE format('CREATE TEMP TABLE bench_alg_before AS SELECT k, hashring.ring_node(%L, k) AS owner FROM bench_alg_keys', 'bench_alg_' || a);
        PERFORM hashring.ring_add_node('bench_alg_' || a, 'node-101');
        EXECUTE format('UPDATE bench_alg_result SET moved_on_add = (SELECT count(*) FILTER (WHERE hashring.ring_node(%L, k) <> owner)::float8 / count(*) FROM bench_alg_before),
                        moved_elsewhere_on_add = (SELECT count(*) FILTER (WHERE hashring.ring_node(%L, k) NOT IN (owner, %L)) FROM bench_alg_before) WHERE algorithm = %L',
                       'bench_alg_' || a, 'bench_alg_' || a, 'node-101', a);
        DROP TABLE bench_alg_before;
        EXECUTE format('CREATE TEMP TABLE bench_alg_before AS SELECT k, hashring.ring_node(%L, k) AS owner FROM bench_alg_keys', 'bench_alg_' || a);
        PERFORM hashring.ring_remove_node('bench_alg_' || a, 'node-101');
        EXECUTE format('UPDATE bench_alg_result SET moved_on_remove = (SELECT count(*) FILTER (WHERE hashring.ring_node(%L, k) <> owner)::float8 / count(*) FROM bench_alg_before) WHERE algorithm = %L',
                       'bench_alg_' || a, a);
        DROP TABLE bench_alg_before;
        PERFORM hashring.ring_drop('bench_alg_' || a);
    END LOOP;
END
$$;
SELECT algorithm,
       round(max_over_mean::numeric, 3) AS "max/mean share",
       round(min_over_mean::numeric, 3) AS "min/mean share",
       round(moved_on_add::numeric, 4) AS "moved on add",
       round((1.0 / 101)::numeric, 4) AS "ideal",
       moved_elsewhere_on_add AS "moved between old nodes",
       round(moved_on_remove::numeric, 4) AS "moved on remove",
       round(lookup_ms::numeric, 1) AS "lookup ms (200k keys)",
       round((lookup_ms / (SELECT lookup_ms FROM bench_alg_result WHERE algorithm = 'vnode'))::numeric, 2) AS "lookup vs vnode"
  FROM bench_alg_result
 ORDER BY array_position(ARRAY['vnode', 'ketama', 'jump', 'maglev', 'rendezvous', 'slots', 'xor', 'pg_hash'], algorithm);
DROP TABLE bench_alg_keys, bench_alg_result;
