#!/bin/sh
# Cluster-wide allows (`sgcluster allow` / `unallow`) with two real agents in their own network
# namespaces, enforcing with real nft: an allow written on one node replicates to the other, takes
# the bans it covers out of both kernels, keeps the scenarios and the CLI from banning inside it
# everywhere, refuses in the kernel a ban a partitioned peer wrote before it knew the allow, is listed
# by `bans` and counted by `status`; an unallow lets the bans still in force back into the kernels.
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
SG_BIN=${SG_BIN:?}; SG_ROOT=${SG_ROOT:?}
[ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespaces, nft)"; exit 77; }
for b in ip nft python3; do command -v "$b" >/dev/null || { echo "skip: missing $b"; exit 77; }; done
. "$SG_ROOT/tests/integration/lib/netns.sh"
. "$SG_ROOT/tests/integration/lib/cluster.sh"
fail() { echo "FAIL: $*"; for i in 1 2; do echo "--- n$i"; tail -15 "$CLUSTER_DIR/n$i/agent.log"; done; exit 1; }

# The kernel's ban4 elements of node I, one per line ("203.0.113.7", "203.0.113.0/24").
elements() {
    nsexec "node$1" nft -j list set inet sgcluster ban4 2>/dev/null | python3 -c '
import json, sys
for o in json.load(sys.stdin)["nftables"]:
    for e in o.get("set", {}).get("elem", []):
        e = e.get("elem", {}).get("val", e) if isinstance(e, dict) else e
        if isinstance(e, dict) and "prefix" in e: print("%s/%d" % (e["prefix"]["addr"], e["prefix"]["len"]))
        else: print(e)'
}
in_kernel() { elements "$1" | grep -qxF "$2"; }
not_in_kernel() { ! in_kernel "$1" "$2"; }
has_allow() { sgc "$1" bans --json | python3 -c 'import json,sys; sys.exit(0 if any(b["key"] == sys.argv[1] and b["kind"] == "allow" for b in json.load(sys.stdin)) else 1)' "$2"; }
no_allow() { ! has_allow "$@"; }
status_field() { sgc "$1" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }

netns_up 2 || fail "netns_up"
netns_on_down cluster_stop_all
CLUSTER_NETNS=1
CLUSTER_BACKEND=nft
cluster_init 2 "$NETNS_DIR/cluster" || fail "cluster_init"
for i in 1 2; do cluster_start "$i" || fail "n$i did not start"; done
for i in 1 2; do wait_for 20 cluster_healthy "$i" || fail "n$i not healthy"; done

# A ban in both kernels, then an allow of its /24 written on the other node: out of both kernels.
sgc 1 ban 203.0.113.7 --for 1h > /dev/null || fail "ban"
for i in 1 2; do wait_for 10 in_kernel "$i" 203.0.113.7 || fail "n$i: ban not in the kernel"; done
out=$(sgc 2 allow 203.0.113.0/24 --reason "partner relay" --json) || fail "allow: $out"
echo "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["ok"] and d["key"] == "allow:net:203.0.113.0/24" and d["lifted"] == 1 else 1)' \
    || fail "allow --json: $out"
t0=$(now_ms)
for i in 1 2; do wait_for 10 not_in_kernel "$i" 203.0.113.7 || fail "n$i: the covered ban is still in the kernel"; done
echo "measured: covered ban out of both kernels $(( $(now_ms) - t0 )) ms after the allow"
for i in 1 2; do wait_for 10 has_allow "$i" allow:net:203.0.113.0/24 || fail "n$i: bans does not list the allow"; done
sgc 1 bans | grep -E "^allow:net:203.0.113.0/24 +ban +allow .* n2 +manual: partner relay" > /dev/null || fail "bans text: $(sgc 1 bans)"
sgc 1 bans --json | python3 -c 'import json,sys; sys.exit(0 if all(b["key"] != "ip:203.0.113.7" for b in json.load(sys.stdin)) else 1)' \
    || fail "the lifted ban is still listed as in force"
[ "$(status_field 1 'd["allows"]')" = 1 ] || fail "status --json: allows"
sgc 1 status | grep -q " 1 allows," || fail "status text: $(sgc 1 status | grep state)"

# The scenarios do not ban inside it: twelve failures from 203.0.113.9 on n1 decide nothing.
for k in $(seq 1 12); do
    echo "$(date -u '+%b %e %H:%M:%S') mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<v$k@example.jp>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, TLS, session=<a$k>"
done >> "$CLUSTER_DIR/n1/mail.log"
refused() { [ "$(status_field 1 'd["refused_by_guard"] >= 1 and d["detect"]["events"] >= 12')" = True ]; }
wait_for 10 refused || fail "n1: no decision refused by the allow ($(sgc 1 status | grep -E 'detect|decisions'))"
for i in 1 2; do cluster_has_ban "$i" ip:203.0.113.9 && fail "n$i: 203.0.113.9 banned inside the allow"; done
# Nor the CLI, on either node.
for i in 1 2; do sgc "$i" ban 203.0.113.50 > /dev/null 2>&1 && fail "n$i: ban inside the allow accepted"; done
err=$(sgc 1 ban 203.0.113.50 --json 2>&1 >/dev/null)
echo "$err" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if "allowed cluster-wide 203.0.113.0/24" in d["error"] and d["code"] == 1 else 1)' \
    || fail "refusal of a ban inside the allow: $err"
# An allow wider than the minimum prefix is refused (the [enforce] allowlist is for that).
sgc 1 allow 10.0.0.0/8 > /dev/null 2>&1 && fail "allow of a /8 accepted"

# A partitioned node bans inside an allow it has not seen yet: when the two meet, its kernel drops
# the element, and the other node keeps it out of its kernel though the ban record arrives.
link_down node2
sgc 1 allow 198.51.100.0/24 > /dev/null || fail "allow during the partition"
sgc 2 ban 198.51.100.5 --for 1h > /dev/null || fail "n2 ban during the partition"
wait_for 10 in_kernel 2 198.51.100.5 || fail "n2: its own ban not in its kernel"
link_up node2 || fail "link_up"
t0=$(now_ms)
wait_for 30 has_allow 2 allow:net:198.51.100.0/24 || fail "n2 did not learn the allow after the partition"
wait_for 10 not_in_kernel 2 198.51.100.5 || fail "n2: ban inside the allow still in its kernel"
echo "measured: partitioned ban out of n2's kernel $(( $(now_ms) - t0 )) ms after the link came back"
wait_for 30 cluster_has_ban 1 ip:198.51.100.5 || fail "n1 did not learn n2's ban"
not_in_kernel 1 198.51.100.5 || fail "n1 put a ban inside the allow into its kernel"

# A reload (a new guard, then a full reconcile) and a restart (the snapshot's records, then the
# kernel restored) keep the allow: the ban inside it stays out of n1's kernel.
kill -HUP "${CLUSTER_PID[1]}"
wait_for 20 grep -q "reloaded " "$CLUSTER_DIR/n1/agent.log" || fail "n1 did not reload"
not_in_kernel 1 198.51.100.5 || fail "n1 put the ban inside the allow into its kernel on reload"
cluster_kill 1 TERM
cluster_start 1 || fail "n1 did not restart"
wait_for 20 grep -q "restored kernel sets" "$CLUSTER_DIR/n1/agent.log" || fail "n1 did not restore its kernel sets"
has_allow 1 allow:net:198.51.100.0/24 || fail "n1 lost the allow across a restart"
cluster_has_ban 1 ip:198.51.100.5 || fail "n1 lost n2's ban across a restart"
not_in_kernel 1 198.51.100.5 || fail "n1 put the ban inside the allow into its kernel on restart"
wait_for 20 cluster_healthy 1 || fail "n1 not healthy after its restart"

# unallow: the ban still in force goes back into both kernels; bans inside the old allow work again.
sgc 2 unallow 198.51.100.0/24 --json | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["command"] == "unallow" else 1)' \
    || fail "unallow --json"
for i in 1 2; do wait_for 10 no_allow "$i" allow:net:198.51.100.0/24 || fail "n$i still lists the allow"; done
for i in 1 2; do wait_for 10 in_kernel "$i" 198.51.100.5 || fail "n$i: ban not back in the kernel after unallow"; done
sgc 1 unallow 203.0.113.0/24 > /dev/null || fail "unallow 203.0.113.0/24"
wait_for 10 no_allow 2 allow:net:203.0.113.0/24 || fail "n2 still lists the first allow"
sgc 2 ban 203.0.113.50 > /dev/null || fail "ban refused after the unallow"
for i in 1 2; do wait_for 10 in_kernel "$i" 203.0.113.50 || fail "n$i: ban after the unallow not in the kernel"; done
sgc 1 unallow 203.0.113.0/24 > /dev/null 2>&1 && fail "unallow of nothing accepted"
echo "allow checks passed"
