#!/bin/sh
# Four real sgagent processes on loopback (dry-run backend), run twice: with CURVE (the default)
# and in plaintext (curve = no, allowed on loopback). The cluster
# changes under SIGHUP the way the Ansible role changes it (peer sections and public keys written,
# then a reload), and nobody is cut off:
#   - n1 starts with a peer n4 whose key is not there yet: it runs with the peers it has;
#   - add n4 (its key and section on every node, SIGHUP), then start it;
#   - remove n3 (section and key gone on the others, SIGHUP): its connections (CURVE) or frames
#     (plaintext) are refused and counted, and what it decides reaches nobody;
#   - rotate n2's key (new key pair, the new public key on the others, SIGHUP);
#   - restart n4 twice in a row, then with a stored epoch ahead of the clock (a clock stepped back):
#     its new deltas are still taken.
# After each step, a ban decided on each member reaches every other member.
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
SG_BIN=${SG_BIN:?}; SG_ROOT=${SG_ROOT:?}
. "$SG_ROOT/tests/integration/lib/cluster.sh"
BASE=$(mktemp -d)
T=$BASE
cleanup() { cluster_stop_all; [ -n "${SG_KEEP:-}" ] && echo "kept $BASE" || rm -rf "$BASE"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for i in 1 2 3 4; do echo "--- n$i"; tail -12 "$T/n$i/agent.log" 2>/dev/null; done; exit 1; }
# must SECONDS DESCRIPTION CMD...: must (lib/wait.sh) CMD, or fail saying what did not happen
must() { local secs=$1 what=$2; shift 2; wait_for "$secs" "$@" || fail "$what (after ${secs}s)"; }
all_healthy() { local i; for i in "$@"; do cluster_healthy "$i" || return 1; done; }
all_have() { # KEY NODE...
    local k=$1 i; shift
    for i in "$@"; do cluster_has_ban "$i" "$k" || return 1; done
}
# peers I: the peer names node I's status lists
peers_of() { sgc "$1" status --json | python3 -c 'import json,sys; print(" ".join(sorted(p["name"] for p in json.load(sys.stdin)["peers"])))'; }
field() { cluster_status_field "$@"; }
peer_state() { sgc "$1" status --json | python3 -c 'import json,sys; print(*[p["state"] for p in json.load(sys.stdin)["peers"] if p["name"] == sys.argv[1]])' "$2"; }
alive_on() { local i=$1 p; shift; for p in "$@"; do [ "$(peer_state "$i" "$p")" = alive ] || return 1; done; }
conf() { echo "$T/n$1/sgagent.conf"; }
# drop_peer I J: node I forgets peer J (its section and its key), as the role does
drop_peer() {
    python3 - "$(conf "$1")" "n$2" <<'PY'
import sys
f, name = sys.argv[1], sys.argv[2]
out, skip = [], False
for line in open(f).read().split("\n"):
    if line.startswith("["):
        skip = line == "[peer %s]" % name
    if not skip:
        out.append(line)
open(f, "w").write("\n".join(out).rstrip("\n") + "\n")
PY
    rm -f "$T/n$1/peers/n$2.pub"
}
add_section() { grep -A3 "^\[peer n$2\]" "$T/full$1.conf" >> "$(conf "$1")"; }
add_key() { cp "$T/keys/n$2.pub" "$T/n$1/peers/"; }
hup() { local i; for i in "$@"; do kill -HUP "${CLUSTER_PID[$i]}"; done; }
reloads() { field "$1" 'd["reloads"]' 2>/dev/null || echo 0; }
reloaded() { [ "$(reloads "$1")" -ge "$2" ]; }   # reloaded I N: node I has reloaded N times at least
# converge STEP NODE...: a ban decided on each listed node reaches all of them
converge() {
    local step=$1 i t0; shift
    for i in "$@"; do
        sgc "$i" ban "203.0.113.$step$i" --for 1h --reason "$step from n$i" >/dev/null || fail "$step: ban on n$i"
    done
    t0=$(now_ms)
    for i in "$@"; do must 15 "$step: ban from n$i did not reach every member" all_have "ip:203.0.113.$step$i" "$@"; done
    echo "measured: $step: bans from ${*/#/n} on every member in $(( $(now_ms) - t0 )) ms"
}

# run MODE: the whole sequence, with CURVE (the default) or in plaintext (curve = no, which
# loopback allows): refused connections under CURVE, refused frames in plaintext.
run() {
    local mode=$1 i j k e0 e2 future t0
    T=$BASE/$mode
    mkdir -p "$T"
    echo "== $mode"
    cluster_init 4 "$T" || fail "init"
    mkdir -p "$T/keys"
    for i in 1 2 3 4; do
        cp "$(conf $i)" "$T/full$i.conf"
        cp "$T/peers/n$i.pub" "$T/keys/"
        mkdir -p "$T/n$i/peers"
        for j in 1 2 3 4; do [ "$j" = "$i" ] || cp "$T/peers/n$j.pub" "$T/n$i/peers/"; done
        sed -i "s|^peer_key_dir = .*|peer_key_dir = $T/n$i/peers|" "$(conf $i)"
        : > "$T/n$i/mail.log"
    done
    if [ "$mode" = plaintext ]; then
        for i in 1 2 3 4; do cluster_conf $i node "curve = no"; cp "$(conf $i)" "$T/full$i.conf"; done
    else
        grep -q "^curve" "$(conf 1)" && fail "the test means to run with the default (CURVE on)"
    fi
    # n2, n3 know nothing of n4; n1 has its section (the role wrote it) but not yet its key.
    for i in 2 3; do drop_peer $i 4; done
    rm -f "$T/n1/peers/n4.pub"

    for i in 1 2 3; do cluster_start $i || fail "start n$i"; done
    grep -q "peer n4\]: no public key" "$T/n1/agent.log" || fail "n1 did not log n4's missing key"
    must 15 "n2, n3 not healthy" all_healthy 2 3
    must 15 "n1 does not see n2 and n3 alive" alive_on 1 n2 n3
    [ "$(peer_state 1 n4)" = no_key ] || fail "n1 shows n4 as '$(peer_state 1 n4)', want no_key"
    cluster_healthy 1 && fail "n1 says HEALTHY while n4 is left out"
    [ "$(field 1 'd["gossip"]["curve"]')" = "$([ $mode = curve ] && echo True || echo False)" ] || fail "curve is not as configured"
    converge 1 1 2 3

    # --- add n4: its key and section everywhere, reload, start it
    for i in 1 2 3; do add_key $i 4; done
    for i in 2 3; do add_section $i 4; done
    hup 1 2 3
    for i in 1 2 3; do must 10 "n$i did not reload" reloaded $i 1; done
    grep -q "transport restarted" "$T/n1/agent.log" || fail "n1 did not restart its transport for the new key"
    cluster_start 4 || fail "start n4"
    t0=$(now_ms)
    must 20 "the cluster with n4 is not healthy" all_healthy 1 2 3 4
    echo "measured: n4 added: all 4 healthy $(( $(now_ms) - t0 )) ms after it started"
    for i in 1 2 3; do [ "$(peers_of $i)" = "$(echo n1 n2 n3 n4 | sed "s/n$i //;s/ n$i\$//")" ] || fail "n$i peers: $(peers_of $i)"; done
    all_have ip:203.0.113.11 4 || must 15 "n4 did not get the earlier bans" all_have ip:203.0.113.11 4
    converge 2 1 2 3 4

    # --- remove n3: gone from the others' sections and keys; n3 itself runs on, unchanged
    for i in 1 2 4; do drop_peer $i 3; done
    hup 1 2 4
    for i in 1 2; do must 10 "n$i did not reload" reloaded $i 2; done
    must 10 "n4 did not reload" reloaded 4 1
    must 15 "n1, n2, n4 not healthy without n3" all_healthy 1 2 4
    [ "$(peers_of 1)" = "n2 n4" ] || fail "n1 still lists n3: $(peers_of 1)"
    refused() { field "$1" 'd["gossip"]["drops"]["unknown_origin"]'; }
    refused_by_all() { [ "$(refused 1)" -ge 1 ] && [ "$(refused 2)" -ge 1 ] && [ "$(refused 4)" -ge 1 ]; }
    # n3 restarts with its old configuration: until a first sync succeeds it asks every 500 ms
    cluster_kill 3 TERM
    cluster_start 3 || fail "restart the removed n3"
    must 20 "n3's connections or frames were not refused and counted on n1, n2 and n4" refused_by_all
    sgc 3 ban 203.0.113.99 --for 1h --reason "from a removed node" >/dev/null || fail "ban on n3"
    converge 3 1 2 4
    for i in 1 2 4; do cluster_has_ban $i ip:203.0.113.99 && fail "n$i took a ban from the removed n3"; done
    echo "measured: n3 removed: ($mode) refused on n1/n2/n4 $(refused 1)/$(refused 2)/$(refused 4) times, its ban reached none"
    cluster_kill 3 TERM

    # --- rotate n2's key: a new pair on n2, its new public key on the others, reload, restart n2
    cluster_kill 2 TERM
    rm -f "$T/n2/keys/n2.key" "$T/n2/keys/n2.pub"
    "$SG_BIN/sgcluster" keygen --node n2 "$T/n2/keys" >/dev/null || fail "keygen n2"
    for i in 1 4; do cp "$T/n2/keys/n2.pub" "$T/n$i/peers/n2.pub"; done
    hup 1 4
    cluster_start 2 || fail "restart n2 with its new key"
    t0=$(now_ms)
    must 20 "not healthy after n2's key rotation" all_healthy 1 2 4
    echo "measured: n2's key rotated: healthy again $(( $(now_ms) - t0 )) ms after its restart"
    converge 4 1 2 4

    # --- n4 restarts twice in a row, then after its clock stepped back
    e0=$(field 4 'd["epoch"]')
    for k in 1 2; do cluster_kill 4 TERM; cluster_start 4 || fail "restart n4 ($k)"; done
    e2=$(field 4 'd["epoch"]')
    [ "$e2" -ge $((e0 + 2)) ] || fail "epochs after two restarts: $e0 then $e2"
    converge 5 1 2 4
    cluster_kill 4 TERM
    future=$(( $(date +%s) + 1000 ))
    echo "$future" > "$T/n4/state/epoch"   # as if it last ran with a clock 1000 s ahead
    cluster_start 4 || fail "restart n4 (future epoch)"
    [ "$(field 4 'd["epoch"]')" = $((future + 1)) ] || fail "epoch $(field 4 'd["epoch"]'), want $((future + 1))"
    converge 6 1 2 4
    cluster_kill 4 TERM
    cluster_start 4 || fail "restart n4 (clock behind its last epoch)"
    [ "$(field 4 'd["epoch"]')" = $((future + 2)) ] || fail "epoch $(field 4 'd["epoch"]'), want $((future + 2))"
    converge 7 1 2 4
    echo "measured: n4 epochs $e0 -> $e2 over two restarts, then $((future + 1)), $((future + 2)) with its clock behind"
    cluster_stop_all
}

run curve
run plaintext
echo "cluster reload checks passed"
