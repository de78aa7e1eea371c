#!/bin/sh
# Dovecot's auth-policy service in one real sgagent (dry-run backend), spoken to with curl over
# loopback exactly as Dovecot's auth process does (POST ?command=allow|report, X-API-Key, JSON):
# an operator-banned address and an address inside a banned prefix get -1 before the password
# check, others 0; a held account gets -1; failed logins reported by Dovecot count like
# log lines until the auth-ip scenario bans the address; hostile requests get their 4xx and their
# counter (HTTP that never makes a request too), and the agent still answers afterwards.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null; [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/agent.log" ] && tail -20 "$T/agent.log"; exit 1; }
. "$ROOT/tests/integration/lib/wait.sh"
SG="$BIN/sgcluster"
S="-s $T/ctl.sock"
KEY=test-key-0123456789abcdef

mkdir -p "$T/keys"
"$SG" keygen --node n1 "$T/keys" >/dev/null || fail "keygen"
printf '%s\n' "$KEY" > "$T/authpolicy.key"
cat > "$T/n1.conf" <<CONF
[node]
name = n1
addresses = 192.0.2.1
key_dir = $T/keys
state_dir = $T/state
control_socket = $T/ctl.sock
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
logs = $T/mail.log
[enforce]
backend = dryrun
[authpolicy]
enabled = yes
listen = 127.0.0.1:0
api_key_file = $T/authpolicy.key
CONF
: > "$T/mail.log"

# A key too short to be a secret is refused by the configuration check at start.
printf 'short\n' > "$T/short.key"
sed "s|$T/authpolicy.key|$T/short.key|" "$T/n1.conf" > "$T/short.conf"
"$BIN/sgagent" -c "$T/short.conf" > "$T/short.log" 2>&1 && fail "agent started with a 5-character API key"
grep -q "at least 16" "$T/short.log" || fail "no reason for the short key: $(cat "$T/short.log")"
out=$("$BIN/sgagent" -n -c "$T/short.conf" 2>&1) && fail "sgagent -n accepted a 5-character API key"
echo "$out" | grep -q "\[authpolicy\] api_key_file .*at least 16" || fail "sgagent -n: no reason for the short key: $out"

"$BIN/sgagent" -c "$T/n1.conf" >> "$T/agent.log" 2>&1 &
PID=$!
answers_or_died() { "$SG" status $S >/dev/null 2>&1 || ! kill -0 $PID 2>/dev/null; }
wait_for 10 answers_or_died || fail "agent did not answer within 10 s"
kill -0 $PID 2>/dev/null || fail "agent exited"
st() { "$SG" status $S --json | python3 -c "import json,sys; d=json.load(sys.stdin)['authpolicy']; print($1)"; }
PORT=$(st 'd["port"]')
[ "$PORT" -gt 0 ] 2>/dev/null || fail "no auth-policy port in status: $PORT"
URL="http://127.0.0.1:$PORT/"

# ask COMMAND JSON [curl options]: prints "HTTP_CODE STATUS" (STATUS from the JSON answer).
ask() {
    cmd=$1; body=$2; shift 2
    curl -s -o "$T/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "X-API-Key: $KEY" \
        --data-binary "$body" "$@" "$URL?command=$cmd" > "$T/code" 2>/dev/null
    printf '%s %s\n' "$(cat "$T/code")" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$T/resp" 2>/dev/null)"
}
req() { printf '{"login":"%s","pwhash":"0a1b","remote":"%s","device_id":"","protocol":"%s","session_id":"s%s","fail_type":""%s}' "$1" "$2" "$3" "$$" "${4:-}"; }
expect() { got=$(ask "$@"); [ "$got" = "$WANT" ] || fail "$1 $2: got '$got', want '$WANT' ($(cat "$T/resp"))"; }

WANT="200 0";  expect allow "$(req alice@example.org 203.0.113.7 imap)"
"$SG" ban 203.0.113.7 --for 1h $S >/dev/null || fail "sgcluster ban"
WANT="200 -1"; expect allow "$(req alice@example.org 203.0.113.7 imap)"
WANT="200 0";  expect allow "$(req alice@example.org 203.0.113.8 imap)"
# An IPv4-mapped IPv6 address is the same address.
WANT="200 -1"; expect allow "$(req alice@example.org ::ffff:203.0.113.7 pop3)"
# A prefix ban covers every address inside.
"$SG" ban 198.18.7.0/24 --for 1h $S >/dev/null || fail "sgcluster ban prefix"
WANT="200 -1"; expect allow "$(req bob@example.org 198.18.7.200 imap)"
WANT="200 0";  expect allow "$(req bob@example.org 198.18.8.1 imap)"
"$SG" unban 203.0.113.7 $S >/dev/null || fail "unban"
WANT="200 0";  expect allow "$(req alice@example.org 203.0.113.7 imap)"

# A held account is refused (Dovecot's allow after the password check looks like the one before).
"$SG" hold carol@example.org --for 1h $S >/dev/null || fail "sgcluster hold"
WANT="200 -1"; expect allow "$(req carol@example.org 192.0.2.50 imap)"
WANT="200 -1"; expect allow "$(req carol@example.org 192.0.2.50 imap ',"success":true,"policy_reject":false,"tls":true')"
WANT="200 0";  expect allow "$(req dave@example.org 192.0.2.50 imap ',"success":true,"policy_reject":false,"tls":true')"

# A report of a login this service refused is no failure (no password was found wrong: a held
# account's owner polling with her password): twelve from one address count nothing.
i=0
while [ $i -lt 12 ]; do
    WANT="200 0"; expect report "$(req carol@example.org 203.0.113.98 imap ',"success":false,"policy_reject":true,"tls":false')"
    i=$((i + 1))
done
# Reports count like log lines: failures from one address reach auth-ip's threshold and ban it.
i=0
while [ $i -lt 12 ]; do
    WANT="200 0"; expect report "$(req "user$i@example.org" 203.0.113.99 imap ',"success":false,"policy_reject":false,"tls":false')"
    i=$((i + 1))
done
WANT="200 0"; expect report "$(req erin@example.org 192.0.2.60 smtp ',"success":true,"policy_reject":false,"tls":true,"extra":"ignored"')"
banned() { "$SG" bans --json $S | grep -q '"ip:203.0.113.99"'; }
wait_for 10 banned || fail "12 reported failures did not ban 203.0.113.99: $("$SG" bans $S)"
WANT="200 -1"; expect allow "$(req frank@example.org 203.0.113.99 imap)"
[ "$(st 'd["report"]')" = 25 ] || fail "report counter $(st 'd["report"]'), want 25"
# Reports are handled in order: .98's were counted (or not) before .99 was banned.
"$SG" bans --json $S | grep -q '"ip:203.0.113.98"' && fail "12 reports of refused logins banned 203.0.113.98"

# One account tried from many addresses, once each (no address near a threshold): once 20 distinct
# addresses failed for it, a login for it from any address that is not known-good for it is
# tarpitted (10 s, the default); its owner's usual address is still allowed at once.
F=',"success":false,"policy_reject":false,"tls":false'
WANT="200 0"; expect report "$(req grace@example.org 192.0.2.70 imap ',"success":true,"policy_reject":false,"tls":true')"
WANT="200 0"; expect allow "$(req grace@example.org 198.19.200.9 imap)"
i=1
while [ $i -le 19 ]; do WANT="200 0"; expect report "$(req grace@example.org "198.19.$i.9" imap "$F")"; i=$((i + 1)); done
WANT="200 0"; expect allow "$(req grace@example.org 198.19.200.9 imap)"   # 19 addresses: not yet
WANT="200 0"; expect report "$(req grace@example.org 198.19.20.9 imap "$F")"
WANT="200 10"; expect allow "$(req grace@example.org 198.19.200.9 imap)"
WANT="200 0";  expect allow "$(req grace@example.org 192.0.2.70 imap)"
WANT="200 0";  expect allow "$(req henry@example.org 198.19.200.9 imap)"

# Hostile requests: each refused with its code and counted; the agent answers afterwards.
code() { curl -s -o /dev/null -w '%{http_code}' "$@" 2>/dev/null; }
GOOD=$(req alice@example.org 203.0.113.7 imap)
[ "$(code -X POST --data-binary "$GOOD" "$URL?command=allow")" = 401 ] || fail "no key not 401"
[ "$(code -X POST -H 'X-API-Key: wrong' --data-binary "$GOOD" "$URL?command=allow")" = 401 ] || fail "wrong key not 401"
head -c 1048576 /dev/zero | tr '\0' 'a' > "$T/big"
# (Expect: 100-continue, so curl waits for the 413 before sending: otherwise its body may meet the
# closed connection's reset before the answer is read, and curl reports 000.)
[ "$(code -X POST -H "X-API-Key: $KEY" -H 'Expect: 100-continue' --expect100-timeout 30 --data-binary @"$T/big" \
    "$URL?command=allow")" = 413 ] || fail "1 MB body not 413"
# A chunked body gives no length: the first chunk over the cap closes the connection (no reply).
[ "$(code -X POST -H "X-API-Key: $KEY" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$URL?command=allow")" = 000 ] \
    || fail "1 MB chunked body answered, not closed"
[ "$(st 'd["http"]["body_cut"]')" = 1 ] || fail "body_cut $(st 'd["http"]["body_cut"]'), want 1"
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary '{"login":' "$URL?command=allow")" = 400 ] || fail "bad JSON not 400"
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary '{"login":7,"remote":"","protocol":"imap"}' "$URL?command=allow")" = 400 ] \
    || fail "ill-typed field not 400"
[ "$(code -H "X-API-Key: $KEY" "$URL?command=allow")" = 405 ] || fail "GET not 405"
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary "$GOOD" "$URL?command=drop")" = 400 ] || fail "unknown command not 400"
# Duplicate keys, invalid UTF-8 and JSON nested 8000 deep are not one clean object; a control
# byte in a field is not clean text.
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary '{"login":"a","login":"b","remote":"","protocol":"imap"}' "$URL?command=allow")" = 400 ] \
    || fail "duplicate keys not 400"
printf '{"login":"\377\376","remote":"","protocol":"imap"}' > "$T/utf8"
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary @"$T/utf8" "$URL?command=allow")" = 400 ] || fail "invalid UTF-8 not 400"
python3 -c 'print("[" * 8000 + "]" * 8000)' > "$T/deep"
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary @"$T/deep" "$URL?command=allow")" = 400 ] || fail "deep nesting not 400"
[ "$(code -X POST -H "X-API-Key: $KEY" --data-binary '{"login":"a\u0001b","remote":"","protocol":"imap"}' "$URL?command=allow")" = 400 ] \
    || fail "a control byte in login not 400"
# HTTP that libmicrohttpd refuses itself (a 40 KB header), raw garbage, a half request and a
# bare connect never reach the request checks: each is counted as "http" once its connection
# closes, and the service goes on.
head -c 40000 /dev/zero | tr '\0' 'h' > "$T/hdr"
code -X POST -H "X-API-Key: $KEY" -H "X-Big: $(cat "$T/hdr")" --data-binary "$GOOD" "$URL?command=allow" > "$T/hdrcode"
case $(cat "$T/hdrcode") in 4[0-9][0-9]|000) ;; *) fail "a 40 KB header got $(cat "$T/hdrcode")" ;; esac
python3 - "$PORT" <<'PY' || fail "raw garbage"
import socket, sys
for payload in (b"\x00\xff garbage\r\n\r\n", b"POST /?command=allow HTTP/1.1\r\nContent-Length: 5\r\n\r\n", b"A" * 70000, b""):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    try: s.sendall(payload)
    except OSError: pass
    s.close()
PY
# libmicrohttpd's messages about them are counted (and logged at most once a second).
[ "$(st 'd["http"]["errors"] > 0')" = True ] || fail "no HTTP error counted: $(st 'd["http"]')"
# A client that sends one header byte and then stays silent is closed after 3 s idle
# (AUTHPOLICY_CONN_TIMEOUT_S), well before MHD's 10 s default: it cannot keep a slot with a byte
# every 9 s. The 8 s bound only tells "closed by the short timeout" from "by the default".
python3 - "$PORT" <<'PY' || fail "a silent client kept its connection"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=8)
s.sendall(b"P")
try:
    sys.exit(0 if s.recv(1) == b"" else 1)
except socket.timeout:
    sys.exit(1)
except OSError:
    sys.exit(0)
PY
got=$(st '" ".join(str(d["bad"][k]) for k in ("method","key","size","json","field","command"))')
[ "$got" = "1 2 1 4 2 1" ] || fail "bad counters (method key size json field command) are '$got', want '1 2 1 4 2 1'"
http_broken_is() { [ "$(st 'd["bad"]["http"]')" = "$1" ]; }
wait_for 15 http_broken_is 7 || fail "broken HTTP connections counted $(st 'd["bad"]["http"]'), want 7"
WANT="200 0"; expect allow "$(req alice@example.org 203.0.113.8 imap)"
kill -0 $PID 2>/dev/null || fail "agent died"
"$SG" status $S | grep -q "^authpol " || fail "no authpol line in status"

# Reload (SIGHUP): the server keeps its port (its socket did not change) and reads held_reject
# per request: with held_reject = no the held account is allowed.
WANT="200 -1"; expect allow "$(req carol@example.org 192.0.2.50 imap)"
printf 'held_reject = no\n' >> "$T/n1.conf"
reloads() { "$SG" status $S --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["reloads"])'; }
kill -HUP $PID
reloaded() { [ "$(reloads)" = 1 ]; }
wait_for 10 reloaded || fail "reload not done"
[ "$(st 'd["port"]')" = "$PORT" ] || fail "the port changed on a reload that did not touch [authpolicy] listen"
WANT="200 0"; expect allow "$(req carol@example.org 192.0.2.50 imap)"
echo "ok: auth-policy bans, prefix bans, held accounts, reports to bans, hostile requests refused and counted (port $PORT)"

# The switch for sites that use the reports: [authpolicy] log_auth_lines = no turns off the log
# rules (marked `reported = yes`) that would read the same attempts again. Lines recorded from Dovecot 2.3.19 and Postfix 3.7
# (tests/corpus) give auth events without it and none with it.
for i in 1 2 3 4; do
    printf 'Dec 06 20:09:2%s auth: Info: passwd-file(alice,10.77.0.101,<u0Bvr/xhepIKTQB%s>): Password mismatch\n' $i $i
    printf 'Dec 06 20:09:2%s imap-login: Info: Disconnected: Connection closed (auth failed, 1 attempts in 0 secs): user=<bob%s>, method=PLAIN, rip=10.77.0.101, lip=10.77.0.1, session=<x0Bvr/xhepIKTQB%s>\n' $i $i $i
    printf 'Dec 06 20:09:4%s node1 postfix/submission/smtpd[17522]: warning: unknown[10.77.0.101]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=carol%s\n' $i $i
    printf 'Dec 06 20:09:4%s node1 postfix/submission/smtpd[17522]: disconnect from unknown[10.77.0.101] ehlo=1 auth=0/1 quit=1 commands=2/3\n' $i
done > "$T/replay.log"
events() { "$SG" replay -c "$1" "$T/replay.log" 2>&1 >/dev/null | sed -n 's/^replay: [0-9]* lines, \([0-9]*\) events.*/\1/p'; }
with=$(events "$T/n1.conf")
[ "${with:-0}" -ge 8 ] || fail "the recorded Dovecot/Postfix lines gave ${with:-no} events without the switch"
sed "s|^\[authpolicy\]\$|&\nlog_auth_lines = no|" "$T/n1.conf" > "$T/reports.conf"
grep -q "^log_auth_lines = no" "$T/reports.conf" || fail "could not write log_auth_lines = no"
without=$(events "$T/reports.conf")
[ "$without" = 0 ] || fail "with log_auth_lines = no the same lines still gave $without events"
echo "ok: log rules for Dovecot auth and Postfix SASL: $with events, none with log_auth_lines = no"
