#!/bin/sh
# 33_throttle_tiers.sh: one real sgagent answering Postfix policy requests (the protocol spoken over
# loopback TCP, as smtpd would) against [throttle] limits: the defer, hold and reject tiers in turn
# for a user who keeps sending; submission and port 25 counted apart by server_port; a client
# prefix key; a bytes limit with a reply template; a map override; only END-OF-MESSAGE counts;
# `sgagent -n` and SIGHUP refuse a broken limit or map (the running map stays); quota --reset.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
. "$ROOT/tests/integration/lib/agent1.sh"
. "$ROOT/tests/integration/lib/policy.sh"
T=$(mktemp -d)
cleanup() { agent1_stop; [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/agent.log" ] && tail -20 "$T/agent.log"; exit 1; }

printf 'user:vip hourly=x10   # a bulk sender\n' > "$T/throttle.map"
agent1_start "$T" n1 dryrun <<CONF || fail "agent did not start"
listen = 127.0.0.1:0
[throttle]
limit.hourly = key=sasl_username window=1h max=2 service=submission defer=100% hold=200% reject=300%
limit.mx = key=client_address prefix=24/64 window=1h max=1 service=smtp
limit.size = key=sender_domain measure=bytes window=1h max=10000 reject=100% text="too big: %{count} of %{max} %{measure}"
map = $T/throttle.map
CONF
port=$(sed -n 's/.*policy: listening on .*port \([0-9][0-9]*\)).*/\1/p' "$T/agent.log" | head -1)
[ -n "$port" ] && [ "$port" -gt 0 ] || fail "no policy port in the log"

# ask USER|- CLIENT SERVER_PORT SENDER SIZE [STATE]: prints the action (lib/policy.sh)
ask() { policy_ask "$port" "$@"; }
expect() { # WANT-PREFIX WHAT ask-args...
    want=$1 what=$2
    shift 2
    got=$(ask "$@")
    case $got in "$want"*) ;; *) fail "$what: got '$got', want '$want...'" ;; esac
}

# A user who keeps sending: let through twice, deferred, then held, then rejected.
expect DUNNO "u1 RCPT (not counted)" u1 192.0.2.50 587 u1@a.example 100 RCPT
for k in 1 2; do expect DUNNO "u1 message $k" u1 192.0.2.50 587 u1@a.example 100; done
expect "DEFER_IF_PERMIT 4.7.1" "u1 message 3 (used 2 of 2)" u1 192.0.2.50 587 u1@a.example 100
expect "DEFER_IF_PERMIT 4.7.1" "u1 message 4 (tried 3, hold at 4)" u1 192.0.2.50 587 u1@a.example 100
expect "HOLD" "u1 message 5 (tried 4)" u1 192.0.2.50 587 u1@a.example 100
expect "HOLD" "u1 message 6 (tried 5)" u1 192.0.2.50 587 u1@a.example 100
expect "REJECT 5.7.1" "u1 message 7 (tried 6, reject at 6)" u1 192.0.2.50 587 u1@a.example 100
echo "measured: u1: DUNNO DUNNO DEFER DEFER HOLD HOLD REJECT"

# Port 25: one message per /24 per hour; submission from the same /24 is not counted there.
expect DUNNO "port 25 from 203.0.113.5" - 203.0.113.5 25 m@b.example 100
expect "DEFER_IF_PERMIT 4.7.1" "port 25 from 203.0.113.77 (same /24)" - 203.0.113.77 25 m@b.example 100
expect DUNNO "submission from 203.0.113.9" u2 203.0.113.9 587 u2@c.example 100
expect DUNNO "port 25 from 198.51.100.1 (another /24)" - 198.51.100.1 25 m@b.example 100

# Bytes per sender domain, with the template.
expect DUNNO "6000 bytes from big.example" u3 192.0.2.60 587 x@Big.Example 6000
got=$(ask u3 192.0.2.60 587 y@big.example 6000)
[ "$got" = "REJECT 5.7.1 too big: 6000 of 10000 bytes" ] || fail "bytes: got '$got'"
echo "measured: $got"

# The map's override: vip sends 5 where others get 2.
for k in 1 2 3 4 5; do expect DUNNO "vip message $k (limit 20)" vip 192.0.2.70 587 vip@d.example 100; done

# -n and SIGHUP refuse a broken map; the running one stays.
out=$("$BIN/sgagent" -n -c "$T/n1.conf" 2>&1) || fail "-n refused the good configuration: $out"
printf 'user:vip hourly=lots\n' > "$T/throttle.map"
out=$("$BIN/sgagent" -n -c "$T/n1.conf" 2>&1) && fail "-n accepted a broken map"
echo "$out" | grep -q "throttle.map:1: hourly=lots: expected a count" || fail "-n: no located map error: $out"
kill -HUP "$AGENT1_PID"
wait_for 10 grep -q "reload refused" "$T/agent.log" || fail "the reload with a broken map was not refused"
expect DUNNO "vip message 6 after the refused reload" vip 192.0.2.70 587 vip@d.example 100
sed 's/^limit.mx = .*/limit.mx = key=client_address prefix=99 window=1h max=1/' "$T/n1.conf" > "$T/bad.conf"
out=$("$BIN/sgagent" -n -c "$T/bad.conf" 2>&1) && fail "-n accepted a bad limit"
echo "$out" | grep -q "bad.conf:[0-9]*: limit.mx: prefix: expected" || fail "-n: no located limit error: $out"

# quota shows u1's counters; a reset lets u1 send again.
agent1_ctl quota u1 | grep -q "^hourly  *user:u1  *messages  *submission  *2  *7  *2 " ||
    fail "quota u1: $(agent1_ctl quota u1)"
hits=$(agent1_ctl status --json | python3 -c 'import json,sys; t=json.load(sys.stdin)["throttle"]; print(t["limits"], t["defer"], t["hold"], t["reject"])')
[ "$hits" = "3 3 2 2" ] || fail "status throttle: limits defer hold reject = $hits, want 3 3 2 2"
agent1_ctl quota --reset u1 >/dev/null || fail "quota --reset"
expect DUNNO "u1 after the reset" u1 192.0.2.50 587 u1@a.example 100
echo "throttle tier checks passed"
