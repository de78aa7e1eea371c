#!/bin/sh
# run.sh: runs unit test binaries, fuzz-corpus replays and integration scripts; prints one summary line.
# Usage: run.sh unit UNIT... -- REPLAY...
#        run.sh integration SCRIPT...
#        run.sh all UNIT... -- REPLAY... -- SCRIPT...
# A unit binary or a replay passes on exit 0 and fails on anything else (a cmocka binary exits with
# the number of failed tests: 77 there is 77 failures, never a skip). An integration script exits
# 0 (pass), 77 (skip; its last output line says why) or anything else (fail).
# SG_NO_SKIP=1 (as CI runs): a skip counts as a failure, and the summary still counts it as skipped.
set -u
mode=$1; shift
pass=0; fail=0; skip=0; failed=""
no_skip=${SG_NO_SKIP:-0}
log_dir=${SG_BUILD:-build}/test-logs
mkdir -p "$log_dir"

pass() { pass=$((pass + 1)); echo "PASS  $1${2:+ ($2)}"; }
fail() { fail=$((fail + 1)); failed="$failed $1"; echo "FAIL  $1 ($2)"; }
skip() { # NAME WHY
    skip=$((skip + 1))
    if [ "$no_skip" = 1 ]; then fail "$1" "skipped, and SG_NO_SKIP=1 makes a skip a failure: $2"
    else echo "SKIP  $1 ($2)"; fi
}

# A unit binary or a replay: exit 0 passes, anything else fails.
run_bin() { # LOGLINES BINARY ARGS...
    lines=$1; t=$2; shift 2
    n=$(basename "$t")
    "$t" "$@" > "$log_dir/$n.log" 2>&1; rc=$?
    if [ $rc -eq 0 ]; then pass "$n"; return; fi
    tail -n "$lines" "$log_dir/$n.log"
    fail "$n" "exit $rc"
}
run_unit() {
    for t in "$@"; do run_bin 100000 "$t"; done
}
run_replay() {
    for t in "$@"; do run_bin 30 "$t" "${SG_ROOT:-.}/tests/fuzz/corpus/$(basename "$t" | sed 's/^replay_//')"; done
}
run_integration() {
    for t in "$@"; do
        n=$(basename "$t" .sh)
        echo "----  $n"
        # Each script is bounded by its own timeouts; this is a last guard against a hang
        # (SG_TEST_TIMEOUT seconds, 900 by default: test 78 at 1M addresses needs ~1500).
        t0=$(date +%s)
        timeout -k 10 "${SG_TEST_TIMEOUT:-900}" sh "$t" > "$log_dir/$n.log" 2>&1; rc=$?
        case $rc in
        0) grep -E '^(bench|measured|note):' "$log_dir/$n.log"; pass "$n" "$(( $(date +%s) - t0 )) s" ;;
        77) skip "$n" "$(tail -n 1 "$log_dir/$n.log")" ;;
        *) tail -n 60 "$log_dir/$n.log"; fail "$n" "exit $rc" ;;
        esac
    done
}

# Split the argument list at each "--".
a=""; b=""; c=""; part=1
for x in "$@"; do
    if [ "$x" = "--" ]; then part=$((part + 1)); continue; fi
    case $part in 1) a="$a $x" ;; 2) b="$b $x" ;; 3) c="$c $x" ;; esac
done
case $mode in
unit) run_unit $a; run_replay $b ;;
integration) run_integration $a ;;
all) run_unit $a; run_replay $b; run_integration $c ;;
*) echo "usage: run.sh unit|integration|all ..." >&2; exit 2 ;;
esac
[ -n "$failed" ] && echo "failed:$failed"
echo "tests: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
