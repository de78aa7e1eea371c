#!/bin/sh
# What a newcomer trips over, tried as one would: --version and --help of both binaries, global
# options before the command, status naming the logs it follows (a missing log is DEGRADED, not
# HEALTHY with 0 lines), `bans` listing only what is in force, --json honoured by every command
# (refusals and usage errors as one JSON object), timestamped foreground log lines, `parse` with a
# header row and --print-missed, and configuration errors at their real line with "did you mean".
set -u
T=$(mktemp -d) PID=
trap '[ -z "$PID" ] || kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ ! -f "$T/agent.log" ] || tail -20 "$T/agent.log"; exit 1; }
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}; SG="$BIN/sgcluster"; SOCK="$T/ctl.sock"
. "$ROOT/tests/integration/lib/wait.sh"
json_ok() { python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }

# ---- versions and help: one version, exit 0 ----
v1=$("$SG" --version) || fail "sgcluster --version exit $?"
v2=$("$BIN/sgagent" --version) || fail "sgagent --version exit $?"
[ "${v1#sgcluster }" = "${v2#sgagent }" ] && [ -n "${v1#sgcluster }" ] || fail "versions differ: '$v1' '$v2'"
"$BIN/sgagent" --help > "$T/help" 2>&1 || fail "sgagent --help exit $?"
grep -q "^usage: sgagent" "$T/help" && grep -q -- "--version" "$T/help" || fail "sgagent --help: $(cat "$T/help")"
"$BIN/sgagent" -h > /dev/null 2>&1 || fail "sgagent -h exit $?"
"$SG" --help | grep -q "allow ADDR|PREFIX" || fail "sgcluster --help does not list allow"

# ---- configuration errors: their line, did you mean ----
mkdir -p "$T/keys"
"$SG" keygen --node n1 "$T/keys" >/dev/null || fail "keygen"
node_section() { printf '[node]\nname = n1\nkey_dir = %s/keys\nstate_dir = %s/state\ncontrol_socket = %s\n' "$T" "$T" "$SOCK"; }
{ node_section; cat <<CONF
[detcet]
logs = $T/mail.log
[enforce]
backend = dryrun
vardict = drop
allowlist = 10.0.0.0/8, 198.51.100.x
CONF
} > "$T/bad.conf"
out=$("$BIN/sgagent" -n -c "$T/bad.conf" 2>&1) && fail "-n accepted a misspelt section"
echo "$out" | grep -qF "$T/bad.conf:6: unknown section [detcet]; did you mean [detect]?" || fail "section error: $out"
echo "$out" | grep -qF "$T/bad.conf:10: unknown key 'vardict' in [enforce]; did you mean verdict?" || fail "key error: $out"
echo "$out" | grep -qF "$T/bad.conf:11: [enforce] allowlist: '198.51.100.x'" || fail "allowlist error not at its line: $out"
echo "$out" | grep -q ":0:" && fail "an error at line 0: $out"

# ---- an agent following one present and one missing log ----
{ node_section; cat <<CONF
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
logs = $T/mail.log, $T/later.log
[enforce]
backend = dryrun
[policy]
socket = none
CONF
} > "$T/n1.conf"
: > "$T/mail.log"
"$BIN/sgagent" -c "$T/n1.conf" > "$T/agent.log" 2>&1 &
PID=$!
up() { "$SG" -s "$SOCK" status >/dev/null 2>&1 || ! kill -0 $PID 2>/dev/null; }
wait_for 10 up || fail "agent did not answer"
kill -0 $PID 2>/dev/null || fail "agent exited"

# Global options before the command, both spellings.
"$SG" -s "$SOCK" status > "$T/st" || fail "sgcluster -s PATH status: exit $?"
"$SG" --socket "$SOCK" --json peers | json_ok 'd == []' || fail "--socket PATH --json peers"
grep -q "DEGRADED" "$T/st" || fail "a missing log, and not DEGRADED: $(cat "$T/st")"
grep -q "1 of 2 logs missing" "$T/st" || fail "status does not say why: $(head -3 "$T/st")"
grep -qF "logs      $T/later.log: MISSING" "$T/st" || fail "status does not name the missing log: $(cat "$T/st")"
grep -qF "logs      $T/mail.log: 0 lines, last line read never" "$T/st" || fail "status: present log: $(cat "$T/st")"
"$SG" --json -s "$SOCK" status | json_ok 'not d["healthy"] and d["problems"] == ["1 of 2 logs missing"] and [l["exists"] for l in d["logs"]] == [True, False]' \
    || fail "status --json logs: $("$SG" --json -s "$SOCK" status)"
# The log appears and a line is read: HEALTHY, with the line counted and its time shown.
echo "$(date -u '+%b %e %H:%M:%S') mx1 postfix/smtpd[1]: connect from unknown[198.51.100.3]" > "$T/later.log"
healthy() { "$SG" -s "$SOCK" --json status | json_ok 'd["healthy"] and d["problems"] == [] and d["logs"][1]["lines"] == 1 and d["logs"][1]["last_line_at"] > 0'; }
wait_for 10 healthy || fail "not HEALTHY once the log exists: $("$SG" -s "$SOCK" status | head -4)"
"$SG" -s "$SOCK" status | grep -q "later.log: 1 lines, last line read 20" || fail "status text after a line: $("$SG" -s "$SOCK" status)"

# ---- bans: what is in force by default, lifted records with --all ----
"$SG" -s "$SOCK" ban 198.51.100.20 --for 1h --reason "test" --json > "$T/ban.json" || fail "ban exit $?"
json_ok 'd["ok"] and d["key"] == "ip:198.51.100.20" and d["action"] == "ban"' < "$T/ban.json" || fail "ban --json: $(cat "$T/ban.json")"
"$SG" -s "$SOCK" ban 198.51.100.21 > /dev/null || fail "second ban"
"$SG" -s "$SOCK" unban 198.51.100.21 --json | json_ok 'd["ok"] and d["action"] == "unban"' || fail "unban --json"
"$SG" -s "$SOCK" bans --json | json_ok '[b["key"] for b in d] == ["ip:198.51.100.20"]' \
    || fail "bans lists more than the ban in force: $("$SG" -s "$SOCK" bans)"
"$SG" -s "$SOCK" bans | grep -q "198.51.100.21" && fail "bans shows the lifted ban"
"$SG" -s "$SOCK" bans --all --json | json_ok 'any(b["key"] == "ip:198.51.100.21" and b["action"] == "unban" and not b["active"] for b in d)' \
    || fail "bans --all lacks the tombstone: $("$SG" -s "$SOCK" bans --all)"

# ---- --json: refusals and errors are JSON objects ----
err_json() { # EXPECTED-RC PYEXPR CMD...
    want=$1 expr=$2; shift 2
    "$@" > "$T/out" 2> "$T/err"; rc=$?
    [ $rc -eq "$want" ] || fail "$*: exit $rc, wanted $want ($(cat "$T/err"))"
    json_ok "$expr" < "$T/err" || fail "$*: stderr is not the JSON error wanted: $(cat "$T/err")"
    [ -s "$T/out" ] && fail "$*: wrote to stdout on error: $(cat "$T/out")"
    return 0
}
err_json 1 '"never-ban" in d["error"] and d["code"] == 1' "$SG" -s "$SOCK" --json ban 127.0.0.1
err_json 1 '"no active ban" in d["error"]' "$SG" -s "$SOCK" unban 198.51.100.99 --json
err_json 2 '"not an address" in d["error"]' "$SG" -s "$SOCK" ban nonsense --json
err_json 2 '"missing" in d["error"] and "usage" in d["error"]' "$SG" -s "$SOCK" ban --json
err_json 2 '"bad duration" in d["error"]' "$SG" -s "$SOCK" ban 198.51.100.30 --for 9q --json
err_json 2 '"unknown command" in d["error"]' "$SG" --json frobnicate
err_json 1 '"cannot reach the agent" in d["error"]' "$SG" -s "$T/nowhere.sock" --json status
# Without --json the same refusal is prose.
"$SG" -s "$SOCK" ban 127.0.0.1 2> "$T/err" && fail "ban of loopback accepted"
grep -q "^refused: ip:127.0.0.1 is protected" "$T/err" || fail "refusal text: $(cat "$T/err")"

# ---- foreground log lines carry a timestamp ----
grep -q "sgagent n1 started" "$T/agent.log" || fail "no start line: $(head -3 "$T/agent.log")"
bad=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z ' "$T/agent.log")
[ "$bad" = 0 ] || fail "$bad log lines without a timestamp: $(grep -vE '^[0-9]{4}-' "$T/agent.log" | head -3)"
kill -TERM $PID; wait $PID; rc=$?; PID=
[ $rc -eq 0 ] || fail "exit $rc after SIGTERM"

# ---- parse: a header row, and the lines no rule matched ----
{
    echo "Dec  6 10:00:00 mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.60, lip=192.0.2.1, TLS, session=<f1>"
    echo "Dec  6 10:00:01 mx1 kernel: something no rule knows"
    echo "Dec  6 10:00:02 mx1 cron[7]: (root) CMD (true)"
} > "$T/p.log"
"$SG" parse --rules "$ROOT/detect/rules.d" "$T/p.log" > "$T/p.out" || fail "parse exit $?"
head -1 "$T/p.out" | grep -qE '^LINE +TIME +KIND +SERVICE +IP +USER +RULE' || fail "parse: no header row: $(head -2 "$T/p.out")"
grep -q "missed" "$T/p.out" && fail "parse printed missed lines without --print-missed"
"$SG" parse --rules "$ROOT/detect/rules.d" --print-missed --stats "$T/p.log" > "$T/p.out" 2> "$T/p.stats" || fail "parse --print-missed"
[ "$(grep -c ' missed ' "$T/p.out")" = 2 ] || fail "parse --print-missed: $(cat "$T/p.out")"
grep -q "^2 *missed *Dec  6 10:00:01 mx1 kernel: something no rule knows" "$T/p.out" || fail "missed row: $(cat "$T/p.out")"
grep -q "^missed lines: *2$" "$T/p.stats" || fail "--stats: no missed count: $(cat "$T/p.stats")"
"$SG" parse --rules "$ROOT/detect/rules.d" --print-missed --json "$T/p.log" \
    | python3 -c 'import json,sys; r=[json.loads(l) for l in sys.stdin]; m=[x["line"] for x in r if "missed" in x]; sys.exit(0 if m == [2, 3] and len(r) == 3 else 1)' \
    || fail "parse --print-missed --json: $("$SG" parse --rules "$ROOT/detect/rules.d" --print-missed --json "$T/p.log")"
echo "newcomer checks passed"
