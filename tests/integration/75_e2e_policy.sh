#!/bin/bash
# 75_e2e_policy.sh: throttling and holds through Postfix's policy service, on three real Postfix
# nodes asking their own sgagent over its unix socket in the node's Postfix queue directory
# (check_policy_service unix:sgcluster/policy, as deployed: smtpd runs as postfix, which the agent
# checks with SO_PEERCRED).
# A user who sends through all three nodes is deferred (4xx seen by swaks) once the cluster-wide
# total passes the quota, not any one node's; another user is unaffected; a held user is refused
# on every node within a second of `sgcluster hold` on one of them and accepted after `release`;
# malformed, truncated and oversized policy requests do not stop the agent from serving.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/e2e.sh"
e2e_require
send() { e2e_send "$@"; }
MAILD_POLICY="permit_mynetworks, $E2E_POLICY, permit_sasl_authenticated, reject_unauth_destination"
MAILD_POLICY_EOD="$E2E_POLICY"
policy_sock() { e2e_policy_sock "$1"; }
quota() {
    e2e_policy_dir "$1" || fail "socket directory"
    cluster_conf "$1" policy "socket = $(policy_sock "$1")" "user = postfix" "quota_window = 1h" "quota_user_messages = 5"
}
e2e_up 3 quota

# alice sends round-robin through the three nodes: 5 accepted in all, then deferred everywhere.
for k in 1 2 3 4 5; do
    node=$(( (k - 1) % 3 + 1 ))
    send $node alice; rc=$?
    [ $rc = 0 ] || fail "alice's message $k via node$node not accepted (rc $rc)"
done
deferred=0
for node in 1 2 3; do
    send $node alice; rc=$?
    [ $rc = 4 ] || fail "alice's message over the quota via node$node: rc $rc, want a 4xx deferral"
    deferred=$((deferred + 1))
done
echo "measured: alice: 5 messages accepted over 3 nodes (at most 2 per node), then deferred (4xx) on all $deferred nodes"
# Deferred attempts are not counted: Postfix's retries must not keep a sender over quota forever.
for i in 1 2 3; do
    c=$(sgc $i top --users --json | python3 -c 'import json,sys; print(sum(x["count"] for x in json.load(sys.stdin) if x["key"]=="thr-msg-sub|user:alice"))')
    [ "$c" = 5 ] || fail "node$i counts $c messages for alice, want the 5 accepted"
done
grep -h "4.7.1" "$CLIENT_OUT" | head -1 | sed 's/^/measured: swaks saw: /'
send 2 bob || fail "bob refused while alice is over quota"

# Hold carol on node2: refused on node1 and node3 within a second; release: accepted again.
send 1 carol || fail "carol refused before any hold"
sgc 2 hold carol --reason "compromised (test)" >/dev/null || fail "hold"
t0=$(ms)
for node in 1 3; do
    until send $node carol; [ $? = 5 ]; do
        [ $(( $(ms) - t0 )) -gt 1000 ] && fail "carol not refused on node$node within 1 s of the hold"
    done
done
echo "measured: hold on node2 refused carol's mail on node1 and node3 $(( $(ms) - t0 )) ms later"
sgc 1 release carol >/dev/null || fail "release"
wait_for 3 send 3 carol || fail "carol still refused on node3 after release"
wait_for 3 send 2 carol || fail "carol still refused on node2 after release"

# Hostile policy clients against node1's agent; it keeps answering.
nsexec node1 python3 - "$(policy_sock 1)" <<'PY' || fail "policy robustness"
import socket, sys, time
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    return s
def ask(s, attrs):
    s.sendall(("".join("%s=%s\n" % kv for kv in attrs) + "\n").encode())
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data.decode()
good = [("request", "smtpd_access_policy"), ("protocol_state", "RCPT"), ("client_address", "10.77.0.200"),
        ("sasl_username", "bob"), ("recipient", "x@example.invalid")]
hostile = [b"\x00\xff\xfe\n\n", b"no equals sign here\n\n", b"request=smtpd_access_policy\n" + b"a=" + b"x" * 100000 + b"\n\n",
           b"".join(b"k%d=v\n" % i for i in range(500)) + b"\n", b"request=smtpd_access_policy\nclient_addr"]
for h in hostile:
    s = conn()
    try:
        s.sendall(h)
        s.shutdown(socket.SHUT_WR)
        s.recv(4096)
    except OSError:
        pass
    s.close()
for i in range(3):
    s = conn()
    a = ask(s, good)
    assert a is not None and a.startswith("action="), a
    s.close()
print("measured: policy service answered after %d hostile requests: %s" % (len(hostile), a.strip()))
PY
kill -0 "${CLUSTER_PID[1]}" || fail "node1's agent died"
echo "e2e policy checks passed"
