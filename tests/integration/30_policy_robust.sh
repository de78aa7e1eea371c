#!/bin/bash
# 30_policy_robust.sh: the policy server (bench_policy serve: the real server with fake verdicts)
# against real socket clients: good, malformed, truncated, oversized, binary, slow and many clients
# get an answer, an error answer or a close, and the server keeps serving throughout.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/wait.sh"
ROOT=${SG_ROOT:?}; BUILD=${SG_BUILD:?}; BIN=${SG_BIN:?}
command -v python3 >/dev/null 2>&1 || { echo "skip: needs python3"; exit 77; }

# The serve program is a bench binary, which `make _integration` does not build: build it here
# with the same flags as the library it links (sanitizer builds carry __asan symbols).
san=""
nm "$BUILD/libsg.a" 2>/dev/null | grep -q __asan_ && san="SAN=1"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" BUILD="$BUILD" BIN="$BIN" $san \
    "$BUILD/tests/bench_policy" >/dev/null || { echo "FAIL: cannot build bench_policy"; exit 1; }

T=$(mktemp -d /tmp/sgt-policy.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

"$BUILD/tests/bench_policy" serve --tcp 127.0.0.1:0 --unix "$T/policy.sock" --port-file "$T/port" \
    --max-line 2048 --max-request 16384 --max-attrs 64 --request-timeout 1000 \
    > "$T/serve.out" 2> "$T/serve.err" &
pid=$!
wait_for 5 test -s "$T/port" || { echo "FAIL: server did not start"; cat "$T/serve.err"; exit 1; }
port=$(cat "$T/port")
# The server's sockets before any client: it has closed every connection once it is back to these.
sockets() { find "/proc/$pid/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
idle_sockets=$(sockets)
all_closed() { [ "$(sockets)" -le "$idle_sockets" ]; }

timeout 120 python3 - "$port" "$T/policy.sock" <<'PY'
import os, socket, sys, time, random
port, upath = int(sys.argv[1]), sys.argv[2]
fails = 0
def check(cond, what):
    global fails
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond: fails += 1

def conn(unix=False):
    if unix:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(upath)
    else:
        s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(5)
    return s

def answer(s):
    """One answer ("...\n\n"), or "EOF" when the server closed, or "TIMEOUT"."""
    buf = b""
    try:
        while not buf.endswith(b"\n\n"):
            c = s.recv(1)
            if not c:
                return "EOF" if not buf else buf.decode(errors="replace") + "<EOF>"
            buf += c
    except ConnectionResetError:
        return "EOF"
    except socket.timeout:
        return "TIMEOUT"
    return buf.decode()

def closed(s):
    try:
        while True:
            c = s.recv(4096)
            if not c: return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def req(user="alice", state="RCPT", extra=""):
    return ("request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n"
            "client_address=192.0.2.7\nclient_name=unknown\nsasl_username=%s\n"
            "sender=%s@example.org\nrecipient=bob@example.net\nrecipient_count=0\n"
            "instance=1.2.3\n%s\n" % (state, user, user, extra)).encode()

def good(what, unix=False):
    s = conn(unix); s.sendall(req())
    a = answer(s); s.close()
    check(a == "action=DUNNO\n\n", "%s: a good request is answered DUNNO (%r)" % (what, a))

def refused(payload, what, expect_answer=True):
    s = conn()
    try: s.sendall(payload)
    except (BrokenPipeError, ConnectionResetError): pass
    a = answer(s)
    if expect_answer:
        ok = a.startswith("action=DEFER_IF_PERMIT 4.3.0 ") or a == "EOF"
        check(ok and (a == "EOF" or closed(s)), "%s: error answer then close (%r)" % (what, a[:60]))
    else:
        check(a == "EOF", "%s: closed without answer (%r)" % (what, a[:60]))
    s.close()
    good("after " + what)

# Verdicts, several requests on one connection (Postfix reuses it).
s = conn()
for user, want in (("alice", "action=DUNNO\n\n"),
                   ("heldhank", "action=REJECT 5.7.1 Sending from this account is suspended; contact your provider\n\n"),
                   ("fastfay", "action=DEFER_IF_PERMIT 4.7.1 Sending rate limit exceeded, try again later\n\n")):
    s.sendall(req(user)); a = answer(s)
    check(a == want, "verdict for %s: %r" % (user, a))
# The counted request (END-OF-MESSAGE) carries the recipient count.
s.sendall(req("alice", "END-OF-MESSAGE").replace(b"recipient_count=0", b"recipient_count=3"))
check(answer(s) == "action=DUNNO\n\n", "END-OF-MESSAGE request answered")
s.close()
good("unix socket", unix=True)

# Pipelined: 500 requests in one write, 500 answers in order.
s = conn(); s.sendall(b"".join(req("fastfay" if i % 2 else "alice") for i in range(500)))
seq = [answer(s) for i in range(500)]
check(all(seq[i].startswith("action=DEFER_IF_PERMIT" if i % 2 else "action=DUNNO") for i in range(500)),
      "500 pipelined requests answered in order")
s.close()

# Bad requests.
refused(b"request=smtpd_access_policy\nthis line has no equals sign\n\n", "malformed line")
refused(b"=value\nrequest=smtpd_access_policy\n\n", "empty attribute name")
refused(b"client_address=1.2.3.4\n\n", "no request attribute")
refused(b"request=smtpd_access_policy\nrecipient_count=12abc\n\n", "bad number")
refused(b"request=smtpd_access_policy\nsender=" + b"x" * 3000 + b"\n\n", "oversized line (3000 bytes)")
refused(b"request=smtpd_access_policy\nsender=" + b"x" * 100000, "endless line (100 kB, no newline)")
refused(b"".join(b"a%d=%d\n" % (i, i) for i in range(100)) + b"\n", "100 attributes")
# Just inside every limit: 64 attributes, a 2048-byte line: answered.
s = conn(); s.sendall(b"request=smtpd_access_policy\n" + b"k=vvvvvvvvvv\n" * 62 + b"p=" + b"y" * 2046 + b"\n\n")
a = answer(s); s.close()
check(a == "action=DUNNO\n\n", "request at the limits answered (%r)" % a[:60])
refused(b"request=smtpd_access_policy\n" + b"".join(b"k=%s\n" % (b"v" * 1000) for _ in range(20)) + b"\n",
        "request of 20 kB")
rnd = random.Random(7)
refused(bytes(rnd.getrandbits(8) for _ in range(5000)) + b"\n\n", "5000 random bytes")
refused(b"request=smtpd_access_policy\nsender=a\x00b\n\n", "NUL byte")
refused(b"\n\n\n", "empty lines only")

# Truncated, then the client goes away: nothing to answer, server unharmed.
s = conn(); s.sendall(req()[:40]); s.close()
good("truncated request and close")

# Slow clients: one that stops mid-request and one that drips a byte every 300 ms (both past the
# 1 s request timeout) are closed, while a normal client is served at once.
slow = conn(); slow.sendall(req()[:50])
drip = conn()
t0 = time.time()
s = conn(); s.sendall(req()); a = answer(s); s.close()
check(a == "action=DUNNO\n\n" and time.time() - t0 < 1.0, "served while a slow client hangs")
check(closed(slow), "stalled client closed after the request timeout (%.1f s)" % (time.time() - t0))
slow.close()
dropped = False
for b in req():
    try:
        drip.send(bytes([b])); time.sleep(0.3)
    except (BrokenPipeError, ConnectionResetError):
        dropped = True; break
    if time.time() - t0 > 8: break
check(dropped or closed(drip), "dripping client cut off (%.1f s)" % (time.time() - t0))
drip.close()

# Many clients at once: 300 connections open together, each one request. Each sends its request as
# soon as it is connected: opening 300 takes over a second on a loaded machine, and a connection
# that sat idle that long would be closed by the 1 s request timeout (tested above), not served.
socks = []
for _ in range(300):
    s = conn(); s.sendall(req()); socks.append(s)
answers = [answer(s) for s in socks]
for s in socks: s.close()
check(sum(a == "action=DUNNO\n\n" for a in answers) == 300, "300 concurrent connections all answered")

# Decide trouble: no answer, connection closed (Postfix then applies its default_action).
s = conn(); s.sendall(req("trouble")); a = answer(s); s.close()
check(a == "EOF", "decide() trouble: closed without answer (%r)" % a)
good("final")
sys.exit(1 if fails else 0)
PY
rc=$?
wait_for 5 all_closed || { echo "FAIL: the server still holds $(( $(sockets) - idle_sockets )) client connections 5 s after the last close"; rc=1; }
kill -TERM "$pid"
wait "$pid"
srv_rc=$?
pid=""
cat "$T/serve.out"
[ $srv_rc = 0 ] || { echo "FAIL: server exited with $srv_rc"; cat "$T/serve.err"; rc=1; }
# The server's counters must agree with what the clients saw.
stats=$(grep '^stats:' "$T/serve.out")
get() { echo "$stats" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
[ "$(get malformed)" -ge 6 ] 2>/dev/null || { echo "FAIL: malformed counter $(get malformed) < 6"; rc=1; }
[ "$(get oversized)" -ge 4 ] 2>/dev/null || { echo "FAIL: oversized counter $(get oversized) < 4"; rc=1; }
[ "$(get timeouts)" -ge 2 ] 2>/dev/null || { echo "FAIL: timeouts counter $(get timeouts) < 2"; rc=1; }
[ "$(get decide_errors)" = 1 ] || { echo "FAIL: decide_errors $(get decide_errors) != 1"; rc=1; }
[ "$(get open)" = 0 ] || { echo "FAIL: $(get open) connections still open at exit"; rc=1; }
[ -e "$T/policy.sock" ] && { echo "FAIL: unix socket left behind"; rc=1; }
[ $rc = 0 ] && echo "pass: policy server robust against bad, slow and many clients"
exit $rc
