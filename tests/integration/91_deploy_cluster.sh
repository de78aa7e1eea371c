#!/bin/bash
# 91_deploy_cluster.sh: the playbook renders a three-node inventory on this machine (each host's
# files under its own prefix); each node's configuration must list the other two as peers with
# their public keys, and the three agents, started from those files with the installed unit's
# command line, each in its own network namespace, must form a healthy cluster.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${SG_BIN:-$ROOT/bin}
DEPLOY_USER=sgc$$
SGUSER=$DEPLOY_USER
N=3
PIDS=()
# shellcheck source=lib/deploy.sh
. "$ROOT/tests/integration/lib/deploy.sh"
export NETNS_NO_TRAP=1   # read by lib/netns.sh: deploy.sh's trap cleans up
# shellcheck source=lib/netns.sh
. "$ROOT/tests/integration/lib/netns.sh"
deploy_setup sgdeploy3
[ -x "$BIN/sgagent" ] && [ -x "$BIN/sgcluster" ] || { echo "skip: no sgagent/sgcluster in $BIN (run make first)"; exit 77; }
deploy_on_cleanup netns_down
deploy_on_cleanup 'for p in "${PIDS[@]}"; do kill "$p"; done; for p in "${PIDS[@]}"; do wait "$p"; done'

{
    echo "sgcluster:"
    echo "  hosts:"
    for ((i = 1; i <= N; i++)); do
        deploy_log_file "$T/mx$i/var/log/mail.log"
        echo "    mx$i:"
        echo "      sgcluster_prefix: $T/mx$i"
        echo "      sgcluster_address: $(node_ip "$i")"
        echo "      sgcluster_logs: [$T/mx$i/var/log/mail.log]"
        # The last node in dry-run: it gossips and decides like the others, and touches no nft.
        [ $i = $N ] && echo "      sgcluster_dry_run: true"
    done
    echo "  vars:"
    echo "    ansible_connection: local"
    echo "    ansible_become: false"
    echo "    ansible_python_interpreter: /usr/bin/python3"
    echo "    sgcluster_user: $SGUSER"
    echo "    sgcluster_build_bin_dir: $BIN"
    echo "    sgcluster_source_dir: $ROOT"
    echo "    sgcluster_policy_listen: ''"
    # CURVE on: the cluster must also come up encrypted with keys only the role distributed.
    echo "    sgcluster_curve: true"
    echo "    sgcluster_ports: [25, 587, 993]"
    # 60 networks: far over the 200 bytes libinih reads per line, written one per continuation line.
    echo "    sgcluster_allowlist: [$(seq -s ', ' -f '198.18.%g.0/24' 0 59)]"
} > "$T/hosts.yml"

# The build was made by `make` (SG_BIN); packages and systemd are not this test's business.
# One fork: the three "nodes" share this machine's user database.
t0=$(date +%s)
ansible-playbook -i "$T/hosts.yml" -f 1 "$ROOT/deploy/ansible/site.yml" --skip-tags packages,build,service \
    > "$T/play.log" 2>&1 || { grep -E '^(fatal|failed)|msg' "$T/play.log" | head -20; fail "playbook failed"; }
echo "measured: three-node render $(( $(date +%s) - t0 )) s"

# Each configuration names the two others, and holds exactly their public keys.
for ((i = 1; i <= N; i++)); do
    C=$T/mx$i/etc/sgcluster/sgagent.conf
    grep -q "^name = mx$i\$" "$C" || fail "mx$i: wrong node name"
    grep -q "^gossip_bind = tcp://$(node_ip "$i"):7946\$" "$C" || fail "mx$i: gossip_bind"
    grep -q "^curve = yes\$" "$C" || fail "mx$i: curve not switched on"
    grep -q "^ports = 25, 587, 993\$" "$C" || fail "mx$i: ports not templated"
    grep -q "^allowlist = 198.18.0.0/24,\$" "$C" && [ "$(grep -c '^    198\.18\.[0-9]*\.0/24,\?$' "$C")" = 59 ] \
        || fail "mx$i: the allowlist is not written one network per continuation line"
    if [ $i = $N ]; then b=dryrun; else b=nft; fi
    grep -q "^backend = $b\$" "$C" || fail "mx$i: backend is not $b"
    grep -q "^\[peer mx$i\]" "$C" && fail "mx$i lists itself as a peer"
    [ "$(grep -c '^\[peer ' "$C")" = $((N - 1)) ] || fail "mx$i: not $((N - 1)) peers"
    [ "$(find "$T/mx$i/etc/sgcluster/keys/peers" -name '*.pub' | wc -l)" = $((N - 1)) ] || fail "mx$i: not $((N - 1)) peer keys"
    for ((j = 1; j <= N; j++)); do
        [ $i = $j ] && continue
        grep -A3 "^\[peer mx$j\]" "$C" | grep -q "^pub = tcp://$(node_ip "$j"):7946\$" || fail "mx$i: peer mx$j endpoint"
        cmp -s "$T/mx$i/etc/sgcluster/keys/peers/mx$j.pub" "$T/mx$j/etc/sgcluster/keys/mx$j.pub" \
            || fail "mx$i: mx$j.pub is not mx$j's own public key"
    done
    "$T/mx$i/usr/local/sbin/sgagent" -n -c "$C" >/dev/null || fail "mx$i: configuration does not check"
done
[ "$(cat "$T"/mx*/etc/sgcluster/keys/mx*.pub | sort -u | wc -l)" = $N ] || fail "nodes share a key"
echo "measured: each of $N configurations lists the $((N - 1)) others with their public keys"

netns_up $N || fail "cannot build the test network"
t0=$(now_ms)
for ((i = 1; i <= N; i++)); do
    install -d -o "$SGUSER" -g "$SGUSER" -m 0750 "$T/mx$i/run/sgcluster"
    "$ROOT/deploy/systemd/run-unit.sh" "$T/mx$i/etc/systemd/system/sgagent.service" \
        ip netns exec "$(netns_name "node$i")" > "$T/agent$i.log" 2>&1 &
    PIDS+=($!)
done

# healthy: every peer alive and the node's own nft table in place.
healthy() { # I
    "$BIN/sgcluster" status --json -s "$T/mx$1/run/sgcluster/control.sock" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
sys.exit(0 if s["healthy"] and len(s["peers"]) == int(sys.argv[1]) else 1)' $((N - 1)) 2>/dev/null
}
all_healthy() {
    local i
    for ((i = 1; i <= N; i++)); do healthy $i || return 1; done
}
if ! wait_for 30 all_healthy; then
    for ((i = 1; i <= N; i++)); do
        echo "--- mx$i"; "$BIN/sgcluster" status -s "$T/mx$i/run/sgcluster/control.sock"; tail -5 "$T/agent$i.log"
    done
    fail "the three agents did not form a healthy cluster"
fi
echo "measured: $N agents from the rendered files healthy after $(( $(now_ms) - t0 )) ms"
"$BIN/sgcluster" status -s "$T/mx1/run/sgcluster/control.sock" > "$T/status1.txt"
sed -n 1,2p "$T/status1.txt"
grep -q 'curve on' "$T/status1.txt" || fail "mx1 does not report CURVE on"
# The ports variable reaches the kernel; the dry-run node has no table at all.
nsexec node1 nft list table inet sgcluster > "$T/nft1.txt" || fail "mx1 has no nft table"
grep -q 993 "$T/nft1.txt" && grep -q 587 "$T/nft1.txt" && ! grep -qw 110 "$T/nft1.txt" \
    || { cat "$T/nft1.txt"; fail "mx1's table does not filter exactly the configured ports"; }
nsexec "node$N" nft list table inet sgcluster >/dev/null 2>&1 && fail "dry-run mx$N made an nft table"
"$BIN/sgcluster" status --json -s "$T/mx$N/run/sgcluster/control.sock" | grep -q '"backend":"dryrun"' \
    || fail "mx$N does not report the dry-run backend"

# A ban given on one node shows on the others: the keyring the role distributed carries it.
"$BIN/sgcluster" ban 203.0.113.7 --for 10m --reason deploy-test -s "$T/mx1/run/sgcluster/control.sock" >/dev/null \
    || fail "ban on mx1 refused"
banned() { "$BIN/sgcluster" bans --json -s "$T/mx$1/run/sgcluster/control.sock" 2>/dev/null | grep -q '203.0.113.7'; }
for ((i = 2; i <= N; i++)); do wait_for 10 banned $i || fail "ban from mx1 did not reach mx$i"; done

# SIGTERM stops every agent cleanly (as systemctl stop would), and nothing survives the network.
for p in "${PIDS[@]}"; do kill -TERM "$p"; done
for p in "${PIDS[@]}"; do wait "$p" || fail "an agent exited with status $? on SIGTERM"; done
PIDS=()
netns_down
netns_leftovers || fail "processes or namespaces left behind"
echo "deploy cluster: $N nodes rendered, keyed, healthy; a ban crosses the cluster"
exit 0
