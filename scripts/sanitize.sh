#!/usr/bin/env bash
# Memory-error checks of the extension (issue #8), run by .ci/run after
# scripts/test.sh:
#
#   asan      hashring built with clang-14 -fsanitize=address,undefined,
#             installed into a private copy of PostgreSQL 15; the pg_regress
#             suite, the isolation specs and the TAP tests in ASAN_TAP (or
#             the ones given on the command line) run against servers whose
#             postmaster has clang's ASan runtime preloaded.
#   valgrind  hashring built with gcc -Og -g into another private copy; the
#             pg_regress suite runs against a postmaster under valgrind
#             memcheck (--trace-children=yes, every backend is checked).
#
#   sudo bash scripts/sanitize.sh                    both
#   sudo bash scripts/sanitize.sh asan [t/NNN.pl …]  ASan only; with test
#                                                    files, those TAP tests
#                                                    instead of ASAN_TAP
#   sudo bash scripts/sanitize.sh valgrind           valgrind only
#   SANITIZE_KEEP=1 …                                keep /tmp/hr-san.* (logs)
#   SANITIZE_REGRESS='setup routing' …               only these pg_regress
#                                                    tests (default: all;
#                                                    valgrind: all but
#                                                    VALGRIND_SKIP below)
#   SANITIZE_FULL=1 …                                valgrind too runs all
#                                                    (make check-full)
#   VALGRIND_TRACK_ORIGINS=yes …                     valgrind says where an
#                                                    uninitialised value came
#                                                    from (off by default: the
#                                                    same errors are found, in
#                                                    less than half the time)
#   VALGRIND_ERROR_EXITCODE=0 …                      a process with a valgrind
#                                                    error exits normally (to
#                                                    collect every report in
#                                                    one run, not just the
#                                                    first crash)
#
# Exits non-zero if a suite fails, if ASan or UBSan wrote any report, or if
# valgrind reported an error that its suppression file
# (test/valgrind/hashring.supp, every entry with its reason) does not cover.
# The system-wide PostgreSQL installation and its hashring are not touched:
# each build lives in its own copy of /usr/lib/postgresql/15 and
# /usr/share/postgresql/15 under /tmp/hr-san.*/ (PostgreSQL's binaries find
# share/ and lib/ relative to themselves).  The copy's bin/postgres is a
# small wrapper that starts the real binary (bin/postgres.bin) with the ASan
# runtime preloaded or under valgrind; initdb, pg_ctl, psql and pg_regress
# run normally (preloading them is neither needed nor safe).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages)"; exit 1; }

# TAP tests run against the ASan build when none are named on the command
# line: the fuzzer (040), the commit-race test (008) and the mover's fault
# tests (031: libpq, COPY streaming, retries, every injection point) among them.
# 004 matters: without shared_preload_libraries every image is a
# backend-local palloc'd copy that ASan can see the end of (shared images
# live in DSA shared memory, where neither ASan nor valgrind can).
ASAN_TAP=(
    test/t/001_restart_crash.pl
    test/t/004_no_preload.pl
    test/t/005_shared_cache.pl
    test/t/006_concurrent_replace.pl
    test/t/008_snapshot_routing.pl
    test/t/031_move_faults.pl
    test/t/040_fuzz.pl
)

# pg_regress files the valgrind run leaves out unless SANITIZE_REGRESS names
# them (scripts/sanitize.sh valgrind with SANITIZE_REGRESS=huge_key runs it;
# so does `make check-full`).  What valgrind adds to ASan+UBSan is reads of
# uninitialised memory; these files reach no code that the other files do
# not, only with far more data:
#   huge_key     one 1 GB key hashed: 345 s under valgrind, nothing else
#   zone_spread  zones.sql's code on 40 rings of up to 100 nodes
#   correctness  malformed catalogs and limits at full size (16,385 nodes,
#                a 16M-entry maglev table, 40 versions of a 2,000-node
#                ring): 321 s under valgrind, a third of its run; the
#                paths they take are membership's, bad_input's and
#                cache's, which valgrind runs
VALGRIND_SKIP=(huge_key zone_spread correctness)
[ "${SANITIZE_FULL:-}" = 1 ] && VALGRIND_SKIP=()

what=${1:-all}
[ $# -gt 0 ] && shift
case $what in all | asan | valgrind) ;; *) echo "usage: $0 [all|asan|valgrind] [TAP tests for asan]"; exit 2 ;; esac
[ $# -gt 0 ] && ASAN_TAP=("$@")
for t in "${ASAN_TAP[@]}"; do
    [ -f "$here/$t" ] || { echo "no such TAP test: $t"; exit 2; }
done

# --- packages (scripts/deps.sh's style: only what is missing) -------------
bash "$here/scripts/deps.sh" build
need=()
command -v clang-14 >/dev/null 2>&1 || need+=(clang-14)
ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.so >/dev/null 2>&1 || need+=(libclang-rt-14-dev)
command -v llvm-symbolizer-14 >/dev/null 2>&1 || need+=(llvm-14)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
asan_rt=$(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.asan-x86_64.so | head -1)
symbolizer=$(command -v llvm-symbolizer-14)

work=$(mktemp -d /tmp/hr-san.XXXXXX)
chmod 755 "$work"
# Stop whatever still runs from our prefixes (a suite killed half-way
# leaves its temporary instance behind; a TERM leaves the suite itself).
. "$here/scripts/stop-under.sh"
. "$here/scripts/show-failures.sh"
cleanup() {
    stop_under "$work"
    if [ "${SANITIZE_KEEP:-}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# $1: name.  Makes $work/$1/root (a copy of PostgreSQL 15) and $work/$1/src
# (a copy of this tree, writable by postgres), prints nothing.
make_prefix() {
    local root=$work/$1/root
    mkdir -p "$root" "$work/$1/src" "$work/$1/logs"
    (cd / && cp -a --parents usr/lib/postgresql/15 usr/share/postgresql/15 usr/include/postgresql "$root/")
    local bindir
    bindir=$("$root/usr/lib/postgresql/15/bin/pg_config" --bindir)
    [ "$bindir" = "$root/usr/lib/postgresql/15/bin" ] &&
        [ "$("$root/usr/lib/postgresql/15/bin/pg_config" --sharedir)" = "$root/usr/share/postgresql/15" ] ||
        { echo "the copy of PostgreSQL in $root is not relocatable (pg_config --bindir: $bindir)"; exit 1; }
    tar -C "$here" --exclude=.git --exclude="tmp_check*" --exclude=results --exclude=output_iso \
        --exclude=node_modules --exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
        tar -C "$work/$1/src" -xf -
    mv "$bindir/postgres" "$bindir/postgres.bin"
}

# $1: name, $2: body of the wrapper after the mode check.  bin/postgres
# runs the real binary plainly for initdb's bootstrap and single-user runs
# and for version/parameter queries (the library is never loaded there).
write_wrapper() {
    local bindir=$work/$1/root/usr/lib/postgresql/15/bin
    cat > "$bindir/postgres" <<EOF
#!/bin/bash
# written by scripts/sanitize.sh: the postmaster runs instrumented
real=$bindir/postgres.bin
case "\${1-}" in
    -V | --version | --boot | --single | --describe-config | -C | --check) exec "\$real" "\$@" ;;
esac
$2
EOF
    chmod 755 "$bindir/postgres"
}

# $1: name, further arguments: make variables.  Runs the suites as postgres
# in $work/$1/src against the copy's binaries; prints failure details.
run_suites() {
    local name=$1; shift
    local src=$work/$name/src pgc=$work/$name/root/usr/lib/postgresql/15/bin/pg_config
    chown -R postgres "$work/$name/src" "$work/$name/logs"
    local status=0 args="" a
    [ -n "${SANITIZE_REGRESS:-}" ] && set -- "$@" "REGRESS=$SANITIZE_REGRESS"
    for a in "$@"; do args+=" $(printf '%q' "$a")"; done
    # in the background, so that a TERM or INT runs the cleanup at once
    su postgres -s /bin/bash -c "cd '$src' && PGCTLTIMEOUT=600 make installcheck PG_CONFIG='$pgc' PROVE_FLAGS='-I test/perl --timer'$args" &
    wait $! || status=$?
    [ $status -eq 0 ] || show_failures "$src"
    return $status
}

t_all=$SECONDS
# A failure of either run, recorded in a file: the two run side by side.
fail() { echo "$*" >>"$work/failed"; }
: >"$work/failed"

# --- ASan + UBSan ------------------------------------------------------------
run_asan() {
    t0=$SECONDS
    make_prefix asan
    logs=$work/asan/logs
    # detect_leaks=0: a backend exits without freeing what it allocated, by
    # design (memory contexts die with the process).  abort_on_error: the
    # backend dies at the first report and the postmaster restarts, so the
    # suite fails too.
    # the stub: see test/sanitize/swift_demangle_stub.c (without it every
    # PostgreSQL program deadlocks at startup under the preloaded runtime)
    gcc -shared -fPIC -O2 -o "$work/asan/libswift_demangle_stub.so" "$here/test/sanitize/swift_demangle_stub.c"
    # ulimit -s: ASan's stack frames (redzones, locals kept apart) are
    # several times larger than a plain build's.  The fuzzer's invalidation
    # storm (hundreds of membership commits a second) once drove
    # PostgreSQL's own relcache rebuild recursion (rebuild an open relation
    # -> RelationBuildTriggers -> index_open -> LockRelationOid ->
    # AcceptInvalidationMessages -> rebuild it again, a level for each
    # pending message) past 8 MB there, a stack of PostgreSQL frames only.
    # Backends inherit the postmaster's limit.
    write_wrapper asan "ulimit -s 65536
export LD_PRELOAD='$asan_rt $work/asan/libswift_demangle_stub.so'
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:handle_segv=1:symbolize=1:disable_coredump=1:log_path=$logs/sanitizer
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$logs/sanitizer
export ASAN_SYMBOLIZER_PATH=$symbolizer
exec -a \"\$0\" \"\$real\" \"\$@\""
    # PostgreSQL's CFLAGS (pg_config) are gcc's: replaced by the ones that
    # change semantics (-fno-strict-aliasing -fwrapv) plus the sanitizers.
    # -Wno-ignored-attributes: clang does not know the headers' gnu_printf.
    # No _FORTIFY_SOURCE: its __*_chk calls hide accesses from ASan.
    # with_llvm=no: no JIT bitcode (.bc) from this compiler.
    san='-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1'
    make -C "$work/asan/src" -s CC=clang-14 with_llvm=no CPPFLAGS='-D_GNU_SOURCE' \
        CFLAGS="-Wall -Wno-ignored-attributes -Wmissing-prototypes -Wpointer-arith -fno-strict-aliasing -fwrapv $san"
    make -C "$work/asan/src" -s with_llvm=no install DESTDIR="$work/asan/root" >/dev/null
    # the installed library must be the instrumented one
    nm -D "$work/asan/root/usr/lib/postgresql/15/lib/hashring.so" | grep -c __asan_report >/dev/null ||
        { fail "hashring.so in the ASan prefix is not instrumented"; return; }
    tap_args=()
    if [ ${#ASAN_TAP[@]} -gt 0 ]; then tap_args=("PROVE_TESTS=${ASAN_TAP[*]}"); else tap_args=(TAP_TESTS=); fi
    echo "=== ASan+UBSan: pg_regress, isolation, TAP: ${ASAN_TAP[*]:-none}"
    run_suites asan "${tap_args[@]}" || fail "ASan build: a suite failed"
    reports=$(find "$logs" -type f -size +0 | sort)
    # a report that missed log_path (e.g. printed before the options were
    # read) still lands in a server log
    stray=$(grep -lE 'ERROR: AddressSanitizer|runtime error:|UndefinedBehaviorSanitizer' \
        $(find "$work/asan/src" -name '*.log' -path '*log*') 2>/dev/null || true)
    for f in $reports $stray; do
        echo "=== sanitizer report $f"
        cat "$f"
    done
    [ -z "$reports$stray" ] || fail "ASan/UBSan: $(echo $reports $stray | wc -w) report file(s)"
    echo "=== ASan+UBSan wall time: $((SECONDS - t0)) s"
}


# --- valgrind ------------------------------------------------------------------
run_valgrind() {
    t0=$SECONDS
    make_prefix valgrind
    logs=$work/valgrind/logs
    supp=$work/valgrind/hashring.supp
    cp "$here/test/valgrind/hashring.supp" "$supp"
    # --error-exitcode=128: a process with an error exits as if it had
    # crashed, so the postmaster restarts and the suite fails at that test.
    write_wrapper valgrind "exec valgrind --quiet --tool=memcheck --trace-children=yes --leak-check=no \\
    --error-exitcode=${VALGRIND_ERROR_EXITCODE:-128} --num-callers=40 --track-origins=${VALGRIND_TRACK_ORIGINS:-no} \\
    --error-markers=VALGRINDERROR-BEGIN,VALGRINDERROR-END --gen-suppressions=all \\
    --suppressions=$supp --log-file=$logs/vg.%p.log \"\$real\" \"\$@\""
    make -C "$work/valgrind/src" -s COPT='-Og -g'
    make -C "$work/valgrind/src" -s install DESTDIR="$work/valgrind/root" >/dev/null
    vg_regress=()
    if [ -z "${SANITIZE_REGRESS:-}" ]; then
        for t in $(sed -n 's/^REGRESS = //p' "$here/Makefile"); do
            [[ " ${VALGRIND_SKIP[*]} " == *" $t "* ]] || vg_regress+=("$t")
        done
        vg_regress=("REGRESS=${vg_regress[*]}")
    fi
    echo "=== valgrind: pg_regress ${vg_regress[*]:-(SANITIZE_REGRESS: $SANITIZE_REGRESS)}"
    run_suites valgrind "${vg_regress[@]}" ISOLATION= TAP_TESTS= EXTRA_REGRESS_OPTS=--temp-config=test/valgrind/valgrind.conf || fail "valgrind build: pg_regress failed"
    n_hr=0 n_other=0
    for f in $(find "$logs" -name 'vg.*.log' | sort); do
        # one error per VALGRINDERROR-BEGIN … END block
        while IFS= read -r -d '' block; do
            if grep -qE 'hashring|\((algo_[a-z0-9]+|algorithms|cache|catalog|checker|conn|copy|ddl|diff|digest|dist|funcs|hash|hashring|hotkeys|image|move|settings|shardmove|stats)\.[ch]:[0-9]+\)' <<<"$block"; then
                n_hr=$((n_hr + 1)); echo "=== valgrind error in hashring ($f)"
            else
                n_other=$((n_other + 1)); echo "=== valgrind error outside hashring ($f): understand it, then fix or suppress it with a reason in test/valgrind/hashring.supp"
            fi
            printf '%s\n' "$block"
        done < <(awk '/VALGRINDERROR-BEGIN/{b=""; on=1; next} /VALGRINDERROR-END/{printf "%s%c", b, 0; on=0} on{b=b $0 "\n"}' "$f")
    done
    [ $((n_hr + n_other)) -eq 0 ] || [ "${VALGRIND_TRACK_ORIGINS:-no}" = yes ] ||
        echo "=== to see where an uninitialised value came from: VALGRIND_TRACK_ORIGINS=yes bash scripts/sanitize.sh valgrind"
    [ $n_hr -eq 0 ] || fail "valgrind: $n_hr error(s) in hashring"
    [ $n_other -eq 0 ] || fail "valgrind: $n_other unsuppressed error(s) outside hashring"
    echo "=== valgrind wall time: $((SECONDS - t0)) s"
}


# The two runs side by side: each keeps one core busy (a backend under
# valgrind, pg_regress's one backend at a time), and the machine has two.
# Their lines are prefixed; the wall time is the longer run's.
case $what in
    asan) run_asan || fail "the ASan run stopped with an error ($?)" ;;
    valgrind) run_valgrind || fail "the valgrind run stopped with an error ($?)" ;;
    all)
        run_asan 2>&1 | sed -u 's/^/[asan] /' &
        p_asan=$!
        run_valgrind 2>&1 | sed -u 's/^/[valgrind] /' &
        p_vg=$!
        # a run that stopped on its own error (set -e) recorded nothing
        wait $p_asan || fail "the ASan run stopped with an error"
        wait $p_vg || fail "the valgrind run stopped with an error"
        ;;
esac
mapfile -t failed <"$work/failed"

echo "=== sanitize.sh wall time: $((SECONDS - t_all)) s"
if [ ${#failed[@]} -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "sanitize.sh: no reports"
