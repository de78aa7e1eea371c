#!/bin/bash
# demo.sh: `make demo`: a local three-node sgcluster in network namespaces, with real Dovecot and
# Postfix, an attacker spreading password guesses over every node and protocol, and a legitimate
# client. Narrates what happens and cleans up after itself, even when interrupted (Ctrl-C).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
SG_ROOT=${SG_ROOT:-$(cd "$here/.." && pwd)}
SG_BIN=${SG_BIN:-$SG_ROOT/bin}
if [ "$(id -u)" != 0 ]; then
    echo "make demo needs root: it creates network namespaces, nft tables inside them, and mail daemons." >&2
    exit 1
fi
. "$here/integration/lib/netns.sh"
. "$here/integration/lib/maild.sh"
. "$here/integration/lib/clients.sh"
. "$here/integration/lib/cluster.sh"

T0=${EPOCHREALTIME/./}
say() { local t=${EPOCHREALTIME/./}; printf '[%5.1fs] %s\n' "$(( (t - T0) / 100000 ))e-1" "$*"; }
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
die() { say "demo failed: $*"; for i in 1 2 3; do echo "--- agent n$i log"; tail -8 "$CLUSTER_DIR/n$i/agent.log" 2>/dev/null; done; exit 1; }
section() { printf '\n=== %s ===\n' "$*"; }
in_kernel() { nsexec "node$1" nft list set inet sgcluster ban4 2>/dev/null | grep -qw "$2"; }

echo "sgcluster demo: three mail nodes, one attacker, one legitimate client, all in network namespaces"
echo "(nothing outside the namespaces is touched; everything is removed at the end)"
echo
netns_up 3 || die "could not create the namespaces"
netns_on_down cluster_stop_all
say "network up: node1-3 = $(node_ip 1), $(node_ip 2), $(node_ip 3); attacker = $(netns_ip attacker); client = $(netns_ip client)"
maild_start_nodes node1 node2 node3 || die "mail daemons did not start"
say "each node runs real Dovecot (IMAP 143, POP3 110) and Postfix (SMTP 25, submission 587 with Dovecot SASL)"
CLUSTER_NETNS=1
CLUSTER_BACKEND=nft
for i in 1 2 3; do eval "CLUSTER_LOGS_$i=\"$(maild_log "node$i" dovecot), $(maild_log "node$i" postfix)\""; done
cluster_init 3 "$NETNS_DIR/cluster" || die "keys and configuration"
for i in 1 2 3; do cluster_start $i || die "sgagent on node$i"; done
say "sgagent started on every node: it follows that node's Dovecot and Postfix logs, gossips"
say "  signed counters and bans with the two others over ZeroMQ, and owns table inet sgcluster"
wait_for 20 cluster_healthy 1 2>/dev/null && wait_for 10 cluster_healthy 2 2>/dev/null && wait_for 10 cluster_healthy 3 2>/dev/null ||
    die "the cluster did not become healthy"
say "cluster healthy: every agent sees its two peers alive"

A=$(netns_ip attacker)
C=$(netns_ip client)
echo
say "the attacker ($A) guesses passwords in rounds: IMAP on node1, POP3 on node2, SMTP AUTH on node3."
say "  Each node alone sees at most 4 failures; scenario auth-ip bans at 10 failures across the cluster."
CLIENT_TIMEOUT=2
banned_everywhere() { local i; for i in 1 2 3; do in_kernel $i "$A" || return 1; done; }
n=0
for round in 1 2 3 4 5; do
    for step in "imap_login 1 alice IMAP" "pop3_login 2 bob POP3" "smtp_auth 3 carol SMTP-AUTH"; do
        set -- $step
        n=$((n + 1))
        if $1 -n attacker "$(node_ip $2)" "$3" "guess-$round"; then r="logged in?!"; else
            case $? in 1) r="wrong password" ;; *) r="no connection: dropped" ;; esac
        fi
        say "  attempt $n: $4 as $3 on node$2: $r"
        banned_everywhere && break 2
    done
done
t_end=$(ms)
wait_for 10 banned_everywhere 2>/dev/null || die "the attacker was not banned on every node"
who=$(grep -h "decided here" "$CLUSTER_DIR"/n*/agent.log | grep "ip:$A" | head -1 | sed 's/.*decided here on \([^:]*\): \(.*\)/\1 (\2)/')
say "after $n attempts the attacker is banned on all three nodes, in each node's kernel"
say "  decided on $who"
# Every mail port of every node, probed at once: all must fail.
pids=()
for i in 1 2 3; do
    for p in 25 587 110 143; do
        ( ! tcp_probe -n attacker -t 2 "$(node_ip $i)" $p ) & pids+=($!)
    done
done
for p in "${pids[@]}"; do wait "$p" || die "the attacker still reaches a mail port"; done
say "the attacker can no longer open a connection to any mail port (25, 587, 110, 143) of any node"
for i in 1 2 3; do
    imap_login -n client "$(node_ip $i)" alice "$(maild_password alice)" || die "the legitimate client was refused on node$i"
done
say "the legitimate client ($C) still logs in (IMAP as alice) on node1, node2 and node3"

section "sgcluster status (node1)"
sgc 1 status
for i in 1 2 3; do
    section "sgcluster bans (node$i)"
    sgc $i bans
done
section "nft list set inet sgcluster ban4 (node2's kernel)"
nsexec node2 nft list set inet sgcluster ban4
echo
say "done: cleaning up (agents, mail daemons, namespaces)"
exit 0
