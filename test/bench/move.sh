#!/usr/bin/env bash
# hashring rebalancing benchmark (issue 9, section 4): hashring.ring_move
# against a plain postgres_fdw copy of the same rows between the same servers.
#
#   make bench                   # as root: run.sh, then this script
#   bash test/bench/move.sh      # this script alone
#
# Starts its own five throwaway PostgreSQL servers (as the `postgres` user, in
# a fresh mktemp directory, unix sockets only, non-default ports): a
# coordinator (hashring preloaded, postgres_fdw) and four shards, each shard a
# foreign server of the coordinator with batch_size '1000' and fetch_size
# '10000'.  For every table size:
#
#   load     items (k text PRIMARY KEY, v integer NOT NULL, pad text), rows of
#            about 100 bytes, onto shards 1-3 through the router's foreign
#            tables (hashring._shard_table), each row on ring_node's shard
#   rounds   ring_add_node(shard4), then, interleaved round by round:
#              baseline   INSERT INTO <scratch table of the same shape on
#                         shard4, through a foreign table> SELECT * FROM
#                         <the three source foreign tables> WHERE ring_node(k)
#                         = 'shard4' -- exactly the rows ring_move then moves
#                         (checked); it copies and does NOT delete
#              ring_move  CALL hashring.ring_move(ring, 'public.items', 'k',
#                         batch_size, from_version => the version before the
#                         add) -- copies, upserts and deletes on the sources
#            then ring_remove_node(shard4) and a ring_move back (reported for
#            information) to restore the placement for the next round.
#            Before every timed step: VACUUM (ANALYZE) and CHECKPOINT on the
#            shards, so each starts from the same state.
#
# and prints one table:
#
#   scenario | rows | moved | ring_move s | ring_move rows/s | baseline s |
#   baseline rows/s | ratio | target | met?
#
# Targets (reported, never asserted; the exit status is non-zero only when
# the benchmark itself could not run or a sanity check failed):
#   ring_move rows/s >= 30% of the baseline's rows/s (batch_size 5000)
#   4x the rows costs <= 4.5x the ring_move time (consecutive sizes; for
#   sizes not 4x apart the limit is scaled: 1.125 x the size ratio)
#
# Timing: wall clock around one psql invocation per statement (a new
# connection each; the few milliseconds of connection set-up are in both the
# candidate and the baseline).  Medians over the rounds.
#
# Knobs (environment):
#   HASHRING_BENCH_MOVE=0                       skip this benchmark
#   HASHRING_BENCH_MOVE_ROWS="1000000 4000000"  table sizes, ascending
#   HASHRING_BENCH_MOVE_BATCHES="5000 20000"    ring_move batch sizes (the
#                                               first is the one judged)
#   HASHRING_BENCH_MOVE_REPS=2                  rounds per batch size and size
#   HASHRING_BENCH_MOVE_PORT=54392              coordinator; shards +1..+4
#   HASHRING_BENCH_MOVE_OUT=<dir for results; default a new /tmp/hashring-bench-move-out.*>
#   HASHRING_BENCH_MOVE_CONF=<lines appended to every server's postgresql.conf,
#       e.g. "log_min_duration_statement = 0" to see where the time goes; the
#       server logs are copied to the results directory at exit>
#   HASHRING_BENCH_SKIP_BUILD=1  (do not run deps.sh / make / make install)
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
if [ "${HASHRING_BENCH_MOVE:-1}" = 0 ]; then
    echo "rebalancing benchmark skipped (HASHRING_BENCH_MOVE=0)"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and the extension, and runs the servers as postgres)" >&2; exit 1; }

read -r -a SIZES <<<"${HASHRING_BENCH_MOVE_ROWS:-1000000 4000000}"
read -r -a BATCHES <<<"${HASHRING_BENCH_MOVE_BATCHES:-5000 20000}"
REPS=${HASHRING_BENCH_MOVE_REPS:-2}
port0=${HASHRING_BENCH_MOVE_PORT:-54392}
for n in "${SIZES[@]}" "${BATCHES[@]}" "$REPS" "$port0"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "not a positive integer: '$n' (HASHRING_BENCH_MOVE_ROWS, _BATCHES, _REPS, _PORT)" >&2; exit 1; }
done
[ ${#SIZES[@]} -gt 0 ] && [ ${#BATCHES[@]} -gt 0 ] || { echo "no sizes or no batch sizes" >&2; exit 1; }
for ((i = 1; i < ${#SIZES[@]}; i++)); do
    [ "${SIZES[$i]}" -gt "${SIZES[$((i - 1))]}" ] || { echo "HASHRING_BENCH_MOVE_ROWS must be ascending" >&2; exit 1; }
done
BS0=${BATCHES[0]}

SERVERS=(coord shard1 shard2 shard3 shard4)
declare -A PORT
for i in "${!SERVERS[@]}"; do PORT[${SERVERS[$i]}]=$((port0 + i)); done

commas() { printf '%s' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|[^0-9.]\)/\1,\2\3/' -e 'ta'; }
t_start=$(date +%s)
log() { printf '[%4ds] %s\n' $(( $(date +%s) - t_start )) "$*" >&2; }

if [ -z "${HASHRING_BENCH_SKIP_BUILD:-}" ]; then
    log "dependencies, build and install"
    bash "$here/scripts/deps.sh" build
fi
bin=/usr/lib/postgresql/$(bash "$here/scripts/pgmajor.sh")/bin
if [ -z "${HASHRING_BENCH_SKIP_BUILD:-}" ]; then
    make -C "$here" PG_CONFIG="$bin/pg_config" >/dev/null
    make -C "$here" PG_CONFIG="$bin/pg_config" install >/dev/null
fi
[ -f "$("$bin/pg_config" --pkglibdir)/postgres_fdw.so" ] || { echo "postgres_fdw is not installed for $bin" >&2; exit 1; }

dir=$(mktemp -d /tmp/hashring-bench-move.XXXXXX)
out=${HASHRING_BENCH_MOVE_OUT:-$(mktemp -d /tmp/hashring-bench-move-out.XXXXXX)}
mkdir -p "$out"
chown postgres "$dir"
chmod 700 "$dir"
cd "$dir"

as_pg() { runuser -u postgres -- env HOME="$dir" "$@"; }
pg_ctl_() { local s=$1; shift; as_pg "$bin/pg_ctl" -D "$dir/$s" -l "$dir/$s.log" "$@"; }
cleanup() {
    local rc=$?
    for s in "${SERVERS[@]}"; do
        [ -f "$dir/$s/postmaster.pid" ] && pg_ctl_ "$s" -m immediate stop >/dev/null 2>&1 || true
        [ -f "$dir/$s.log" ] && cp "$dir/$s.log" "$out/server-$s.log" 2>/dev/null || true
    done
    rm -rf "$dir"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# SQL on stdin to server $1, in a new connection; tuples only, unaligned.
q() { as_pg "$bin/psql" -X -q -At -h "$dir" -p "${PORT[$1]}" -d bench -v ON_ERROR_STOP=1 -f - ; }
shards_sql() {   # SQL -> run on every shard
    local s
    for s in shard1 shard2 shard3 shard4; do printf '%s\n' "$1" | q "$s" >/dev/null; done
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%s\", $* }"; }   # calc 'sprintf("%.2f", 1/3)'
median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{a[NR]=$1} END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR+1)/2]; else printf "%.6g\n", (a[NR/2]+a[NR/2+1])/2 }'; }
declare -A samples
add_sample() { samples[$1]="${samples[$1]:-} $2"; printf '%s\t%s\n' "$1" "$2" >>"$out/samples.tsv"; }
med() { printf '%s' "${samples[$1]:-}" | median; }
judge() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN { ok = (op == "<=") ? (v <= l) : (v >= l); print (v == "nan" ? "n/a" : ok ? "met" : "missed") }'; }
: >"$out/samples.tsv"
: >"$out/results.tsv"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$out/results.tsv"; }
sanity_failed=0
insane() { echo "SANITY CHECK FAILED: $*" >&2; echo "SANITY CHECK FAILED: $*" >>"$out/sanity.txt"; sanity_failed=1; }

# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------
log "initdb of ${SERVERS[*]} in $dir (ports ${PORT[coord]}-${PORT[shard4]}, unix sockets only)"
for s in "${SERVERS[@]}"; do
    as_pg "$bin/initdb" -D "$dir/$s" -A trust -E UTF8 --no-locale >/dev/null
    if [ "$s" = coord ]; then sb=256MB; extra="shared_preload_libraries = 'hashring'"; else sb=512MB; extra=""; fi
    cat >>"$dir/$s/postgresql.conf" <<CONF
# hashring rebalancing benchmark (test/bench/move.sh)
listen_addresses = ''
port = ${PORT[$s]}
unix_socket_directories = '$dir'
shared_buffers = '$sb'
$extra
jit = off
max_parallel_workers_per_gather = 0
work_mem = '64MB'
maintenance_work_mem = '256MB'
# durability as shipped (fsync, synchronous_commit, full_page_writes on);
# no checkpoint inside a timed step: each starts after an explicit CHECKPOINT
max_wal_size = '16GB'
checkpoint_timeout = '1h'
# vacuumed explicitly between the timed steps, never during them
autovacuum = off
${HASHRING_BENCH_MOVE_CONF:-}
CONF
done
for s in "${SERVERS[@]}"; do
    if ! pg_ctl_ "$s" -w -t 120 start >/dev/null; then
        echo "server $s did not start; end of its log:" >&2
        tail -n 20 "$dir/$s.log" >&2
        exit 1
    fi
    as_pg "$bin/createdb" -h "$dir" -p "${PORT[$s]}" bench
done
{
    echo "CREATE EXTENSION hashring; CREATE EXTENSION postgres_fdw; CREATE SCHEMA bench;"
    for s in shard1 shard2 shard3 shard4; do
        echo "CREATE SERVER $s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '$dir', port '${PORT[$s]}', dbname 'bench', batch_size '1000', fetch_size '10000');"
        echo "CREATE USER MAPPING FOR CURRENT_USER SERVER $s;"
    done
    # the baseline's target: a table of the same shape on the new shard
    echo "CREATE FOREIGN TABLE bench.scratch (k text NOT NULL, v integer NOT NULL, pad text) SERVER shard4 OPTIONS (schema_name 'public', table_name 'items_scratch');"
} | q coord >/dev/null

# ---------------------------------------------------------------------------
# Machine description
# ---------------------------------------------------------------------------
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
pgver=$(echo "SELECT version()" | q coord)
rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$here" status --porcelain -- src sql 2>/dev/null | wc -l)
[ "$dirty" -gt 0 ] && rev="$rev + uncommitted changes in src/ or sql/"
lib="$("$bin/pg_config" --pkglibdir)/hashring.so"
{
    echo "machine:    $(nproc) CPUs ($cpu), $mem RAM, $(uname -sr)"
    echo "postgresql: $pgver"
    echo "hashring:   $rev (installed library $lib of $(date -u -r "$lib" '+%Y-%m-%d %H:%M UTC'))"
    echo "servers:    coordinator (hashring preloaded, shared_buffers 256MB) + 4 shards (512MB) on this machine, unix sockets;"
    echo "            durability as shipped (fsync/synchronous_commit on), autovacuum off, VACUUM + CHECKPOINT before every timed step"
    echo "foreign:    postgres_fdw servers with batch_size '1000', fetch_size '10000' (ring_move uses only their connection options)"
    echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg) (at start of measurements)"
} >"$out/machine.txt"
if awk -v n="$(nproc)" '{ exit !($1 > n / 2) }' /proc/loadavg; then
    echo "WARNING: load average $(cut -d' ' -f1 /proc/loadavg) on $(nproc) CPUs before the measurements: other work is running, expect noisy figures" | tee -a "$out/machine.txt" >&2
fi

# ---------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------
maintain() {   # untimed: every shard vacuumed, analysed and checkpointed; the coordinator checkpointed
    shards_sql "VACUUM (ANALYZE) items; VACUUM items_scratch; CHECKPOINT;"
    echo "CHECKPOINT" | q coord >/dev/null
}
version() { echo "SELECT version FROM hashring.rings WHERE ring = '$RING'" | q coord; }
count_on() { echo "SELECT count(*) FROM public.$2" | q "$1"; }

# ring_move, timed: sets MOVE_S (seconds) and MOVE_N (rows moved, from its
# closing NOTICE)
run_move() {   # batch_size from_version label
    local logf="$out/$3.log" t0 t1
    t0=$(now)
    if ! echo "CALL hashring.ring_move('$RING', 'public.items', 'k', $1, from_version => $2);" | q coord >/dev/null 2>"$logf"; then
        echo "ring_move failed ($3); end of its output:" >&2
        tail -n 20 "$logf" >&2
        exit 1
    fi
    t1=$(now)
    MOVE_S=$(calc "sprintf(\"%.3f\", $t1 - $t0)")
    MOVE_N=$(sed -n 's/.*done: \([0-9][0-9]*\) row(s) moved.*/\1/p' "$logf" | tail -n 1)
    if [ -z "$MOVE_N" ]; then
        echo "ring_move ($3) printed no 'done: N row(s) moved'; end of its output:" >&2
        tail -n 20 "$logf" >&2
        exit 1
    fi
}

# the baseline, timed: the rows that move to shard4, copied into the scratch
# table on shard4 through postgres_fdw in one statement; sets BASE_S, BASE_N
run_baseline() {   # label
    local t0 t1
    echo "TRUNCATE items_scratch; VACUUM items_scratch; CHECKPOINT;" | q shard4 >/dev/null
    t0=$(now)
    q coord >/dev/null <<SQL
INSERT INTO bench.scratch
SELECT * FROM hashring_fdw_shard1.items WHERE hashring.ring_node('$RING', k) = 'shard4'
UNION ALL
SELECT * FROM hashring_fdw_shard2.items WHERE hashring.ring_node('$RING', k) = 'shard4'
UNION ALL
SELECT * FROM hashring_fdw_shard3.items WHERE hashring.ring_node('$RING', k) = 'shard4';
SQL
    t1=$(now)
    BASE_S=$(calc "sprintf(\"%.3f\", $t1 - $t0)")
    BASE_N=$(count_on shard4 items_scratch)
    # leave shard4 as it was (untimed), checkpointed for the move
    echo "TRUNCATE items_scratch; CHECKPOINT;" | q shard4 >/dev/null
}

# every row exactly once, on its owner, with its value (through the coordinator)
placement_ok() {   # rows
    q coord <<SQL
SELECT count(*) = $1 AND count(DISTINCT k) = $1 AND sum(v) = $1::numeric * ($1 + 1) / 2
       AND count(*) FILTER (WHERE shard <> hashring.ring_node('$RING', k)) = 0
  FROM (SELECT 'shard1' AS shard, k, v FROM hashring_fdw_shard1.items UNION ALL
        SELECT 'shard2', k, v FROM hashring_fdw_shard2.items UNION ALL
        SELECT 'shard3', k, v FROM hashring_fdw_shard3.items UNION ALL
        SELECT 'shard4', k, v FROM hashring_fdw_shard4.items) a;
SQL
}

declare -A MOVED
for N in "${SIZES[@]}"; do
    RING=move_$N
    # -----------------------------------------------------------------------
    log "$(commas "$N") rows: tables on the shards, ring $RING with shards 1-3, load through the router"
    shards_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS items, items_scratch;
CREATE TABLE items (k text PRIMARY KEY, v integer NOT NULL, pad text);
CREATE TABLE items_scratch (k text PRIMARY KEY, v integer NOT NULL, pad text);"
    q coord >/dev/null <<SQL
SELECT hashring.ring_create('$RING');
SELECT hashring.ring_add_node('$RING', 'shard' || i, target => 'shard' || i) FROM generate_series(1, 3) i;
SELECT hashring._shard_table('$RING', 'shard' || i, 'public.items') FROM generate_series(1, 3) i;
SQL
    for i in 1 2 3; do
        # key 'item:<g>' (~12 B), an integer, a 72-character pad: ~100 B of data a row
        q coord >/dev/null <<SQL
INSERT INTO hashring_fdw_shard$i.items
SELECT 'item:' || g, g, md5(g::text) || left(md5((-g)::text), 40)
  FROM generate_series(1, $N) g WHERE hashring.ring_node('$RING', 'item:' || g) = 'shard$i';
SQL
    done
    shards_sql "VACUUM (FREEZE, ANALYZE) items;"
    loaded=0
    for i in 1 2 3; do loaded=$(( loaded + $(count_on shard$i items) )); done
    [ "$loaded" = "$N" ] || insane "$N rows: loaded $loaded rows onto shards 1-3"
    rowbytes=$(echo "SELECT round(avg(pg_column_size(t.*))) FROM (SELECT * FROM items LIMIT 10000) t" | q shard1)
    v_before=$(version)
    [ -n "${ROWBYTES:-}" ] || ROWBYTES=$rowbytes

    # -----------------------------------------------------------------------
    round=0
    first_moved=""
    v_from=$v_before
    nrounds=$(( REPS * ${#BATCHES[@]} ))
    for ((rep = 1; rep <= REPS; rep++)); do
        for bs in "${BATCHES[@]}"; do
            round=$((round + 1))
            echo "SELECT hashring.ring_add_node('$RING', 'shard4', target => 'shard4'); SELECT hashring._shard_table('$RING', 'shard4', 'public.items');" | q coord >/dev/null
            v_add=$(version)
            maintain
            log "$(commas "$N") rows, round $round/$nrounds: baseline (postgres_fdw INSERT ... SELECT of the rows that move)"
            run_baseline "base_${N}_$round"
            add_sample "base_s_$N" "$BASE_S"
            add_sample "base_n_$N" "$BASE_N"
            log "    baseline: $(commas "$BASE_N") rows in $BASE_S s; ring_move batch_size $bs (versions $v_from -> $v_add)"
            run_move "$bs" "$v_from" "move_${N}_${bs}_$round"
            add_sample "move_s_${N}_$bs" "$MOVE_S"
            add_sample "pair_${N}_$bs" "$(calc "$BASE_S / $MOVE_S")"
            log "    ring_move: $(commas "$MOVE_N") rows in $MOVE_S s"
            [ "$MOVE_N" = "$BASE_N" ] || insane "$N rows, round $round: ring_move moved $MOVE_N rows, the baseline copied $BASE_N"
            [ -n "$first_moved" ] || first_moved=$MOVE_N
            [ "$MOVE_N" = "$first_moved" ] || insane "$N rows, round $round: ring_move moved $MOVE_N rows, round 1 $first_moved"
            on4=$(count_on shard4 items)
            [ "$on4" = "$MOVE_N" ] || insane "$N rows, round $round: shard4 holds $on4 rows after moving $MOVE_N"
            MOVED[$N]=$MOVE_N
            if [ "$round" = "$nrounds" ]; then
                log "    placement check: every row once, on its owner"
                [ "$(placement_ok "$N")" = t ] || insane "$N rows: after the last move not every row is exactly once on its owner"
                break
            fi
            # restore the placement for the next round: shard4 leaves, its rows go back
            echo "SELECT hashring.ring_remove_node('$RING', 'shard4')" | q coord >/dev/null
            v_from=$(version)
            maintain
            run_move "$BS0" "$v_add" "back_${N}_$round"
            add_sample "back_s_$N" "$MOVE_S"
            log "    moved back (batch_size $BS0): $(commas "$MOVE_N") rows in $MOVE_S s"
            [ "$MOVE_N" = "$first_moved" ] || insane "$N rows, round $round: the move back moved $MOVE_N rows, not $first_moved"
            on4=$(count_on shard4 items)
            [ "$on4" = 0 ] || insane "$N rows, round $round: shard4 still holds $on4 rows after the move back"
        done
    done
    echo "SELECT hashring.ring_drop('$RING')" | q coord >/dev/null
    shards_sql "DROP TABLE items, items_scratch; CHECKPOINT;"
done
echo "load avg:   $(cut -d' ' -f1-3 /proc/loadavg) (at end of measurements)" >>"$out/machine.txt"

# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
fmt_s() { calc "sprintf(\"%.2f s\", $1)"; }
fmt_rate() { commas "$(calc "sprintf(\"%.0f\", $1)")"; }
for N in "${SIZES[@]}"; do
    n=${MOVED[$N]}
    bs_=$(med "base_s_$N")
    for bs in "${BATCHES[@]}"; do
        ms_=$(med "move_s_${N}_$bs")
        r=$(calc "$bs_ / $ms_")
        if [ "$bs" = "$BS0" ]; then t="≥ 0.30×"; met=$(judge "$r" ">=" 0.30); sc="ring_move batch_size $bs vs baseline"
        else t="—"; met=""; sc="(info) ring_move batch_size $bs vs baseline"; fi
        row "$sc" "$(commas "$N")" "$(commas "$n")" "$(fmt_s "$ms_")" "$(fmt_rate "$n / $ms_")" \
            "$(fmt_s "$bs_")" "$(fmt_rate "$n / $bs_")" "$(calc "sprintf(\"%.3f×\", $r)")" "$t" "$met"
    done
    if [ -n "${samples[back_s_$N]:-}" ]; then
        b=$(med "back_s_$N")
        row "(info) ring_move back, shard4 removed (1 source → 3), batch_size $BS0" "$(commas "$N")" "$(commas "$n")" \
            "$(fmt_s "$b")" "$(fmt_rate "$n / $b")" "—" "—" "—" "—" ""
    fi
done
for ((i = 1; i < ${#SIZES[@]}; i++)); do
    a=${SIZES[$((i - 1))]} b=${SIZES[$i]}
    f=$(calc "$b / $a")
    lim=$(calc "sprintf(\"%.3g\", 1.125 * $f)")
    for bs in "${BATCHES[@]}"; do
        ta=$(med "move_s_${a}_$bs") tb=$(med "move_s_${b}_$bs")
        r=$(calc "$tb / $ta")
        if [ "$bs" = "$BS0" ]; then t="≤ ${lim}×"; met=$(judge "$r" "<=" "$lim"); sc="size scaling: ring_move time at $(commas "$b") / at $(commas "$a") rows (${f}× rows), batch_size $bs"
        else t="—"; met=""; sc="(info) size scaling, batch_size $bs"; fi
        row "$sc" "$(commas "$b") / $(commas "$a")" "$(commas "${MOVED[$b]}") / $(commas "${MOVED[$a]}")" \
            "$(fmt_s "$tb") / $(fmt_s "$ta")" "—" "—" "—" "$(calc "sprintf(\"%.3f×\", $r)")" "$t" "$met"
    done
    ba=$(med "base_s_$a") bb=$(med "base_s_$b")
    row "(info) size scaling of the baseline" "$(commas "$b") / $(commas "$a")" "" "—" "—" "$(fmt_s "$bb") / $(fmt_s "$ba")" "—" \
        "$(calc "sprintf(\"%.3f×\", $bb / $ba)")" "—" ""
done

fmt_table() {   # TSV -> padded Markdown table (perl: widths in characters, not bytes)
    { printf 'scenario\trows\tmoved\tring_move\tring_move rows/s\tbaseline\tbaseline rows/s\tratio\ttarget\tmet?\n'; cat "$1"; } |
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
    echo "== hashring rebalancing benchmark: ring_move vs postgres_fdw INSERT ... SELECT ($(date -u '+%Y-%m-%d %H:%M UTC'), $total s) =="
    cat "$out/machine.txt"
    echo "data:       items (k text PRIMARY KEY, v integer NOT NULL, pad text), ~${ROWBYTES} B a row on disk (pg_column_size),"
    echo "            loaded onto 3 shards by ring_node, then a 4th shard added (ring_add_node): about a quarter of the rows move"
    echo "rounds:     $REPS per batch size (${BATCHES[*]}) and table size, interleaved; one baseline per round, right before the move"
    echo "timing:     wall clock of one psql call each, median of the rounds; ratio = ring_move rows/s / baseline rows/s"
    echo "            (the same rows: the baseline copies exactly the rows ring_move then moves, checked)"
    echo "note:       the baseline only copies (INSERT INTO a scratch table of the same shape on the new shard, through"
    echo "            postgres_fdw); ring_move also locks the rows on their source, upserts them, deletes them from the"
    echo "            source and commits every batch on both servers"
    echo
    fmt_table "$out/results.tsv"
    echo
    echo "ratios round by round (baseline s / ring_move s of each round; median):"
    for N in "${SIZES[@]}"; do
        for bs in "${BATCHES[@]}"; do
            echo "  $(commas "$N") rows, batch_size $bs: $(printf '%s' "${samples[pair_${N}_$bs]}" | tr ' ' '\n' | awk 'NF { printf "%s%.2f", s, $1; s = " " }')  (median $(calc "sprintf(\"%.2f\", $(printf '%s' "${samples[pair_${N}_$bs]}" | median))"))"
        done
    done
    echo "seconds of every run:"
    for N in "${SIZES[@]}"; do
        echo "  $(commas "$N") rows: baseline${samples[base_s_$N]}"
        for bs in "${BATCHES[@]}"; do echo "  $(commas "$N") rows: ring_move batch_size $bs${samples[move_s_${N}_$bs]}"; done
        [ -z "${samples[back_s_$N]:-}" ] || echo "  $(commas "$N") rows: ring_move back${samples[back_s_$N]}"
    done
    echo "sanity:     ring_move moved exactly the baseline's rows every round, the move back restored them, and after the"
    echo "            last move every row was once on its owner: $([ $sanity_failed = 0 ] && echo yes || echo NO)"
    echo "raw samples: $out/samples.tsv   table: $out/results.tsv   ring_move output: $out/*.log"
} | tee "$out/report.txt"
if [ $sanity_failed != 0 ]; then
    echo "a sanity check failed (see above and $out/sanity.txt): the figures are not comparable" >&2
    exit 1
fi
