#!/usr/bin/env bash
# Installs what building and testing hashring needs, from Debian's packages.
# Idempotent: installs only what is missing.  Run as root.
#   bash scripts/deps.sh          everything the test suite needs
#   bash scripts/deps.sh build    only what building and running it needs (demo)
set -euo pipefail
what=${1:-all}
need=()
command -v pg_config >/dev/null 2>&1 && [ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql-15)
# pgxs.mk ships in postgresql-client-15: check for the server headers themselves
[ -f /usr/include/postgresql/15/server/postgres.h ] || need+=(postgresql-server-dev-15)
[ -x /usr/lib/postgresql/15/bin/pgbench ] || need+=(postgresql-contrib)
perl -MIPC::Run -e1 >/dev/null 2>&1 || need+=(libipc-run-perl)
[ -f /usr/include/xxhash.h ] || need+=(libxxhash-dev)
command -v make >/dev/null 2>&1 && command -v gcc >/dev/null 2>&1 || need+=(build-essential)
if [ "$what" = all ]; then
    command -v clang-format >/dev/null 2>&1 || need+=(clang-format)
    # reference systems for the algorithm compatibility tests
    command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
    command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
    [ -f /usr/share/java/guava.jar ] || need+=(libguava-java)
    command -v javac >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
fi
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's postgresql-common starts a "main" cluster on install; our tests and
# demo start their own throwaway servers and do not need it.
