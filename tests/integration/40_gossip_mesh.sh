#!/bin/sh
# 40_gossip_mesh.sh: the cluster transport between real processes on 127.0.0.1: 5 nodes writing random
# deltas converge (same state digest); a late joiner, a node killed with SIGKILL and restarted (from its
# snapshot, new epoch), a node stopped with SIGSTOP, a node losing 20% of its PUB/SUB frames all converge; frames
# from an unknown key, replayed or tampered frames, and a peer whose clock runs 10 minutes ahead are
# dropped, counted, and change nothing; a CURVE cluster converges and refuses a key not in its list.
set -u
ROOT=${SG_ROOT:-$(pwd)}
BUILD=${SG_BUILD:-$ROOT/build}
. "$ROOT/tests/integration/lib/wait.sh"
. "$ROOT/tests/integration/lib/ports.sh"
W=$(mktemp -d /tmp/sg-mesh.XXXXXX)
PIDS=""
# gone PID...: none of them runs any more (an unreaped child, a zombie, counts as gone).
gone() {
    for p in "$@"; do
        st=$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null) || continue
        [ -z "$st" ] || [ "$st" = Z ] || return 1
    done
    return 0
}
stop() { # PID...: TERM, a bounded wait, then KILL; reaped
    for p in "$@"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
    wait_for 3 gone "$@" 2>/dev/null || for p in "$@"; do kill -9 "$p" 2>/dev/null; done
    for p in "$@"; do wait "$p" 2>/dev/null; done
}
cleanup() {
    stop $PIDS
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT INT TERM
fail() { echo "FAIL: $*"; for f in "$W"/*.log; do [ -s "$f" ] && { echo "== $f"; tail -5 "$f"; }; done; exit 1; }

# The node program is built here against this build's library (with the sanitizers when it has them):
# `make test` does not build the benchmark programs.
PKGS="libczmq libzmq msgpack libpcre2-8 libnftnl libmnl libsodium inih"
SAN=""
nm "$BUILD/libsg.a" 2>/dev/null | grep -q __asan_init && SAN="-fsanitize=address,undefined"
B=$W/meshnode
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O1 -g $SAN -I"$ROOT" $(pkg-config --cflags $PKGS) -o "$B" \
    "$ROOT/tests/bench/bench_meshnode.c" "$BUILD/libsg.a" $(pkg-config --libs $PKGS) -lm ||
    fail "cannot build the node program"

N=5
# The nodes need each other's ports before they start: a reserved block outside the ephemeral range
# (lib/ports.sh); 2 ports a node and the extra one, then the CURVE cluster 20 ports higher.
port_block || fail "no block of ports"
BASE=$PORT_BASE
"$B" keygen "$W" $N || fail "keygen"

# start NAME INDEX ARGS...: a node process (index N is the extra "skew" node).
start() {
    name=$1; idx=$2; shift 2
    "$B" node --dir "$W" --index "$idx" --nodes $N --base-port $BASE --rate 200 --sync-ms 1500 "$@" \
        >>"$W/$name.log" 2>&1 &
    echo $! >"$W/$name.pid"
    PIDS="$PIDS $!"
}
pid() { cat "$W/$1.pid"; }
val() { sed -n "s/^$2 //p" "$W/$1.status" 2>/dev/null; }
now_ms() { date +%s%3N; }

# converged TIMEOUT_S NAME...: all have written everything, and their digests are equal.
converged() {
    t=$1; shift
    end=$(($(date +%s) + t)); t0=$(now_ms)
    while [ "$(date +%s)" -lt "$end" ]; do
        ok=1; d0=""
        for n in "$@"; do
            d=$(val "$n" digest); p=$(val "$n" pending)
            if [ -z "$d" ] || [ "$p" != 0 ]; then ok=0; break; fi
            [ -z "$d0" ] && d0=$d
            [ "$d" = "$d0" ] || { ok=0; break; }
        done
        if [ $ok = 1 ]; then CONV_MS=$(($(now_ms) - t0)); DIGEST=$d0; return 0; fi
        sleep 0.2
    done
    for n in "$@"; do echo "  $n: digest=$(val "$n" digest) pending=$(val "$n" pending) written=$(val "$n" written)"; done
    return 1
}
ALL="node0 node1 node2 node3 node4"

echo "== 4 nodes (node3 loses 20% of its PUB/SUB frames) write 150 deltas each"
# the "skew" node is in everyone's peer list but starts only later, with its clock ahead
start node0 0 --count 150 --with-skew
start node1 1 --count 150 --with-skew
start node2 2 --count 150 --with-skew --snapshot "$W/node2.snap"
start node3 3 --count 150 --with-skew --loss 200
converged 40 node0 node1 node2 node3 || fail "4 nodes did not converge"
echo "measured: 4-node convergence after the writes: ${CONV_MS} ms"
[ "$(val node3 gaps_seen)" -gt 0 ] || fail "node3 saw no gaps despite the loss"
[ "$(val node3 gaps_repaired)" -gt 0 ] || fail "node3 repaired no gaps"
echo "measured: node3 gaps seen $(val node3 gaps_seen), repaired $(val node3 gaps_repaired)"

echo "== late joiner node4 gets the full state"
start node4 4 --count 150 --with-skew
converged 40 $ALL || fail "the late joiner did not converge"
[ "$(val node4 synced)" = 1 ] || fail "node4 not marked synced"
echo "measured: late joiner converged in ${CONV_MS} ms"

echo "== node2 killed with SIGKILL and restarted from its snapshot, with a new epoch"
# Its peers give back everything but its own counter cells (a slot is taken from its origin only):
# those come from its snapshot, as with the agent.
e_old=$(val node2 json | grep -o '"epoch":[0-9]*' | head -1)
[ -s "$W/node2.snap" ] || fail "node2 wrote no snapshot"
kill -9 "$(pid node2)"
wait "$(pid node2)" 2>/dev/null
# The epoch is the start time in seconds: the restart must come in a later second to get a new one.
e_sec=${e_old#*:}
later() { [ "$(date +%s)" -gt "$1" ]; }
wait_for 3 later "$e_sec" || fail "the clock did not pass the old epoch $e_sec"
rm -f "$W/node2.status"
start node2 2 --count 100 --with-skew --snapshot "$W/node2.snap"
converged 40 $ALL || fail "the restarted node did not converge"
e_new=$(val node2 json | grep -o '"epoch":[0-9]*' | head -1)
[ "$e_old" != "$e_new" ] || fail "restart kept epoch $e_old"
echo "measured: restarted node converged in ${CONV_MS} ms ($e_old -> $e_new)"

echo "== node1 stopped (SIGSTOP) while the others write, then continued"
kill -STOP "$(pid node1)"
# wrote_more NAME...: each has written more than before the burst, and all of it.
wrote_more() {
    for n in "$@"; do
        w=$(val "$n" written); eval "b=\$before_$n"
        [ -n "$w" ] && [ "$w" -gt "$b" ] && [ "$(val "$n" pending)" = 0 ] || return 1
    done
}
for n in node0 node2 node3 node4; do eval "before_$n=$(val $n written)"; kill -USR1 "$(pid $n)"; done
wait_for 20 wrote_more node0 node2 node3 node4 || fail "the running nodes did not write their bursts"
converged 20 node0 node2 node3 node4 || fail "the running nodes did not converge while node1 was stopped"
stopped_digest=$DIGEST
kill -CONT "$(pid node1)"
converged 40 $ALL || fail "the stopped node did not converge after SIGCONT"
[ "$DIGEST" = "$stopped_digest" ] || fail "digest after SIGCONT differs from the others' while it was stopped"
echo "measured: stopped node converged ${CONV_MS} ms after SIGCONT"

echo "== replayed and tampered frames"
"$B" replay --source-port $BASE --target-port $((BASE + 3)) >"$W/replay.log" 2>&1 &
rp=$!
# The replayer's SUB may join after a burst has gone by: node0 writes bursts until it has one.
captured() {
    gone $rp && return 0
    [ "$(val node0 pending)" = 0 ] && kill -USR1 "$(pid node0)"
    return 1
}
wait_for 15 captured || fail "the replayer did not capture a frame"
wait $rp || fail "the replayer could not capture a frame"
at_least() { [ "$(val "$1" "$2")" -ge "$3" ] 2>/dev/null; }
wait_for 5 at_least node1 drop_replay 2 || fail "node1 counted $(val node1 drop_replay) replays, expected >= 2"
wait_for 5 at_least node1 drop_bad_signature 1 || fail "node1 did not count the tampered frame"
wait_for 5 at_least node1 drop_malformed 1 || fail "node1 did not count the noise"
converged 40 $ALL || fail "no convergence after the replays"
before=$DIGEST
echo "measured: node1 drops: replay $(val node1 drop_replay), bad_signature $(val node1 drop_bad_signature), malformed $(val node1 drop_malformed)"

echo "== a stranger's key, and a peer whose clock is 10 minutes ahead"
i=0
while [ $i -lt $N ]; do
    "$B" inject --dir "$W" --target-port $((BASE + 2 * i + 1)) >>"$W/inject.log" 2>&1 || fail "inject to node$i"
    i=$((i + 1))
done
start skew $N --name skew --count 50 --clock-offset 600000
for n in $ALL; do
    wait_for 10 at_least $n drop_unknown_origin 2 || fail "$n counted $(val $n drop_unknown_origin) unknown-origin frames"
    wait_for 10 at_least $n drop_clock_ahead 1 || fail "$n counted no clock-ahead frame"
    [ "$(val $n probe_stranger)" = 0 ] || fail "$n merged the stranger's counter"
    [ "$(val $n probe_skew)" = 0 ] || fail "$n merged the skewed peer's counter"
done
converged 20 $ALL || fail "no convergence after the injections"
[ "$DIGEST" = "$before" ] || fail "the injections changed the state"
off=$(val node0 json | grep -o '"name":"skew"[^}]*' | grep -o '"clock_offset_ms":[0-9-]*' | cut -d: -f2)
[ -n "$off" ] && [ "$off" -gt 500000 ] || fail "node0 shows the skewed peer's clock offset as '$off' ms"
echo "measured: node0 drops: unknown_origin $(val node0 drop_unknown_origin), clock_ahead $(val node0 drop_clock_ahead); skew offset ${off} ms"
stop $(for n in $ALL skew; do pid $n; done)

echo "== CURVE: 3 nodes converge; a keyring member outside their peer list is refused by ZAP"
BASE=$((BASE + 20)); N=3
mkdir -p "$W/curve" && mv "$W"/*.status "$W/curve/" 2>/dev/null
start node0 0 --count 100 --curve
start node1 1 --count 100 --curve
start node2 2 --count 100 --curve
start skew 3 --name skew --count 20 --curve
converged 40 node0 node1 node2 || fail "the CURVE cluster did not converge"
echo "measured: CURVE 3-node convergence ${CONV_MS} ms"
# The refusal is the event; then nothing may have come through it.
wait_for 10 grep -q "refused a CURVE connection" "$W/node0.log" || fail "no ZAP refusal logged"
has_status() { [ -n "$(val "$1" written)" ]; }
wait_for 10 has_status skew || fail "the unlisted node wrote no status"
[ "$(val skew synced)" = 0 ] || fail "the unlisted key completed a sync through CURVE"
[ "$(val node0 probe_skew)" = 0 ] || fail "the unlisted key got data in"
echo "ok: transport mesh"
