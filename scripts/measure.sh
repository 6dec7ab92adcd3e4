#!/usr/bin/env bash
# Measures the figures quoted in docs/performance-0.1.md: image build time,
# bytes per point, and the first lookup's latency in a brand-new connection
# with and without shared_preload_libraries.  Starts and removes its own
# server.  Times are medians of 5 runs, measured inside the server
# (clock_timestamp around the call), so client round trips are excluded.
#
#   sudo bash scripts/measure.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
cd /    # programs run as postgres: not from a directory it cannot enter
bash "$here/scripts/deps.sh"
bin=/usr/lib/postgresql/$(bash "$here/scripts/pgmajor.sh")/bin
make -C "$here" PG_CONFIG="$bin/pg_config" >/dev/null && make -C "$here" PG_CONFIG="$bin/pg_config" install >/dev/null

dir=$(mktemp -d /tmp/hashring-measure.XXXXXX)
chown postgres "$dir"
port=${HASHRING_MEASURE_PORT:-54398}
as_pg() { su postgres -s /bin/bash -c "$*"; }
cleanup() { as_pg "$bin/pg_ctl -D '$dir/data' -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
# run SQL given on stdin or as $1 in a new connection
q() { printf '%s\n' "${1:-$(cat)}" | as_pg "$bin/psql -X -q -At -h '$dir' -p $port -d postgres -v ON_ERROR_STOP=1 -f -"; }
start() {
    as_pg "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w -o \"$1\" restart" >/dev/null 2>&1 ||
    as_pg "$bin/pg_ctl -D '$dir/data' -l '$dir/log' -w -o \"$1\" start" >/dev/null
}

as_pg "$bin/initdb -D '$dir/data' -A trust -E UTF8 --locale=C.UTF-8" >/dev/null
cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
hashring.shared_memory = '512MB'
CONF
preload="-c shared_preload_libraries=hashring"
start "$preload"
q "CREATE EXTENSION hashring"
q "SELECT hashring.ring_create('r1k', vnodes => 160)" >/dev/null
q "SELECT hashring.ring_add_node('r1k', 'node-' || i) FROM generate_series(1, 1000) i" >/dev/null
q "SELECT hashring.ring_create('r10k', vnodes => 256)" >/dev/null
q "SELECT hashring.ring_add_node('r10k', 'node-' || i) FROM generate_series(1, 10000) i" >/dev/null

# first call of a new connection, in ms, measured in the server
first_call() {
    q "DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN PERFORM hashring.ring_node('$1', 'k'); RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 3); END \$\$" 2>&1 | sed -n 's/.*NOTICE: *//p'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-6s %9s %12s %12s %16s %16s %16s\n' ring points bytes bytes/point "build+publish" "new conn, shared" "new conn, local"
for ring in r1k r10k; do
    builds=(); shared=()
    for i in 1 2 3 4 5; do
        q "UPDATE hashring.rings SET replicas = replicas WHERE ring = '$ring'"   # new version, same membership
        builds+=("$(first_call $ring)")      # builds the new version and publishes it
        shared+=("$(first_call $ring)")      # another new connection: pins the shared image
    done
    info=$(q "SELECT hashring.ring_node('$ring', 'k') \\g /dev/null
SELECT points || ' ' || bytes FROM hashring.ring_cache_info() WHERE ring = '$ring'")
    pts=${info% *}; bytes=${info#* }
    b=$(printf '%s\n' "${builds[@]}" | median); s=$(printf '%s\n' "${shared[@]}" | median)
    eval "b_$ring=$b s_$ring=$s pts_$ring=$pts bytes_$ring=$bytes"
done
start ""
for ring in r1k r10k; do
    locals=()
    for i in 1 2 3 4 5; do locals+=("$(first_call $ring)"); done
    l=$(printf '%s\n' "${locals[@]}" | median)
    eval "pts=\$pts_$ring bytes=\$bytes_$ring b=\$b_$ring s=\$s_$ring"
    printf '%-6s %9s %12s %12s %13s ms %13s ms %13s ms\n' $ring $pts $bytes \
        "$(awk -v b=$bytes -v p=$pts 'BEGIN{printf "%.2f", b/p}')" $b $s $l
done
