#!/bin/sh
# bench_tune.sh: lines/s of `sgcluster tune` on a 1,000,000-line tests/tools/genlog.py log (the log
# bench_parse.sh reads), beside `sgcluster parse` on the same log in the same run. Speed is lines per
# second of CPU time (user+sys), best of 3 runs. Three figures:
#   tune_lines_per_s         the flow's shape and the proposals (--no-whatif): one pass, parser + analysis
#   tune_whatif_lines_per_s  everything: the second pass replays the log through the scenario engine
#                            with the proposed thresholds (as `sgcluster replay` does) and the limits
#   replay_lines_per_s       `sgcluster replay` alone, for comparison (the what-if pass costs this much)
# Target: tune_lines_per_s >= 1,000,000.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
LINES=${BENCH_LINES:-1000000}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT INT TERM
python3 "$ROOT/tests/tools/genlog.py" --lines "$LINES" --seed 1 > "$T/mail.log" || exit 1
N=$(wc -l < "$T/mail.log")
. "$ROOT/tests/integration/lib/offline.sh"
offline_conf "$T/tune.conf"
LIMIT='user_hour=key=sasl_username measure=recipients window=1h max=500 service=submission warn=80% defer=100% hold=300%'

best() { # NAME CMD...: the least CPU time (user+sys) of 3 runs, in $T/NAME.cpu
    name=$1; shift
    : > "$T/$name.all"
    for i in 1 2 3; do
        /usr/bin/time -f "%U %S" -o "$T/$name.time" "$@" > /dev/null 2>&1 || { echo "bench_tune: $name failed" >&2; return 1; }
        awk '{ printf "%.3f\n", $1 + $2 }' "$T/$name.time" >> "$T/$name.all"
        : "$i"
    done
    sort -n "$T/$name.all" | head -1 > "$T/$name.cpu"
}
rate() { awk -v n="$N" -v s="$(cat "$T/$1.cpu")" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'; }

best parse "$BIN/sgcluster" parse --rules "$ROOT/detect/rules.d" --stats --quiet "$T/mail.log" || exit 1
best tune "$BIN/sgcluster" tune -c "$T/tune.conf" --limit "$LIMIT" --no-whatif --json "$T/mail.log" || exit 1
best tune_whatif "$BIN/sgcluster" tune -c "$T/tune.conf" --limit "$LIMIT" --json "$T/mail.log" || exit 1
best replay "$BIN/sgcluster" replay -c "$T/tune.conf" --json "$T/mail.log" || exit 1
echo "bench: tune_lines $N lines"
echo "bench: parse_lines_per_s $(rate parse) lines/s (same log, same run)"
echo "bench: tune_lines_per_s $(rate tune) lines/s"
echo "bench: tune_whatif_lines_per_s $(rate tune_whatif) lines/s"
echo "bench: replay_lines_per_s $(rate replay) lines/s"
ok=$(awk -v a="$(rate tune)" 'BEGIN { print (a >= 1000000) ? "met" : "NOT met" }')
echo "note: target (tune_lines_per_s >= 1000000): $ok"
exit 0
