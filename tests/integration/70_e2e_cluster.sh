#!/bin/bash
# 70_e2e_cluster.sh: the mission on real software. Three mail nodes (real Dovecot IMAP/POP3 and real
# Postfix with Dovecot SASL), each with its own sgagent following its logs and enforcing with real
# nft in its own kernel namespace. An attacker spreads failed logins over the three nodes and the
# three protocols, each node seeing fewer than the threshold: every node drops the attacker on
# every mail port, while a legitimate user still logs in everywhere. Then a real user submitting
# mail through two nodes from several addresses above the scenario's rate is held cluster-wide.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/e2e.sh"
e2e_require

# A lower recipient threshold than the shipped 500, so the test sends a few messages, not hundreds.
low_rcpt() { cluster_conf "$1" "scenario account-rcpt" "threshold = 30"; }
t0=$(ms)
e2e_up 3 low_rcpt
echo "measured: 3 mail nodes + agents up in $(( $(ms) - t0 )) ms"

A=$(netns_ip attacker)
C=$(netns_ip client)
for i in 1 2 3; do
    for p in 25 587 110 143; do tcp_probe -n attacker "$(node_ip $i)" $p || fail "attacker cannot reach node$i:$p before any ban"; done
done

# The attack: round after round, node1 IMAP, node2 POP3, node3 SMTP AUTH, wrong passwords.
# auth-ip bans at 10 failures cluster-wide; each node sees 4 at most.
first=0; all=0; attempts=0
for round in 1 2 3 4; do
    imap_login -n attacker "$(node_ip 1)" alice wrong-$round; attempts=$((attempts + 1))
    pop3_login -n attacker "$(node_ip 2)" bob wrong-$round; attempts=$((attempts + 1))
    smtp_auth -n attacker "$(node_ip 3)" carol wrong-$round; attempts=$((attempts + 1))
done
t_end=$(ms)
# Poll every node's kernel set until all have the attacker.
while :; do
    n=0
    for i in 1 2 3; do in_kernel $i "$A" && n=$((n + 1)); done
    [ $n -ge 1 ] && [ $first = 0 ] && first=$(ms)
    [ $n = 3 ] && { all=$(ms); break; }
    [ $(( $(ms) - t_end )) -gt 10000 ] && fail "attacker $A not in every node's kernel set 10 s after the attack ($n of 3)"
    sleep 0.02
done
echo "measured: $attempts failed logins spread over 3 nodes x 3 protocols; attacker in all 3 kernels $(( all - t_end )) ms after the last attempt"
for i in 1 2 3; do
    cluster_has_ban $i "ip:$A" || fail "node$i: no ban record for $A"
    n=$(cluster_status_field $i 'd["detect"]["events"]')
    echo "measured: node$i agent saw $n events"
done
grep -h "decided here" "$CLUSTER_DIR"/n*/agent.log | grep "ip:$A" | head -1 | sed 's/^/measured: /'

# Every node drops the attacker on every mail port; the client still gets in everywhere.
for i in 1 2 3; do
    for p in 25 587 110 143; do
        tcp_probe -n attacker -t 1 "$(node_ip $i)" $p && fail "attacker still connects to node$i:$p"
    done
    imap_login -n client "$(node_ip $i)" alice "$(maild_password alice)" || fail "legitimate IMAP login refused on node$i"
    pop3_login -n client "$(node_ip $i)" bob "$(maild_password bob)" || fail "legitimate POP3 login refused on node$i"
    smtp_auth -n client "$(node_ip $i)" carol "$(maild_password carol)" || fail "legitimate SMTP AUTH refused on node$i"
done
cluster_has_ban 1 "ip:$C" && fail "the legitimate client was banned"

# A compromised account: alice submits through node1 and node2 from four addresses, 10 recipients
# per message; account-rcpt (30 recipients cluster-wide here) holds her on every node.
netns_add_addrs client 4 || fail "botnet addresses"
t1=$(ms)
for k in 1 2 3 4; do
    src=$(netns_ip client $k)
    node=$(( (k % 2) + 1 ))
    smtp_send -n client -s "$src" "$(node_ip $node)" alice "$(maild_password alice)" 10 || fail "submission $k via node$node refused"
done
for i in 1 2 3; do
    wait_for 10 cluster_has_ban $i "user:alice" || fail "alice not held on node$i"
done
echo "measured: compromised account held on all 3 nodes $(( $(ms) - t1 )) ms after its first message"
sgc 3 bans | grep "^user:alice " | sed 's/^/measured: node3 sees /'
cluster_has_ban 1 "user:bob" && fail "bob held"
echo "e2e cluster checks passed"
