#!/bin/bash
# 32_policy_local_user.sh: the policy service against local users, with a real sgagent. On its
# unix socket only the policy user (postfix) and root are served: `nobody` connecting is closed
# at once, unanswered, and counted; postfix and root get answers. With TCP configured as well,
# 512 half-open connections do not keep a Postfix-like client from getting answers (a connection
# that never sent a request is dropped first when the table is full, and timed out soon anyway),
# and the silent ones are gone within the request timeout. Needs root (setpriv to other users).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
[ "$(id -u)" = 0 ] || { echo "skip: needs root (runs clients as nobody and postfix)"; exit 77; }
for tool in python3 setpriv; do command -v $tool >/dev/null || { echo "skip: needs $tool"; exit 77; }; done
# The clients that run as other users need a python they may execute (not a shim under /root).
PY=/usr/bin/python3
[ -x $PY ] || PY=$(command -v python3)
id postfix >/dev/null 2>&1 || { echo "skip: needs the postfix user"; exit 77; }
. "$ROOT/tests/integration/lib/agent1.sh"
T=$(mktemp -d /tmp/sgt-polu.XXXXXX)
cleanup() {
    agent1_stop
    [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
die() { echo "FAIL: $*"; tail -20 "$T/agent.log"; exit 1; }
sgc() { agent1_ctl "$@"; }
pol() { sgc status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['policy']['$1'])"; }

# The clients below run as other users: they must be able to reach the socket through $T. The
# socket's directory is world-searchable here so that `nobody` gets as far as the agent's own
# check; the deployment makes it 0750 group postfix (checked at the end).
chmod 0755 "$T"
mkdir -p "$T/spool/sgcluster"
chmod 0755 "$T/spool" "$T/spool/sgcluster"
agent1_start "$T" p1 dryrun <<CONF || die "agent did not start"
[policy]
socket = $T/spool/sgcluster/policy
user = postfix
listen = 127.0.0.1:0
CONF
# -n and start agree on the policy settings: a socket whose directory is missing, and a user
# that does not exist, are refused by both.
for bad_line in "socket = $T/nodir/policy" "user = no-such-user-$$"; do
    { cat "$T/p1.conf"; echo "$bad_line"; } > "$T/bad.conf"      # the file ends in [policy]
    out=$("$BIN/sgagent" -n -c "$T/bad.conf" 2>&1) && bad "-n accepted '$bad_line'" ||
        ok "-n refuses '$bad_line': $(echo "$out" | grep policy | head -1)"
    sed -i -e "s|^control_socket = .*|control_socket = $T/bad.sock|" -e "s|^state_dir = .*|state_dir = $T/bad-state|" "$T/bad.conf"
    timeout 10 "$BIN/sgagent" -c "$T/bad.conf" > "$T/bad.log" 2>&1 && bad "start accepted '$bad_line'" ||
        ok "start refuses it too: $(grep -m1 policy "$T/bad.log")"
done

port=$(sed -n 's/.*policy: listening.* (port \([0-9]*\)).*/\1/p' "$T/agent.log" | head -1)
[ -n "$port" ] || die "no TCP port in the agent's log"

# ask USER: one request over the unix socket as USER; prints the answer, or EOF when closed
# unanswered.
cat > "$T/ask.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("CONNECT-ERROR %s" % e.strerror); sys.exit(0)
req = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
       b"client_address=192.0.2.77\nsasl_username=victim@example.jp\nsender=victim@example.jp\n"
       b"recipient=x@example.net\nrecipient_count=0\ninstance=1.2.3\n\n")
try:
    s.sendall(req)
    data = b""
    while not data.endswith(b"\n\n"):
        c = s.recv(4096)
        if not c: break
        data += c
except OSError:
    data = b""
print(data.decode().strip() or "EOF")
PY
ask() { setpriv --reuid="$1" --regid="$(id -g "$1")" --clear-groups "$PY" "$T/ask.py" "$T/spool/sgcluster/policy"; }

# nobody: closed unanswered, five times, each counted; nothing reaches decide().
req0=$(pol requests)
for k in 1 2 3 4 5; do
    a=$(ask nobody)
    [ "$a" = EOF ] || bad "nobody got '$a' (want a close without answer)"
done
[ "$(pol refused_user)" = 5 ] && ok "nobody refused 5 times, counted 5" || bad "refused_user: $(pol refused_user)"
[ "$(pol requests)" = "$req0" ] && ok "no request of nobody's was served" || bad "requests went from $req0 to $(pol requests)"
grep -q "refused a client of uid $(id -u nobody)" "$T/agent.log" && ok "the refusal is logged with the uid" ||
    bad "no log line for the refused uid"

# postfix and root are served.
a=$(ask postfix); [[ $a == action=* ]] && ok "postfix served: $a" || bad "postfix got '$a'"
a=$(ask root); [[ $a == action=* ]] && ok "root served: $a" || bad "root got '$a'"
[ "$(pol refused_user)" = 5 ] || bad "refused_user changed to $(pol refused_user)"

# 512 half-open TCP connections (silent, or a request started and never finished), then a
# Postfix-like client: answered on new connections over TCP and on the unix socket.
timeout 120 python3 - "$port" "$T/ask.py" "$T/spool/sgcluster/policy" "$PY" <<'PY' || bad "half-open flood"
import socket, subprocess, sys, time
port, ask, upath, py = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
REQ = (b"request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
       b"client_address=192.0.2.78\nsasl_username=alice@example.jp\nsender=alice@example.jp\n"
       b"recipient=x@example.net\nrecipient_count=0\ninstance=4.5.6\n\n")
PARTIAL = b"request=smtpd_access_policy\nprotocol_state=RCPT\n"
# Half-open in the ways that are not idle (an idle connection was always evictable): 256 with a
# request started and never finished, 256 that asked once (so they look like Postfix) and then
# started one more. Silent ones are timed out below.
hogs = []
for i in range(512):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if i < 256:
        s.sendall(PARTIAL)
    else:
        s.sendall(REQ)
        data = b""
        while not data.endswith(b"\n\n"):
            data += s.recv(4096)
        s.sendall(PARTIAL)
    hogs.append(s)
time.sleep(1.5)   # the started requests are stalled now (the agent drops those after 1 s)
def ask_tcp():
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    s.sendall(REQ)
    data = b""
    while not data.endswith(b"\n\n"):
        c = s.recv(4096)
        if not c: break
        data += c
    s.close()
    return data.decode().strip(), (time.monotonic() - t0) * 1000
worst, answered = 0.0, 0
for i in range(20):
    a, ms = ask_tcp()
    if not a.startswith("action="):
        print("FAIL: Postfix-like client %d got %r with 512 half-open connections" % (i, a)); sys.exit(1)
    answered += 1; worst = max(worst, ms)
u = subprocess.run(["setpriv", "--reuid=postfix", "--regid=postfix", "--clear-groups", py, ask, upath],
                   capture_output=True, text=True).stdout.strip()
if not u.startswith("action="):
    print("FAIL: postfix on the unix socket got %r during the flood" % u); sys.exit(1)
alive = 0
for s in hogs:
    s.setblocking(False)
    try:
        alive += s.recv(1) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print("ok: 20 TCP requests answered with 512 half-open connections open (worst %.1f ms), "
      "and postfix on the unix socket; %d half-open connections were dropped to make room" % (worst, 512 - alive))
for s in hogs: s.close()
PY
[ "$(pol dropped)" -ge 1 ] && ok "status counts $(pol dropped) connections dropped to make room" || bad "dropped: $(pol dropped)"

# Half-open connections do not camp: silent ones are timed out after the request timeout (10 s).
timeout 60 python3 - "$port" <<'PY' > "$T/hold.out" 2>&1 &
import socket, sys, time
port = int(sys.argv[1])
hogs = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(50)]
time.sleep(30)
PY
hold=$!
open_at_least() { [ "$(pol open)" -ge "$1" ]; }
wait_for 5 open_at_least 50 && ok "50 silent connections open" || bad "open: $(pol open)"
t0=$(now_ms)
wait_for 20 eval '[ "$(pol open)" = 0 ]' &&
    ok "silent connections closed $(( ($(now_ms) - t0) / 1000 )) s later (request timeout 10 s)" ||
    bad "silent connections still open after 20 s: $(pol open)"
kill $hold 2>/dev/null; wait $hold 2>/dev/null

# The deployment's directory mode (0750, group postfix) keeps other users from even connecting.
chgrp postfix "$T/spool/sgcluster" && chmod 0750 "$T/spool/sgcluster"
a=$(ask nobody); [[ $a == CONNECT-ERROR* ]] && ok "with the directory 0750 group postfix, nobody cannot connect: $a" ||
    bad "nobody through a 0750 postfix directory: $a"
a=$(ask postfix); [[ $a == action=* ]] && ok "postfix still served through it" || bad "postfix through 0750: $a"
sgc status | grep "^policy" | sed 's/^/  /'

kill -0 $AGENT1_PID 2>/dev/null || bad "agent died"
[ $fails = 0 ] || { echo "FAIL: $fails checks failed"; tail -20 "$T/agent.log"; exit 1; }
echo "pass: the policy service serves postfix and root only, and half-open clients cannot lock Postfix out"
