-- Per-key pins (docs/routing-spec.md, "Pins"): a pinned key routes to its
-- node in ring_node and ring_nodes (its replicas follow: the node, then the
-- key's own list without it), follows the successors of a down node, is
-- membership (versioned, in ring_history, transactional, validated), is
-- counted apart by ring_balance and listed by ring_diff and ring_plan_moves.
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE FUNCTION pg_temp.v(ring text) RETURNS bigint LANGUAGE sql AS
$$ SELECT version FROM hashring.rings WHERE rings.ring = v.ring $$;
CREATE TEMP TABLE pk AS SELECT 'key:' || i AS k FROM generate_series(1, 2000) i;

-- every algorithm whose keys can be pinned: 4 nodes
CREATE TEMP TABLE pa AS
SELECT a.algorithm FROM hashring.ring_algorithms() AS a WHERE NOT a.typed_keys;
SELECT hashring.ring_create('p_' || algorithm, algorithm, vnodes => 40,
                            table_size => CASE WHEN algorithm = 'maglev' THEN 1021 END)
  FROM pa \g /dev/null
SELECT hashring.ring_add_node('p_' || a.algorithm, 'n' || i) FROM pa AS a, generate_series(1, 4) i
 ORDER BY a.algorithm, i \g /dev/null
SELECT hashring.ring_assign_slots('p_slots', 'n' || i, (i - 1) * 4096, i * 4096 - 1)
  FROM generate_series(1, 4) i \g /dev/null
CREATE TEMP TABLE before AS SELECT algorithm, pg_temp.v('p_' || algorithm) AS v FROM pa;
-- per ring, the first key not owned by n1, and its own preference list
CREATE TEMP TABLE hot AS
SELECT a.algorithm, x.k, x.own
  FROM pa AS a,
       LATERAL (SELECT pk.k, hashring.ring_nodes('p_' || a.algorithm, pk.k, 4) AS own FROM pk
                 WHERE hashring.ring_node('p_' || a.algorithm, pk.k) <> 'n1' ORDER BY pk.k LIMIT 1) AS x;
SELECT hashring.ring_pin('p_' || algorithm, k, 'n1') FROM hot \g /dev/null
-- each pin is one new version
SELECT count(*) AS rings, bool_and(pg_temp.v('p_' || b.algorithm) = b.v + 1) AS one_version FROM before AS b;

-- the pinned key goes to n1, its replicas are n1 then its own list without n1
SELECT h.algorithm,
       hashring.ring_node('p_' || h.algorithm, h.k) AS node,
       hashring.ring_nodes('p_' || h.algorithm, h.k, 3)
         = (ARRAY['n1'] || array_remove(h.own, 'n1'))[1:3] AS replicas_follow,
       hashring.ring_node('p_' || h.algorithm, h.k, b.v) = h.own[1] AS past_version_unpinned,
       hashring.ring_node('p_' || h.algorithm, h.k, b.v + 1) AS pinned_version
  FROM hot AS h JOIN before AS b USING (algorithm) ORDER BY 1;
-- ring_hot_keys names the owner ring_node gives, so a pinned hot key shows
-- its pinned node (issue 26: it showed the algorithm's owner, h.own[1])
SET hashring.track_routing = on;
SET hashring.track_keys = on;
SELECT count(hashring.ring_node('p_' || h.algorithm, h.k)) AS lookups FROM hot AS h, generate_series(1, 3);
SET hashring.track_keys = off;
SET hashring.track_routing = off;
SELECT h.algorithm, hk.key = h.k AS the_key, hk.lookups, hk.node,
       hk.node = hashring.ring_node('p_' || h.algorithm, h.k) AS is_ring_node
  FROM hot AS h, hashring.ring_hot_keys('p_' || h.algorithm, 1) AS hk ORDER BY 1;
SELECT hashring.ring_hot_keys_reset() \g /dev/null
-- no other key moves
SELECT h.algorithm, count(*) FILTER (WHERE hashring.ring_node('p_' || h.algorithm, pk.k)
                                     <> hashring.ring_node('p_' || h.algorithm, pk.k, b.v)) AS moved
  FROM hot AS h JOIN before AS b USING (algorithm), pk WHERE pk.k <> h.k GROUP BY 1 ORDER BY 1;

-- ring_balance: the key-space shares do not change; the pin is counted apart
SELECT h.algorithm, rb.node, rb.pinned_keys
  FROM hot AS h, hashring.ring_balance('p_' || h.algorithm) AS rb WHERE rb.pinned_keys > 0 ORDER BY 1, 2;

-- ring_diff: the pinned key, with no share, from its old owner to n1
SELECT h.algorithm, d.from_node = h.own[1] AS from_old_owner, d.to_node, d.share, d.ranges, d.pinned_keys = ARRAY[h.k] AS the_key
  FROM hot AS h JOIN before AS b USING (algorithm), hashring.ring_diff('p_' || h.algorithm, b.v) AS d ORDER BY 1;
-- with replicas (the point and table algorithms): the copies lost and
-- gained, paired in preference order, as computed here from ring_nodes
SELECT h.algorithm, x.lost, x.gained,
       (SELECT array_agg(ARRAY[d.from_node, d.to_node] ORDER BY d.from_node)
          FROM hashring.ring_diff('p_' || h.algorithm, b.v, replicas => 3) AS d
         WHERE d.share = 0 AND d.pinned_keys = ARRAY[h.k])
       IS NOT DISTINCT FROM CASE WHEN x.lost <> '{}' THEN ARRAY[ARRAY[x.lost[1], x.gained[1]]] END AS flows_agree,
       (SELECT count(*) FROM hashring.ring_diff('p_' || h.algorithm, b.v, replicas => 3)) AS flows
  FROM hot AS h JOIN before AS b USING (algorithm),
       LATERAL (SELECT hashring.ring_nodes('p_' || h.algorithm, h.k, 3, b.v) AS o,
                       hashring.ring_nodes('p_' || h.algorithm, h.k, 3, b.v + 1) AS n) AS l,
       LATERAL (SELECT ARRAY(SELECT u FROM unnest(l.o) AS u WHERE u <> ALL (l.n)) AS lost,
                       ARRAY(SELECT u FROM unnest(l.n) AS u WHERE u <> ALL (l.o)) AS gained) AS x
 WHERE h.algorithm IN ('vnode', 'ketama', 'maglev', 'slots') ORDER BY 1;

-- ring_plan_moves: a table holding the hot key's rows and others
CREATE TEMP TABLE t (id text PRIMARY KEY, v int);
INSERT INTO t SELECT k, 1 FROM pk;
SELECT h.algorithm, m.from_node = h.own[1] AS from_old_owner, m.to_node, m.rows, m.hot_keys = ARRAY[h.k || ' (1)'] AS the_key
  FROM hot AS h JOIN before AS b USING (algorithm),
       hashring.ring_plan_moves('p_' || h.algorithm, 't', 'id', b.v) AS m ORDER BY 1;

-- a down pinned node: the key follows its own list, as the node's other keys do
SELECT hashring.ring_set_state('p_' || algorithm, 'n1', 'down') FROM pa \g /dev/null
SELECT h.algorithm,
       hashring.ring_node('p_' || h.algorithm, h.k) = (array_remove(h.own, 'n1'))[1] AS to_successor,
       hashring.ring_nodes('p_' || h.algorithm, h.k, 3) = (array_remove(h.own, 'n1'))[1:3] AS replicas
  FROM hot AS h ORDER BY 1;
SELECT hashring.ring_set_state('p_' || algorithm, 'n1', 'active') FROM pa \g /dev/null

-- typed keys are pinned by their text form; bytea keys by their bytes
SELECT hashring.ring_pin('p_vnode', '42', 'n2');
SELECT hashring.ring_pin('p_vnode', 'b0a3c4e2-1111-4a4a-8888-000000000001', 'n3');
SELECT hashring.ring_node('p_vnode', 42) AS int4, hashring.ring_node('p_vnode', 42::bigint) AS int8,
       hashring.ring_node('p_vnode', 'b0a3c4e2-1111-4a4a-8888-000000000001'::uuid) AS uuid,
       hashring.ring_node('p_vnode', '\x3432'::bytea) AS bytea_42,
       (hashring.ring_nodes('p_vnode', 42, 2))[1] AS nodes_int4;
SELECT * FROM hashring.ring_pins('p_vnode');
SELECT * FROM hashring.ring_pins('p_vnode', (SELECT v + 1 FROM before WHERE algorithm = 'vnode'));

-- the history keeps each version's pins
SELECT version, pins FROM hashring.ring_history WHERE ring = 'p_vnode' ORDER BY version DESC LIMIT 3;

-- re-pinning to the same node changes nothing; to another is one version
SELECT pg_temp.v('p_vnode') AS v0 \gset
SELECT hashring.ring_pin('p_vnode', '42', 'n2');
SELECT pg_temp.v('p_vnode') = :v0 AS unchanged;
SELECT hashring.ring_pin('p_vnode', '42', 'n4');
SELECT pg_temp.v('p_vnode') = :v0 + 1 AS one_version, hashring.ring_node('p_vnode', 42) AS now;

-- transactional: a rolled-back pin never routed anyone else
BEGIN;
SELECT hashring.ring_pin('p_vnode', 'key:7', 'n4');
SELECT hashring.ring_node('p_vnode', 'key:7') AS inside;
ROLLBACK;
SELECT hashring.ring_node('p_vnode', 'key:7') = hashring.ring_node('p_vnode', 'key:7', :v0) AS rolled_back;

-- unpin
SELECT hashring.ring_unpin('p_vnode', '42') AS removed, hashring.ring_unpin('p_vnode', '42') AS again;
SELECT hashring.ring_node('p_vnode', 42) = hashring.ring_node('p_vnode', 42, (SELECT v FROM before WHERE algorithm = 'vnode')) AS by_hash;

-- zones: the zone rule applies to the pinned list
SELECT hashring.ring_create('pz', 'vnode', 40);
SELECT hashring.ring_add_node('pz', 'n' || z || i, zone => 'z' || z) FROM generate_series(1, 3) i, generate_series(1, 3) z \g /dev/null
SELECT hashring.ring_nodes('pz', 'key:1', 9) AS own \gset
SELECT hashring.ring_pin('pz', 'key:1', (SELECT x FROM unnest(:'own'::text[]) AS x WHERE x LIKE 'n1%' ORDER BY x DESC LIMIT 1));
SELECT n[1] = p.node AS pinned_first, (SELECT count(DISTINCT nd.zone) FROM unnest(n) AS x JOIN hashring.nodes AS nd ON nd.ring = 'pz' AND nd.node = x) AS zones
  FROM (SELECT hashring.ring_nodes('pz', 'key:1', 3) AS n) AS r, hashring.pins AS p WHERE p.ring = 'pz';

-- errors, each changing nothing
SELECT pg_temp.v('p_vnode') AS v1 \gset
SELECT pg_temp.err($$SELECT hashring.ring_pin('nope', 'k', 'n1')$$);
SELECT pg_temp.err($$SELECT hashring.ring_pin('p_vnode', 'k', 'nope')$$);
SELECT pg_temp.err($$SELECT hashring.ring_pin(NULL, 'k', 'n1')$$);
SELECT pg_temp.err($$SELECT hashring.ring_pin('p_vnode', NULL, 'n1')$$);
SELECT pg_temp.err($$SELECT hashring.ring_pin('p_vnode', 'k', NULL)$$);
SELECT pg_temp.err($$SELECT hashring.ring_pin('p_vnode', repeat('x', 1025), 'n1')$$);
SELECT pg_temp.err($$SELECT hashring.ring_unpin('nope', 'k')$$);
SELECT pg_temp.err($$SELECT hashring.ring_unpin('p_vnode', NULL)$$);
SELECT pg_temp.err($$SELECT * FROM hashring.ring_pins('nope')$$);
SELECT pg_temp.err($$SELECT * FROM hashring.ring_pins('p_vnode', 100000)$$);
SELECT pg_temp.err($$INSERT INTO hashring.pins VALUES ('p_vnode', 'k', 'nope')$$);
SELECT pg_temp.err($$SELECT hashring.ring_remove_node('p_vnode', 'n1')$$);
-- (refused at commit, where every changed ring is built)
\set VERBOSITY terse
UPDATE hashring.rings SET algorithm = 'pg_hash' WHERE ring = 'p_vnode';
\set VERBOSITY default
SELECT hashring.ring_create('ph', 'pg_hash');
SELECT hashring.ring_add_node('ph', 'a');
SELECT pg_temp.err($$SELECT hashring.ring_pin('ph', '1', 'a')$$);
SELECT pg_temp.v('p_vnode') = :v1 AS unchanged, (SELECT count(*) FROM hashring.pins WHERE ring = 'p_vnode') AS pins;
-- a bulk pin of many keys commits one version; dropping the ring drops its pins
INSERT INTO hashring.pins SELECT 'p_vnode', 'bulk:' || i, 'n' || (1 + i % 4) FROM generate_series(1, 5000) i;
SELECT (SELECT count(*) FROM hashring.ring_versions('p_vnode') WHERE version > :v1) AS versions,
       (SELECT count(*) FROM hashring.ring_balance('p_vnode') WHERE pinned_keys > 0) AS nodes_with_pins,
       (SELECT sum(pinned_keys) FROM hashring.ring_balance('p_vnode')) AS pinned,
       (SELECT count(*) FROM generate_series(1, 5000) i
         WHERE hashring.ring_node('p_vnode', 'bulk:' || i) <> 'n' || (1 + i % 4)) AS misrouted;
SELECT hashring.ring_drop('p_vnode');
SELECT count(*) AS pins_left FROM hashring.pins WHERE ring = 'p_vnode';
SELECT hashring.ring_drop('p_' || algorithm) FROM pa WHERE algorithm <> 'vnode' \g /dev/null
SELECT hashring.ring_drop('pz'), hashring.ring_drop('ph');
