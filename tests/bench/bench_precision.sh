#!/bin/sh
# bench_precision.sh: the shipped scenarios over 6 hours of an ISP's simulated IMAP traffic
# (tests/tools/ispsim.c: customer pools and a CGNAT pool, stale phones, typos, roaming phones, mixed
# with brute force, a spraying botnet, many addresses on one account and infected customers inside
# a pool), through `sgcluster replay` on the log's own timestamps.
# Prints "bench: NAME VALUE UNIT": good customers who lost access (an address or prefix of theirs
# banned) and customer-minutes blocked; per attack class, attackers stopped (of all) and the most
# attempts one of them made before its stop. Goal: 0 customers blocked, every class stopped.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}; BUILD=${SG_BUILD:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT INT TERM
"$BUILD/tests/tool_ispsim" --hours 6 --seed 1 --truth "$T/truth" > "$T/mail.log" || exit 1
printf '[node]\nname = replay\n[detect]\nrules = %s/detect/rules.d\nscenarios = %s/agent/scenarios.d\n[precision]\n%s\n' \
  "$ROOT" "$ROOT" "customer_networks = 100.64.0.0/10" > "$T/replay.conf"
"$BIN/sgcluster" replay -c "$T/replay.conf" --json "$T/mail.log" > "$T/decisions.json" || exit 1
python3 "$ROOT/tests/tools/ispsim_score.py" "$T/truth" "$T/decisions.json" "$T/mail.log"
