# Sourced by scripts/test.sh and scripts/sanitize.sh (not run on its own).
#
# stop_under DIR: ends every process that works in DIR (its current
# directory is DIR or below) or names DIR on its command line, except this
# shell: the suites' make, prove and test drivers, the PostgreSQL servers
# the tests started (a postmaster's current directory is its data
# directory, which the tests make under DIR; pg_ctl detaches it into a
# session of its own, so a signal to our process group misses it), and the
# Redis, memcached and nutcracker servers the compatibility tests run.
# SIGQUIT first (a postmaster's immediate shutdown: it ends its backends),
# then SIGKILL for whatever is still there two seconds later.
stop_under() {
    local dir=$1 sig p pid found
    for sig in QUIT KILL; do
        found=()
        for p in /proc/[0-9]*; do
            pid=${p#/proc/}
            [ "$pid" = "$$" ] || [ "$pid" = "${BASHPID:-$$}" ] && continue
            case "$(readlink "$p/cwd" 2>/dev/null)" in
                "$dir" | "$dir"/*) found+=("$pid"); continue ;;
            esac
            tr '\0' ' ' 2>/dev/null <"$p/cmdline" | grep -qF -- "$dir" && found+=("$pid")
        done
        [ ${#found[@]} -eq 0 ] && return 0
        kill -"$sig" "${found[@]}" 2>/dev/null || true
        [ "$sig" = QUIT ] && sleep 2
    done
    return 0
}
