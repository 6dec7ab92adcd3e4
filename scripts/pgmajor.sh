#!/usr/bin/env bash
# Prints the PostgreSQL major that hashring is built and tested against on
# this machine:
#   1. $HASHRING_PG_MAJOR, when set (e.g. a machine with several majors);
#   2. else the major of the release's `postgresql` metapackage (Debian 12
#      bookworm: 15, Debian 13 trixie: 17, sid: 18), read from apt;
#   3. else the newest major installed under /usr/lib/postgresql.
# Supported majors: 15, 17 and 18.
set -euo pipefail
major=${HASHRING_PG_MAJOR:-}
if [ -z "$major" ] && command -v apt-cache >/dev/null 2>&1; then
    major=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
    if [ -z "$major" ] && [ "$(id -u)" = 0 ] && [ "${1:-}" = --update ]; then
        # a fresh root may have no package lists yet
        apt-get update -qq >/dev/null 2>&1 || true
        major=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -1)
    fi
fi
if [ -z "$major" ]; then
    major=$(ls /usr/lib/postgresql 2>/dev/null | grep -E '^[0-9]+$' | sort -n | tail -1)
fi
[ -n "$major" ] || { echo "cannot tell which PostgreSQL major to use: set HASHRING_PG_MAJOR" >&2; exit 1; }
case $major in
    15 | 17 | 18) ;;
    *) echo "warning: PostgreSQL $major is not one of the supported majors (15, 17, 18)" >&2 ;;
esac
echo "$major"
