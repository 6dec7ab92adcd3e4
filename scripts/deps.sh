#!/usr/bin/env bash
# Installs what building and testing hashring needs, from Debian's packages,
# for the PostgreSQL major of this release (scripts/pgmajor.sh: bookworm 15,
# trixie 17, sid 18).  Idempotent: installs only what is missing, each
# package checked by the file that is actually used.  Run as root.
#   bash scripts/deps.sh          everything the test suite needs
#   bash scripts/deps.sh build    only what building and running it needs (demo)
#   bash scripts/deps.sh major    that, and what HASHRING_TEST_SUITE=major's
#                                 tests need (scripts/test.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}
major=$(bash "$here/scripts/pgmajor.sh" --update)
pg=/usr/lib/postgresql/$major
need=()
# the server, pgbench and postgres_fdw
[ -x "$pg/bin/postgres" ] && [ -x "$pg/bin/pgbench" ] && [ -f "$pg/lib/postgres_fdw.so" ] || need+=("postgresql-$major")
# pg_config and pgxs.mk ship in postgresql-client-N: check the server headers
[ -f "/usr/include/postgresql/$major/server/postgres.h" ] && [ -f "$pg/lib/pgxs/src/makefiles/pgxs.mk" ] ||
    need+=("postgresql-server-dev-$major")
[ -f /usr/include/xxhash.h ] || need+=(libxxhash-dev)
# ring_move talks to the shards over libpq (header and link library)
[ -f /usr/include/postgresql/libpq-fe.h ] && ls /usr/lib/*/libpq.so >/dev/null 2>&1 || need+=(libpq-dev)
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 && [ -f /usr/include/stdio.h ] || need+=(build-essential)
case $what in all | build | major) ;; *) echo "usage: $0 [all|build|major]" >&2; exit 2 ;; esac
# TAP tests
[ "$what" = build ] || perl -MIPC::Run -e1 >/dev/null 2>&1 || need+=(libipc-run-perl)
if [ "$what" = all ]; then
    command -v clang-format >/dev/null 2>&1 || need+=(clang-format)
    # reference systems for the algorithm compatibility tests
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
    [ -f /usr/share/java/guava.jar ] || need+=(libguava-java)
    command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
    # the deployed ketama clients and proxies, and Cassandra's token function
    # (test/t/024_ketama_refs.pl, 025_cassandra_tokens.pl); python3 is /usr/bin's
    [ -x /usr/sbin/nutcracker ] || need+=(nutcracker)
    [ -x /usr/bin/memcached ] || need+=(memcached)
    [ -f /usr/include/libmemcached/memcached.h ] || need+=(libmemcached-dev)
    [ -f /usr/lib/python3/dist-packages/uhashring/ring_ketama.py ] || need+=(python3-uhashring)
    [ -f /usr/lib/python3/dist-packages/cassandra/murmur3.py ] || need+=(python3-cassandra)
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "installing (PostgreSQL $major): ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's postgresql-common starts a "main" cluster on install; our tests and
# demo start their own throwaway servers and do not need it.
