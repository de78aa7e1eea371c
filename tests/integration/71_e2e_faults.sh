#!/bin/bash
# 71_e2e_faults.sh: the cluster under faults, on real mail daemons, real nft and real agents in
# network namespaces: log rotation (rename, copytruncate) during an attack loses no event; an
# agent killed with SIGKILL mid-attack keeps its bans and catches up; a node cut off during an
# attack converges when its link returns; frames forged from the attacker's namespace against the
# gossip port are rejected and counted and ban nobody; a peer's ban of an allowlisted address is
# refused on every node that allowlists it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/e2e.sh"
e2e_require
FORGE=${SG_BUILD:?}/tests/tool_forge
[ -x "$FORGE" ] || { echo "FAIL: $FORGE not built"; exit 1; }
count_of() { # NODE KEY: cluster-wide count of a counter key as the node sees it
    sgc "$1" top -n 10000 --json | python3 -c 'import json,sys; print(sum(x["count"] for x in json.load(sys.stdin) if x["key"]==sys.argv[1]))' "$2"
}
imap_fail() { imap_login -n attacker -s "$1" "$(node_ip "$2")" alice "wrong-$RANDOM" >/dev/null 2>&1; }

# Every node but node1 protects 198.51.100.7: node1 plays a misconfigured (or hostile) peer.
# Step 4 forges frames at the frame layer, so gossip runs in plaintext here (allowed explicitly,
# the nodes' addresses not being loopback): under CURVE, the default, a forger without a peer's
# key never gets past the handshake (67_cluster_reload and 40_gossip_mesh show that).
allow() {
    cluster_conf "$1" node "curve = no" "allow_plaintext = yes"
    [ "$1" = 1 ] || cluster_conf "$1" enforce "allowlist = 198.51.100.7"
}
e2e_up 3 allow
netns_add_addrs attacker 6 || fail "attacker addresses"
CLIENT_TIMEOUT=2

# 1. Log rotation during an attack, both styles, on node1: 5 failures, rotate, 5 more.
#    auth-ip bans at exactly 10: one lost line and there is no ban.
for style in rename copytruncate; do
    [ $style = rename ] && src=$(netns_ip attacker 1) || src=$(netns_ip attacker 2)
    for k in 1 2 3 4 5; do imap_fail "$src" 1; done
    maild_logrotate node1 $style dovecot || fail "logrotate $style"
    for k in 1 2 3 4 5; do imap_fail "$src" 1; done
    for i in 1 2 3; do wait_for 10 in_kernel $i "$src" || fail "$style: the 10 failures around the rotation did not ban $src on node$i"; done
    c=$(count_of 1 "auth-ip|ip:$src")
    [ "$c" = 10 ] || fail "$style: counted $c failures, want 10"
    echo "measured: logrotate $style during the attack: 10 of 10 failures counted"
done

# 2. SIGKILL node2's agent mid-attack: it keeps its bans (kernel and state) and catches up with
#    what happened while it was down, from its log cursor and from its peers.
src=$(netns_ip attacker 3)
old=$(netns_ip attacker 1)
for k in 1 2 3; do imap_fail "$src" 1; imap_fail "$src" 2; done
cluster_kill 2 KILL
in_kernel 2 "$old" || fail "node2's kernel lost $old when its agent died"
imap_fail "$src" 2; imap_fail "$src" 2; imap_fail "$src" 3; imap_fail "$src" 3
t0=$(ms)
cluster_start 2 || fail "restart n2"
cluster_has_ban 2 "ip:$old" || fail "node2's state lost ip:$old across SIGKILL"
for i in 1 2 3; do wait_for 15 in_kernel $i "$src" || fail "attack during node2's restart not banned on node$i"; done
echo "measured: node2 killed mid-attack; after restart every node bans $src ($(( $(ms) - t0 )) ms)"
in_kernel 2 "$old" || fail "node2's kernel lost $old after restart"
# node2 missed node3's failures while down: its catch-up went through the sync's second level
# (SYNC_LEAVES: leaf sums of the partitions that differ, then a pull of the leaves that differ).
leaves_pulled() { # sum over the nodes of the leaves their syncs found different
    n=0; for i in 1 2 3; do n=$(( n + $(cluster_status_field $i 'd["gossip"]["sync_leaves_pulled"]') )); done; echo $n
}
synced_by_leaves() { [ "$(leaves_pulled)" -ge 1 ]; }
wait_for 15 synced_by_leaves || fail "no sync after node2's restart exchanged leaves (sync_leaves_pulled is 0 on every node)"
echo "measured: after node2's restart the syncs exchanged $(leaves_pulled) leaves of 16384"

# 3. node3 cut off (link down) during an attack on node1 and node2; converges when the link returns.
src=$(netns_ip attacker 4)
link_down node3
for k in 1 2 3 4 5; do imap_fail "$src" 1; imap_fail "$src" 2; done
wait_for 10 in_kernel 1 "$src" && wait_for 10 in_kernel 2 "$src" || fail "attack during the cut not banned on node1/node2"
in_kernel 3 "$src" && fail "node3 got the ban while cut off?"
link_up node3
t0=$(ms)
wait_for 30 in_kernel 3 "$src" || fail "node3 did not converge after its link came back"
echo "measured: node3 converged $(( $(ms) - t0 )) ms after its link came back"
# and it holds what node1 holds: the same bans (tombstones too) as the sync compares them
bans_of() { sgc "$1" bans --all --json 2>/dev/null | python3 -c 'import json,sys; print(sorted((b["key"], b["action"]) for b in json.load(sys.stdin)))'; }
same_bans() { [ "$(bans_of 1)" = "$(bans_of 3)" ]; }
wait_for 20 same_bans || fail "node3's ban records differ from node1's after the cut"
wait_for 20 cluster_healthy 1 || fail "cluster not healthy after the cut"

# 4. Forged frames from the attacker's namespace at node1's gossip (ROUTER) port.
victim=$(netns_ip client)
before=$(cluster_status_field 1 'sum(d["gossip"]["drops"].values())')
nsexec attacker "$FORGE" "tcp://$(node_ip 1):7947" "$CLUSTER_DIR/peers/n2.pub" "$victim" > "$NETNS_DIR/forge.out" || fail "forge: $(cat "$NETNS_DIR/forge.out")"
dropped() { [ "$(cluster_status_field 1 "d[\"gossip\"][\"drops\"][\"$1\"]")" -ge 1 ]; }
for reason in unknown_origin bad_signature malformed; do
    wait_for 5 dropped $reason || fail "no $reason drop counted"
done
after=$(cluster_status_field 1 'sum(d["gossip"]["drops"].values())')
[ "$after" -gt "$before" ] || fail "forged frames were not counted as drops ($before -> $after)"
sgc 1 status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["gossip"]["drops"]; print("measured: node1 drops after forgery: " + ", ".join("%s=%d" % kv for kv in d.items() if kv[1]))'
for i in 1 2 3; do
    cluster_has_ban $i "ip:$victim" && fail "a forged record banned $victim on node$i"
    in_kernel $i "$victim" && fail "$victim in node$i's kernel"
done
imap_login -n client "$(node_ip 1)" alice "$(maild_password alice)" || fail "the client cannot log in after the forgery"
kill -0 "${CLUSTER_PID[1]}" || fail "node1's agent died"

# 5. node1 bans an address the others allowlist: the record travels, node2 and node3 refuse it.
sgc 1 ban 198.51.100.7 --reason "hostile peer" >/dev/null || fail "node1 refused the ban"
wait_for 5 in_kernel 1 198.51.100.7 || fail "node1 did not enforce its own ban"
for i in 2 3; do
    wait_for 5 cluster_has_ban $i "ip:198.51.100.7" || fail "record did not reach node$i"
    refused() { [ "$(cluster_status_field "$1" 'd["enforce"]["refused_by_guard"]')" -ge 1 ]; }
    wait_for 5 refused $i || fail "node$i did not count the refusal"
    in_kernel $i 198.51.100.7 && fail "node$i enforced an allowlisted address"
done
echo "measured: allowlisted ban from a peer refused on node2 and node3"
echo "e2e fault checks passed"
