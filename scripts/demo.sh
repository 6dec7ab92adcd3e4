#!/usr/bin/env bash
# hashring demo: starts a throwaway PostgreSQL (the release's major: 15 on
# Debian 12, 17 on Debian 13, 18 on sid) with hashring preloaded,
# builds a ring, routes keys, shows balance, adds a node and counts how many
# keys moved.  Then the real thing: three shard servers behind the
# coordinator (postgres_fdw), a local table turned into a distributed table,
# rows written and read through it, the check that every row is where
# hashring says, and which shards a fourth node would take.
# Every server is stopped and removed at the end.
#
#   bash scripts/demo.sh            as root
#   sudo bash scripts/demo.sh       as a user with sudo
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and the extension): sudo bash scripts/demo.sh"; exit 1; }
# the servers and psql run as postgres: never from a directory it cannot
# enter (the clone may be under /root, mode 700)
cd /

bash "$here/scripts/deps.sh" build
major=$(bash "$here/scripts/pgmajor.sh")
bin=/usr/lib/postgresql/$major/bin
make -C "$here" PG_CONFIG="$bin/pg_config" >/dev/null
make -C "$here" PG_CONFIG="$bin/pg_config" install >/dev/null

dir=$(mktemp -d /tmp/hashring-demo.XXXXXX)
chown postgres "$dir"
port=${HASHRING_DEMO_PORT:-54399}
as_pg() { su postgres -s /bin/bash -c "$*"; }
cleanup() {
    for d in "$dir"/data "$dir"/shard*; do
        [ -d "$d" ] && as_pg "$bin/pg_ctl -D '$d' -m immediate stop" >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

as_pg "$bin/initdb -D '$dir/data' -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
shared_preload_libraries = 'hashring'
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
CONF
as_pg "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w start" >/dev/null

psql_demo() { as_pg "$bin/psql -X -q -h '$dir' -p $port -d postgres -v ON_ERROR_STOP=1 $*"; }

psql_demo <<'SQL'
\pset footer off
\echo '== a ring of 8 nodes (node-8 has twice the weight), 160 points per unit of weight'
CREATE EXTENSION hashring;
SELECT hashring.ring_create('demo') \g /dev/null
SELECT hashring.ring_add_node('demo', 'node-' || i, CASE WHEN i = 8 THEN 2 ELSE 1 END,
                              target => 'shard' || i) FROM generate_series(1, 8) i \g /dev/null

\echo
\echo '== routing keys'
SELECT k AS key, hashring.ring_node('demo', k) AS owner, hashring.ring_nodes('demo', k, 3) AS replicas
  FROM (VALUES ('user:1'), ('user:2'), ('user:42'), ('order:2026-11-26')) v(k);

\echo '== balance: exact share of the hash space per node'
SELECT node, weight, points, round(share::numeric, 4) AS share,
       round(expected_share::numeric, 4) AS expected, round(deviation::numeric, 3) AS deviation, overloaded
  FROM hashring.ring_balance('demo') ORDER BY node;

\echo '== 100,000 keys routed, then one node added'
CREATE TEMP TABLE placed AS
SELECT 'user:' || i AS k, hashring.ring_node('demo', 'user:' || i) AS owner FROM generate_series(1, 100000) i;
SELECT hashring.ring_add_node('demo', 'node-9') \g /dev/null
SELECT count(*) FILTER (WHERE hashring.ring_node('demo', k) <> owner) AS keys_moved,
       round(100.0 * count(*) FILTER (WHERE hashring.ring_node('demo', k) <> owner) / count(*), 2) AS percent_moved,
       round(100.0 / 10, 2) AS ideal_percent,
       count(*) FILTER (WHERE hashring.ring_node('demo', k) <> owner AND hashring.ring_node('demo', k) <> 'node-9') AS moved_elsewhere
  FROM placed;
\echo '(a plain hash % n would have moved about 8 keys in 9)'
SELECT count(*) FILTER (WHERE abs(hashtext(k)) % 9 <> abs(hashtext(k)) % 8) AS modulo_would_move FROM placed;

\echo '== the cache: one image per ring version, in shared memory'
SELECT * FROM hashring.ring_cache_info();
SQL

# ---------------------------------------------------------------------------
# Part 2: a distributed table across real servers
# ---------------------------------------------------------------------------
start_shard() {   # $1: shard number
    local d="$dir/shard$1" p=$((port + $1))
    as_pg "$bin/initdb -D '$d' -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$p" "$dir" >>"$d/postgresql.conf"
    as_pg "$bin/pg_ctl -D '$d' -l '$d.log' -w start" >/dev/null
    psql_demo -c "\"CREATE SERVER shard$1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$p', dbname 'postgres'); CREATE USER MAPPING FOR CURRENT_USER SERVER shard$1\""
}
echo
echo "== part 2: three shard servers behind this coordinator (postgres_fdw)"
psql_demo -c "'CREATE EXTENSION postgres_fdw'"
for i in 1 2 3; do start_shard $i; done

psql_demo <<'SQL'
\pset footer off
SELECT hashring.ring_create('items') \g /dev/null
SELECT hashring.ring_add_node('items', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 3) i \g /dev/null
\echo '== a local table with 30,000 rows becomes a distributed table: 12 shards, 4 per server'
CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL);
INSERT INTO items SELECT 'item:' || g, g FROM generate_series(1, 30000) g;
CALL hashring.distribute_table('items', 'k', 'items', 12);
SELECT node, count(*) AS shards, string_agg(shard::text, ',' ORDER BY shard) AS which
  FROM hashring.table_shards GROUP BY node ORDER BY node;
\echo '== PostgreSQL routes every row: INSERT and COPY to the key''s shard, a read by key to one shard'
INSERT INTO items SELECT 'item:' || g, g FROM generate_series(30001, 35000) g;
COPY (SELECT 'item:' || g, g FROM generate_series(35001, 40000) g) TO '/tmp/hashring-demo-items.tsv';
COPY items FROM '/tmp/hashring-demo-items.tsv';
EXPLAIN (COSTS OFF) SELECT v FROM items WHERE k = 'item:42';
SELECT k, v, hashring.table_node('items', k) AS node, tableoid::regclass AS partition FROM items WHERE k = 'item:42';
\echo '== the check: every row once, on the node hashring names, values intact'
SELECT count(*) AS rows, count(DISTINCT k) AS distinct_keys,
       count(*) FILTER (WHERE s.node <> hashring.table_node('items', i.k)) AS misplaced,
       sum(v) = 40000::bigint * 40001 / 2 AS values_intact
  FROM items AS i JOIN hashring.table_shards AS s ON s.partition = i.tableoid;
SELECT s.node, count(*) AS rows FROM items AS i JOIN hashring.table_shards AS s ON s.partition = i.tableoid GROUP BY 1 ORDER BY 1;
SQL
start_shard 4
psql_demo <<'SQL'
\pset footer off
\echo '== a fourth node joins the ring: only its share of the shards is placed on it, nothing else moves'
SELECT hashring.ring_add_node('items', 'shard4', target => 'shard4') \g /dev/null
SELECT node AS now_on, target_node AS placed_on, count(*) AS shards
  FROM hashring.table_placement('items') GROUP BY 1, 2 ORDER BY 1, 2;
SQL
rm -f /tmp/hashring-demo-items.tsv

echo
echo "demo finished; servers stopped and removed."
