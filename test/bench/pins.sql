-- Routing cost of unpinned keys on a ring with 10,000 pins against the same
-- ring without pins (issue 15: at most 1.1x), medians of 5 interleaved runs
-- of a 500,000-key ring_node scan, in one session:
--   psql -X -d DB -f test/bench/pins.sql
\set QUIET on
SELECT hashring.ring_create(r, 'vnode', 160) FROM unnest(ARRAY['bench_pins0', 'bench_pins1']) r \g /dev/null
SELECT hashring.ring_add_node(r, 'node-' || i) FROM unnest(ARRAY['bench_pins0', 'bench_pins1']) r, generate_series(1, 50) i \g /dev/null
INSERT INTO hashring.pins SELECT 'bench_pins1', 'tenant:' || i, 'node-' || (1 + i % 50) FROM generate_series(1, 10000) i;
CREATE TEMP TABLE bench_keys AS SELECT 'key:' || g AS k FROM generate_series(1, 500000) g;
CREATE TEMP TABLE bench_t (ring text, ms double precision);
DO $$
DECLARE
    t0 timestamptz;
    n bigint;
    r text;
BEGIN
    FOR run IN 0 .. 5 LOOP
        FOREACH r IN ARRAY ARRAY['bench_pins0', 'bench_pins1'] LOOP
            t0 := clock_timestamp();
            SELECT count(hashring.ring_node(r, k)) INTO n FROM bench_keys;
            IF run > 0 THEN  -- run 0 warms the caches
                INSERT INTO bench_t VALUES (r, extract(epoch FROM clock_timestamp() - t0) * 1000);
            END IF;
        END LOOP;
    END LOOP;
END
$$;
\set QUIET off
SELECT (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_t WHERE ring = 'bench_pins0')::numeric(10, 1) AS no_pins_ms,
       (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_t WHERE ring = 'bench_pins1')::numeric(10, 1) AS pins_10000_ms,
       ((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_t WHERE ring = 'bench_pins1')
        / (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) FROM bench_t WHERE ring = 'bench_pins0'))::numeric(5, 3) AS ratio,
       (SELECT count(*) FROM bench_keys WHERE hashring.ring_node('bench_pins0', k) <> hashring.ring_node('bench_pins1', k)) AS unpinned_keys_routed_differently;
SELECT hashring.ring_drop('bench_pins0'), hashring.ring_drop('bench_pins1') \g /dev/null
