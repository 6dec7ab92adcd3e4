#!/usr/bin/env bash
# Runs the whole hashring test suite: pg_regress, isolation specs and TAP
# tests (including the Node.js reimplementation check), each against
# throwaway PostgreSQL servers the tests start themselves.
#
#   bash scripts/test.sh            as root
#   sudo bash scripts/test.sh       as a user with sudo
#
# Installs missing Debian packages, builds with warnings as errors, installs
# the extension, then runs the suites as the unprivileged `postgres` user
# (PostgreSQL refuses to run as root) in a copy of the tree it can write.
# Works with the PostgreSQL major of the release (scripts/pgmajor.sh: 15 on
# Debian 12, 17 on Debian 13, 18 on sid).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "run as root (it installs packages and the extension): sudo bash scripts/test.sh"; exit 1; }
# programs run as postgres must not start in a directory it cannot enter
# (the clone may be under /root, mode 700)
cd /

# HASHRING_TEST_SUITE=major runs what proves another PostgreSQL major (CI's
# trixie and sid parts, docs/testing.md): the pg_regress and isolation
# suites, and the TAP tests that exercise server code which differs between
# majors (restarts, standbys, dump, shared memory, commit hooks, logical
# replication, extension updates, hash partitioning, background workers,
# postgres_fdw and libpq).  It leaves out the checks of the algorithms
# against reference clients and the fuzzer: they compare hashring's own C
# code with other programs, the same on every major (the pg_regress suite
# pins every algorithm's answers on each), and it installs nothing they need.
#
# HASHRING_TEST_SUITE=host (CI's host part) is the major suite cut to the
# TAP tests that touch the server as this machine has it installed
# (restart and crash, no preload, the extension's update chain, distributed
# tables): the whole suite runs on the same major in CI's fresh bookworm root.
suite=${HASHRING_TEST_SUITE:-all}
major_tap=(001 002 003 004 005 006 007 008 009 011 023 026 027 028 029 030 031 032 034 035 039)
host_tap=(001 004 011 035)
case $suite in
    all) bash "$here/scripts/deps.sh" ;;
    major | host) bash "$here/scripts/deps.sh" major ;;
    *) echo "HASHRING_TEST_SUITE must be all, major or host, not $suite"; exit 2 ;;
esac
major=$(bash "$here/scripts/pgmajor.sh")
pgc=/usr/lib/postgresql/$major/bin/pg_config
echo "PostgreSQL $major ($pgc), suite: $suite"
prove_tests=test/t/*.pl
if [ "$suite" != all ]; then
    prove_tests=
    [ "$suite" = host ] && major_tap=("${host_tap[@]}")
    for n in "${major_tap[@]}"; do
        f=$(cd "$here" && ls test/t/"$n"_*.pl)
        prove_tests+="$f "
    done
fi
# the scripts' shared pieces (sql/parts/) are copied, never edited twice
bash "$here/scripts/sql-parts.sh" --check
# formatting is mechanical: src/ must be exactly what .clang-format makes of
# it -- with clang-format 14 (Debian 12's), which src/ is formatted with;
# later versions format a few constructs differently, so elsewhere the check
# is skipped (CI runs it in the bookworm root).
cf=$(clang-format --version 2>/dev/null | sed -n 's/.*version \([0-9]*\)\..*/\1/p' || true)
if [ "$suite" != all ]; then
    echo "format check skipped: not part of the $suite suite"
elif [ "$cf" = 14 ]; then
    (cd "$here" && clang-format --dry-run --Werror src/*.c src/*.h) ||
        { echo "src/ is not formatted: run clang-format -i src/*.c src/*.h"; exit 1; }
else
    echo "format check skipped: clang-format $cf is not 14, which src/ is formatted with"
fi
make -C "$here" PG_CONFIG="$pgc" clean >/dev/null
make -C "$here" PG_CONFIG="$pgc" STRICT=1 >/dev/null
make -C "$here" PG_CONFIG="$pgc" install >/dev/null

# npm packages for the compatibility checks (reinstalled when any is missing)
[ "$suite" != all ] || for pkg in $(node -e 'console.log(Object.keys(require(process.argv[1]).dependencies).join(" "))' "$here/test/compat/package.json"); do
    if [ ! -d "$here/test/compat/node_modules/$pkg" ]; then
        (cd "$here/test/compat" && npm ci --no-audit --no-fund --loglevel=error)
        break
    fi
done

work=$(mktemp -d /tmp/hashring-test.XXXXXX)
. "$here/scripts/stop-under.sh"
# On any exit -- also a TERM or INT, or a part's timeout in .ci/run -- no
# server a test started outlives the run.
trap 'stop_under "$work"; rm -rf "$work"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
mkdir "$work/src"
tar -C "$here" --exclude=.git --exclude="tmp_check*" --exclude=results --exclude=output_iso -cf - . | tar -C "$work/src" -xf -
chown -R postgres "$work"

status=0
# The TAP tests, two at a time (HASHRING_PROVE_JOBS): most of a test's time
# is spent waiting on servers it started (startup, checkpoints, polls), so
# the second core works while the first waits; each test takes its own
# free ports (PostgreSQL::Test::Cluster and the tests' own probes).
jobs=${HASHRING_PROVE_JOBS:-2}
# in the background, so that a TERM or INT runs the trap at once
su postgres -s /bin/bash -c "cd '$work/src' && make installcheck PG_CONFIG='$pgc' PROVE_FLAGS='-I test/perl --timer -j$jobs' PROVE_TESTS='$prove_tests'" &
wait $! || status=$?
. "$here/scripts/show-failures.sh"
[ $status -eq 0 ] || show_failures "$work/src"

exit $status
