#!/bin/sh
# `sgagent -n` and start agree: a table of good and bad configuration files, each checked with -n,
# then really started (the agent reaches ready, answering on its control socket, or exits with an
# error). Both must give the expected verdict. `sgcluster replay` (same builder, without the node's
# keys and runtime directories) must agree too on the rows that are not about those.
# Every start runs in a network namespace of its own with only loopback up: a row naming a peer
# elsewhere cannot send anything off the machine.
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
. "$ROOT/tests/integration/lib/wait.sh"
[ "$(id -u)" = 0 ] || { echo "skip: needs root (each start runs in a network namespace of its own)"; exit 77; }
command -v unshare >/dev/null || { echo "skip: unshare (util-linux) not installed"; exit 77; }
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$T/keys" "$T/peers" "$T/state"
"$BIN/sgcluster" keygen --node n1 "$T/keys" >/dev/null || fail "keygen n1"
"$BIN/sgcluster" keygen --node n2 "$T/peers" >/dev/null || fail "keygen n2"
rm -f "$T/peers/n2.key"
: > "$T/mail.log"
: > "$T/empty.log"
mkfifo "$T/fifo.log"

# base [NODE-EXTRA] [DETECT-EXTRA] [ENFORCE-EXTRA] [TAIL]: a configuration with the given extra lines.
base() {
    printf '[node]\nname = n1\naddresses = 127.0.0.1\nkey_dir = %s/keys\npeer_key_dir = %s/peers\nstate_dir = %s/state\ncontrol_socket = %s/ctl.sock\n%b' \
        "$T" "$T" "$T" "$T" "${1:-}"
    printf '[detect]\nrules = %s/detect/rules.d\nscenarios = %s/agent/scenarios.d\nlogs = %s/mail.log\n%b' "$ROOT" "$ROOT" "$T" "${2:-}"
    printf '[enforce]\nbackend = dryrun\n%b' "${3:-}"
    printf '%b' "${4:-}"
}
GOSSIP='gossip_bind = tcp://127.0.0.1:*\nsync_bind = tcp://127.0.0.1:*\n'
PEER2='[peer n2]\npub = tcp://127.0.0.1:9\nsync = tcp://127.0.0.1:9\naddresses = 127.0.0.2\n'
LONG=$(python3 -c 'print(", ".join("198.51.%d.%d" % (i // 250, i % 250) for i in range(400)))')

# name | expected (ok/fail) | replay checks it too (y/n) | the file
row() { echo "$1" >> "$T/rows"; printf '%s\n' "$2" > "$T/$1.want"; printf '%s\n' "$3" > "$T/$1.replay"; cat > "$T/$1.conf"; }
base | row good ok y
base "$GOSSIP" "" "" "$PEER2" | row peer-good ok y
base "$GOSSIP" "" "" '[peer n2]\npub = tcp://127.0.0.1:9\n' | row peer-no-sync fail y
base "$GOSSIP" "" "" '[peer n2]\npub = tcp://127.0.0.1\nsync = tcp://127.0.0.1:9\n' | row peer-no-port fail y
base "$GOSSIP" "" "" '[peer n2]\npub = tcp://*:9\nsync = tcp://127.0.0.1:9\n' | row peer-star fail y
base "$GOSSIP" "" "" "$PEER2"'[peer n3]\npub = tcp://127.0.0.1:9\nsync = tcp://127.0.0.1:9\n' | row peer-no-key ok y
base "" "" "" "$PEER2" | row peer-no-bind fail y
base 'gossip_bind = tcp://127.0.0.1:*\n' | row bind-no-sync fail y
sed 's|^addresses = 127.0.0.1$|addresses = 127.0.0.0/24|' "$T/good.conf" | row node-prefix fail y
base "$GOSSIP" "" "" '[peer n2]\npub = tcp://127.0.0.1:9\nsync = tcp://127.0.0.1:9\naddresses = 10.0.0.0/8\n' | row peer-prefix fail y
base "" "" 'allowlist = 198.51.100.0/24, not-an-address\n' | row allowlist-bad fail y
base "" "" "allowlist = $LONG\n" | row allowlist-5000 ok y
base "curve = no\n$GOSSIP" "" "" "$PEER2" | row plaintext-loopback ok y
base "curve = no\n$GOSSIP" "" "" '[peer n2]\npub = tcp://192.0.2.2:7946\nsync = tcp://192.0.2.2:7947\n' | row plaintext-remote fail y
base "curve = no\nallow_plaintext = yes\n$GOSSIP" "" "" '[peer n2]\npub = tcp://192.0.2.2:7946\nsync = tcp://192.0.2.2:7947\n' | row plaintext-allowed ok y
base "" "logs = $T/nowhere/mail.log\n" | row log-dir-missing fail y
base | sed "s|^logs = .*|logs = $T/fifo.log|" | row log-fifo fail n
base | sed "s|^rules = .*|rules = $T/no-rules|" | row rules-missing fail y
base | sed '/^scenarios = /d' | row no-scenarios fail y
base | sed "s|^name = n1|name = n9|" | row own-key-missing fail n
base | sed "s|^control_socket = .*|control_socket = $T/no/such/ctl.sock|" | row ctl-dir-missing fail n
base | sed "s|^control_socket = .*|control_socket = $T/run/ctl.sock|" | row ctl-dir-made ok n
base | sed "s|^peer_key_dir = .*|peer_key_dir = $T/no-peers|" | row peer-dir-missing fail n
base "" "" "" '[metrics]\nenabled = yes\nlisten = 127.0.0.1:0\n' | row metrics-loopback ok n
base "" "" "" '[metrics]\nenabled = yes\nlisten = 0.0.0.0:0\n' | row metrics-remote fail n
base "" "" "" '[metrics]\nenabled = yes\nlisten = 0.0.0.0:0\nallow_remote = yes\n' | row metrics-remote-allowed ok n
base "" "" "" '[metrics]\nenabled = yes\nlisten = localhost:9414\n' | row metrics-name fail n
base "" "" "" '[metrics]\nenabled = no\nlisten = localhost:9414\n' | row metrics-off ok n
base "" "" "" '[metrics]\nenable = yes\n' | row metrics-typo fail y

# start CONF LOG: 0 when the agent reaches ready (answers status, kept in LOG.status), 1 when it
# exits first.
ready_or_gone() { # SOCKET LOG
    "$BIN/sgcluster" status --json -s "$1" > "$2.status" 2>/dev/null && return 0
    ! kill -0 "$PID" 2>/dev/null
}
start() {
    local conf=$1 log=$2 sock
    sock=$(sed -n 's/^control_socket = //p' "$conf")
    rm -f "$sock" "$log.status"
    unshare -n sh -c 'ip link set lo up && exec "$0" -c "$1"' "$BIN/sgagent" "$conf" > "$log" 2>&1 &
    PID=$!
    wait_for 15 ready_or_gone "$sock" "$log" || fail "$conf: the agent neither became ready nor exited within 15 s"
    if [ -s "$log.status" ]; then
        kill -TERM "$PID"; wait "$PID" 2>/dev/null; PID=; return 0
    fi
    wait "$PID" 2>/dev/null; PID=; return 1
}

n_ok=0; n_fail=0
mapfile -t rows < "$T/rows"
for name in "${rows[@]}"; do
    want=$(cat "$T/$name.want")
    conf=$T/$name.conf
    if "$BIN/sgagent" -n -c "$conf" > "$T/$name.check" 2>&1; then check=ok; else check=fail; fi
    if start "$conf" "$T/$name.start"; then started=ok; else started=fail; fi
    [ "$check" = "$started" ] || { cat "$T/$name.check" "$T/$name.start"; fail "$name: -n says $check, start says $started"; }
    [ "$check" = "$want" ] || { cat "$T/$name.check"; fail "$name: expected $want, -n and start both say $check"; }
    if [ "$(cat "$T/$name.replay")" = y ]; then
        if "$BIN/sgcluster" replay -c "$conf" "$T/empty.log" > "$T/$name.rp" 2>&1; then rp=ok; else rp=fail; fi
        [ "$rp" = "$want" ] || { cat "$T/$name.rp"; fail "$name: replay says $rp, -n and start $want"; }
    fi
    # a refusal names its cause on both sides
    if [ "$want" = fail ]; then
        first=$(grep -m1 "$T/$name.conf:" "$T/$name.check" | sed "s|^.*$T/$name.conf:[0-9]*: ||")
        [ -n "$first" ] || fail "$name: -n printed no located error: $(cat "$T/$name.check")"
        grep -qF -- "$first" "$T/$name.start" || fail "$name: start did not log -n's error '$first'"
        n_fail=$((n_fail + 1))
    else
        n_ok=$((n_ok + 1))
    fi
done
# the peer without a key: both say so, and the agent ran with the one it has
grep -q "peer n3\]: no public key" "$T/peer-no-key.check" || fail "-n did not warn about n3's missing key"
grep -q "peer n3\]: no public key" "$T/peer-no-key.start" || fail "start did not log n3's missing key"
python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
p = {x["name"]: x["state"] for x in d["peers"]}
sys.exit(not (set(p) == {"n2", "n3"} and p["n3"] == "no_key" and p["n2"] != "no_key" and not d["healthy"]))' \
    "$T/peer-no-key.start.status" || fail "the agent without n3's key does not run with n2 and show n3 left out: $(cat "$T/peer-no-key.start.status")"
echo "measured: ${#rows[@]} files, $n_ok accepted and $n_fail refused by -n, start and replay alike"
echo "config agreement checks passed"
