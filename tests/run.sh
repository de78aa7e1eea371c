#!/bin/sh
# run.sh: runs unit test binaries, fuzz-corpus replays and integration scripts; prints one summary line.
# Usage: run.sh unit UNIT... -- REPLAY...
#        run.sh integration SCRIPT...
#        run.sh all UNIT... -- REPLAY... -- SCRIPT...
# An integration script exits 0 (pass), 77 (skip: says why) or anything else (fail).
set -u
mode=$1; shift
pass=0; fail=0; skip=0; failed=""
log_dir=${SG_BUILD:-build}/test-logs
mkdir -p "$log_dir"

record() { # name rc
    case $2 in
    0) pass=$((pass + 1)); echo "PASS  $1" ;;
    77) skip=$((skip + 1)); echo "SKIP  $1" ;;
    *) fail=$((fail + 1)); failed="$failed $1"; echo "FAIL  $1 (exit $2)" ;;
    esac
}

run_unit() {
    for t in "$@"; do
        n=$(basename "$t")
        "$t" > "$log_dir/$n.log" 2>&1; rc=$?
        [ $rc -ne 0 ] && cat "$log_dir/$n.log"
        record "$n" $rc
    done
}
run_replay() {
    for t in "$@"; do
        n=$(basename "$t"); corpus=${SG_ROOT:-.}/tests/fuzz/corpus/${n#replay_}
        "$t" "$corpus" > "$log_dir/$n.log" 2>&1; rc=$?
        [ $rc -ne 0 ] && tail -30 "$log_dir/$n.log"
        record "$n" $rc
    done
}
run_integration() {
    for t in "$@"; do
        n=$(basename "$t" .sh)
        echo "----  $n"
        # Each script is bounded by its own timeouts; this is a last guard against a hang.
        timeout -k 10 900 sh "$t" > "$log_dir/$n.log" 2>&1; rc=$?
        if [ $rc -ne 0 ]; then tail -60 "$log_dir/$n.log"; else grep -E '^(bench|measured|note):' "$log_dir/$n.log"; fi
        [ $rc -eq 77 ] && tail -1 "$log_dir/$n.log"
        record "$n" $rc
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
