# Sourced by scripts/test.sh and scripts/sanitize.sh.  show_failures DIR:
# after a failed `make installcheck` in DIR, prints what CI's log must show
# to understand the failure without the machine: the pg_regress and
# isolation diffs, and for each TAP test with a failure its "not ok" lines
# and diagnostics (with what follows them: got/expected, the fuzzer's
# FAILURE reports), the fuzzer's seed, then the log's last lines.
show_failures() {
    local dir=$1 f
    for f in "$dir"/regression.diffs "$dir"/output_iso/regression.diffs; do
        [ -f "$f" ] && { echo "=== $f"; head -300 "$f"; }
    done
    for f in "$dir"/tmp_check/log/regress_log_*; do
        [ -f "$f" ] && grep -qE "not ok|Looks like your test (exited|died)|^# +died" "$f" || continue
        echo "=== $f: failures"
        grep -E -A10 "not ok|# FAILURE \[|HASHRING_FUZZ_SEED=[0-9]+ reproduces" "$f" | head -200
        echo "=== $f: last lines"
        tail -50 "$f"
    done
}
