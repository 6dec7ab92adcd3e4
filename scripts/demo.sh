#!/usr/bin/env bash
# hashring demo: starts a throwaway PostgreSQL (the release's major: 15 on
# Debian 12, 17 on Debian 13, 18 on sid) with hashring preloaded,
# builds a ring, routes keys, shows balance, adds a node and counts how many
# keys moved.  Then the real thing: three shard servers behind the
# coordinator (postgres_fdw), a table loaded through the router, a fourth
# shard added, the plan, the move, and the check that nothing was lost.
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
# Part 2: rebalancing a sharded table across real servers
# ---------------------------------------------------------------------------
start_shard() {   # $1: shard number
    local d="$dir/shard$1" p=$((port + $1))
    as_pg "$bin/initdb -D '$d' -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
    printf "listen_addresses = '127.0.0.1'\nport = %s\nunix_socket_directories = '%s'\n" "$p" "$dir" >>"$d/postgresql.conf"
    as_pg "$bin/pg_ctl -D '$d' -l '$d.log' -w start" >/dev/null
    as_pg "$bin/psql -X -q -h '$dir' -p $p -d postgres -c 'CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL)'"
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
SELECT hashring._shard_table('items', 'shard' || i, 'public.items') FROM generate_series(1, 3) i \g /dev/null
\echo '== 30,000 rows loaded through the router (each shard receives the keys ring_node gives it)'
INSERT INTO hashring_fdw_shard1.items SELECT 'item:' || g, g FROM generate_series(1, 30000) g WHERE hashring.ring_node('items', 'item:' || g) = 'shard1';
INSERT INTO hashring_fdw_shard2.items SELECT 'item:' || g, g FROM generate_series(1, 30000) g WHERE hashring.ring_node('items', 'item:' || g) = 'shard2';
INSERT INTO hashring_fdw_shard3.items SELECT 'item:' || g, g FROM generate_series(1, 30000) g WHERE hashring.ring_node('items', 'item:' || g) = 'shard3';
SELECT node, round(share::numeric, 3) AS share FROM hashring.ring_balance('items') ORDER BY node;
SELECT version AS before FROM hashring.rings WHERE ring = 'items' \gset
SQL
start_shard 4
psql_demo <<'SQL'
\pset footer off
SELECT version AS before FROM hashring.rings WHERE ring = 'items' \gset
\echo '== a fourth shard joins the ring'
SELECT hashring.ring_add_node('items', 'shard4', target => 'shard4') \g /dev/null
SELECT hashring._shard_table('items', 'shard4', 'public.items') \g /dev/null
\echo '== the plan: exact share of the key space per flow, and the real rows of each shard'
SELECT from_node, to_node, round(share::numeric, 4) AS share, cardinality(ranges) AS hash_ranges
  FROM hashring.ring_diff('items', :before) ORDER BY 1;
SELECT * FROM hashring.ring_plan_moves('items', 'hashring_fdw_shard1.items', 'k', :before, top_keys => 2)
UNION ALL SELECT * FROM hashring.ring_plan_moves('items', 'hashring_fdw_shard2.items', 'k', :before, top_keys => 2)
UNION ALL SELECT * FROM hashring.ring_plan_moves('items', 'hashring_fdw_shard3.items', 'k', :before, top_keys => 2);
\echo '== moving: per batch, lock on the old owner, copy and commit on the new, then delete'
SET client_min_messages = warning;
CALL hashring.ring_move('items', 'public.items', 'k', 5000, from_version => :before);
RESET client_min_messages;
SELECT ring, tbl, settled_version AS placed_by_version, rows_moved, rows_scanned, batches, retries FROM hashring.moves;
\echo '== the check: every row once, on its owner, values intact'
SELECT count(*) AS rows, count(DISTINCT k) AS distinct_keys,
       count(*) FILTER (WHERE shard <> hashring.ring_node('items', k)) AS misplaced,
       sum(v) = 30000::bigint * 30001 / 2 AS values_intact
  FROM (SELECT 'shard1' AS shard, * FROM hashring_fdw_shard1.items UNION ALL
        SELECT 'shard2', * FROM hashring_fdw_shard2.items UNION ALL
        SELECT 'shard3', * FROM hashring_fdw_shard3.items UNION ALL
        SELECT 'shard4', * FROM hashring_fdw_shard4.items) s;
SELECT (SELECT count(*) FROM hashring_fdw_shard1.items) AS shard1, (SELECT count(*) FROM hashring_fdw_shard2.items) AS shard2,
       (SELECT count(*) FROM hashring_fdw_shard3.items) AS shard3, (SELECT count(*) FROM hashring_fdw_shard4.items) AS shard4;
SQL

echo
echo "demo finished; servers stopped and removed."
