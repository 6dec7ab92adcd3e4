-- Routing: ring_node / ring_nodes semantics, text and bytea keys, down nodes,
-- and minimal movement on membership changes.
SELECT hashring.ring_create('r', vnodes => 64);
SELECT hashring.ring_add_node('r', 'node-' || i, CASE WHEN i = 3 THEN 2 ELSE 1 END)
  FROM generate_series(1, 6) i;
SELECT node, weight, points FROM hashring.ring_balance('r') ORDER BY node;

-- a fixed sample of keys; answers are a pure function of membership and key
SELECT k, hashring.ring_node('r', k), hashring.ring_nodes('r', k, 3)
  FROM (VALUES (''), ('a'), ('user:1'), ('user:2'), ('user:42'), ('ключ'), ('#'), ('{x}')) v(k);

-- text and bytea keys hash the same bytes; other types are passed as text
SELECT count(*) FILTER (WHERE hashring.ring_node('r', k) = hashring.ring_node('r', convert_to(k, 'UTF8'))) AS same,
       count(*) AS total
  FROM (SELECT 'key-' || i AS k FROM generate_series(1, 2000) i) s;
SELECT hashring.ring_node('r', 42::text) = hashring.ring_node('r', '42') AS int_as_text;

-- ring_nodes: distinct, the first is ring_node, capped at the live node count
SELECT count(*) FILTER (WHERE (hashring.ring_nodes('r', k, 4))[1] = hashring.ring_node('r', k)) AS first_is_owner,
       count(*) FILTER (WHERE (SELECT count(DISTINCT x) FROM unnest(hashring.ring_nodes('r', k, 4)) x) = 4) AS distinct4,
       count(*) AS total
  FROM (SELECT 'key-' || i AS k FROM generate_series(1, 2000) i) s;
SELECT cardinality(hashring.ring_nodes('r', 'k', 6)) AS n6, cardinality(hashring.ring_nodes('r', 'k', 1000)) AS n1000;
SELECT (SELECT array_agg(x ORDER BY x) FROM unnest(hashring.ring_nodes('r', 'k', 2147483647)) x) AS all_nodes;

-- the default-ring variants use hashring.default_ring
SET hashring.default_ring = 'r';
SELECT hashring.ring_node('user:1') = hashring.ring_node('r', 'user:1') AS text_default,
       hashring.ring_node('user:1'::bytea) = hashring.ring_node('r', 'user:1'::bytea) AS bytea_default,
       hashring.ring_nodes('user:1', 3) = hashring.ring_nodes('r', 'user:1', 3) AS nodes_default,
       hashring.ring_nodes('user:1'::bytea, 3) = hashring.ring_nodes('r', 'user:1'::bytea, 3) AS nodes_bytea_default;
RESET hashring.default_ring;

CREATE TEMP TABLE before AS
SELECT k, hashring.ring_node('r', k) AS owner, hashring.ring_nodes('r', k, 2) AS two
  FROM (SELECT 'key-' || i AS k FROM generate_series(1, 20000) i) s;

-- a down node's keys go to the next live node clockwise; nothing else moves
SELECT hashring.ring_set_state('r', 'node-2', 'down');
SELECT count(*) FILTER (WHERE b.owner <> 'node-2' AND hashring.ring_node('r', b.k) <> b.owner) AS others_moved,
       count(*) FILTER (WHERE b.owner = 'node-2' AND hashring.ring_node('r', b.k) <> b.two[2]) AS not_next_clockwise,
       count(*) FILTER (WHERE hashring.ring_node('r', b.k) = 'node-2') AS routed_to_down,
       count(*) FILTER (WHERE 'node-2' = ANY (hashring.ring_nodes('r', b.k, 5))) AS down_in_replicas
  FROM before b;
SELECT hashring.ring_set_state('r', 'node-2', 'active');
SELECT count(*) AS moved_after_reactivation FROM before b WHERE hashring.ring_node('r', b.k) <> b.owner;

-- a weight change moves keys only to or from that node
SELECT hashring.ring_set_weight('r', 'node-5', 3);
SELECT count(*) FILTER (WHERE hashring.ring_node('r', b.k) <> b.owner AND hashring.ring_node('r', b.k) <> 'node-5') AS moved_elsewhere,
       count(*) FILTER (WHERE hashring.ring_node('r', b.k) = 'node-5' AND b.owner <> 'node-5') > 0 AS gained
  FROM before b;
SELECT hashring.ring_set_weight('r', 'node-5', 0.5);
SELECT count(*) FILTER (WHERE hashring.ring_node('r', b.k) <> b.owner AND b.owner <> 'node-5') AS moved_not_from_node5,
       count(*) FILTER (WHERE b.owner = 'node-5' AND hashring.ring_node('r', b.k) <> 'node-5') > 0 AS lost
  FROM before b;
SELECT hashring.ring_set_weight('r', 'node-5', 1);
SELECT count(*) AS moved_after_restore FROM before b WHERE hashring.ring_node('r', b.k) <> b.owner;

-- adding a node moves keys only to it, about 1/(n+1) of them
SELECT hashring.ring_add_node('r', 'node-7');
SELECT count(*) FILTER (WHERE hashring.ring_node('r', b.k) <> b.owner AND hashring.ring_node('r', b.k) <> 'node-7') AS moved_elsewhere,
       round(count(*) FILTER (WHERE hashring.ring_node('r', b.k) = 'node-7') / 20000.0, 1) AS moved_share_rounded
  FROM before b;
-- and removing it again restores every key
SELECT hashring.ring_remove_node('r', 'node-7');
SELECT count(*) AS moved_after_removal FROM before b WHERE hashring.ring_node('r', b.k) <> b.owner;

-- with vnodes = 1 a node of weight 0.01 still gets one point; weight 1.5 gets round(1.5) = 2
SELECT hashring.ring_create('tiny', vnodes => 1);
SELECT hashring.ring_add_node('tiny', 'a', 0.01);
SELECT hashring.ring_add_node('tiny', 'b', 1.5);
SELECT node, points FROM hashring.ring_balance('tiny') ORDER BY node;
SELECT hashring.ring_drop('tiny');
