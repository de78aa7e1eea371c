#!/bin/sh
# What one forged line can claim: a Dovecot login line saying "100000 attempts" and a qmgr line saying
# "nrcpt=999999999" (the daemons' own formats) stand for at most [detect] max_attempts and
# max_recipients. With scenario thresholds above the caps, one such line bans or holds nobody; two at
# the cap do (capped lines still count); the counters say how many lines were capped; a smaller cap in
# the configuration is applied; a bad value is refused with the key named.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

conf() { # FILE [EXTRA DETECT KEY LINE]: thresholds 150 attempts and 1500 recipients, above the default caps
    cat > "$1" <<CONF
[node]
name = replay
[detect]
rules = $ROOT/detect/rules.d
${2:-}
[scenario auth-ip]
events = auth_fail
subject = ip
window = 10m
threshold = 150
action = ban
duration = 1h
[scenario account-rcpt]
events = sent
subject = user
count = recipients
window = 10m
threshold = 1500
action = hold
duration = 24h
CONF
}
login() { # TIME SESSION: Dovecot's login-process summary with a forged count
    echo "Nov 28 04:31:$1 mx1 dovecot: imap-login: Disconnected (auth failed, 100000 attempts in 2 secs): user=<x>, method=PLAIN, rip=192.0.2.50, lip=192.0.2.1, TLS, session=<$2>"
}
sent() { # QID: an authenticated submission and qmgr's line for it with a forged recipient count
    echo "Nov 28 06:00:00 mx1 postfix/submission/smtpd[5]: $1: client=unknown[203.0.113.5], sasl_method=LOGIN, sasl_username=victim"
    echo "Nov 28 06:00:01 mx1 postfix/qmgr[812]: $1: from=<victim@example.jp>, size=1234, nrcpt=999999999 (queue active)"
}

conf "$T/default.conf"
{ login 08 F1; sent 4AB12C; } > "$T/one.log"
"$BIN/sgcluster" replay -c "$T/default.conf" --json "$T/one.log" > "$T/one.json"
[ ! -s "$T/one.json" ] || fail "one forged line decided: $(cat "$T/one.json")"

# The events carry the caps, and the parser counts the capped lines.
"$BIN/sgcluster" parse --rules "$ROOT/detect/rules.d" --now 1795838400 --json --stats "$T/one.log" > "$T/one.ev" 2> "$T/one.stats"
python3 - "$T/one.ev" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
fail = [e for e in ev if e["kind"] == "auth_fail"]
sent = [e for e in ev if e["kind"] == "sent"]
assert len(fail) == 1 and fail[0]["count"] == 100, "attempts not capped at 100: %r" % fail
assert len(sent) == 1 and sent[0]["nrcpt"] == 1000, "recipients not capped at 1000: %r" % sent
PY
grep -q '^capped attempts: *1$' "$T/one.stats" || fail "parse --stats: $(cat "$T/one.stats")"
grep -q '^capped recipients: *1$' "$T/one.stats" || fail "parse --stats: $(cat "$T/one.stats")"

# Capped lines still count: two at the cap pass the threshold of 150 (and two messages the one of 1500).
{ login 08 F1; login 09 F2; sent 4AB12C; sent 5BC23D; } > "$T/two.log"
"$BIN/sgcluster" replay -c "$T/default.conf" --json "$T/two.log" > "$T/two.json"
grep -q '"action":"ban","key":"ip:192.0.2.50"' "$T/two.json" || fail "two capped lines did not ban: $(cat "$T/two.json")"
grep -q '"action":"hold","key":"user:victim"' "$T/two.json" || fail "two capped messages did not hold: $(cat "$T/two.json")"

# A configured cap applies: at 5 attempts and 100 recipients, the same two lines decide nothing.
conf "$T/small.conf" "max_attempts = 5
max_recipients = 100"
"$BIN/sgcluster" replay -c "$T/small.conf" --json "$T/two.log" > "$T/small.json"
[ ! -s "$T/small.json" ] || fail "configured caps not applied: $(cat "$T/small.json")"

conf "$T/bad.conf" "max_attempts = 0"
if "$BIN/sgcluster" replay -c "$T/bad.conf" "$T/one.log" > /dev/null 2> "$T/bad.err"; then fail "max_attempts = 0 accepted"; fi
grep -q 'max_attempts' "$T/bad.err" || fail "error does not name the key: $(cat "$T/bad.err")"
echo "ok: forged counts capped (100 attempts, 1000 recipients), counted, configurable"
