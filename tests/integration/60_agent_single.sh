#!/bin/sh
# One real sgagent (dry-run backend, no root needed): configuration check, every control command
# with good and bad arguments, detection from a followed log, the allowlist winning over scenario
# and operator bans, SIGHUP reload without loss, and restore from the snapshot after SIGKILL.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/agent.log" ] && tail -20 "$T/agent.log"; exit 1; }
. "$ROOT/tests/integration/lib/wait.sh"
SG="$BIN/sgcluster"
S="-s $T/ctl.sock"

mkdir -p "$T/keys"
"$SG" keygen --node n1 "$T/keys" >/dev/null || fail "keygen"
cat > "$T/n1.conf" <<CONF
[node]
name = n1
addresses = 192.0.2.1
key_dir = $T/keys
state_dir = $T/state
control_socket = $T/ctl.sock
snapshot_interval = 1s
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
logs = $T/mail.log
[enforce]
backend = dryrun
allowlist = 198.51.100.0/24
CONF
: > "$T/mail.log"

# -n: a good configuration, then a broken one with its errors located.
out=$("$BIN/sgagent" -n -c "$T/n1.conf" 2>&1) || fail "good config refused: $out"
[ "$out" = "configuration OK" ] || fail "expected 'configuration OK', got: $out"
printf '[node]\nname = n1\ncurve = perhaps\n[enforce]\nports = 25,70000\n[nonsense]\nx = 1\n' > "$T/bad.conf"
out=$("$BIN/sgagent" -n -c "$T/bad.conf" 2>&1) && fail "bad config accepted"
echo "$out" | grep -q "^$T/bad.conf:3: curve" || fail "no file:line for curve: $out"
echo "$out" | grep -q "^$T/bad.conf:5: ports" || fail "no file:line for ports: $out"
echo "$out" | grep -q "^$T/bad.conf:6: unknown section \[nonsense\]" || fail "no file:line for section (at its header): $out"

start_agent() {
    "$BIN/sgagent" -c "$T/n1.conf" >> "$T/agent.log" 2>&1 &
    PID=$!
    wait_for 10 answers_or_died || fail "agent did not answer within 10 s"
    kill -0 $PID 2>/dev/null || fail "agent exited"
}
answers_or_died() { "$SG" status $S >/dev/null 2>&1 || ! kill -0 $PID 2>/dev/null; }
start_agent
"$SG" status $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["node"]=="n1" and d["healthy"] is True and d["peers"]==[], d' || fail "status --json"

# Bad arguments: exit 2 (usage) or 1 (refused), with a message; the agent keeps serving.
expect() { want=$1; shift; "$@" >/dev/null 2>"$T/err"; rc=$?; [ $rc -eq "$want" ] || fail "'$*' exited $rc, want $want"; [ -s "$T/err" ] || [ "$want" = 0 ] || fail "'$*' printed no error"; }
expect 2 "$SG" ban $S
expect 2 "$SG" ban not-an-address $S
expect 2 "$SG" ban 203.0.113.5 --for soon $S
expect 2 "$SG" ban 203.0.113.5 --bogus $S
expect 2 "$SG" frobnicate
expect 2 "$SG" top -n 0 $S
expect 1 "$SG" unban 203.0.113.99 $S
expect 1 "$SG" release nobody@example.jp $S
expect 1 "$SG" ban 127.0.0.1 $S
expect 1 "$SG" ban 198.51.100.20 $S
expect 1 "$SG" ban 192.0.2.1 $S
expect 1 "$SG" ban 10.0.0.0/8 $S
expect 1 "$SG" status -s "$T/nope.sock"
python3 - "$T/ctl.sock" <<'PY' || fail "garbage on the control socket"
import socket, sys
for payload in (b"\x00\xff\xfe garbage\n", b"x" * 20000, b"status\t" * 40 + b"\n", b""):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])
    s.sendall(payload); s.shutdown(socket.SHUT_WR)
    data = s.recv(65536); s.close()
    assert payload == b"" or data[:1] in (b"1", b"2"), (payload[:20], data[:40])
PY
expect 0 "$SG" status $S

# Operator actions.
expect 0 "$SG" ban 203.0.113.5 --for 2h --reason "manual test" $S
expect 0 "$SG" ban 2001:db8:7::/64 $S
expect 0 "$SG" hold spam@example.jp --for 1h $S
"$SG" bans $S --json > "$T/bans.json" || fail "bans --json"
python3 - "$T/bans.json" <<'PY' || fail "bans --json content"
import json, sys
b = {x["key"]: x for x in json.load(open(sys.argv[1]))}
for k in ("ip:203.0.113.5", "net:2001:db8:7::/64", "user:spam@example.jp"):
    assert k in b, (k, list(b))
    for f in ("key", "action", "expires_at", "reason", "author"): assert f in b[k]
assert b["ip:203.0.113.5"]["action"] == "ban" and b["ip:203.0.113.5"]["author"] == "n1"
assert "manual test" in b["ip:203.0.113.5"]["reason"]
assert b["user:spam@example.jp"]["kind"] == "hold"
PY
expect 0 "$SG" release spam@example.jp $S
"$SG" bans $S --all --json | grep -q '"key":"user:spam@example.jp","action":"unban"' || fail "release left no tombstone"
"$SG" bans $S --json | grep -q '"key":"user:spam@example.jp"' && fail "bans lists the released hold (only --all shows tombstones)"
"$SG" status $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert (d["bans"], d["holds"], d["tombstones"]) == (2, 0, 1), d' || fail "status counts of bans, holds, tombstones"

# Detection: 12 real Dovecot failure lines from one address -> banned by auth-ip at the 10th
# (the 2 after it come from a blocked source and are not counted);
# 60 from an allowlisted address -> never banned.
now() { date -u '+%b %e %H:%M:%S'; }
for i in 1 2 3 4 5 6 7 8 9 10 11 12; do
  echo "$(now) mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice@example.jp>, method=PLAIN, rip=203.0.113.77, lip=192.0.2.1, TLS, session=<s$i>" >> "$T/mail.log"
done
i=0; while [ $i -lt 60 ]; do
  echo "$(now) mx1 dovecot: pop3-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<boss>, method=PLAIN, rip=198.51.100.9, lip=192.0.2.1, session=<t$i>" >> "$T/mail.log"; i=$((i + 1))
done
banned() { "$SG" bans $S | grep -q "^ip:$1 .*$2"; }
wait_for 5 banned 203.0.113.77 auth-ip || fail "no auth-ip ban from the log after 5 s"
"$SG" bans $S --all | grep -q "198.51.100.9" && fail "allowlisted address banned by a scenario"
"$SG" status $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["refused_by_guard"]>=1 and d["detect"]["events"]>=72, d' || fail "status counters"
grep -q "decision: ban ip:203.0.113.77 .*decided here on n1: auth-ip" "$T/agent.log" || fail "no decision log line"
"$SG" top $S --json | python3 -c 'import json,sys; t=json.load(sys.stdin); assert any(x["key"]=="auth-ip|ip:203.0.113.77" and x["count"]==10 for x in t), t' || fail "top"

# explain: a phone whose user logged in from it, then polls with an old password 15 times, is a
# stale client (known-good for that user), not banned; the report says why, and what would trigger.
echo "$(now) mx1 dovecot: imap-login: Login: user=<mum@example.jp>, method=PLAIN, rip=203.0.113.50, lip=192.0.2.1, mpid=4242, TLS, session=<ok1>" >> "$T/mail.log"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
  echo "$(now) mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<mum@example.jp>, method=PLAIN, rip=203.0.113.50, lip=192.0.2.1, TLS, session=<p$i>" >> "$T/mail.log"
done
i=0; until "$SG" explain 203.0.113.50 mum@example.jp $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["evidence"]["stale_users"]==1 and d["known_good"]["known_good"], d' 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 50 ] && fail "explain: the phone's login and stale failures not seen after 5 s"; sleep 0.1; done
"$SG" explain 203.0.113.50 mum@example.jp $S --json | python3 -c '
import json,sys
d=json.load(sys.stdin)
assert d["type"]=="address" and d["address"]=="203.0.113.50" and d["prefix"]=="203.0.113.0/24", d
assert d["banned"] is None and d["evidence"]["good_users"]==1, d
row={r["id"]: r for r in d["scenarios"]}
assert row["auth-ip"]["count"]==1 and row["auth-ip"]["threshold"]==10 and row["auth-ip"]["window_s"]==600, row["auth-ip"]
assert d["next"]["scenario"] in row, d["next"]
' || fail "explain of a stale phone"
"$SG" bans $S --all | grep -q "203.0.113.50" && fail "the stale phone was banned"
"$SG" status $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["precision"]; assert d["stale_failures"]==15 and d["attack_bans"]==0, d' || fail "status precision counters"
"$SG" explain 203.0.113.77 $S --json | python3 -c '
import json,sys
d=json.load(sys.stdin)
assert d["banned"]["key"]=="ip:203.0.113.77" and d["banned"]["scenario"]=="auth-ip", d
assert "known_good" not in d and d["evidence"]["stale_users"]==0, d
' || fail "explain of a banned guesser"
"$SG" explain 203.0.113.77 $S | grep -q "^banned     yes: ip:203.0.113.77" || fail "explain table"
"$SG" explain mum@example.jp 203.0.113.50 $S --json | python3 -c '
import json,sys
d=json.load(sys.stdin)
assert d["type"]=="user" and d["held"] is None and d["known_good_addresses"]==1 and d["known_good"]["known_good"], d
assert d["failing_addresses"]==0 and not d["under_attack"], d
' || fail "explain of a user"
expect 2 "$SG" explain ip:bogus $S
before=$("$SG" top $S --json)

# SIGHUP with a changed configuration: state kept, new setting live.
sed -i 's/^allowlist = .*/allowlist = 198.51.100.0\/24, 203.0.113.200/' "$T/n1.conf"
kill -HUP $PID
wait_for 5 grep -q "reloaded" "$T/agent.log" || fail "no reload"
[ "$("$SG" top $S --json)" = "$before" ] || fail "counters changed across reload"
"$SG" bans $S | grep -q "^ip:203.0.113.77 " || fail "ban lost across reload"
expect 1 "$SG" ban 203.0.113.200 $S
# A broken configuration is refused by reload; the agent keeps running the old one.
cp "$T/n1.conf" "$T/n1.good"; echo "bogus line without equals" >> "$T/n1.conf"
kill -HUP $PID
wait_for 5 grep -q "reload refused" "$T/agent.log" || fail "bad reload not reported"
kill -0 $PID || fail "agent died on a bad reload"
cp "$T/n1.good" "$T/n1.conf"
expect 0 "$SG" status $S

# SIGKILL once a snapshot (every second) was written after the last change: the restarted agent
# has every ban and counter.
touch "$T/mark"
snapped() { [ -n "$(find "$T/state/state.snap" "$T/state/cursors" -newer "$T/mark" 2>/dev/null | sed -n 2p)" ]; }
wait_for 5 snapped || fail "no snapshot within 5 s (snapshot_interval = 1s)"
kill -9 $PID; wait $PID 2>/dev/null; PID=
start_agent
"$SG" bans $S | grep -q "^ip:203.0.113.77 " || fail "ban lost after SIGKILL"
"$SG" bans $S | grep -q "^ip:203.0.113.5 " || fail "manual ban lost after SIGKILL"
"$SG" top $S --json | python3 -c 'import json,sys; t=json.load(sys.stdin); assert any(x["key"]=="auth-ip|ip:203.0.113.77" and x["count"]==10 for x in t), t' || fail "counters lost after SIGKILL"
# The log cursor was kept: the 72 old lines are not counted again.
"$SG" status $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["detect"]["lines"]==0, d["detect"]' || fail "log re-read after restart"

# SIGTERM: a clean exit.
kill -TERM $PID; wait $PID; rc=$?; PID=
[ $rc -eq 0 ] || fail "exit code $rc after SIGTERM"
[ -f "$T/state/state.snap" ] || fail "no snapshot"
echo "agent single-node checks passed"
