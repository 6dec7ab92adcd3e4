#!/usr/bin/env bash
# The extension scripts share pieces that must not drift apart: each file in
# sql/parts/ is, from its first line (a marker comment) to its end, the tail
# of the install script and of the update script of its version
# (sql/parts/dist-0.8.sql: sql/hashring--0.8.sql and
# sql/hashring--0.7--0.8.sql).  Edit the part, then
#
#   bash scripts/sql-parts.sh           # copy it into both scripts
#   bash scripts/sql-parts.sh --check   # fail if a script differs (test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = --check ] && check=1
status=0
for part in sql/parts/*-*.sql; do
    ver=${part##*-}; ver=${ver%.sql}
    marker=$(head -1 "$part")
    for f in sql/hashring--"$ver".sql sql/hashring--*--"$ver".sql; do
        n=$(grep -nxF -- "$marker" "$f" | cut -d: -f1 | head -1)
        [ -n "$n" ] || { echo "$f: no line '$marker' (the start of $part)" >&2; status=1; continue; }
        if tail -n +"$n" "$f" | cmp -s - "$part"; then continue; fi
        if [ $check = 1 ]; then
            echo "$f does not end with $part: edit the part, then bash scripts/sql-parts.sh" >&2
            status=1
        else
            { head -n $((n - 1)) "$f"; cat "$part"; } >"$f.tmp" && mv "$f.tmp" "$f"
            echo "$f: tail replaced by $part"
        fi
    done
done
exit $status
