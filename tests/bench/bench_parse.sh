#!/bin/sh
# bench_parse.sh: lines/s and peak RSS of `sgcluster parse` on a 1,000,000-line tests/tools/genlog.py log,
# side by side in the same run with sshguard's parser (sshg-parser) and fail2ban-regex (dovecot and
# postfix filters). Speed is lines per second of CPU time (user+sys) of each process: one core, and
# steadier than wall time on a shared machine. Each fast tool runs 3 times, the best run counts.
# Prints "bench: NAME VALUE UNIT [vs=PEER ratio=R]". Target: >= 5x sshg-parser, <= 16 MiB RSS.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
LINES=${BENCH_LINES:-1000000}
GEN=$ROOT/tests/tools/genlog.py
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT INT TERM
python3 "$GEN" --lines "$LINES" --seed 1 > "$T/mail.log" || exit 1
N=$(wc -l < "$T/mail.log")

# run NAME CMD...: runs under /usr/bin/time; leaves "cpu_seconds peak_kib" in $T/NAME.res
run() {
    name=$1; shift
    /usr/bin/time -f "%U %S %M" -o "$T/$name.time" "$@" || { echo "bench_parse: $name failed" >&2; return 1; }
    awk '{ printf "%.3f %d\n", $1 + $2, $3 }' "$T/$name.time" > "$T/$name.res"
}
best() { # NAME RUNS CMD...: keeps the run with the least CPU time
    name=$1; runs=$2; shift 2
    : > "$T/$name.all"
    i=0
    while [ $i -lt "$runs" ]; do
        run "$name" "$@" || return 1
        cat "$T/$name.res" >> "$T/$name.all"
        i=$((i + 1))
    done
    sort -n "$T/$name.all" | head -1 > "$T/$name.res"
}
cpu() { cut -d' ' -f1 "$T/$1.res"; }
rss() { cut -d' ' -f2 "$T/$1.res"; }
rate() { awk -v n="$N" -v s="$(cpu "$1")" 'BEGIN { printf "%d", (s > 0 ? n / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

best parse 3 sh -c "'$BIN/sgcluster' parse --rules '$ROOT/detect/rules.d' --stats --quiet '$T/mail.log' 2> '$T/parse.stats'" || exit 1
best parse_json 3 sh -c "'$BIN/sgcluster' parse --rules '$ROOT/detect/rules.d' --json '$T/mail.log' > /dev/null" || exit 1
ours=$(rate parse)
ours_json=$(rate parse_json)
matched=$(awk '/^lines matched:/ { print $3 }' "$T/parse.stats")
abuse=$(awk '/^abuse lines:/ { print $3 }' "$T/parse.stats")
echo "bench: parse_lines ${N} lines"
echo "bench: parse_peak_rss $(rss parse) KiB"
echo "bench: parse_json_peak_rss $(rss parse_json) KiB"
echo "bench: parse_lines_with_events $matched lines"
echo "bench: parse_abuse_lines $abuse lines"

SSHG=/usr/libexec/sshguard/sshg-parser
if [ -x "$SSHG" ]; then
    best sshg 3 sh -c "'$SSHG' < '$T/mail.log' > '$T/sshg.out'" || exit 1
    sshg=$(rate sshg)
    sshg_hits=$(wc -l < "$T/sshg.out")
    echo "bench: sshg_parser_lines_per_s $sshg lines/s"
    echo "bench: sshg_parser_peak_rss $(rss sshg) KiB"
    echo "bench: sshg_parser_attack_lines $sshg_hits lines"
    echo "bench: parse_lines_per_s $ours lines/s vs=sshg-parser ratio=$(ratio "$ours" "$sshg")"
    echo "bench: parse_json_lines_per_s $ours_json lines/s vs=sshg-parser ratio=$(ratio "$ours_json" "$sshg")"
    echo "bench: parse_abuse_lines $abuse lines vs=sshg-parser ratio=$(ratio "$abuse" "$sshg_hits")"
else
    echo "bench: parse_lines_per_s $ours lines/s"
    echo "note: $SSHG not installed (Debian package sshguard): no side-by-side figure"
fi

if command -v fail2ban-regex > /dev/null; then
    for f in dovecot 'postfix[mode=aggressive]'; do
        n=$(echo "$f" | sed 's/\[.*//')
        best "f2b_$n" 1 sh -c "timeout 900 fail2ban-regex '$T/mail.log' '$f' > '$T/f2b_$n.out' 2>&1" || continue
        f2b=$(rate "f2b_$n")
        hits=$(sed -n 's/^Lines: [0-9]* lines, [0-9]* ignored, \([0-9]*\) matched.*/\1/p' "$T/f2b_$n.out")
        echo "bench: fail2ban_regex_${n}_lines_per_s $f2b lines/s"
        echo "bench: fail2ban_regex_${n}_peak_rss $(rss "f2b_$n") KiB"
        echo "bench: fail2ban_regex_${n}_matched_lines ${hits:-0} lines"
        echo "bench: parse_lines_per_s $ours lines/s vs=fail2ban-regex-$n ratio=$(ratio "$ours" "$f2b")"
    done
else
    echo "note: fail2ban-regex not installed (Debian package fail2ban): no side-by-side figure"
fi
if [ -n "${sshg:-}" ]; then
    ok=$(awk -v a="$ours" -v b="$sshg" -v r="$(rss parse)" 'BEGIN { print (a >= 5 * b && r <= 16384) ? "met" : "NOT met" }')
    echo "note: target (>= 5x sshg-parser lines/s, <= 16 MiB RSS): $ok"
fi
exit 0
