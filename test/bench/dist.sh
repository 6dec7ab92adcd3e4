#!/usr/bin/env bash
# Distributed-table benchmark (issue 27): what routing through a distributed
# table costs, each figure a ratio against a baseline measured in the same run.
#
#   make bench                  # as root: run.sh, move.sh, then this script
#   bash test/bench/dist.sh     # this script alone
#
# Starts its own throwaway servers (as `postgres`, unix sockets only, in a
# fresh mktemp directory): a coordinator (hashring preloaded, postgres_fdw)
# and four shard servers.  `items (k bigint PRIMARY KEY, v integer NOT NULL,
# pad text)` is distributed over the four (4 shards, one per server); the
# baselines use one plain postgres_fdw foreign table (`plain`) for a table of
# the same shape and rows on shard server 1, with the same options as the
# partitions (batch_size 1000, fetch_size 1000).
#
#   select   pgbench, 1 client, `SELECT v FROM items WHERE k = :k` against
#            the same on `plain`, with -M prepared (generic plans: pruned when
#            they run) and -M simple (planned each time): tps ratios,
#            target >= 0.9
#   insert   INSERT INTO items SELECT <ROWS new rows> against the same into
#            `plain`: rows/s ratio, target >= 0.8
#   move     move_shard of one shard of items (COPY_ROWS / 4 rows, to another
#            node and back) against a plain COPY pipe of the same rows
#            between the same two servers into a table of the same shape:
#            time ratio, target >= 0.7 (issue 28); and against the move of a
#            shard a quarter that size: target <= 4.5 (linear); the write
#            block of the moves (longest, median) is printed
#   logical  the same move with mode => 'logical' (publication and
#            subscription; the shard servers run with wal_level = logical)
#            against the same pipe: time ratio, target >= 0.7; its write
#            blocks are printed
#   copy bw, copy lg   the copy step alone of each (shard_moves.copy_ms:
#            the COPY pipe through the coordinator, from the slot's
#            snapshot for a logical move) against the same pipe: the rate
#            the move copies at, target >= 0.7; what the whole move adds
#            is fixed per move (connections, the subscription's worker
#            start, polls, cleanup)
#   copy     COPY of COPY_ROWS rows into the distributed table (hashring's
#            COPY path) against COPY of the same rows, from a file, into a
#            local table of the same shape on shard server 1: time ratio,
#            target <= 2
#
# Rounds alternate candidate and baseline; medians are reported.  Targets
# are reported, never asserted: the exit status is non-zero only when the
# benchmark could not run or a sanity check (row counts) failed.
#
# Knobs: HASHRING_BENCH_DIST=0 (skip), HASHRING_BENCH_DIST_REPS=3,
# HASHRING_BENCH_DIST_ROWS=100000 (insert), HASHRING_BENCH_DIST_COPY_ROWS=1000000,
# HASHRING_BENCH_DIST_SECONDS=10 (each pgbench run), HASHRING_BENCH_DIST_PORT=54402,
# HASHRING_BENCH_BIN=<PostgreSQL bin directory; default the installed major's>,
# HASHRING_BENCH_SKIP_BUILD=1 (do not run deps.sh / make install).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
[ "${HASHRING_BENCH_DIST:-1}" = 0 ] && { echo "distributed-table benchmark skipped (HASHRING_BENCH_DIST=0)"; exit 0; }
[ "$(id -u)" = 0 ] || { echo "run as root (it installs the extension and runs the servers as postgres)" >&2; exit 1; }
REPS=${HASHRING_BENCH_DIST_REPS:-3}
ROWS=${HASHRING_BENCH_DIST_ROWS:-100000}
COPY_ROWS=${HASHRING_BENCH_DIST_COPY_ROWS:-1000000}
SECS=${HASHRING_BENCH_DIST_SECONDS:-10}
port0=${HASHRING_BENCH_DIST_PORT:-54402}
for n in "$REPS" "$ROWS" "$COPY_ROWS" "$SECS" "$port0"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "not a positive integer: '$n'" >&2; exit 1; }
done

if [ -z "${HASHRING_BENCH_SKIP_BUILD:-}" ]; then
    bash "$here/scripts/deps.sh" build
fi
bin=${HASHRING_BENCH_BIN:-/usr/lib/postgresql/$(bash "$here/scripts/pgmajor.sh")/bin}
if [ -z "${HASHRING_BENCH_SKIP_BUILD:-}" ]; then
    make -C "$here" PG_CONFIG="$bin/pg_config" >/dev/null
    make -C "$here" PG_CONFIG="$bin/pg_config" install >/dev/null
fi
pgbench=$bin/pgbench
[ -x "$pgbench" ] || pgbench=$(command -v pgbench) || { echo "pgbench is not installed (postgresql-contrib)" >&2; exit 1; }

SERVERS=(coord s1 s2 s3 s4)
declare -A PORT
for i in "${!SERVERS[@]}"; do PORT[${SERVERS[$i]}]=$((port0 + i)); done
dir=$(mktemp -d /tmp/hashring-bench-dist.XXXXXX)
chown postgres "$dir"
as_pg() { runuser -u postgres -- env HOME="$dir" "$@"; }
cleanup() {
    local rc=$?
    for s in "${SERVERS[@]}"; do
        [ -f "$dir/$s/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir/$s" -m immediate stop >/dev/null 2>&1 || true
    done
    rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 143' TERM INT
q() { as_pg "$bin/psql" -X -q -At -h "$dir" -p "${PORT[$1]}" -d postgres -v ON_ERROR_STOP=1 -f - ; }
now() { date +%s.%N; }
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END { if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2 }'; }
sanity=0
check() { [ "$2" = "$3" ] || { echo "SANITY CHECK FAILED: $1: got '$2', expected '$3'" >&2; sanity=1; }; }

for s in "${SERVERS[@]}"; do
    as_pg "$bin/initdb" -D "$dir/$s" -A trust -E UTF8 --no-locale >/dev/null
    {
        echo "listen_addresses = ''"; echo "port = ${PORT[$s]}"; echo "unix_socket_directories = '$dir'"
        echo "shared_buffers = '256MB'"; echo "jit = off"; echo "max_wal_size = '8GB'"; echo "autovacuum = off"
        [ "$s" = coord ] && echo "shared_preload_libraries = 'hashring'"
        # logical shard moves (move_shard mode => 'logical'); PostgreSQL 15's
        # launcher starts one subscription's workers per
        # wal_retrieve_retry_interval (5 s by default): back-to-back moves
        # onto one server would wait for it (docs/distributed.md)
        [ "$s" = coord ] || printf '%s\n' "wal_level = logical" "max_wal_senders = 10" "max_replication_slots = 10" \
            "wal_retrieve_retry_interval = '200ms'"
    } >>"$dir/$s/postgresql.conf"
    as_pg "$bin/pg_ctl" -D "$dir/$s" -l "$dir/$s.log" -w start >/dev/null
done
for s in s1 s2 s3 s4; do
    echo "CREATE TABLE local_items (k bigint PRIMARY KEY, v integer NOT NULL, pad text);
          CREATE TABLE plain_items (k bigint PRIMARY KEY, v integer NOT NULL, pad text);" | q "$s"
done
{
    echo "CREATE EXTENSION hashring; CREATE EXTENSION postgres_fdw;"
    for s in s1 s2 s3 s4; do
        echo "CREATE SERVER $s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$dir', port '${PORT[$s]}', dbname 'postgres');"
        echo "CREATE USER MAPPING FOR CURRENT_USER SERVER $s;"
    done
    echo "SELECT hashring.ring_create('bench');"
    for s in s1 s2 s3 s4; do echo "SELECT hashring.ring_add_node('bench', 'n_$s', target => '$s');"; done
    echo "CREATE TABLE items (k bigint PRIMARY KEY, v integer NOT NULL, pad text);"
    echo "CALL hashring.distribute_table('items', 'k', 'bench', 4);"
    echo "CREATE FOREIGN TABLE plain (k bigint NOT NULL, v integer NOT NULL, pad text) SERVER s1
          OPTIONS (schema_name 'public', table_name 'plain_items', batch_size '1000', fetch_size '1000');"
} | q coord >/dev/null
check "one shard per server" "$(echo "SELECT count(DISTINCT node) FROM hashring.table_shards" | q coord)" 4

pgver=$(echo "SELECT current_setting('server_version')" | q coord)
echo "machine: $(nproc) CPUs, $(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo); PostgreSQL $pgver; hashring $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"

# --- select: the same rows on both sides, point lookups by pgbench
echo "INSERT INTO items SELECT g, g % 1000, repeat('x', 80) FROM generate_series(1, $ROWS) g;
      INSERT INTO plain SELECT g, g % 1000, repeat('x', 80) FROM generate_series(1, $ROWS) g;" | q coord
for s in s1 s2 s3 s4; do echo "VACUUM ANALYZE" | q "$s"; done
printf '\\set k random(1, %s)\nSELECT v FROM items WHERE k = :k;\n' "$ROWS" >"$dir/dist.sql"
printf '\\set k random(1, %s)\nSELECT v FROM plain WHERE k = :k;\n' "$ROWS" >"$dir/plain.sql"
chown postgres "$dir"/*.sql
# $3: the session's plan_cache_mode (PGOPTIONS)
tps() { as_pg env "PGOPTIONS=-c plan_cache_mode=${3:-auto}" "$pgbench" -n -M "$2" -c 1 -T "$SECS" -h "$dir" -p "${PORT[coord]}" -f "$dir/$1.sql" postgres 2>/dev/null | awk '/^tps/ {print $3; exit}'; }
sd=""; sp=""; qd=""; qp=""; gd=""; gp=""
for ((r = 1; r <= REPS; r++)); do
    sd="$sd $(tps dist prepared)"; sp="$sp $(tps plain prepared)"
    qd="$qd $(tps dist simple)"; qp="$qp $(tps plain simple)"
    gd="$gd $(tps dist prepared force_generic_plan)"; gp="$gp $(tps plain prepared force_generic_plan)"
done
tps_d=$(echo "$sd" | median); tps_p=$(echo "$sp" | median)
tps_qd=$(echo "$qd" | median); tps_qp=$(echo "$qp" | median)
tps_gd=$(echo "$gd" | median); tps_gp=$(echo "$gp" | median)

# --- insert: ROWS new rows each time, then removed
idt=""; ipt=""
for ((r = 1; r <= REPS; r++)); do
    lo=$((ROWS * (r + 1) + 1)); hi=$((ROWS * (r + 2)))
    t0=$(now); echo "INSERT INTO items SELECT g, g % 1000, repeat('x', 80) FROM generate_series($lo, $hi) g" | q coord; t1=$(now)
    echo "INSERT INTO plain SELECT g, g % 1000, repeat('x', 80) FROM generate_series($lo, $hi) g" | q coord; t2=$(now)
    idt="$idt $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"; ipt="$ipt $(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')"
    check "insert round $r" "$(echo "SELECT (SELECT count(*) FROM items WHERE k BETWEEN $lo AND $hi) || '/' || (SELECT count(*) FROM plain WHERE k BETWEEN $lo AND $hi)" | q coord)" "$ROWS/$ROWS"
done
ins_d=$(echo "$idt" | median); ins_p=$(echo "$ipt" | median)

# --- copy: COPY_ROWS rows from a file, into the distributed table and into a local table on s1
as_pg "$bin/psql" -X -q -h "$dir" -p "${PORT[coord]}" -d postgres \
    -c "COPY (SELECT g, g % 1000, repeat('x', 80) FROM generate_series(1, $COPY_ROWS) g) TO STDOUT" >"$dir/rows.txt"
chown postgres "$dir/rows.txt"
cdt=""; clt=""
for ((r = 1; r <= REPS; r++)); do
    echo "TRUNCATE items" | q coord
    echo "TRUNCATE local_items; CHECKPOINT" | q s1
    for s in s1 s2 s3 s4; do echo "CHECKPOINT" | q "$s"; done
    t0=$(now); as_pg "$bin/psql" -X -q -h "$dir" -p "${PORT[coord]}" -d postgres -v ON_ERROR_STOP=1 -c "\\copy items FROM '$dir/rows.txt'"; t1=$(now)
    as_pg "$bin/psql" -X -q -h "$dir" -p "${PORT[s1]}" -d postgres -v ON_ERROR_STOP=1 -c "\\copy local_items FROM '$dir/rows.txt'"; t2=$(now)
    cdt="$cdt $(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"; clt="$clt $(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')"
    check "copy round $r" "$(echo "SELECT count(*) FROM items" | q coord)" "$COPY_ROWS"
done
copy_d=$(echo "$cdt" | median); copy_l=$(echo "$clt" | median)

# --- move: shard 0 of items (COPY_ROWS / 4 rows) to another node and back,
# against a plain COPY pipe between the same two servers into a table of
# the same shape (primary key included); then shard 0 of `quarter` (a
# table not colocated with items: 2 shards, a quarter of the rows each)
for s in s1 s2 s3 s4; do echo "CREATE TABLE pipe_items (k bigint PRIMARY KEY, v integer NOT NULL, pad text)" | q "$s"; done
echo "CREATE TABLE quarter (k bigint PRIMARY KEY, v integer NOT NULL, pad text);
      INSERT INTO quarter SELECT g, g % 1000, repeat('x', 80) FROM generate_series(1, $COPY_ROWS / 8) g;
      CALL hashring.distribute_table('quarter', 'k', 'bench', 2);" | q coord 2>/dev/null
server_of() { echo "SELECT substr(node, 3) FROM hashring.table_shards WHERE tbl = '$1'::regclass AND shard = 0" | q coord; }
other_of() { case $1 in s1) echo s2 ;; *) echo s1 ;; esac; }
move_once() {   # $1 table, $2 mode: prints "seconds write_block_ms rows copy_seconds"
    local from to t0 t1
    from=$(server_of "$1"); to=$(other_of "$from")
    for s in "$from" "$to"; do echo "CHECKPOINT" | q "$s"; done
    t0=$(now); echo "CALL hashring.move_shard('$1', 0, 'n_$to', mode => '$2')" | q coord 2>/dev/null; t1=$(now)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }') $(echo "SELECT round(write_block_ms) || ' ' || rows_copied || ' ' || copy_ms / 1000 FROM hashring.shard_moves WHERE tbl = '$1'::regclass AND shard = 0" | q coord)"
}
pipe_once() {   # the same rows, plain COPY pipe from the shard's server to the other one
    local from to t0 t1
    from=$(server_of items); to=$(other_of "$from")
    echo "TRUNCATE pipe_items; CHECKPOINT" | q "$to"
    t0=$(now)
    as_pg "$bin/psql" -X -q -h "$dir" -p "${PORT[$from]}" -d postgres -c "COPY public.items_0 TO STDOUT" |
        as_pg "$bin/psql" -X -q -h "$dir" -p "${PORT[$to]}" -d postgres -v ON_ERROR_STOP=1 -c "COPY pipe_items FROM STDIN"
    t1=$(now)
    awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }'
}
mdt=""; mpt=""; mqt=""; blocks=""; mlt=""; lblocks=""; mdc=""; mlc=""
shard_rows=$(echo "SELECT count(*) FROM items WHERE tableoid = 'items_0'::regclass" | q coord)
for ((r = 1; r <= REPS; r++)); do
    mpt="$mpt $(pipe_once)"
    read -r secs block rows csecs <<<"$(move_once items block_writes)"
    check "move round $r rows" "$rows" "$shard_rows"
    mdt="$mdt $secs"; blocks="$blocks $block"; mdc="$mdc $csecs"
    read -r secs block rows csecs <<<"$(move_once items logical)"
    check "logical move round $r rows" "$rows" "$shard_rows"
    mlt="$mlt $secs"; lblocks="$lblocks $block"; mlc="$mlc $csecs"
    read -r secs block rows <<<"$(move_once quarter block_writes)"
    mqt="$mqt $secs"
done
check "items after the moves" "$(echo "SELECT count(*) FROM items" | q coord)" "$COPY_ROWS"
quarter_rows=$(echo "SELECT count(*) FROM quarter WHERE tableoid = 'quarter_0'::regclass" | q coord)
move_d=$(echo "$mdt" | median); move_p=$(echo "$mpt" | median); move_q=$(echo "$mqt" | median)
block_max=$(echo "$blocks" | tr ' ' '\n' | awk 'NF' | sort -g | tail -1); block_med=$(echo "$blocks" | median)
move_l=$(echo "$mlt" | median); copy_md=$(echo "$mdc" | median); copy_ml=$(echo "$mlc" | median)
lblock_max=$(echo "$lblocks" | tr ' ' '\n' | awk 'NF' | sort -g | tail -1); lblock_med=$(echo "$lblocks" | median)

awk -v td="$tps_d" -v tp="$tps_p" -v qd="$tps_qd" -v qp="$tps_qp" -v gd="$tps_gd" -v gp="$tps_gp" -v id="$ins_d" -v ip="$ins_p" -v cd="$copy_d" -v cl="$copy_l" -v n="$ROWS" -v cn="$COPY_ROWS" -v reps="$REPS" \
    -v md="$move_d" -v mp="$move_p" -v mq="$move_q" -v sr="$shard_rows" -v qr="$quarter_rows" -v bmax="$block_max" -v bmed="$block_med" -v ml="$move_l" -v cmd="$copy_md" -v cml="$copy_ml" -v lbmax="$lblock_max" -v lbmed="$lblock_med" 'BEGIN {
    printf "%-8s | %-44s | %-44s | %-6s | %-7s | %s\n", "scenario", "distributed (4 shards)", "baseline", "ratio", "target", "met?"
    r = td / tp; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.9  | %s\n", "select", sprintf("%.0f tps (prepared)", td), sprintf("%.0f tps (one foreign table)", tp), r, (r >= 0.9 ? "met" : "missed")
    r = qd / qp; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.9  | %s\n", "select", sprintf("%.0f tps (simple protocol)", qd), sprintf("%.0f tps (one foreign table)", qp), r, (r >= 0.9 ? "met" : "missed")
    r = gd / gp; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.9  | %s\n", "select", sprintf("%.0f tps (prepared, generic plans)", gd), sprintf("%.0f tps (one foreign table)", gp), r, (r >= 0.9 ? "met" : "missed")
    r = ip / id; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.8  | %s\n", "insert", sprintf("%d rows in %.2f s (%.0f rows/s)", n, id, n / id), sprintf("%.2f s (%.0f rows/s, one foreign table)", ip, n / ip), r, (r >= 0.8 ? "met" : "missed")
    r = cd / cl; printf "%-8s | %-44s | %-44s | %6.2f | <= 2    | %s\n", "copy", sprintf("%d rows in %.2f s", cn, cd), sprintf("%.2f s (local table on one shard server)", cl), r, (r <= 2 ? "met" : "missed")
    r = mp / md; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.7  | %s\n", "move", sprintf("shard of %d rows in %.2f s (%.0f rows/s)", sr, md, sr / md), sprintf("%.2f s (plain COPY pipe, same servers)", mp), r, (r >= 0.7 ? "met" : "missed")
    r = md / mq; printf "%-8s | %-44s | %-44s | %6.2f | <= 4.5  | %s\n", "move 4x", sprintf("%d rows in %.2f s", sr, md), sprintf("%d rows in %.2f s", qr, mq), r, (r <= 4.5 ? "met" : "missed")
    r = mp / ml; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.7  | %s\n", "logical", sprintf("shard of %d rows in %.2f s (%.0f rows/s)", sr, ml, sr / ml), sprintf("%.2f s (plain COPY pipe, same servers)", mp), r, (r >= 0.7 ? "met" : "missed")
    r = mp / cmd; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.7  | %s\n", "copy bw", sprintf("its copy step: %.2f s (%.0f rows/s)", cmd, sr / cmd), sprintf("%.2f s (plain COPY pipe, same servers)", mp), r, (r >= 0.7 ? "met" : "missed")
    r = mp / cml; printf "%-8s | %-44s | %-44s | %6.2f | >= 0.7  | %s\n", "copy lg", sprintf("its copy step: %.2f s (%.0f rows/s)", cml, sr / cml), sprintf("%.2f s (plain COPY pipe, same servers)", mp), r, (r >= 0.7 ? "met" : "missed")
    printf "writes to a moving shard of %d rows waited %s ms at the most, %s ms typically (median); moved logically, %s ms at the most, %s ms typically\n", sr, bmax, bmed, lbmax, lbmed
    printf "medians of %d rounds; insert and move ratios = baseline time / distributed time\n", reps
}'
exit $sanity
