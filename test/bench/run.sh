#!/usr/bin/env bash
# hashring benchmark suite (issue #3).
#
#   make bench               # as root; or: bash test/bench/run.sh
#   sudo make bench          # as a user with sudo
#
# (`make bench` then runs test/bench/move.sh, the rebalancing benchmark of
# ring_move; HASHRING_BENCH_MOVE=0 skips it.)
#
# Installs missing Debian packages (scripts/deps.sh), builds and installs the
# extension, starts its own throwaway PostgreSQL server (as the `postgres`
# user, in a fresh mktemp directory, unix socket only, non-default port,
# library preloaded), builds the data, runs every scenario several times
# and prints one table:
#
#   scenario | ring | median | baseline | ratio | target | met?
#
# where every baseline was measured in the same run, on the same data, with
# the runs of candidate and baseline interleaved.  Targets are reported, never
# asserted: the exit status is 0 whether they are met or not (it is non-zero
# only when the benchmark itself could not run or a sanity check failed).
#
# Timing methods (all medians of $REPS runs after one warm-up run):
#   scans       EXPLAIN (ANALYZE, TIMING OFF) "Execution Time" (server-side,
#               excludes planning and client round trips), SET jit = off,
#               max_parallel_workers_per_gather = 0
#   first call  clock_timestamp() around the first call, inside a DO block of
#               a brand-new connection (as scripts/measure.sh)
#   pgbench     -c 2 -j 2 -M prepared -T $PGB_SECONDS, tps without initial
#               connection time, candidate and baseline alternated
#   memory      pg_backend_memory_contexts (sum of total_bytes) and
#               /proc/self/status of the backend, read inside the backend
#
# Knobs (environment; the defaults are the documented configuration):
#   HASHRING_BENCH_KEYS=2000000  HASHRING_BENCH_SUBSET=20000  HASHRING_BENCH_REPS=5
#   HASHRING_BENCH_PGBENCH_SECONDS=10  HASHRING_BENCH_PGBENCH_REPS=5
#   HASHRING_BENCH_MEM_CALLS=10000000  HASHRING_BENCH_PORT=54391
#   HASHRING_BENCH_OUT=<dir for results; default a new /tmp/hashring-bench-out.*>
#   HASHRING_BENCH_SKIP_BUILD=1  (do not run deps.sh / make / make install)
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and the extension, and runs the server as postgres)" >&2; exit 1; }

NKEYS=${HASHRING_BENCH_KEYS:-2000000}
SUBSET=${HASHRING_BENCH_SUBSET:-20000}
REPS=${HASHRING_BENCH_REPS:-5}
PGB_SECONDS=${HASHRING_BENCH_PGBENCH_SECONDS:-10}
PGB_REPS=${HASHRING_BENCH_PGBENCH_REPS:-5}
MEM_CALLS=${HASHRING_BENCH_MEM_CALLS:-10000000}
port=${HASHRING_BENCH_PORT:-54391}
[ "$SUBSET" -le "$NKEYS" ] || SUBSET=$NKEYS

# Rings: name, nodes, points per node.  The modulo baseline uses N = nodes.
RINGS=(r10 r1k r10k)
declare -A NODES=([r10]=10 [r1k]=1000 [r10k]=10000)
declare -A VNODES=([r10]=160 [r1k]=160 [r10k]=256)
commas() { printf '%s' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|[^0-9]\)/\1,\2\3/' -e 'ta'; }
ringdesc() { printf '%s × %s' "$(commas "${NODES[$1]}")" "${VNODES[$1]}"; }

t_start=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - t_start )) "$*" >&2; }

if [ -z "${HASHRING_BENCH_SKIP_BUILD:-}" ]; then
    log "dependencies, build and install"
    bash "$here/scripts/deps.sh"
fi
bin=/usr/lib/postgresql/$(bash "$here/scripts/pgmajor.sh")/bin
if [ -z "${HASHRING_BENCH_SKIP_BUILD:-}" ]; then
    make -C "$here" PG_CONFIG="$bin/pg_config" >/dev/null
    make -C "$here" PG_CONFIG="$bin/pg_config" install >/dev/null
fi

dir=$(mktemp -d /tmp/hashring-bench.XXXXXX)
out=${HASHRING_BENCH_OUT:-$(mktemp -d /tmp/hashring-bench-out.XXXXXX)}
mkdir -p "$out"
# The server user reads its SQL from here, not from the clone (which may be
# under /root, mode 700): copied now, not found missing after minutes of work.
cp "$here/test/bench/algorithms.sql" "$dir/algorithms.sql"
chown postgres "$dir" "$dir/algorithms.sql"
chmod 700 "$dir"
cd "$dir"

as_pg() { runuser -u postgres -- env HOME="$dir" "$@"; }
pg_ctl_() { as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" "$@"; }
cleanup() {
    local rc=$?
    pg_ctl_ -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# SQL on stdin, in a new connection; tuples only, unaligned.
q() { as_pg "$bin/psql" -X -q -At -h "$dir" -p "$port" -d bench -v ON_ERROR_STOP=1 -f - ; }
start_server() {   # $1: "preload" or "nopreload"
    local opts=""
    [ "$1" = preload ] && opts="-c shared_preload_libraries=hashring"
    if [ -f "$dir/data/postmaster.pid" ]; then pg_ctl_ -m fast stop >/dev/null; fi
    if ! pg_ctl_ -w -t 120 -o "$opts" start >/dev/null; then
        echo "the benchmark server did not start; end of its log:" >&2
        tail -n 20 "$dir/server.log" >&2
        return 1
    fi
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2 }'; }
calc() { awk "BEGIN { printf \"%s\", $* }"; }   # calc 'sprintf("%.2f", 1/3)'

# samples[label] = space-separated values
declare -A samples
add_sample() { samples[$1]="${samples[$1]:-} $2"; printf '%s\t%s\n' "$1" "$2" >>"$out/samples.tsv"; }
med() { printf '%s' "${samples[$1]:-}" | median; }
# paired A B: the ratio A/B of each interleaved round, then their median
paired() {
    local -a a=(${samples[$1]:-}) b=(${samples[$2]:-})
    local i list=""
    for ((i = 0; i < ${#a[@]} && i < ${#b[@]}; i++)); do list+=" $(calc "${a[$i]} / ${b[$i]}")"; done
    printf '%s' "$list" | median
}

# Result rows (tab-separated) for the final table.
: >"$out/results.tsv"
: >"$out/samples.tsv"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$out/results.tsv"; }
# judge VALUE OP LIMIT -> met / missed
judge() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == "<=") ? (v <= l) : (v >= l); print (v == "nan" ? "n/a" : ok ? "met" : "missed") }'; }
ms() { calc "sprintf(\"%.1f ms\", $1)"; }
ms3() { calc "sprintf(\"%.2f ms\", $1)"; }
ratio() { calc "sprintf(\"%.2f×\", ($1) / ($2))"; }
sanity_failed=0

# ---------------------------------------------------------------------------
# Server and data
# ---------------------------------------------------------------------------
log "initdb in $dir (port $port, unix socket only)"
as_pg "$bin/initdb" -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >>"$dir/data/postgresql.conf" <<CONF
# hashring benchmark (test/bench/run.sh)
listen_addresses = ''
port = $port
unix_socket_directories = '$dir'
shared_buffers = '512MB'
hashring.shared_memory = '512MB'
jit = off
max_parallel_workers_per_gather = 0
work_mem = '64MB'
maintenance_work_mem = '512MB'
# throwaway server: durability off to load faster (reads are unaffected)
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
max_wal_size = '4GB'
autovacuum = off
CONF
start_server preload
as_pg "$bin/createdb" -h "$dir" -p "$port" bench

step=$(( NKEYS / SUBSET ))
log "loading $NKEYS keys and a $SUBSET-key subset"
q >/dev/null <<SQL
CREATE EXTENSION hashring;
CREATE TABLE keys (k text NOT NULL);
INSERT INTO keys SELECT 'user:' || i FROM generate_series(1, $NKEYS) i;
CREATE TABLE keys_sub (k text NOT NULL);
INSERT INTO keys_sub SELECT 'user:' || (i * $step) FROM generate_series(1, $SUBSET) i;
SQL

for r in "${RINGS[@]}"; do
    n=${NODES[$r]} v=${VNODES[$r]}
    log "ring $r: $n nodes × $v points, and its hand-written SQL twin"
    q >/dev/null <<SQL
SELECT hashring.ring_create('$r', vnodes => $v);
SELECT hashring.ring_add_node('$r', 'node-' || i) FROM generate_series(1, $n) i;
SET work_mem = '512MB';
-- The hand-written alternative: points in an indexed table, hashtextextended
-- positions (there is no XXH3 in SQL), same node names and point counts.
CREATE TABLE sqlring_$r AS
    SELECT DISTINCT ON (pos) pos, node
    FROM (SELECT hashtextextended(node || '#' || j, 0) AS pos, node
          FROM (SELECT 'node-' || i AS node FROM generate_series(1, $n) i) nn,
               generate_series(0, $v - 1) j) p
    ORDER BY pos, node;
ALTER TABLE sqlring_$r ADD PRIMARY KEY (pos);
CREATE FUNCTION sqlring_node_$r(key text) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS \$\$
    SELECT COALESCE(
        (SELECT node FROM sqlring_$r WHERE pos >= hashtextextended(key, 0) ORDER BY pos LIMIT 1),
        (SELECT node FROM sqlring_$r ORDER BY pos LIMIT 1))
\$\$;
SQL
done
log "vacuum, analyze, checkpoint"
q >/dev/null <<SQL
VACUUM (FREEZE, ANALYZE);
CHECKPOINT;
SQL

# Machine description
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
pgver=$(echo "SELECT version()" | q)
rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$here" status --porcelain -- src sql 2>/dev/null | wc -l)
[ "$dirty" -gt 0 ] && rev="$rev + uncommitted changes in src/ or sql/"
{
    echo "machine:    $(nproc) CPUs ($cpu), $mem RAM, $(uname -sr)"
    echo "caches:     $(lscpu 2>/dev/null | awk -F': *' '/^L[23] cache/ { printf "%s%s %s", sep, $1, $2; sep = ", " }'); huge pages: $(awk '/^HugePages_Total/ {print $2}' /proc/meminfo) reserved, shmem THP $(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/shmem_enabled 2>/dev/null || echo unknown)"
    echo "postgresql: $pgver"
    echo "hashring:   $rev"
    echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg) (at start of measurements)"
    echo "settings:   shared_buffers 512MB, hashring.shared_memory 512MB, jit off, max_parallel_workers_per_gather 0"
    echo "data:       $NKEYS keys 'user:<n>'; hand-written SQL ring on a $SUBSET-key subset; $REPS runs per scan, pgbench ${PGB_REPS}×${PGB_SECONDS}s each"
} >"$out/machine.txt"
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
    echo "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs before the measurements: other work is running, expect noisy figures" | tee -a "$out/machine.txt" >&2
fi

# ---------------------------------------------------------------------------
# Timed SQL: input lines "@@ label" mark the next statement's label; prints
# "time label ms" for every EXPLAIN ANALYZE and "value label v" for every
# other single-value statement.
# ---------------------------------------------------------------------------
timed() {
    q | awk '
        /^@@ / { label = $2; next }
        /^Execution Time:/ { print "time", label, $3; next }
        /^[^ ].*\(cost=/ || /^ / || /^Planning Time:/ { next }
        NF && label != "" && label != "_" { print "value", label, $0 }'
}
# emit SQL for REPS interleaved timed runs of the labelled queries, rotating
# the order each round; queries in the associative array QRY, each run after
# the SET statements in SETS (default: routing statistics and key tracking off)
declare -A QRY SETS
NOTRACK="SET hashring.track_routing = off; SET hashring.track_keys = off; SET hashring.track_keys_sample_rate = 1;"
emit_runs() {   # labels...
    local labels=("$@") nl=$# i j
    echo "SET jit = off; SET max_parallel_workers_per_gather = 0;"
    for l in "${labels[@]}"; do      # warm-up, and the result for the sanity checks
        echo "\\echo @@ _"
        echo "${SETS[$l]:-$NOTRACK}"
        echo "\\echo @@ count_$l"
        echo "SELECT count(*) FROM ${QRY[$l]};"
    done
    for ((i = 0; i < REPS; i++)); do
        for ((j = 0; j < nl; j++)); do
            l=${labels[$(( (i + j) % nl ))]}
            echo "\\echo @@ _"
            echo "${SETS[$l]:-$NOTRACK}"
            echo "\\echo @@ $l"
            echo "EXPLAIN (ANALYZE, TIMING OFF) SELECT count(*) FROM ${QRY[$l]};"
        done
    done
}
declare -A VAL
run_block() {   # labels...
    local kind label v
    while read -r kind label v; do
        if [ "$kind" = time ]; then add_sample "$label" "$v"; else VAL[$label]=$v; fi
    done < <(emit_runs "$@" | timed)
}

# ---------------------------------------------------------------------------
# Scenarios 1-3: full scans of the 2M keys
# ---------------------------------------------------------------------------
for r in "${RINGS[@]}"; do
    n=${NODES[$r]}
    log "scans on $NKEYS keys, ring $r"
    QRY[base_$r]="keys WHERE abs(hashtextextended(k, 0) % $n) = 7"
    QRY[node_$r]="keys WHERE hashring.ring_node('$r', k) = 'node-7'"
    QRY[nodes_$r]="keys WHERE (hashring.ring_nodes('$r', k, 3))[1] = 'node-7'"
    labels=(base_$r node_$r nodes_$r)
    if [ "$r" = "${RINGS[0]}" ]; then
        QRY[floor]="keys WHERE k IS NOT NULL"
        labels+=(floor)
    fi
    run_block "${labels[@]}"
    if [ "${VAL[count_node_$r]}" != "${VAL[count_nodes_$r]}" ]; then
        echo "SANITY CHECK FAILED: ring $r: ring_node selects ${VAL[count_node_$r]} rows, ring_nodes[1] ${VAL[count_nodes_$r]}" >&2
        sanity_failed=1
    fi
done

# ---------------------------------------------------------------------------
# Scenario 4: the hand-written SQL ring, on the subset
# ---------------------------------------------------------------------------
for r in "${RINGS[@]}"; do
    log "hand-written SQL ring vs ring_node on the $SUBSET-key subset, ring $r"
    QRY[subnode_$r]="keys_sub WHERE hashring.ring_node('$r', k) = 'node-7'"
    QRY[subsql_$r]="keys_sub WHERE sqlring_node_$r(k) = 'node-7'"
    # the same body written into the query by hand (a SQL function whose body
    # has sub-selects is not inlined by the planner): for information
    QRY[subinl_$r]="keys_sub WHERE COALESCE((SELECT node FROM sqlring_$r WHERE pos >= hashtextextended(k, 0) ORDER BY pos LIMIT 1), (SELECT node FROM sqlring_$r ORDER BY pos LIMIT 1)) = 'node-7'"
    run_block subnode_$r subsql_$r subinl_$r
done
# the SQL function must really be the ring lookup it claims to be: compare it
# with a brute-force evaluation of the same definition on a few keys
bad=$(q <<'SQL'
SELECT count(*) FROM (SELECT k FROM keys_sub LIMIT 200) s
WHERE sqlring_node_r1k(k) IS DISTINCT FROM
      (SELECT node FROM sqlring_r1k
       ORDER BY (pos >= hashtextextended(k, 0)) DESC, pos LIMIT 1);
SQL
)
if [ "$bad" != 0 ]; then echo "SANITY CHECK FAILED: hand-written SQL ring disagrees with brute force on $bad keys" >&2; sanity_failed=1; fi

# ---------------------------------------------------------------------------
# Scenario 5: rebuild after a membership change, first call in a new connection
# ---------------------------------------------------------------------------
first_call() {   # SQL expression to time; prints ms
    q <<SQL 2>&1 | sed -n 's/.*NOTICE: *@@ *//p'
DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
    PERFORM $1;
    RAISE NOTICE '@@ %', round(extract(epoch FROM clock_timestamp() - t0)::numeric * 1000, 3);
END \$\$;
SQL
}
for r in "${RINGS[@]}"; do
    log "rebuild and first call (preloaded), ring $r"
    for ((i = 0; i < REPS; i++)); do
        echo "SELECT hashring.ring_set_state('$r', 'node-1', 'down')" | q >/dev/null
        first_call "hashring.ring_node('$r', 'k')" >/dev/null          # build the 'down' version
        echo "SELECT hashring.ring_set_state('$r', 'node-1', 'active')" | q >/dev/null
        add_sample rebuild_$r "$(first_call "hashring.ring_node('$r', 'k')")"   # build + publish
        add_sample firstpre_$r "$(first_call "hashring.ring_node('$r', 'k')")"  # pins the shared image
        add_sample floorpre_$r "$(first_call "hashtextextended('k', 0)")"
    done
    info=$(q <<SQL
SELECT hashring.ring_node('$r', 'k') \\g /dev/null
SELECT location || ' ' || bytes || ' ' || points || ' ' || local_builds FROM hashring.ring_cache_info() WHERE ring = '$r';
SQL
)
    read -r loc bytes pts lb <<<"$info"
    VAL[loc_$r]=$loc VAL[bytes_$r]=$bytes VAL[points_$r]=$pts
    if [ "$loc" != shared ] || [ "$lb" != 0 ]; then
        echo "SANITY CHECK FAILED: ring $r is $loc with $lb local builds in a new connection (expected shared, 0)" >&2
        sanity_failed=1
    fi
done

# ---------------------------------------------------------------------------
# Scenario 6: pgbench, 2 clients, prepared, single-key routing
# ---------------------------------------------------------------------------
PGB_RINGS=(r1k r10k)
printf '\\set id random(1, %d)\nSELECT hashtextextended('"'"'user:'"'"' || :id, 0);\n' "$NKEYS" >"$dir/pgb_base.sql"
for r in "${PGB_RINGS[@]}"; do
    printf '\\set id random(1, %d)\nSELECT hashring.ring_node('"'"'%s'"'"', '"'"'user:'"'"' || :id);\n' "$NKEYS" "$r" >"$dir/pgb_$r.sql"
done
chown postgres "$dir"/pgb_*.sql
pgb() {   # script seconds [PGOPTIONS] -> tps
    as_pg env PGOPTIONS="${3:-}" "$bin/pgbench" -n -h "$dir" -p "$port" -c 2 -j 2 -M prepared -T "$2" -f "$dir/$1" bench 2>&1 |
        awk '/^tps = / { print $3; found = 1 } END { if (!found) exit 1 }'
}
for r in "${PGB_RINGS[@]}"; do
    log "pgbench -c 2 -M prepared, ${PGB_REPS}×${PGB_SECONDS}s each, ring $r"
    pgb pgb_base.sql 2 >/dev/null; pgb "pgb_$r.sql" 2 >/dev/null    # warm-up
    for ((i = 0; i < PGB_REPS; i++)); do
        if (( i % 2 == 0 )); then
            add_sample pgbbase_$r "$(pgb pgb_base.sql "$PGB_SECONDS")"
            add_sample pgbring_$r "$(pgb "pgb_$r.sql" "$PGB_SECONDS")"
        else
            add_sample pgbring_$r "$(pgb "pgb_$r.sql" "$PGB_SECONDS")"
            add_sample pgbbase_$r "$(pgb pgb_base.sql "$PGB_SECONDS")"
        fi
    done
done

# ---------------------------------------------------------------------------
# Scenario 9: routing statistics (hashring.track_routing) and the hottest
# keys (hashring.track_keys, with track_routing) on against both off: the
# 2M-key scan and pgbench, interleaved; every counted lookup must be there.
# The keys are uniform, the summary's worst case (most lookups replace a
# counter).
# ---------------------------------------------------------------------------
STATR=r10
echo "SELECT hashring.ring_stats_reset(); SELECT hashring.ring_hot_keys_reset()" | q >/dev/null
log "routing statistics and key tracking on vs off: scans on $NKEYS keys and pgbench, ring $STATR"
QRY[statoff]="keys WHERE hashring.ring_node('$STATR', k) = 'node-7'"
QRY[staton]=${QRY[statoff]}
QRY[statkeys]=${QRY[statoff]}
QRY[statkeys1]=${QRY[statoff]}
SETS[staton]="SET hashring.track_routing = on; SET hashring.track_keys = off;"
SETS[statkeys]="SET hashring.track_routing = on; SET hashring.track_keys = on; SET hashring.track_keys_sample_rate = 1;"
SETS[statkeys1]="SET hashring.track_routing = on; SET hashring.track_keys = on; SET hashring.track_keys_sample_rate = 0.01;"
run_block statoff staton statkeys statkeys1
counted=$(echo "SELECT COALESCE(sum(lookups), 0) FROM hashring.routing_stats WHERE ring = '$STATR'" | q)
if [ "$counted" != $(( 3 * (REPS + 1) * NKEYS )) ]; then
    echo "SANITY CHECK FAILED: routing_stats counted $counted lookups of ring $STATR, expected $(( 3 * (REPS + 1) * NKEYS ))" >&2
    sanity_failed=1
fi
hot=$(echo "SELECT count(*) FROM hashring.ring_hot_keys('$STATR', 10) WHERE lookups > 0" | q)
if [ "$hot" != 10 ]; then
    echo "SANITY CHECK FAILED: ring_hot_keys('$STATR', 10) gave $hot keys after $(( 2 * (REPS + 1) * NKEYS )) tracked lookups" >&2
    sanity_failed=1
fi
printf '\\set id random(1, %d)\nSELECT hashring.ring_node('"'"'%s'"'"', '"'"'user:'"'"' || :id);\n' "$NKEYS" "$STATR" >"$dir/pgb_stat.sql"
chown postgres "$dir/pgb_stat.sql"
declare -A PGBOPT=([pgbstatoff]="" [pgbstaton]="-c hashring.track_routing=on"
                   [pgbstatkeys]="-c hashring.track_routing=on -c hashring.track_keys=on")
pgbseries=(pgbstatoff pgbstaton pgbstatkeys)
for ((i = 0; i < PGB_REPS; i++)); do
    for ((j = 0; j < 3; j++)); do    # the order rotates each round
        l=${pgbseries[$(( (i + j) % 3 ))]}
        add_sample "$l" "$(pgb pgb_stat.sql "$PGB_SECONDS" "${PGBOPT[$l]}")"
    done
done

# ---------------------------------------------------------------------------
# Scenario 10: unpinned keys on a ring with 10,000 pins against the same ring
# without pins (the 2M-key scan); both must route every key the same
# ---------------------------------------------------------------------------
log "10,000 pins vs none: scans on $NKEYS keys, ring ${STATR}p"
q >/dev/null <<SQL
SELECT hashring.ring_create('${STATR}p', vnodes => ${VNODES[$STATR]});
SELECT hashring.ring_add_node('${STATR}p', 'node-' || i) FROM generate_series(1, ${NODES[$STATR]}) i;
INSERT INTO hashring.pins SELECT '${STATR}p', 'tenant:' || i, 'node-' || (1 + i % ${NODES[$STATR]}) FROM generate_series(1, 10000) i;
SQL
QRY[pinsnone]="keys WHERE hashring.ring_node('$STATR', k) = 'node-7'"
QRY[pins10k]="keys WHERE hashring.ring_node('${STATR}p', k) = 'node-7'"
run_block pinsnone pins10k
if [ "${VAL[count_pinsnone]}" != "${VAL[count_pins10k]}" ]; then
    echo "SANITY CHECK FAILED: ring ${STATR}p with 10,000 pins selects ${VAL[count_pins10k]} rows, $STATR ${VAL[count_pinsnone]}" >&2
    sanity_failed=1
fi

# ---------------------------------------------------------------------------
# Scenario 7: backend memory after 1,000 and after MEM_CALLS calls, one session
# ---------------------------------------------------------------------------
MEMR=r10k
log "backend memory: ring_node and ring_nodes, 1,000 then $MEM_CALLS calls each, ring $MEMR"
memsnap() {   # label
    cat <<SQL
\\echo @@ mem_$1
SELECT (SELECT sum(total_bytes) FROM pg_backend_memory_contexts) || ' ' ||
       (regexp_match(pg_read_file('/proc/self/status'), 'RssAnon:\\s+(\\d+)'))[1] || ' ' ||
       (regexp_match(pg_read_file('/proc/self/status'), 'VmRSS:\\s+(\\d+)'))[1];
SQL
}
calls() {   # function-call-expression count
    echo "\\echo @@ _"
    echo "SELECT count($1) FROM (SELECT generate_series(1, $2) AS i) s;"
}
{
    calls "hashring.ring_node('$MEMR', 'k' || i)" 1000
    memsnap node_1k
    calls "hashring.ring_node('$MEMR', 'k' || i)" "$MEM_CALLS"
    memsnap node_big
    calls "hashring.ring_nodes('$MEMR', 'k' || i, 3)" 1000
    memsnap nodes_1k
    calls "hashring.ring_nodes('$MEMR', 'k' || i, 3)" "$MEM_CALLS"
    memsnap nodes_big
} | timed >"$dir/mem.txt"
while read -r _ label ctx anon rss; do
    VAL[$label]="$ctx $anon $rss"
done < <(grep '^value mem_' "$dir/mem.txt")

# ---------------------------------------------------------------------------
# Scenario 5, continued: first call without preloading (server restarted)
# ---------------------------------------------------------------------------
log "restart without shared_preload_libraries: first call with a local build"
start_server nopreload
for r in "${RINGS[@]}"; do
    for ((i = 0; i < REPS; i++)); do
        add_sample firstlocal_$r "$(first_call "hashring.ring_node('$r', 'k')")"
        add_sample floorlocal_$r "$(first_call "hashtextextended('k', 0)")"
    done
done
echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg) (at end of measurements)" >>"$out/machine.txt"

# ---------------------------------------------------------------------------
# Scenario 8 (issue #4): the algorithms side by side -- balance, movement
# when a node joins and leaves, lookup cost as a ratio to vnode (same run)
# ---------------------------------------------------------------------------
log "algorithms: balance, movement, lookup cost (test/bench/algorithms.sql)"
start_server preload
as_pg "$bin/psql" -X -q -h "$dir" -p "$port" -d bench -v ON_ERROR_STOP=1 \
    -f "$dir/algorithms.sql" >"$out/algorithms.txt"

# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
scale=$(calc "$NKEYS / $SUBSET")
for r in "${RINGS[@]}"; do
    b=$(med base_$r)
    row "1 modulo baseline: abs(hashtextextended(k, 0) % N) = 7" "N = ${NODES[$r]}" "$(ms "$b")" "—" "—" "—" ""
done
f=$(med floor)
row "0 (reference) plain scan: count(*) WHERE k IS NOT NULL" "—" "$(ms "$f")" "—" "—" "—" ""
for r in "${RINGS[@]}"; do
    b=$(med base_$r) m=$(med node_$r)
    case $r in r1k) t="≤ 1.5×"; lim=1.5 ;; r10k) t="≤ 2.0×"; lim=2.0 ;; *) t="—"; lim="" ;; esac
    met=""; [ -n "$lim" ] && met=$(judge "$(calc "$m / $b")" "<=" "$lim")
    row "2 ring_node(r, k) = 'node-7' (vs modulo)" "$(ringdesc $r)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "$t" "$met"
done
for r in "${RINGS[@]}"; do
    b=$(med node_$r) m=$(med nodes_$r)
    row "3 (ring_nodes(r, k, 3))[1] = 'node-7' (vs ring_node)" "$(ringdesc $r)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "≤ 1.3×" "$(judge "$(calc "$m / $b")" "<=" 1.3)"
done
for r in "${RINGS[@]}"; do
    b=$(calc "$(med subnode_$r) * $scale") m=$(calc "$(med subsql_$r) * $scale")
    t="—" met=""
    if [ $r = r1k ]; then t="≥ 30×"; met=$(judge "$(calc "$m / $b")" ">=" 30); fi
    row "4 hand-written SQL ring function (vs ring_node; $(commas $SUBSET)-key subset, time ×$scale)" "$(ringdesc $r)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "$t" "$met"
done
for r in "${RINGS[@]}"; do
    b=$(calc "$(med subnode_$r) * $scale") m=$(calc "$(med subinl_$r) * $scale")
    row "4 (info) the same lookup inlined into the query by hand (vs ring_node)" "$(ringdesc $r)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "—" ""
done
for r in "${RINGS[@]}"; do
    m=$(med rebuild_$r) t="—" met=""
    if [ $r = r10k ]; then t="≤ 500 ms"; met=$(judge "$m" "<=" 500); fi
    row "5 rebuild + publish after a membership change (new conn.)" "$(ringdesc $r)" "$(ms3 "$m")" "—" "—" "$t" "$met"
done
for r in "${RINGS[@]}"; do
    m=$(med firstpre_$r) b=$(med floorpre_$r) t="—" met=""
    if [ $r = r10k ]; then t="≤ 5 ms"; met=$(judge "$m" "<=" 5); fi
    row "5 first call, new connection, preloaded (vs first hashtextextended)" "$(ringdesc $r)" "$(ms3 "$m")" "$(ms3 "$b")" "$(ratio "$m" "$b")" "$t" "$met"
done
for r in "${RINGS[@]}"; do
    m=$(med firstlocal_$r) b=$(med floorlocal_$r)
    row "5 first call, new connection, not preloaded (vs first hashtextextended)" "$(ringdesc $r)" "$(ms3 "$m")" "$(ms3 "$b")" "$(ratio "$m" "$b")" "—" ""
done
for r in "${PGB_RINGS[@]}"; do
    m=$(med pgbring_$r) b=$(med pgbbase_$r)
    row "6 pgbench -c 2 -M prepared: ring_node (vs hashtextextended), tps" "$(ringdesc $r)" "$(calc "sprintf(\"%.0f tps\", $m)")" "$(calc "sprintf(\"%.0f tps\", $b)")" "$(ratio "$m" "$b")" "≥ 0.9×" "$(judge "$(calc "$m / $b")" ">=" 0.9)"
done
m=$(med staton) b=$(med statoff)
row "9 ring_node scan with hashring.track_routing on (vs off)" "$(ringdesc $STATR)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "≤ 1.05×" "$(judge "$(calc "$m / $b")" "<=" 1.05)"
m=$(med pgbstaton) b=$(med pgbstatoff)
row "9 pgbench -c 2 -M prepared: ring_node with track_routing on (vs off), tps" "$(ringdesc $STATR)" "$(calc "sprintf(\"%.0f tps\", $m)")" "$(calc "sprintf(\"%.0f tps\", $b)")" "$(ratio "$m" "$b")" "≥ 0.95× (cost ≤ 1.05×)" "$(judge "$(calc "$m / $b")" ">=" 0.952)"
m=$(med statkeys) b=$(med statoff)
row "9b ring_node scan with track_routing and track_keys on (vs both off)" "$(ringdesc $STATR)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "≤ 1.05×" "$(judge "$(calc "$m / $b")" "<=" 1.05)"
m=$(med statkeys1) b=$(med statoff)
row "9b the same, track_keys_sample_rate = 0.01 (vs both off)" "$(ringdesc $STATR)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "—" ""
m=$(med pgbstatkeys) b=$(med pgbstatoff)
row "9b pgbench -c 2 -M prepared: track_routing and track_keys on (vs both off), tps" "$(ringdesc $STATR)" "$(calc "sprintf(\"%.0f tps\", $m)")" "$(calc "sprintf(\"%.0f tps\", $b)")" "$(ratio "$m" "$b")" "≥ 0.95× (cost ≤ 1.05×)" "$(judge "$(calc "$m / $b")" ">=" 0.952)"
m=$(med pins10k) b=$(med pinsnone)
row "10 ring_node scan of unpinned keys, 10,000 pins (vs no pins)" "$(ringdesc $STATR)" "$(ms "$m")" "$(ms "$b")" "$(ratio "$m" "$b")" "≤ 1.1×" "$(judge "$(calc "$m / $b")" "<=" 1.1)"
for r in "${RINGS[@]}"; do
    bpp=$(calc "${VAL[bytes_$r]} / ${VAL[points_$r]}")
    row "7 shared image bytes per point (${VAL[loc_$r]}: ${VAL[bytes_$r]} B / ${VAL[points_$r]} points)" "$(ringdesc $r)" "$(calc "sprintf(\"%.2f B\", $bpp)")" "—" "—" "≤ 16 B" "$(judge "$bpp" "<=" 16)"
done
calls_diff=$(( MEM_CALLS - 1000 ))
for f in node nodes; do
    read -r c1 a1 v1 <<<"${VAL[mem_${f}_1k]}"
    read -r c2 a2 v2 <<<"${VAL[mem_${f}_big]}"
    fn="ring_node(r, k)"; [ $f = nodes ] && fn="ring_nodes(r, k, 3)"
    # "no growth": less than 0.1 byte per call, i.e. < 1 MB over 10M calls
    # (a leak of one palloc chunk per call would be >= 160 MB; RssAnon moves
    # by some kB when a bigger query raises malloc's high-water mark)
    row "7 backend memory contexts, $fn: after $(commas "$MEM_CALLS") calls (vs after 1,000)" "$(ringdesc $MEMR)" "$c2 B" "$c1 B" "$(calc "sprintf(\"%+d B\", $c2 - $c1)")" "no growth" "$(judge "$(calc "($c2 - $c1) / $calls_diff")" "<=" 0.1)"
    row "7 backend RssAnon, $fn: after $(commas "$MEM_CALLS") calls (vs after 1,000)" "$(ringdesc $MEMR)" "$a2 kB" "$a1 kB" "$(calc "sprintf(\"%+d kB\", $a2 - $a1)")" "no growth" "$(judge "$(calc "($a2 - $a1) * 1024 / $calls_diff")" "<=" 0.1)"
    row "7 (info) backend VmRSS incl. shared pages touched, $fn" "$(ringdesc $MEMR)" "$v2 kB" "$v1 kB" "$(calc "sprintf(\"%+d kB\", $v2 - $v1)")" "—" ""
done

# Print: machine, table (Markdown, padded), per-row costs, raw samples.
fmt_table() {   # TSV -> padded Markdown table (perl: widths in characters, not bytes)
    { printf 'scenario\tring\tmedian\tbaseline\tratio\ttarget\tmet?\n'; cat "$1"; } |
    perl -CSD -e '
        my @rows = map { chomp; [split /\t/, $_, -1] } <STDIN>;
        my @w;
        for my $r (@rows) { for my $i (0 .. $#$r) { my $l = length $r->[$i]; $w[$i] = $l if !defined $w[$i] || $l > $w[$i] } }
        for my $n (0 .. $#rows) {
            print "|", (map { " " . $rows[$n][$_] . (" " x ($w[$_] - length $rows[$n][$_])) . " |" } 0 .. $#w), "\n";
            print "|", (map { "-" x ($w[$_] + 2) . "|" } 0 .. $#w), "\n" if $n == 0;
        }'
}
total=$(( $(date +%s) - t_start ))
{
    echo
    echo "== hashring benchmark ($(date -u '+%Y-%m-%d %H:%M UTC'), $total s) =="
    cat "$out/machine.txt"
    echo "timing: scans = EXPLAIN (ANALYZE, TIMING OFF) execution time, median of $REPS interleaved runs after a warm-up;"
    echo "        first calls = clock_timestamp() inside a DO block of a new connection; ratio = median / baseline"
    echo
    fmt_table "$out/results.tsv"
    echo
    echo "per-row cost over the plain scan (ns/row, from the medians above):"
    for r in "${RINGS[@]}"; do
        calc "sprintf(\"  %-5s modulo %6.1f   ring_node %6.1f   ring_nodes(k,3) %6.1f   SQL function %8.1f   inlined SQL %8.1f\n\", \"$r\", \
            ($(med base_$r) - $(med floor)) * 1e6 / $NKEYS, ($(med node_$r) - $(med floor)) * 1e6 / $NKEYS, \
            ($(med nodes_$r) - $(med floor)) * 1e6 / $NKEYS, $(med subsql_$r) * 1e6 / $SUBSET, $(med subinl_$r) * 1e6 / $SUBSET)"
    done
    echo "the same ratios computed round by round (median of the ratio of each interleaved pair; less sensitive to load drift):"
    for r in "${RINGS[@]}"; do
        calc "sprintf(\"  %-5s ring_node/modulo %.2f   ring_nodes/ring_node %.2f   SQL function/ring_node %.1f   inlined SQL/ring_node %.1f   first call preloaded/floor %.2f\n\", \"$r\", \
            $(paired node_$r base_$r), $(paired nodes_$r node_$r), $(paired subsql_$r subnode_$r), $(paired subinl_$r subnode_$r), $(paired firstpre_$r floorpre_$r))"
    done
    for r in "${PGB_RINGS[@]}"; do
        calc "sprintf(\"  %-5s pgbench ring_node/hashtextextended tps %.2f\n\", \"$r\", $(paired pgbring_$r pgbbase_$r))"
    done
    echo
    echo "algorithms (100 nodes of weight 1, 200,000 keys; see docs/choosing-an-algorithm.md):"
    cat "$out/algorithms.txt"
    echo "sanity: ring_node and (ring_nodes)[1] select the same rows on every ring: $([ $sanity_failed = 0 ] && echo yes || echo NO)"
    echo "raw samples: $out/samples.tsv   table: $out/results.tsv"
} | tee "$out/report.txt"
if [ $sanity_failed != 0 ]; then
    echo "a sanity check failed (see above): the figures are not comparable" >&2
    exit 1
fi
