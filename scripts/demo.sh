#!/usr/bin/env bash
# hashring demo: starts a throwaway PostgreSQL 15 with hashring preloaded,
# builds a ring, routes keys, shows balance, adds a node and counts how many
# keys moved, then stops the server and removes it.
#
#   sudo bash scripts/demo.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and the extension)"; exit 1; }

bash "$here/scripts/deps.sh" build
make -C "$here" >/dev/null
make -C "$here" install >/dev/null

bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/hashring-demo.XXXXXX)
chown postgres "$dir"
port=${HASHRING_DEMO_PORT:-54399}
as_pg() { su postgres -s /bin/bash -c "$*"; }
cleanup() {
    as_pg "$bin/pg_ctl -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true
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
echo
echo "demo finished; server stopped and removed."
