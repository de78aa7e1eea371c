#!/bin/bash
# Two sites of two real sgagent processes each, on loopback over real ZeroMQ (CURVE): site a = n1
# (relay) and n2, site b = n3 (relay) and n4. Non-relay nodes subscribe to their own site only; each
# relay subscribes to the other site's nodes and re-publishes their frames, signed by their authors,
# into its site. A ban written on n2 reaches n3 and n4; n4 has no direct subscription to site a but
# knows n2's sequence (relayed deltas, verified against n2's key); the relays count what they
# relayed; stopping relay n3 is visible on n4 (relay not heard, site a's nodes not alive), and once
# it is back a ban written meanwhile on n2 converges on n4 (sync). Tampered and re-relayed frames are
# refused and counted: tests/unit/test_gossip_relay.c (a test-owned PUB socket stands for a relay).
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
SG_BIN=${SG_BIN:?}; SG_ROOT=${SG_ROOT:?}
SG_BUILD=${SG_BUILD:-$SG_ROOT/build}
BAD_RELAY=$SG_BUILD/tests/tool_bad_relay
. "$SG_ROOT/tests/integration/lib/cluster.sh"
T=$(mktemp -d)
cleanup() { cluster_stop_all; [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for i in 1 2 3 4; do echo "--- n$i"; tail -15 "$T/n$i/agent.log"; done; exit 1; }
all_nodes() { local i; for i in 1 2 3 4; do "$@" "$i" || return 1; done; }
has_ban() { cluster_has_ban "$2" "$1"; }   # KEY I, for all_nodes
field() { cluster_status_field "$1" "$2"; }
site_of() { [ "$1" -le 2 ] && echo a || echo b; }
# a peer's field in node I's `sgcluster peers --json`: peer_field I PEER PYEXPR-of-p
peer_field() {
    sgc "$1" peers --json | python3 -c "
import json, sys
p = [p for p in json.load(sys.stdin) if p['name'] == sys.argv[1]][0]
print($3)" "$2"
}

[ -x "$BAD_RELAY" ] || { echo "FAIL: $BAD_RELAY not built (make $BAD_RELAY)"; exit 1; }
cluster_init 4 "$T" || fail "init"
mkdir -p "$T/mallory"
"$SG_BIN/sgcluster" keygen --node mallory "$T/mallory" >/dev/null || fail "keygen mallory"
cp "$T/mallory/mallory.pub" "$T/peers/"
for i in 1 2 3 4; do
    cluster_conf $i node "site = $(site_of $i)"
    [ $i = 1 ] || [ $i = 3 ] && cluster_conf $i node "relay = yes"
    for j in 1 2 3 4; do
        [ $i = $j ] && continue
        cluster_conf $i "peer n$j" "site = $(site_of $j)"
        [ $j = 1 ] || [ $j = 3 ] && cluster_conf $i "peer n$j" "relay = yes"
    done
done
for i in 1 2 3 4; do cluster_start $i || fail "start n$i"; done
# healthy = every peer alive: n4 hears n1 and n2 only through relay n3
wait_for 30 all_nodes cluster_healthy || fail "cluster not healthy"
echo "measured: 4 agents in 2 sites healthy"

# Who subscribes to whom, from the peers' own view.
[ "$(peer_field 4 n1 'p["direct"]')" = False ] || fail "n4 subscribes to n1 (site a) directly"
[ "$(peer_field 4 n2 'p["direct"]')" = False ] || fail "n4 subscribes to n2 (site a) directly"
[ "$(peer_field 4 n3 'p["direct"] and p["relay"]')" = True ] || fail "n4 does not subscribe to its relay n3"
[ "$(peer_field 2 n4 'p["direct"]')" = False ] || fail "n2 subscribes to n4 (site b) directly"
[ "$(peer_field 3 n2 'p["direct"]')" = True ] || fail "relay n3 does not subscribe to n2"
[ "$(field 4 'd["gossip"]["site"]')" = b ] || fail "n4 does not show its site"
[ "$(field 4 'd["gossip"]["relay_heard"]')" = True ] || fail "n4 does not hear its relay"
[ "$(field 3 'd["gossip"]["relay"]')" = True ] || fail "n3 does not show it is a relay"
sgc 4 status | grep -q "^site *b, relay heard" || fail "sgcluster status does not show the site and relay: $(sgc 4 status)"

# A ban written on a site-a non-relay node reaches both site-b nodes.
sgc 2 ban 203.0.113.50 --for 1h --reason "site test" >/dev/null || fail "ban on n2"
t0=$(now_ms)
wait_for 10 all_nodes has_ban ip:203.0.113.50 || fail "the ban of n2 did not reach every node"
echo "measured: ban on n2 (site a) visible on all 4 nodes in $(( $(now_ms) - t0 )) ms"
# n4 took n2's own frames, through n3, verified against n2's key
n2seq=$(peer_field 4 n2 'p["last_seq"]')
[ "$n2seq" -ge 1 ] || fail "n4 has no delta of n2 (seq $n2seq)"
[ "$(field 4 'd["gossip"]["relayed_in"]')" -ge 1 ] || fail "n4 took no relayed frame"
[ "$(field 3 'd["gossip"]["relayed_out"]')" -ge 1 ] || fail "relay n3 relayed nothing"
[ "$(field 1 'd["gossip"]["relayed_out"]')" -ge 1 ] || fail "relay n1 relayed nothing"
[ "$(field 4 'd["gossip"]["relayed_out"]')" = 0 ] || fail "non-relay n4 relayed frames"
[ "$(field 4 'd["gossip"]["relayed_refused"]')" = 0 ] || fail "n4 refused honest relayed frames"
for i in 1 2 3 4; do
    echo "measured: n$i relayed out $(field $i 'd["gossip"]["relayed_out"]'), in $(field $i 'd["gossip"]["relayed_in"]'), duplicates $(field $i 'd["gossip"]["relayed_dup"]'), refused $(field $i 'd["gossip"]["relayed_refused"]')"
done

# The relay of site b stops: visible on n4; a ban meanwhile on n2; the relay comes back: n4 converges.
cluster_kill 3 TERM
relay_lost() { [ "$(field 4 'd["gossip"]["relay_heard"]')" = False ] && ! cluster_healthy 4; }
wait_for 20 relay_lost || fail "n4 did not notice its relay stopped"
sgc 4 status | grep -q "RELAY NOT HEARD" || fail "status does not say the relay is not heard"
sgc 2 ban 203.0.113.51 --for 1h >/dev/null || fail "ban on n2 while relay n3 is down"
wait_for 10 cluster_has_ban 1 ip:203.0.113.51 || fail "n1 missing the ban"
cluster_start 3 || fail "restart relay n3"
t0=$(now_ms)
wait_for 20 all_nodes has_ban ip:203.0.113.51 || fail "the ban written while relay n3 was down did not converge"
echo "measured: ban written while the relay was down reached n4 $(( $(now_ms) - t0 )) ms after the relay restarted"
wait_for 30 all_nodes cluster_healthy || fail "cluster not healthy again"
[ "$(field 4 'd["gossip"]["relay_heard"]')" = True ] || fail "n4 does not hear its relay again"

# A hostile relay: n4 is told (reload) that mallory, a keyring member, is a relay of site b.
cluster_conf 4 "peer mallory" "pub = tcp://127.0.0.1:$(_cluster_port 5 pub)" "sync = tcp://127.0.0.1:$(_cluster_port 5 sync)" \
    "site = b" "relay = yes"
kill -HUP "${CLUSTER_PID[4]}"
mallory_listed() { sgc 4 peers --json | grep -q '"name":"mallory"'; }
wait_for 10 mallory_listed || fail "n4 did not take mallory as a peer on reload"
# the reload rebuilt n4's transport: its counters start again from here
ref0=$(field 4 'd["gossip"]["relayed_refused"]')
sig0=$(field 4 'd["gossip"]["drops"]["bad_signature"]')
unx0=$(field 4 'd["gossip"]["drops"]["unexpected"]')
"$BAD_RELAY" "tcp://127.0.0.1:$(_cluster_port 5 pub)" "$T/mallory" mallory "$T/peers" n2 20 > "$T/bad_relay.out" 2>&1 &
bad_pid=$!
refused_both() {
    [ "$(field 4 'd["gossip"]["drops"]["bad_signature"]')" -gt "$sig0" ] &&
    [ "$(field 4 'd["gossip"]["drops"]["unexpected"]')" -gt "$unx0" ] &&
    [ "$(field 4 'd["gossip"]["relayed_refused"]')" -ge $((ref0 + 2)) ]
}
wait_for 20 refused_both || { kill "$bad_pid"; fail "n4 did not refuse the forged and the re-relayed frames"; }
kill "$bad_pid"; wait "$bad_pid" 2>/dev/null
echo "measured: n4 refused $(( $(field 4 'd["gossip"]["relayed_refused"]') - ref0 )) frames of the hostile relay (forged signature: $(( $(field 4 'd["gossip"]["drops"]["bad_signature"]') - sig0 )), re-relay and others: $(( $(field 4 'd["gossip"]["drops"]["unexpected"]') - unx0 )))"
[ "$(field 4 'd["gossip"]["relayed_out"]')" = 0 ] || fail "n4 relayed frames"
echo "gossip sites checks passed"
