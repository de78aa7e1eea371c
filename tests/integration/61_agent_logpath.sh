#!/bin/sh
# Log paths that are not files: a FIFO, a directory or a device is refused by `sgagent -n` and at
# start with a message naming the path (and start fails at once instead of blocking in open()); a log
# that does not exist yet is accepted, and a FIFO that appears there later is never opened: the agent
# keeps reading its other logs and answering, refuses a reload that meets it, and stops on SIGTERM.
# Lines whose counts exceed the caps are counted in `sgcluster status`.
set -u
T=$(mktemp -d) PID=
trap '[ -z "$PID" ] || kill -9 $PID 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ ! -f "$T/agent.log" ] || tail -20 "$T/agent.log"; exit 1; }
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}; SG="$BIN/sgcluster"; S="-s $T/ctl.sock"
. "$ROOT/tests/integration/lib/wait.sh"

mkdir -p "$T/keys" "$T/adir"
"$SG" keygen --node n1 "$T/keys" >/dev/null || fail "keygen"
conf() { # LOGS...
    cat > "$T/n1.conf" <<CONF
[node]
name = n1
key_dir = $T/keys
state_dir = $T/state
control_socket = $T/ctl.sock
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
logs = $*
[enforce]
backend = dryrun
CONF
}
mkfifo "$T/fifo.log" || fail "mkfifo"
: > "$T/mail.log"

for bad in "$T/fifo.log:a FIFO" "$T/adir:a directory" "/dev/null:a character device"; do
    path=${bad%%:*}; what=${bad#*:}
    conf "$T/mail.log, $path"
    out=$(timeout 10 "$BIN/sgagent" -n -c "$T/n1.conf" 2>&1); rc=$?
    [ $rc -eq 1 ] || fail "-n with $what as a log exited $rc: $out"
    echo "$out" | grep -q "logs: $path: not a regular file ($what)" || fail "-n does not name $path: $out"
    # Start: refused at once, with the same message (a blocking open would hang here until timeout).
    timeout 10 "$BIN/sgagent" -c "$T/n1.conf" > "$T/start.out" 2>&1; rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "start with $what as a log: exit $rc (124 = still running after 10 s)"
    grep -q "logs: $path: not a regular file ($what)" "$T/start.out" || fail "start does not name $path: $(cat "$T/start.out")"
done

# A log that does not exist yet is fine; a FIFO that appears under its name later is not opened.
conf "$T/mail.log, $T/late.log"
out=$("$BIN/sgagent" -n -c "$T/n1.conf" 2>&1) || fail "missing log refused: $out"
"$BIN/sgagent" -c "$T/n1.conf" >> "$T/agent.log" 2>&1 &
PID=$!
up_or_gone() { timeout 5 "$SG" status $S >/dev/null 2>&1 || ! kill -0 $PID 2>/dev/null; }
wait_for 10 up_or_gone || fail "agent did not answer within 10 s"
kill -0 $PID 2>/dev/null || fail "agent exited"
mkfifo "$T/late.log" || fail "mkfifo late"
lines() { timeout 2 "$SG" status $S --json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["detect"]["lines"])' 2>/dev/null || echo "no answer"; }
# A forged count on the regular log: read (so the loop is not stuck on the FIFO) and counted as capped.
echo "$(date -u '+%b %e %H:%M:%S') mx1 dovecot: imap-login: Disconnected (auth failed, 100000 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.60, lip=192.0.2.1, TLS, session=<f1>" >> "$T/mail.log"
read_one() { [ "$(lines)" = 1 ]; }
wait_for 10 read_one || fail "the regular log is not read any more after a FIFO appeared (lines: $(lines))"
timeout 5 "$SG" status $S --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["detect"]; assert d["capped_attempts"] == 1 and d["capped_recipients"] == 0, d' || fail "status: capped counters"
timeout 5 "$SG" status $S | grep -q "capped: 1 attempts, 0 recipients" || fail "status text: $(timeout 5 "$SG" status $S)"
# A reload now meets the FIFO at a configured path: refused with the path named, the agent runs on.
kill -HUP $PID
wait_for 5 grep -q "reload refused" "$T/agent.log" || fail "reload with a FIFO as a log was not refused"
grep -q "logs: $T/late.log: not a regular file (a FIFO)" "$T/agent.log" || fail "reload error does not name the FIFO"
[ "$(lines)" = 1 ] || fail "agent not answering after the refused reload"
kill -TERM $PID
gone() { ! kill -0 $PID 2>/dev/null; }
wait_for 10 gone || fail "agent still running 10 s after SIGTERM"
wait $PID; rc=$?; PID=
[ $rc -eq 0 ] || fail "exit code $rc after SIGTERM"
echo "log path checks passed"
