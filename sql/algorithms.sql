-- Every algorithm behind the same functions; their parameters and errors.
-- (Agreement with the reference implementations is checked by the TAP tests
-- 020-023 against npm hashring, k-bucket, cluster-key-slot, Guava, a real
-- Redis Cluster and real hash-partitioned tables.)
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT hashring.ring_create('a_' || a, a) FROM unnest(ARRAY['vnode', 'ketama', 'jump', 'maglev', 'rendezvous', 'slots', 'xor', 'pg_hash']) a \g /dev/null
SELECT hashring.ring_add_node('a_' || a, 'n' || i)
  FROM unnest(ARRAY['vnode', 'ketama', 'jump', 'maglev', 'rendezvous', 'slots', 'xor', 'pg_hash']) a, generate_series(1, 8) i \g /dev/null
CREATE TEMP TABLE algos AS
SELECT a, 'a_' || a AS r FROM unnest(ARRAY['vnode', 'ketama', 'jump', 'maglev', 'rendezvous', 'slots', 'xor', 'pg_hash']) a;

-- common contract: owner first in ring_nodes, distinct, shares sum to 1, every node used
SELECT a,
       (SELECT count(*) FROM generate_series(1, 3000) i
         WHERE hashring.ring_node(r, 'k' || i) <> (hashring.ring_nodes(r, 'k' || i, 3))[1]) AS owner_not_first,
       (SELECT count(*) FROM generate_series(1, 3000) i
         WHERE (SELECT count(DISTINCT x) FROM unnest(hashring.ring_nodes(r, 'k' || i, 3)) x) <> 3) AS not_distinct,
       (SELECT count(DISTINCT hashring.ring_node(r, 'k' || i)) FROM generate_series(1, 3000) i) AS nodes_used,
       (SELECT abs(sum(share) - 1) < 1e-9 FROM hashring.ring_balance(r)) AS shares_sum_to_1,
       (SELECT cardinality(hashring.ring_nodes(r, 'k', 100))) AS all_nodes
  FROM algos ORDER BY a;

-- shares agree with where 40,000 keys go (within 2%; slots and pg_hash are
-- exact over their own hash space, keys are a sample)
SELECT a, bool_and(abs(b.share - s.frac) < 0.02) AS sampled_matches
  FROM algos, LATERAL hashring.ring_balance(r) b
  JOIN LATERAL (SELECT hashring.ring_node(r, 's' || i) AS node, count(*) / 40000.0 AS frac
                  FROM generate_series(1, 40000) i GROUP BY 1) s USING (node)
 GROUP BY a ORDER BY a;

-- a down node: its keys move to the next node of each key's preference list,
-- no other key moves, and setting it active again restores everything
CREATE TEMP TABLE before AS
SELECT a, r, 'k' || i AS k, hashring.ring_nodes(r, 'k' || i, 2) AS two
  FROM algos, generate_series(1, 2000) i;
SELECT hashring.ring_set_state(r, 'n3', 'down') FROM algos \g /dev/null
SELECT a,
       count(*) FILTER (WHERE two[1] <> 'n3' AND hashring.ring_node(r, k) <> two[1]) AS others_moved,
       count(*) FILTER (WHERE two[1] = 'n3' AND hashring.ring_node(r, k) <> two[2]) AS not_next,
       count(*) FILTER (WHERE hashring.ring_node(r, k) = 'n3') AS routed_to_down
  FROM before GROUP BY a ORDER BY a;
SELECT a, (SELECT share FROM hashring.ring_balance(r) WHERE node = 'n3') AS down_share FROM algos ORDER BY a;
SELECT hashring.ring_set_state(r, 'n3', 'active') FROM algos \g /dev/null
SELECT a, count(*) FILTER (WHERE hashring.ring_nodes(r, k, 2) <> two) AS changed_after_reactivation
  FROM before GROUP BY a ORDER BY a;

-- adding a node: how many of 2000 keys move, and whether they all move to it
SELECT hashring.ring_add_node(r, 'n9') FROM algos \g /dev/null
SELECT a, count(*) FILTER (WHERE hashring.ring_node(r, k) <> two[1]) > 0 AS some_moved,
       count(*) FILTER (WHERE hashring.ring_node(r, k) <> two[1] AND hashring.ring_node(r, k) <> 'n9') AS moved_elsewhere
  FROM before GROUP BY a ORDER BY a;

-- weights: where an algorithm has them, a heavier node owns more; a weight
-- change moves keys only to or from that node (vnode, rendezvous)
CREATE TEMP TABLE w AS
SELECT a, r, 'k' || i AS k, hashring.ring_node(r, 'k' || i) AS owner
  FROM algos, generate_series(1, 2000) i WHERE a IN ('vnode', 'ketama', 'maglev', 'rendezvous');
SELECT hashring.ring_set_weight(r, 'n1', 3) FROM algos WHERE a IN ('vnode', 'ketama', 'maglev', 'rendezvous') \g /dev/null
SELECT a, (SELECT round(share::numeric, 2) FROM hashring.ring_balance(r) WHERE node = 'n1') AS share_at_weight_3,
       (SELECT round(expected_share::numeric, 2) FROM hashring.ring_balance(r) WHERE node = 'n1') AS expected
  FROM algos WHERE a IN ('vnode', 'ketama', 'maglev', 'rendezvous') ORDER BY a;
SELECT a, count(*) FILTER (WHERE hashring.ring_node(r, k) <> owner AND hashring.ring_node(r, k) <> 'n1') AS moved_not_to_n1
  FROM w WHERE a IN ('vnode', 'rendezvous') GROUP BY a ORDER BY a;

-- typed keys: pg_hash hashes the value, the others its text form
SELECT a, hashring.ring_node(r, 42) = hashring.ring_node(r, '42') AS int_as_text,
       hashring.ring_node(r, 42::bigint) = hashring.ring_node(r, '42') AS bigint_as_text
  FROM algos ORDER BY a;
SELECT hashring.ring_hash('a_pg_hash', 42) = hashring.ring_hash('a_pg_hash', 42::bigint) AS int_and_bigint_hash_alike;

-- ring_slot: Redis's keyHashSlot, including the {hash tag} rule
SELECT k, hashring.ring_slot(k) FROM (VALUES ('123456789'), (''), ('{user1000}.following'),
    ('{user1000}.followers'), ('foo{}{bar}'), ('foo{{bar}}zap'), ('foo{bar}{zap}'), ('{}'), ('{{a}}'), ('a{}b{c}')) v(k);
SELECT hashring.ring_slot('{user1000}.following') = hashring.ring_slot('user1000') AS tag_hashed,
       hashring.ring_slot('abc'::bytea) = hashring.ring_slot('abc') AS bytea_same,
       hashring.ring_hash('a_slots', 'user:1') = hashring.ring_slot('user:1') AS ring_hash_is_slot;
-- default slot ranges as redis-cli --cluster create assigns them
SELECT node, points AS slots FROM hashring.ring_balance('a_slots') ORDER BY node;

-- explicit slot ranges must cover every slot once
SELECT hashring.ring_create('s', 'slots');
SELECT hashring.ring_add_node('s', 'a');
SELECT hashring.ring_add_node('s', 'b');
SELECT hashring.ring_assign_slots('s', 'a', 0, 9999);
SELECT pg_temp.err($q$SELECT hashring.ring_node('s', 'k')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_assign_slots('s', 'b', 9000, 16383)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_assign_slots('s', 'b', 10000, 16384)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_assign_slots('s', 'b', 12000, 11000)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_assign_slots('s', 'zz', 10000, 16383)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_assign_slots('a_vnode', 'n1', 0, 16383)$q$);
SELECT hashring.ring_assign_slots('s', 'b', 10000, 16383);
SELECT node, points FROM hashring.ring_balance('s') ORDER BY node;
SELECT count(*) FILTER (WHERE hashring.ring_node('s', 'k' || i) <> CASE WHEN hashring.ring_slot('k' || i) < 10000 THEN 'a' ELSE 'b' END) AS misrouted
  FROM generate_series(1, 5000) i;
-- removing a node removes its ranges: the gap is an error until filled
SELECT hashring.ring_remove_node('s', 'b');
SELECT pg_temp.err($q$SELECT hashring.ring_node('s', 'k')$q$);
SELECT hashring.ring_clear_slots('s');
SELECT node, points FROM hashring.ring_balance('s');
SELECT hashring.ring_drop('s');

-- maglev table size: prime, at least the node count, maglev only
SELECT pg_temp.err($q$SELECT hashring.ring_create('m', 'maglev', table_size => 65536)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('m', 'maglev', table_size => 1)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('m', 'vnode', table_size => 65537)$q$);
SELECT hashring.ring_create('m', 'maglev', table_size => 7);
SELECT hashring.ring_add_node('m', 'm' || i) FROM generate_series(1, 6) i \g /dev/null
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('m', 'm7')$q$);  -- 7 nodes, 7 entries: fits
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('m', 'm8')$q$);
SELECT pg_temp.err($q$UPDATE hashring.rings SET table_size = 5 WHERE ring = 'm'$q$);
SELECT node, points AS entries FROM hashring.ring_balance('m') ORDER BY node;
UPDATE hashring.rings SET table_size = 251 WHERE ring = 'm';
SELECT sum(points) AS entries FROM hashring.ring_balance('m');
SELECT hashring.ring_drop('m');

-- jump: only the last added node can be removed
SELECT pg_temp.err($q$SELECT hashring.ring_remove_node('a_jump', 'n4')$q$);
SELECT hashring.ring_remove_node('a_jump', 'n9');
SELECT count(*) AS nodes FROM hashring.nodes WHERE ring = 'a_jump';

-- algorithms without weights refuse them
SELECT pg_temp.err(format($q$SELECT hashring.ring_add_node(%L, 'heavy', 2)$q$, r)) FROM algos WHERE a IN ('jump', 'slots', 'xor', 'pg_hash') ORDER BY a;
SELECT pg_temp.err($q$UPDATE hashring.rings SET algorithm = 'jump' WHERE ring = 'a_vnode'$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_create('x', 'consistent')$q$);

-- the MD5 and SHA-1 behind ketama and xor (src/digest.c) against PostgreSQL's
-- md5() on keys of 0 to 300+ bytes (every padding case) and against the
-- published SHA-1 test vectors ("", "abc", the 56-byte two-block message)
SELECT count(*) AS md5_mismatches
  FROM (SELECT repeat('x', i % 300) || i AS k FROM generate_series(0, 3000) i) s
 WHERE hashring.ring_hash('a_ketama', k) <>
       ('x' || substr(md5(k), 7, 2) || substr(md5(k), 5, 2) || substr(md5(k), 3, 2) || substr(md5(k), 1, 2))::bit(32)::bigint;
SELECT k, to_hex(hashring.ring_hash('a_xor', k)) AS sha1_prefix
  FROM (VALUES (''), ('abc'), ('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')) v(k);

-- xor node ids: 20 bytes; a stated id replaces SHA-1 of the name
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_id('a_xor', 'n1', '\x00'::bytea)$q$);
SELECT hashring.ring_node('a_xor', 'k') AS before_id;
-- n5's id becomes SHA-1('k'): distance 0 to key 'k', which it must now own
SELECT hashring.ring_set_node_id('a_xor', 'n5', '\x13fbd79c3d390e5d6585a21e11ff5ec1970cff0c');
SELECT hashring.ring_node('a_xor', 'k') AS after_id,
       hashring.ring_hash('a_xor', 'k') = x'13fbd79c3d390e5d'::bigint AS ring_hash_is_sha1_prefix;
SELECT hashring.ring_set_node_id('a_xor', 'n5', NULL);
SELECT hashring.ring_node('a_xor', 'k') AS back_to_name_id;

-- ==== murmur3: Cassandra token rings (test/t/025 checks tokens and routing
-- against the Cassandra reference; here: tokens, ranges and the errors)
SELECT hashring.ring_create('m3', 'murmur3', vnodes => 4);
SELECT hashring.ring_add_node('m3', 'n' || i) FROM generate_series(1, 3) i \g /dev/null
-- Murmur3Partitioner.getToken: the empty key is MINIMUM, others h1
SELECT hashring.ring_hash('m3', '') AS empty_key, hashring.ring_hash('m3', 'a') AS a,
       hashring.ring_hash('m3', '\xff80'::bytea) AS signed_tail;
-- generated: vnodes tokens per node
SELECT node, points FROM hashring.ring_balance('m3') ORDER BY node;
SELECT hashring.ring_set_node_tokens('m3', 'n1', '{-100, 100}');
SELECT hashring.ring_set_node_tokens('m3', 'n2', '{0}');
SELECT hashring.ring_set_node_tokens('m3', 'n3', '{1000}');
SELECT node, points, share * 2 ^ 64 AS positions FROM hashring.ring_balance('m3') ORDER BY node;
SELECT version AS before_errors FROM hashring.rings WHERE ring = 'm3';
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'n2', '{7, 100}')$q$) AS duplicate_across;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'n2', '{7, 7}')$q$) AS duplicate_within;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'n2', '{}')$q$) AS empty;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'n2', '{7, NULL}')$q$) AS null_element;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'n2', '{{1, 2}, {3, 4}}')$q$) AS two_dimensions;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'n2', ARRAY(SELECT generate_series(1, 100001)::bigint))$q$) AS too_many;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('m3', 'nx', '{7}')$q$) AS unknown_node;
SELECT pg_temp.err($q$SELECT hashring.ring_set_node_tokens('a_vnode', 'n1', '{7}')$q$) AS not_murmur3;
SELECT pg_temp.err($q$INSERT INTO hashring.nodes (ring, node, tokens) VALUES ('m3', 'n4', '{1000}')$q$) AS insert_duplicate;
SELECT pg_temp.err($q$UPDATE hashring.nodes SET tokens = '{-100}' WHERE ring = 'm3' AND node = 'n3'$q$) AS update_duplicate;
SELECT pg_temp.err($q$UPDATE hashring.rings SET algorithm = 'vnode' WHERE ring = 'm3'$q$) AS algorithm_change;
SELECT pg_temp.err($q$SELECT hashring.ring_set_weight('m3', 'n1', 2)$q$) AS weight;
SELECT version AS after_errors, (SELECT string_agg(node || ' ' || tokens::text, ', ' ORDER BY node)
                                  FROM hashring.nodes WHERE ring = 'm3') AS tokens
  FROM hashring.rings WHERE ring = 'm3';
-- Cassandra accepts the extreme tokens as initial_token; so do we
SELECT hashring.ring_set_node_tokens('m3', 'n3', '{-9223372036854775808, 1000, 9223372036854775807}');
SELECT hashring.ring_node('m3', '') AS empty_key_owner;
SELECT hashring.ring_set_node_tokens('m3', 'n3', '{1000}');
-- ring_diff shows positions as tokens: moving n2's token from 0 to 50
-- moves (0, 50] from n1 to n2
SELECT hashring.ring_set_node_tokens('m3', 'n2', '{50}');
SELECT from_node, to_node, share * 2 ^ 64 AS positions, ranges
  FROM hashring.ring_diff('m3', (SELECT version - 1 FROM hashring.rings WHERE ring = 'm3'));
SELECT hashring.ring_set_node_tokens('m3', 'n3', '{2000}');
SELECT from_node, to_node, ranges
  FROM hashring.ring_diff('m3', (SELECT version - 1 FROM hashring.rings WHERE ring = 'm3'));
-- a new smallest token takes the wrapping range, shown in two parts: up to
-- 2^63 (exclusive: MAX_VALUE is in) and from -2^63
SELECT hashring.ring_set_node_tokens('m3', 'n3', '{-200}');
SELECT from_node, to_node, ranges
  FROM hashring.ring_diff('m3', (SELECT version - 1 FROM hashring.rings WHERE ring = 'm3'));
-- rows written with the trigger off: the builder refuses duplicates at commit
BEGIN;
ALTER TABLE hashring.nodes DISABLE TRIGGER nodes_validate_tokens;
UPDATE hashring.nodes SET tokens = '{50}' WHERE ring = 'm3' AND node = 'n3';
ALTER TABLE hashring.nodes ENABLE TRIGGER nodes_validate_tokens;
COMMIT;
SELECT string_agg(node || ' ' || tokens::text, ', ' ORDER BY node) AS unchanged FROM hashring.nodes WHERE ring = 'm3';
-- NULL: back to generated tokens
SELECT hashring.ring_set_node_tokens('m3', 'n1', NULL);
SELECT node, points FROM hashring.ring_balance('m3') ORDER BY node;
SELECT hashring.ring_drop('m3');

-- the registry (src/algorithms.c) as SQL sees it; the triggers read it too
SELECT * FROM hashring.ring_algorithms();
-- every algorithm it lists can be created, routed by and diffed (each has
-- its ring_diff), and refuses or takes weights as it says
SELECT hashring.ring_create('reg_' || algorithm, algorithm) FROM hashring.ring_algorithms() \g /dev/null
SELECT hashring.ring_add_node('reg_' || algorithm, 'n' || i)
  FROM hashring.ring_algorithms(), generate_series(1, 3) i \g /dev/null
SELECT hashring.ring_assign_slots('reg_' || algorithm, 'n1', 0, 16383)
  FROM hashring.ring_algorithms() WHERE slot_ranges \g /dev/null
SELECT hashring.ring_add_node('reg_' || algorithm, 'n4') FROM hashring.ring_algorithms() \g /dev/null
SELECT a.algorithm, a.weighted,
       hashring.ring_node('reg_' || a.algorithm, 'some key') IS NOT NULL AS routes,
       (SELECT count(*) FROM hashring.ring_diff('reg_' || a.algorithm,
            (SELECT max(h.version) - 1 FROM hashring.ring_history h WHERE h.ring = 'reg_' || a.algorithm))) AS flows_to_n4,
       pg_temp.err(format($q$SELECT hashring.ring_add_node(%L, 'heavy', 2)$q$, 'reg_' || a.algorithm)) AS weight_2
  FROM hashring.ring_algorithms() a;
SELECT hashring.ring_drop('reg_' || algorithm) FROM hashring.ring_algorithms() \g /dev/null

-- the ketama variants (src/algo_ketama.c; checked key by key against the
-- real twemproxy, libmemcached and uhashring in test/t/024_ketama_refs.pl).
-- Digest counts at 7 equal nodes: npm's binary64 gives 39, the binary32 of
-- twemproxy and libmemcached and uhashring's integers give 40; libmemcached
-- unweighted always 100 one-point digests.
SELECT hashring.ring_create('kv_' || a, a)
  FROM unnest(ARRAY['ketama', 'ketama_twemproxy', 'ketama_libmemcached', 'ketama_libmemcached_weighted', 'ketama_uhashring']) a \g /dev/null
SELECT hashring.ring_add_node(r.ring, 'n' || i)
  FROM hashring.rings r, generate_series(1, 7) i WHERE r.ring LIKE 'kv\_%' \g /dev/null
SELECT r.algorithm, min(b.points) AS points_min, max(b.points) AS points_max
  FROM hashring.rings r, hashring.ring_balance(r.ring) b WHERE r.ring LIKE 'kv\_%'
 GROUP BY r.algorithm ORDER BY r.algorithm;
-- key hashes: MD5 (LE32 of bytes 0..3), and libmemcached's one-at-a-time,
-- which widens bytes as signed char ('été': 2144029493, as libmemcached's
-- memcached_generate_hash_value(..., MEMCACHED_HASH_DEFAULT) gives)
SELECT k, hashring.ring_hash('kv_ketama_libmemcached_weighted', k) AS md5,
       hashring.ring_hash('kv_ketama_libmemcached', k) AS one_at_a_time
  FROM unnest(ARRAY['', 'a', 'hello', 'été']) k;
-- a key exactly on a point ("n3-1" hashes onto the first point of n3's digest 1): n3 for
-- ">=", the next point's owner for uhashring's "strictly after"
SELECT hashring.ring_node('kv_ketama', 'n3-1') AS npm,
       hashring.ring_node('kv_ketama_uhashring', 'n3-1') AS uhashring,
       hashring.ring_node('kv_ketama_uhashring', 'n3-1') <> 'n3' AS uhashring_takes_the_next;
-- uhashring counts in integers: whole weights only, checked at the change
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('kv_ketama_uhashring', 'half', 1.5)$q$);
-- refused at the change, and so is switching a ring with such a weight
SELECT hashring.ring_create('kv_frac', 'ketama');
SELECT hashring.ring_add_node('kv_frac', 'a', 1.5);
SELECT pg_temp.err($q$UPDATE hashring.rings SET algorithm = 'ketama_uhashring' WHERE ring = 'kv_frac'$q$);
SELECT algorithm FROM hashring.rings WHERE ring = 'kv_frac';
SELECT hashring.ring_add_node('kv_ketama_uhashring', 'triple', 3);
SELECT points FROM hashring.ring_balance('kv_ketama_uhashring') WHERE node = 'triple';
SELECT pg_temp.err($q$SELECT hashring.ring_add_node('kv_ketama_libmemcached', 'heavy', 2)$q$);
-- server lists as twemproxy and libmemcached write them, named as each
-- names servers for its continuum
SELECT hashring.ring_create('kv_tw', 'ketama_twemproxy');
SELECT * FROM hashring.ring_add_servers('kv_tw', $y$
  servers:
   - 127.0.0.1:11211:1
   - 127.0.0.1:11212:2 server2   # a comment
   - "10.0.0.3:11211:3"
   - /var/run/mc.sock:1
   - /var/run/mc2.sock:1 sock2
$y$);
SELECT hashring.ring_create('kv_lm', 'ketama_libmemcached_weighted');
SELECT * FROM hashring.ring_add_servers('kv_lm', 'localhost, 10.0.0.2:11212, 10.0.0.3:11211:4, 10.0.0.4:0 2, [::1]:11213', 'libmemcached');
-- bad lists change nothing
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_lm', 'x:1:1', 'nope')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_tw', '- 1.2.3.4:11211')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_tw', '- 1.2.3.4:99999:1')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_tw', '- 1.2.3.4:11:0')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_tw', E'- 9.9.9.9:1:1\n- a:1:1\n- a:1:2')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_lm', 'a:70000', 'libmemcached')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_lm', 'a b c', 'libmemcached')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_tw', 'servers:')$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('kv_tw', NULL)$q$);
SELECT pg_temp.err($q$SELECT hashring.ring_add_servers('nosuch', '- a:1:1')$q$);
SELECT ring, count(*) FROM hashring.nodes WHERE ring IN ('kv_tw', 'kv_lm') GROUP BY ring ORDER BY ring;
SELECT hashring.ring_drop(ring) FROM hashring.rings WHERE ring LIKE 'kv\_%' \g /dev/null

SELECT hashring.ring_drop(r) FROM algos \g /dev/null
