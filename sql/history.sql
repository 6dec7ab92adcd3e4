-- Ring history: every committed version is kept, routing can be asked about
-- the past, and a what-if inside a transaction compares with the present.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT hashring.ring_create('h', vnodes => 32);
SELECT hashring.ring_add_node('h', 'n' || i) FROM generate_series(1, 4) i \g /dev/null
SELECT hashring.ring_add_node('h', 'n5');
SELECT version AS v_before FROM hashring.rings WHERE ring = 'h' \gset
CREATE TEMP TABLE before AS
SELECT 'k' || i AS k, hashring.ring_node('h', 'k' || i) AS owner, hashring.ring_nodes('h', 'k' || i, 3) AS three
  FROM generate_series(1, 3000) i;

-- one version per committing transaction: three changes, one recorded version
BEGIN;
SELECT hashring.ring_add_node('h', 'n6');
SELECT hashring.ring_set_weight('h', 'n6', 2);
SELECT hashring.ring_set_state('h', 'n2', 'down');
COMMIT;
-- a rolled-back change records nothing
BEGIN;
SELECT hashring.ring_add_node('h', 'ghost');
ROLLBACK;
SELECT version - :v_before AS after, committed_by = current_user AS by_me,
       committed_at <= clock_timestamp() AS when_ok, nodes, active_nodes, current
  FROM hashring.ring_versions('h') WHERE version >= :v_before ORDER BY version;

-- routing at the old version is exactly the routing before the changes
SELECT count(*) FILTER (WHERE hashring.ring_node('h', k, :v_before) <> owner) AS node_differs,
       count(*) FILTER (WHERE hashring.ring_nodes('h', k, 3, :v_before) <> three) AS nodes_differ,
       count(*) FILTER (WHERE hashring.ring_node('h', convert_to(k, 'UTF8'), :v_before) <> owner) AS bytea_differs
  FROM before;
-- and the moving rows of a table are a plain comparison of two versions
SELECT hashring.ring_node('h', k, :v_before) AS from_node, hashring.ring_node('h', k) AS to_node, count(*) > 0 AS moves
  FROM before WHERE hashring.ring_node('h', k, :v_before) <> hashring.ring_node('h', k)
 GROUP BY 1, 2 ORDER BY 1, 2;

-- what-if: an uncommitted change compared with a committed version, then undone
SELECT version AS v_now FROM hashring.rings WHERE ring = 'h' \gset
BEGIN;
SELECT hashring.ring_add_node('h', 'n7');
SELECT count(*) FILTER (WHERE hashring.ring_node('h', k, :v_now) <> hashring.ring_node('h', k)) > 0 AS would_move,
       count(*) FILTER (WHERE hashring.ring_node('h', k, :v_now) <> hashring.ring_node('h', k)
                          AND hashring.ring_node('h', k) <> 'n7') AS moved_elsewhere
  FROM before;
ROLLBACK;
SELECT count(*) AS versions_after_whatif FROM hashring.ring_versions('h') WHERE version > :v_now;

-- errors: unknown version, version 0, unknown ring
SELECT pg_temp.err(format($q$SELECT hashring.ring_node('h', 'k', %s)$q$, :v_now + 100));
SELECT pg_temp.err($q$SELECT hashring.ring_node('h', 'k', 0)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_nodes('h', 'k', 2, -1)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_node('nope', 'k', 1)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_versions('nope')$q$);
SELECT hashring.ring_node('h', 'k', NULL::bigint) IS NULL AS null_version;

-- pruning: older versions go, the current one always stays, routing there errs
SELECT hashring.ring_prune_versions('h', :v_now);
SELECT version = :v_now AS kept_is_current, current FROM hashring.ring_versions('h');
SELECT pg_temp.err(format($q$SELECT hashring.ring_node('h', 'k', %s)$q$, :v_before));
SELECT hashring.ring_prune_versions('h', :v_now + 1000) AS current_never_pruned;
SELECT count(*) FROM hashring.ring_versions('h');

-- dropping a ring drops its history; a re-created ring has its own
SELECT hashring.ring_drop('h');
SELECT count(*) AS history_left FROM hashring.ring_history WHERE ring = 'h';
SELECT hashring.ring_create('h', vnodes => 32);
SELECT hashring.ring_add_node('h', 'other');
SELECT hashring.ring_node('h', 'k', 2) AS recreated_v2;
SELECT pg_temp.err(format($q$SELECT hashring.ring_node('h', 'k', %s)$q$, :v_now));
SELECT hashring.ring_drop('h');

-- ring_diff: exact flows between two versions
SELECT hashring.ring_create('d', vnodes => 8);
SELECT hashring.ring_add_node('d', 'n' || i) FROM generate_series(1, 4) i \g /dev/null
SELECT version AS v FROM hashring.rings WHERE ring = 'd' \gset
BEGIN;
SELECT hashring.ring_add_node('d', 'n5');
-- adding a node: every flow goes to it, and the total is exactly its new share
SELECT bool_and(to_node = 'n5') AS all_to_new_node,
       abs(sum(share) - (SELECT share FROM hashring.ring_balance('d') WHERE node = 'n5')) < 1e-12 AS total_is_new_share,
       abs(sum(share) - (SELECT count(*) FILTER (WHERE hashring.ring_node('d', 'k' || i, :v) <> hashring.ring_node('d', 'k' || i))::float8 / 100000
                           FROM generate_series(1, 100000) i)) < 0.01 AS agrees_with_100k_keys,
       bool_and(cardinality(ranges) > 0) AS has_ranges
  FROM hashring.ring_diff('d', :v);
-- every key in a listed range moves along its flow
SELECT count(*) AS keys_outside_their_flow
  FROM (SELECT 'k' || i AS k FROM generate_series(1, 20000) i) s,
       LATERAL (SELECT (hashring.ring_hash('d', k)::numeric + CASE WHEN hashring.ring_hash('d', k) < 0 THEN 18446744073709551616 ELSE 0 END) AS pos) p
 WHERE hashring.ring_node('d', k, :v) <> hashring.ring_node('d', k)
   AND NOT EXISTS (SELECT 1 FROM hashring.ring_diff('d', :v) f, unnest(f.ranges) r
                    WHERE f.from_node = hashring.ring_node('d', k, :v) AND f.to_node = hashring.ring_node('d', k)
                      AND p.pos <@ r);
ROLLBACK;
SELECT count(*) AS same_version FROM hashring.ring_diff('d', :v, :v);
SELECT count(*) AS null_from FROM hashring.ring_diff('d', NULL);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_diff('d', 0)$q$);
-- slots: whole slots move, shares are slot counts
SELECT hashring.ring_create('ds', 'slots');
SELECT hashring.ring_add_node('ds', 'n' || i) FROM generate_series(1, 3) i \g /dev/null
SELECT version AS vs FROM hashring.rings WHERE ring = 'ds' \gset
SELECT hashring.ring_add_node('ds', 'n4');
SELECT from_node, to_node, share * 16384 AS slots, ranges FROM hashring.ring_diff('ds', :vs) ORDER BY 1, 2;
-- planning on a real table, Zipf-skewed: row counts per flow equal plain SQL,
-- and the hottest keys of each moving flow come first
SELECT hashring.ring_create('p', vnodes => 16);
SELECT hashring.ring_add_node('p', 'n' || i) FROM generate_series(1, 4) i \g /dev/null
SELECT version AS vp FROM hashring.rings WHERE ring = 'p' \gset
CREATE TEMP TABLE orders AS
SELECT (floor(1000 / (1 + (i % 1000))))::int AS customer, repeat('x', i % 50) AS payload
  FROM generate_series(1, 20000) i;
SELECT hashring.ring_add_node('p', 'n5');
SELECT from_node, to_node, rows, bytes > 0 AS has_bytes, hot_keys[1] AS hottest
  FROM hashring.ring_plan_moves('p', 'orders', 'customer', :vp) ORDER BY 1, 2;
SELECT (SELECT sum(rows) FROM hashring.ring_plan_moves('p', 'orders', 'customer', :vp)) =
       (SELECT count(*) FROM orders WHERE hashring.ring_node('p', customer::text, :vp) <> hashring.ring_node('p', customer::text)) AS rows_match_plain_sql;
SELECT cardinality(hot_keys) AS top3 FROM hashring.ring_plan_moves('p', 'orders', 'customer', :vp, top_keys => 3) LIMIT 1;
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_plan_moves('p', 'orders', 'nope', 1)$q$);
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_plan_moves('p', 'orders', 'customer', NULL)$q$);
SELECT hashring.ring_drop('p');

-- xor (trie regions), pg_hash (remainder pairs, by the CRT), rendezvous (the
-- joint winner integral) and jump (analytic): every flow agrees with 100,000
-- keys, and the flows add up to what moves
SELECT hashring.ring_create(r, a) FROM (VALUES ('dx', 'xor'), ('dp', 'pg_hash'), ('dr', 'rendezvous'), ('dj', 'jump')) v(r, a) \g /dev/null
SELECT hashring.ring_add_node(r, 'n' || i) FROM unnest(ARRAY['dx', 'dp', 'dr', 'dj']) r, generate_series(1, 5) i \g /dev/null
SELECT version AS vx FROM hashring.rings WHERE ring = 'dx' \gset
SELECT hashring.ring_add_node(r, 'n6') FROM unnest(ARRAY['dx', 'dp', 'dr', 'dj']) r \g /dev/null
SELECT hashring.ring_set_state(r, 'n2', 'down') FROM unnest(ARRAY['dx', 'dp', 'dr', 'dj']) r \g /dev/null
SELECT hashring.ring_set_weight('dr', 'n3', 2.5);
CREATE TEMP TABLE sampled AS
SELECT r, hashring.ring_node(r, 'k' || i, :vx) AS f, hashring.ring_node(r, 'k' || i) AS t
  FROM unnest(ARRAY['dx', 'dp', 'dr', 'dj']) r, generate_series(1, 100000) i;
SELECT d.r, count(*) AS flows,
       bool_and(abs(d.share - (SELECT count(*) FROM sampled s WHERE s.r = d.r AND s.f = d.from_node AND s.t = d.to_node) / 100000.0) < 0.005) AS every_flow_agrees,
       abs(sum(d.share) - (SELECT count(*) FILTER (WHERE f <> t) FROM sampled s WHERE s.r = d.r) / 100000.0) < 0.005 AS total_agrees
  FROM (SELECT r, f.* FROM unnest(ARRAY['dx', 'dp', 'dr', 'dj']) r, LATERAL hashring.ring_diff(r, :vx) f) d
 GROUP BY d.r ORDER BY d.r;
SELECT count(*) AS sampled_flows_missing_from_diff
  FROM (SELECT DISTINCT r, f, t FROM sampled WHERE f <> t) s
 WHERE NOT EXISTS (SELECT 1 FROM hashring.ring_diff(s.r, :vx) d WHERE d.from_node = s.f AND d.to_node = s.t);
SELECT hashring.ring_drop(r) FROM unnest(ARRAY['dx', 'dp', 'dr', 'dj']) r \g /dev/null

-- a ring whose algorithm changed between the versions is refused
SELECT hashring.ring_create('dc');
SELECT hashring.ring_add_node('dc', 'a');
UPDATE hashring.rings SET algorithm = 'maglev' WHERE ring = 'dc';
SELECT pg_temp.err($q$SELECT * FROM hashring.ring_diff('dc', 2)$q$);
SELECT hashring.ring_drop(r) FROM unnest(ARRAY['d', 'ds', 'dc']) r \g /dev/null
