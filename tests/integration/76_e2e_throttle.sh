#!/bin/bash
# 76_e2e_throttle.sh: [throttle] sending limits through Postfix's policy service on three real
# Postfix nodes, each asking its own sgagent over the unix socket in its queue directory.
# - alice, over an hourly token bucket (4 per hour, burst 4) filled through all three nodes, is
#   deferred with 4.7.1 on every node, while bob is not;
# - the map file raises carol's limit (user_hour=7): she sends 7, her 8th is deferred; after the map
#   is changed and the agents get SIGHUP, she sends again;
# - dave, past the warn tier (50%) with three messages through node1, is logged once, not per message;
# - `sgcluster quota` shows alice's counter against the limit on a node she never used last, and
#   `sgcluster quota --reset` on one node lets her send on another.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/e2e.sh"
e2e_require
MAILD_USERS="alice:alice-pw bob:bob-pw carol:carol-pw dave:dave-pw"
send() { e2e_send "$1" "$2" 1; }
MAILD_POLICY="permit_mynetworks, $E2E_POLICY, permit_sasl_authenticated, reject_unauth_destination"
MAILD_POLICY_EOD="$E2E_POLICY"
MAP=""
limits() {
    e2e_policy_dir "$1" || fail "socket directory"
    MAP=$NETNS_DIR/throttle.map
    printf 'user:carol user_hour=7   # a bulk sender\n' > "$MAP"
    cluster_conf "$1" policy "socket = $(e2e_policy_sock "$1")" "user = postfix"
    cluster_conf "$1" throttle \
        "limit.user_hour = key=sasl_username measure=messages rate=4/1h burst=4 service=submission warn=50% defer=100% text=\"Hourly limit: %{count} of %{max} messages\"" \
        "limit.dave_rcpt = key=sasl_username measure=recipients window=1h max=6 service=submission warn=25%" \
        "map = $MAP"
}
e2e_up 3 limits

# alice: 4 through the three nodes are let through, then every node defers with 4.7.1.
for k in 1 2 3 4; do
    node=$(( (k - 1) % 3 + 1 ))
    send $node alice; rc=$?
    [ $rc = 0 ] || fail "alice's message $k via node$node not accepted (rc $rc)"
done
for node in 1 2 3; do
    send $node alice; rc=$?
    [ $rc = 4 ] || fail "alice over her hourly bucket via node$node: rc $rc, want 4xx"
    grep -qE '^ *<~?\** +4[0-9]{2}[ -]4\.7\.1 .*Hourly limit: 4 of 4 messages' "$CLIENT_OUT" ||
        fail "node$node's deferral is not 4.7.1 with the template's text"
done
grep -hE '4\.7\.1' "$CLIENT_OUT" | head -1 | sed 's/^ *//; s/^/measured: swaks saw: /'
echo "measured: alice: 4 accepted over 3 nodes (at most 2 per node), then 4.7.1 on all 3 nodes"
send 2 bob || fail "bob refused while alice is over her limit"

# quota on node3 (alice's last accepted message went through node1): the cluster-wide counter.
used=$(sgc 3 quota alice --json | python3 -c '
import json, sys
print(next(r["used"] for r in json.load(sys.stdin) if r["limit"] == "user_hour"))')
[ "$used" = 4 ] || fail "node3's quota shows $used used for alice, want 4"
sgc 3 quota alice | sed 's/^/measured: quota: /'

# carol: the map raises her limit to 7.
for k in 1 2 3 4 5 6 7; do
    send $(( k % 3 + 1 )) carol || fail "carol's message $k refused (her map limit is 7)"
done
send 2 carol; [ $? = 4 ] || fail "carol's 8th message not deferred"
echo "measured: carol: 7 accepted with the map's override (default 4), the 8th deferred"
# A new map and SIGHUP: read again, and carol may send more.
printf 'user:carol user_hour=20\n' > "$MAP"
for i in 1 2 3; do kill -HUP "${CLUSTER_PID[$i]}"; done
for i in 1 2 3; do wait_for 10 grep -q "reloaded" "$CLUSTER_DIR/n$i/agent.log" || fail "node$i did not reload"; done
send 3 carol || fail "carol still deferred after the map raised her limit to 20 and SIGHUP"

# dave: 2 recipients per message, warn at 25% of 6: messages 1, 2 and 3 are all past it, one line.
for k in 1 2 3; do
    smtp_send -n client "$(node_ip 1)" dave dave-pw 2 || fail "dave's message $k refused (warn only)"
done
wait_for 5 grep -q "throttle warn: user:dave over limit dave_rcpt" "$CLUSTER_DIR/n1/agent.log" || fail "no warn line for dave"
lines=$(grep -c "throttle warn: user:dave over limit dave_rcpt" "$CLUSTER_DIR/n1/agent.log")
[ "$lines" = 1 ] || fail "dave's warn tier logged $lines times, want once"
grep -h "throttle warn: user:dave" "$CLUSTER_DIR/n1/agent.log" | sed 's/^/measured: log: /'

# A reset on node1 lets alice send on node2 (a reset mark replicated like any counter).
sgc 1 quota --reset alice >/dev/null || fail "quota --reset"
wait_for 5 send 2 alice || fail "alice still deferred on node2 after a reset on node1"
echo "measured: alice accepted on node2 after quota --reset on node1"
echo "e2e throttle checks passed"
