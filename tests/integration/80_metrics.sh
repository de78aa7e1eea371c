#!/bin/bash
# 80_metrics.sh: the Prometheus endpoint of a running agent, scraped with curl and checked with
# promtool (Debian's prometheus package). Real Dovecot and Postfix in a namespace write the logs
# the agent follows, ask its auth-policy service and its Postfix policy service; a real nft table
# in the namespace drops the banned attacker. The values must move with the events: log lines per
# source, lines per rule, events by kind and service, auth-policy and policy answers and their
# latency, a decision by scenario and action, an active ban, its kernel element, the time from
# decision to kernel, the packets dropped, and the endpoint's own refusals. A second agent that
# gossips with the first shows the peer and gossip metrics move when it learns the decision. A hostile user name
# sent to IMAP reaches no label.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${SG_ROOT:?}; BIN=${SG_BIN:?}

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nft and mail daemons)"
for b in ip nft dovecot postfix curl swaks promtool python3 timeout; do
    command -v "$b" >/dev/null 2>&1 || skip "missing $b (deploy/deps.sh install test)"
done

. "$here/lib/netns.sh"
fail() { echo "FAIL: $*"; [ -f "$NETNS_DIR/agent.log" ] && tail -15 "$NETNS_DIR/agent.log"; exit 1; }
netns_up 2 || fail "netns_up"
D=$NETNS_DIR
SG="$BIN/sgcluster"
S="-s $D/ctl.sock"
KEY=metrics-test-key-$$-0123456789
mkdir -p "$D/keys"
"$SG" keygen --node node1 "$D/keys" >/dev/null || fail "keygen"
"$SG" keygen --node node2 "$D/keys" >/dev/null || fail "keygen node2"
printf '%s\n' "$KEY" > "$D/authpolicy.key"

MAILD_POLICY="check_policy_service { inet:127.0.0.1:10040, timeout=10s, default_action=DUNNO }, permit_sasl_authenticated, reject_unauth_destination"
MAILD_DOVECOT_EXTRA=$(sed -e "s|X-API-Key:.*|X-API-Key:$KEY|" \
    -e "s|^auth_policy_hash_nonce = .*|auth_policy_hash_nonce = nonce-$$|" \
    "$ROOT/deploy/dovecot/91-sgcluster-authpolicy.conf")
. "$here/lib/maild.sh"
. "$here/lib/clients.sh"
DLOG=$(maild_log node1 dovecot)
PLOG=$(maild_log node1 postfix)
ip1=$(node_ip 1)
ip2=$(node_ip 2)
attacker=$(netns_ip attacker)

# The defaults where they serve: the auth-policy service on 127.0.0.1:9413 (the snippet's) and
# the metrics on 127.0.0.1:9414, each inside its node's own namespace. node2 (a second agent,
# no mail daemons) gossips with node1, for the peer and gossip metrics.
peer() { printf '[peer %s]\npub = tcp://%s:7946\nsync = tcp://%s:7947\naddresses = %s\n' "$1" "$2" "$2" "$2"; }
cat > "$D/node1.conf" <<CONF
[node]
name = node1
addresses = $ip1
key_dir = $D/keys
state_dir = $D/state
control_socket = $D/ctl.sock
gossip_bind = tcp://$ip1:7946
sync_bind = tcp://$ip1:7947
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
logs = $DLOG, $PLOG
[enforce]
backend = nft
[policy]
socket = none
listen = 127.0.0.1:10040
[authpolicy]
enabled = yes
api_key_file = $D/authpolicy.key
[metrics]
enabled = yes
$(peer node2 "$ip2")
CONF
cat > "$D/node2.conf" <<CONF
[node]
name = node2
addresses = $ip2
key_dir = $D/keys
state_dir = $D/state2
control_socket = $D/ctl2.sock
gossip_bind = tcp://$ip2:7946
sync_bind = tcp://$ip2:7947
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
logs = $D/node2.log
[enforce]
backend = dryrun
[policy]
socket = none
[metrics]
enabled = yes
$(peer node1 "$ip1")
CONF
: > "$D/node2.log"
mkdir -p "$(dirname "$DLOG")"   # the daemons' log directory: the agent waits for the files in it
"$BIN/sgagent" -n -c "$D/node1.conf" >/dev/null || fail "sgagent -n refuses the configuration"
apid="" apid2=""
agent_stop() {
    [ -n "$apid" ] && kill -TERM "$apid" 2>/dev/null && wait "$apid"; apid=""
    [ -n "$apid2" ] && kill -TERM "$apid2" 2>/dev/null && wait "$apid2"; apid2=""
}
netns_on_down agent_stop
ip netns exec "$(netns_name node1)" "$BIN/sgagent" -c "$D/node1.conf" >> "$D/agent.log" 2>&1 &
apid=$!
ip netns exec "$(netns_name node2)" "$BIN/sgagent" -c "$D/node2.conf" >> "$D/agent2.log" 2>&1 &
apid2=$!
wait_for 10 "$SG" status $S >/dev/null 2>&1 || fail "agent did not answer"
wait_for 10 "$SG" status -s "$D/ctl2.sock" >/dev/null 2>&1 || fail "node2's agent did not answer"
maild_start node1 || fail "maild_start"

# ---- scraping -----------------------------------------------------------------------------
URL=http://127.0.0.1:9414/metrics
scrape() { # FILE [NODE]: scrape and check the exposition with promtool
    nsexec "${2:-node1}" curl -sS --max-time 5 -o "$1" -w '%{http_code} %{content_type}\n' "$URL" > "$1.http" ||
        fail "scrape: curl failed"
    grep -q '^200 text/plain; version=0.0.4' "$1.http" || fail "scrape: $(cat "$1.http")"
    promtool check metrics < "$1" > "$1.promtool" 2>&1 || fail "promtool check metrics: $(head -5 "$1.promtool")"
}
# val FILE SERIES: the value of one series as written (0 when absent); sum FILE PREFIX: the sum of
# every series whose text starts with PREFIX.
val() { awk -v s="$2" 'index($0, s " ") == 1 { print $NF; f = 1 } END { if (!f) print 0 }' "$1"; }
sum() { awk -v s="$2" 'index($0, s) == 1 { t += $NF } END { printf "%d\n", t }' "$1"; }
grew() { # WHAT BEFORE AFTER
    awk -v a="$2" -v b="$3" 'BEGIN { exit !(b > a) }' || fail "$1 did not move: $2 -> $3"
    echo "moved: $1: $2 -> $3"
}
M0=$D/m0.txt M1=$D/m1.txt M2=$D/m2.txt
healthy() { "$SG" status $S | grep -q HEALTHY && "$SG" status -s "$D/ctl2.sock" | grep -q HEALTHY; }
wait_for 20 healthy || fail "the two agents do not see each other alive"
scrape "$M0"
N0=$D/n0.txt N1=$D/n1.txt
scrape "$N0" node2
echo "measured: $(grep -vc '^#' "$M0") samples in $(grep -c '^# TYPE' "$M0") families, $(wc -c < "$M0") bytes"

# ---- events -------------------------------------------------------------------------------
imap_login "$ip1" alice alice-pw; [ $? = 0 ] || fail "alice cannot log in before any ban"
smtp_send "$ip1" alice alice-pw 1; [ $? = 0 ] || fail "alice cannot send through the policy service"
# A user name an attacker chose: it is in the log lines, and must not reach a label.
imap_login -n attacker "$ip1" 'evil"}name{x' nope >/dev/null
# Failures from another address (the client's is known-good for alice now) until the agent
# decides a ban of the attacker's address; then it is dropped.
for i in $(seq 1 20); do
    imap_login -n attacker "$ip1" alice "wrong-$i"; rc=$?
    [ $rc = 2 ] && break
done
decided() { scrape "$M1"; [ "$(sum "$M1" 'sgcluster_decisions_total{')" -ge 1 ] && [ "$(val "$M1" 'sgcluster_kernel_set_elements{set="ban4"}')" -ge 1 ]; }
wait_for 10 decided || fail "no decision and kernel element in the metrics after the failures: $(grep -E 'decisions_total|set_elements' "$M1")"
wait_for 5 test "$(val "$M1" sgcluster_decision_to_kernel_seconds_count)" -ge 1 || fail "decision-to-kernel not timed"
scrape "$M1"

grew "log lines of the Dovecot log" "$(val "$M0" "sgcluster_log_lines_total{source=\"$DLOG\"}")" \
    "$(val "$M1" "sgcluster_log_lines_total{source=\"$DLOG\"}")"
grew "log lines of the Postfix log" "$(val "$M0" "sgcluster_log_lines_total{source=\"$PLOG\"}")" \
    "$(val "$M1" "sgcluster_log_lines_total{source=\"$PLOG\"}")"
grew "lines matched by dovecot rules" "$(sum "$M0" 'sgcluster_rule_lines_total{rule="dovecot-')" \
    "$(sum "$M1" 'sgcluster_rule_lines_total{rule="dovecot-')"
grew "auth_fail events of imap" "$(val "$M0" 'sgcluster_events_total{kind="auth_fail",service="imap"}')" \
    "$(val "$M1" 'sgcluster_events_total{kind="auth_fail",service="imap"}')"
grew "auth_ok events" "$(sum "$M0" 'sgcluster_events_total{kind="auth_ok"')" "$(sum "$M1" 'sgcluster_events_total{kind="auth_ok"')"
grew "auth-policy allow answers" "$(val "$M0" 'sgcluster_authpolicy_requests_total{answer="allow"}')" \
    "$(val "$M1" 'sgcluster_authpolicy_requests_total{answer="allow"}')"
grew "auth-policy reports" "$(val "$M0" 'sgcluster_authpolicy_requests_total{answer="report"}')" \
    "$(val "$M1" 'sgcluster_authpolicy_requests_total{answer="report"}')"
grew "auth-policy latency observations" "$(val "$M0" sgcluster_authpolicy_request_duration_seconds_count)" \
    "$(val "$M1" sgcluster_authpolicy_request_duration_seconds_count)"
grew "Postfix policy DUNNO answers" "$(val "$M0" 'sgcluster_policy_requests_total{answer="dunno"}')" \
    "$(val "$M1" 'sgcluster_policy_requests_total{answer="dunno"}')"
grew "Postfix policy latency observations" "$(val "$M0" sgcluster_policy_request_duration_seconds_count)" \
    "$(val "$M1" sgcluster_policy_request_duration_seconds_count)"
grew "ban decisions" "$(sum "$M0" 'sgcluster_decisions_total{')" "$(sum "$M1" 'sgcluster_decisions_total{')"
grep -qE '^sgcluster_decisions_total\{scenario="[a-z-]+",action="ban"\} [1-9]' "$M1" ||
    fail "no decision by scenario with action ban: $(grep decisions_total "$M1")"
grew "active block records" "$(val "$M0" 'sgcluster_bans_active{kind="block"}')" "$(val "$M1" 'sgcluster_bans_active{kind="block"}')"
grew "IPv4 kernel set elements" "$(val "$M0" 'sgcluster_kernel_set_elements{set="ban4"}')" \
    "$(val "$M1" 'sgcluster_kernel_set_elements{set="ban4"}')"
grew "kernel elements applied" "$(val "$M0" 'sgcluster_kernel_elements_total{op="applied"}')" \
    "$(val "$M1" 'sgcluster_kernel_elements_total{op="applied"}')"
# the kernel says the same as the metric
kn=$(ip netns exec "$(netns_name node1)" nft list set inet sgcluster ban4 | grep -c "$attacker")
[ "$kn" -ge 1 ] || fail "the attacker's address is not in the kernel set"

# ---- the peer learned the decision: gossip and peer metrics --------------------------------
learned() { scrape "$N1" node2; [ "$(val "$N1" sgcluster_records_from_peers_total)" -ge 1 ]; }
wait_for 10 learned || fail "node2's metrics show no record from node1"
grew "node2: records from peers" "$(val "$N0" sgcluster_records_from_peers_total)" "$(val "$N1" sgcluster_records_from_peers_total)"
grew "node2: gossip frames in" "$(val "$N0" 'sgcluster_gossip_frames_total{direction="in"}')" \
    "$(val "$N1" 'sgcluster_gossip_frames_total{direction="in"}')"
grew "node2: gossip bytes in" "$(val "$N0" 'sgcluster_gossip_bytes_total{direction="in"}')" \
    "$(val "$N1" 'sgcluster_gossip_bytes_total{direction="in"}')"
grew "node1: gossip deltas published" "$(val "$M0" sgcluster_gossip_deltas_total)" "$(val "$M1" sgcluster_gossip_deltas_total)"
grew "node2: active block records" "$(val "$N0" 'sgcluster_bans_active{kind="block"}')" "$(val "$N1" 'sgcluster_bans_active{kind="block"}')"
[ "$(val "$N1" 'sgcluster_peer_state{peer="node1",state="alive"}')" = 1 ] || fail "node2 does not show node1 alive"
[ "$(val "$N1" 'sgcluster_peer_state{peer="node1",state="dead"}')" = 0 ] || fail "node2 shows node1 dead"
grep -qE '^sgcluster_peer_clock_offset_seconds\{peer="node1"\} -?[0-9]' "$N1" || fail "no clock offset of node1 on node2"
[ "$(val "$N1" sgcluster_gossip_synced)" = 1 ] || fail "node2 not synced"
# node2's dry-run backend applied it too, and timed it from node1's decision
[ "$(val "$N1" 'sgcluster_kernel_set_elements{set="ban4"}')" -ge 1 ] || fail "node2's (dry-run) set is empty"
[ "$(val "$N1" sgcluster_decision_to_kernel_seconds_count)" -ge 1 ] || fail "node2 did not time the remote decision"

# ---- the kernel drops the banned attacker -------------------------------------------------
tcp_probe -n attacker -t 1 "$ip1" 143 && fail "the banned attacker still connects"
tcp_probe -t 1 "$ip1" 143 || fail "the client cannot connect"
wait_for 5 sh -c "'$BIN/sgcluster' status $S --json | grep -q '\"dropped_packets\":[1-9]'" || fail "status shows no dropped packet"
# a rendered body is served for up to 1 s: wait for one rendered after the drop
dropped() { scrape "$M2"; [ "$(val "$M2" 'sgcluster_kernel_dropped_packets_total{family="ipv4"}')" -gt 0 ]; }
wait_for 5 dropped || fail "no dropped packet in the metrics"
grew "IPv4 packets dropped" "$(val "$M1" 'sgcluster_kernel_dropped_packets_total{family="ipv4"}')" \
    "$(val "$M2" 'sgcluster_kernel_dropped_packets_total{family="ipv4"}')"
# the same count as status: one fact, one counter
st=$("$SG" status $S --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["kernel"]["dropped_packets"])')
mt=$(( $(val "$M2" 'sgcluster_kernel_dropped_packets_total{family="ipv4"}') + $(val "$M2" 'sgcluster_kernel_dropped_packets_total{family="ipv6"}') ))
[ "$mt" -le "$st" ] || fail "metrics count more dropped packets ($mt) than status ($st) read after them"

# ---- a burst of scrapes renders at most once a second (a render walks every ban and asks the
# kernel, on the agent's loop): 5 back-to-back scrapes, fewer than 5 renders -------------------
renders() { "$SG" status $S --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["renders"])'; }
r0=$(renders) || fail "status has no metrics renders"
for i in 1 2 3 4 5; do nsexec node1 curl -sS --max-time 5 -o /dev/null "$URL" || fail "burst scrape $i"; done
r1=$(renders)
[ $((r1 - r0)) -lt 5 ] || fail "5 back-to-back scrapes rendered $((r1 - r0)) times"
echo "burst: 5 scrapes, $((r1 - r0)) renders"

# ---- hostile text and refusals ------------------------------------------------------------
if grep -q 'evil' "$M2"; then fail "an attacker's user name reached the metrics: $(grep evil "$M2")"; fi
code() { nsexec node1 curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code http://127.0.0.1:9414/)" = 404 ] || fail "GET / is not a 404"
[ "$(code 'http://127.0.0.1:9414/metrics/../secret')" = 404 ] || fail "another path is not a 404"
[ "$(code -X POST -d x=1 "$URL")" = 405 ] || fail "POST /metrics is not a 405"
[ "$(code -X DELETE "$URL")" = 405 ] || fail "DELETE /metrics is not a 405"
scrape "$M2"
[ "$(val "$M2" 'sgcluster_metrics_requests_total{answer="not_found"}')" -ge 2 ] || fail "404s not counted"
[ "$(val "$M2" 'sgcluster_metrics_requests_total{answer="method_not_allowed"}')" -ge 2 ] || fail "405s not counted"

# ---- a reload that moves the endpoint: the new address serves, the old one is closed, and the
# counters go on (they belong to the agent, not to the server); the snapshot it makes is timed --
sed -i 's|^enabled = yes$|enabled = yes\nlisten = 127.0.0.1:0|' "$D/node2.conf"
kill -HUP "$apid2"
mport() { "$SG" status -s "$D/ctl2.sock" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"]["port"])'; }
moved_port() { p2=$(mport) && [ -n "$p2" ] && [ "$p2" != 9414 ]; }
wait_for 10 moved_port || fail "node2's metrics did not move on SIGHUP: $(tail -3 "$D/agent2.log")"
p2=$(mport)
URL=http://127.0.0.1:$p2/metrics scrape "$N1.reload" node2
[ "$(val "$N1.reload" sgcluster_records_from_peers_total)" -ge "$(val "$N1" sgcluster_records_from_peers_total)" ] ||
    fail "records from peers went back after the reload"
[ "$(val "$N1.reload" 'sgcluster_reloads_total{result="ok"}')" -ge 1 ] || fail "the reload is not counted"
# a reload first writes a snapshot (so the new log followers resume exactly): it is counted and timed
grew "node2: snapshots written" "$(val "$N1" 'sgcluster_snapshots_total{result="ok"}')" \
    "$(val "$N1.reload" 'sgcluster_snapshots_total{result="ok"}')"
grew "node2: snapshot durations observed" "$(val "$N1" sgcluster_snapshot_duration_seconds_count)" \
    "$(val "$N1.reload" sgcluster_snapshot_duration_seconds_count)"
nsexec node2 curl -s -o /dev/null --max-time 2 http://127.0.0.1:9414/metrics && fail "the old metrics address still answers"
"$SG" status -s "$D/ctl2.sock" | grep -q "^metrics .*port $p2" || fail "status does not show the metrics endpoint"

# ---- the Grafana dashboard asks only for what is served, in PromQL that parses ---------------
python3 - "$ROOT/deploy/grafana/sgcluster.json" "$M2" "$D/dash.rules.yml" <<'PY' || fail "the dashboard"
import json, re, sys
dash = json.load(open(sys.argv[1]))
served = set(re.findall(r"^# TYPE (\S+)", open(sys.argv[2]).read(), re.M))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
missing = set()
for e in exprs:
    for n in re.findall(r"\bsgcluster_[a-z0-9_]+", e):
        if re.sub(r"_(bucket|sum|count)$", "", n) not in served and n not in served:
            missing.add(n)
if missing:
    sys.exit("dashboard metrics the agent does not serve: %s" % sorted(missing))
with open(sys.argv[3], "w") as f:   # every query as a recording rule, for promtool to parse
    f.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$instance", ".*")
        f.write("  - record: dashboard:q%d\n    expr: %s\n" % (i, json.dumps(e)))
print("measured: dashboard: %d queries over %d served families" % (len(exprs), len(served)))
PY
promtool check rules "$D/dash.rules.yml" > "$D/dash.promtool" 2>&1 || fail "dashboard PromQL: $(tail -5 "$D/dash.promtool")"
kill -0 "$apid" || fail "the agent died"
kill -0 "$apid2" || fail "node2's agent died"
"$SG" status $S >/dev/null || fail "the agent stopped answering"
echo "ok: /metrics passes promtool and moves with real Dovecot, Postfix and nft events; hostile names stay out; 404/405 counted"
