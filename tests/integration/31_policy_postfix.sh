#!/bin/bash
# 31_policy_postfix.sh: real Postfix (submission, Dovecot SASL) asks the policy server with the
# main.cf lines the README recommends; real swaks clients see DUNNO, REJECT 5.7.1, HOLD and
# DEFER_IF_PERMIT 4.7.1 at RCPT and at end of data; with the server down, default_action applies.
# The verdicts are the fake ones of `bench_policy serve` (by user name); the agent's own come later.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${SG_ROOT:?}; BUILD=${SG_BUILD:?}; BIN=${SG_BIN:?}

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and mail daemons)"
for b in ip dovecot postfix postconf swaks timeout python3; do
    command -v "$b" >/dev/null 2>&1 || skip "missing $b"
done

san=""
nm "$BUILD/libsg.a" 2>/dev/null | grep -q __asan_ && san="SAN=1"
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$ROOT" BUILD="$BUILD" BIN="$BIN" $san \
    "$BUILD/tests/bench_policy" >/dev/null || { echo "FAIL: cannot build bench_policy"; exit 1; }
SERVE=$BUILD/tests/bench_policy

MAILD_USERS="alice:alice-pw heldhank:hank-pw fastfay:fay-pw eodeve:eve-pw"
. "$here/lib/netns.sh"
. "$here/lib/maild.sh"
. "$here/lib/clients.sh"

failures=0
ok() { echo "ok: $*"; }
bad() {
    echo "FAIL: $*"
    failures=$((failures + 1))
    [ -n "$CLIENT_OUT" ] && [ -s "$CLIENT_OUT" ] && grep -E '^ *<\*\*|^ *<- +[45]' "$CLIENT_OUT" | tail -4 | sed 's/^/    | /'
}
# expect RC SMTP-REPLY-ERE WHAT CMD...: CMD's exit code and, when given, a server reply in swaks' output.
expect() {
    local want=$1 reply=$2 what=$3 rc
    shift 3
    "$@"; rc=$?
    if [ $rc != "$want" ]; then bad "$what (exit $rc, want $want)"; return; fi
    if [ -n "$reply" ] && ! grep -Eq "$reply" "$CLIENT_OUT"; then bad "$what (no reply matching $reply)"; return; fi
    ok "$what"
}

netns_up 1 || { echo "FAIL: netns_up"; exit 1; }
maild_start node1 || { echo "FAIL: maild_start"; exit 1; }
ip1=$(node_ip 1)
spid=""
serve_start() { # [--hold-action hold]
    rm -f "$NETNS_DIR/port"
    # ip netns exec execs the server itself, so $! is the server's pid (nsexec, a function,
    # would put a subshell in between).
    SG_POLICY_TRACE=1 ip netns exec "$(netns_name node1)" "$SERVE" serve --tcp 127.0.0.1:10040 --port-file "$NETNS_DIR/port" "$@" \
        >> "$NETNS_DIR/serve.out" 2>> "$NETNS_DIR/serve.err" &
    spid=$!
    wait_for 5 test -s "$NETNS_DIR/port" || { echo "FAIL: policy server did not start"; cat "$NETNS_DIR/serve.err"; exit 1; }
}
serve_stop() { [ -n "$spid" ] && kill -TERM "$spid" 2>/dev/null && wait "$spid"; spid=""; }
netns_on_down serve_stop

# The recommended lines (README "Policy service"): RCPT and end of data, fail open.
pol="check_policy_service { inet:127.0.0.1:10040, timeout=3s, default_action=DUNNO }"
# Set here rather than through maild_policy, whose optional arguments have moved between
# versions: this test is about exactly these three lists.
etc=$(maild_dir node1)/postfix/etc
postconf -c "$etc" -e "smtpd_recipient_restrictions = $pol" "smtpd_end_of_data_restrictions = $pol" \
    "smtpd_data_restrictions =" && postfix -c "$etc" reload >/dev/null 2>&1 ||
    { echo "FAIL: cannot set the policy restrictions"; exit 1; }
serve_start

expect 0 "" "alice (DUNNO): 3 recipients accepted" smtp_send "$ip1" alice alice-pw 3
expect 1 "^ *<\*\* +554 5\.7\.1 .*suspended" "held user refused with 554 5.7.1" \
    smtp_send "$ip1" heldhank hank-pw 1
expect 1 "^ *<\*\* +450 4\.7\.1 .*rate limit exceeded" "throttled user deferred with 450 4.7.1 at RCPT" \
    smtp_send "$ip1" fastfay fay-pw 1
expect 1 "^ *<\*\* +4[0-9][0-9] 4\.7\.1 .*rate limit exceeded" "over-quota at end of data deferred with 4.7.1" \
    smtp_send "$ip1" eodeve eve-pw 2
grep -Eq '^ *-> +\.$' "$CLIENT_OUT" || bad "eodeve's deferral came before the end of data"
expect 0 "" "alice again: the same Postfix connection pool still served" smtp_send "$ip1" alice alice-pw 1
serve_stop
stats=$(grep '^stats:' "$NETNS_DIR/serve.out" | tail -1)
echo "$stats"
get() { echo "$stats" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# alice 3 + 1 recipients and eodeve 2 (counted before the deferral): the END-OF-MESSAGE requests
# carried recipient_count as the quota helper expects.
[ "$(get counted_msgs)" = 3 ] && [ "$(get counted_rcpts)" = 6 ] && ok "END-OF-MESSAGE counted 3 messages, 6 recipients" ||
    bad "counted $(get counted_msgs) messages / $(get counted_rcpts) recipients, want 3 / 6"
[ "$(get malformed)" = 0 ] && [ "$(get oversized)" = 0 ] && ok "Postfix's requests all parsed" ||
    bad "Postfix's requests counted as malformed/oversized: $stats"

# HOLD instead of REJECT: accepted, then parked in the hold queue.
serve_start --hold-action hold
expect 0 "" "held user with hold_action=HOLD: accepted" smtp_send "$ip1" heldhank hank-pw 1
if wait_for 5 grep -Eq "postfix/submission/smtpd\[[0-9]+\]: (NOQUEUE|[0-9A-F]+): hold: RCPT from .*Sending from this account is suspended" \
        "$(maild_log node1 postfix)"; then ok "message placed on hold (logged by smtpd)"; else bad "no hold log line"; fi
held_file() { [ -n "$(find "$(maild_dir node1)/postfix/spool/hold" -type f 2>/dev/null | head -1)" ]; }
wait_for 5 held_file && ok "message is in Postfix's hold queue" || bad "hold queue is empty"
serve_stop

# Policy service down: default_action=DUNNO lets mail through (fail open), bounded by the retries.
t0=$(now_ms)
CLIENT_TIMEOUT=30 expect 0 "" "policy service down: alice accepted (default_action)" smtp_send "$ip1" alice alice-pw 1
echo "measured: one submission with the policy service down: $(($(now_ms) - t0)) ms"
CLIENT_TIMEOUT=30 expect 0 "" "policy service down: held user accepted too (fail open, documented)" \
    smtp_send "$ip1" heldhank hank-pw 1
grep -q "warning: connect to 127.0.0.1:10040: Connection refused" "$(maild_log node1 postfix)" &&
    ok "Postfix logged the unreachable policy service" || bad "no 'Connection refused' warning in the log"

# Back up: refusals resume without touching Postfix.
serve_start
expect 1 "^ *<\*\* +554 5\.7\.1" "server back: held user refused again" smtp_send "$ip1" heldhank hank-pw 1
serve_stop

[ $failures = 0 ] && { echo "pass: real Postfix obeys the policy server's answers"; exit 0; }
echo "what the policy server saw (SG_POLICY_TRACE):"
sed 's/^/    | /' "$NETNS_DIR/serve.err" | tail -40
echo "FAIL: $failures check(s) failed"
exit 1
