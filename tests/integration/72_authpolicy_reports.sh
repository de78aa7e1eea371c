#!/bin/bash
# 72_authpolicy_reports.sh: real Dovecot 2.3 and Postfix report every login to their node's real
# sgagent (auth_policy_report_after_auth), which also follows their logs. An attempt seen in both
# counts once: failed IMAP, POP3 and SMTP AUTH logins (Dovecot's auth and login lines joined with
# the reports by session id, Postfix's SASL lines by address and user) give an auth-ip count equal
# to the attempts, not twice it. Then `[authpolicy] log_auth_lines = no` (a reload): the log lines
# give no events, the reports alone count, and their pwhash separates a client repeating one wrong
# password (counted once) from different wrong passwords (each counted). `sgagent -n` refuses
# log_auth_lines = no without the service.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${SG_ROOT:?}; BIN=${SG_BIN:?}

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and mail daemons)"
for b in ip dovecot postfix swaks curl python3 timeout; do command -v "$b" >/dev/null 2>&1 || skip "missing $b"; done

. "$here/lib/netns.sh"
fail() {
    echo "FAIL: $*"
    [ -f "$NETNS_DIR/agent.log" ] && tail -15 "$NETNS_DIR/agent.log"
    [ -n "${S:-}" ] && "$SG" status $S 2>/dev/null | grep -E "^(authpol|detect)"
    exit 1
}
netns_up 1 || fail "netns_up"
netns_add_addrs client 2 || fail "netns_add_addrs"
SG="$BIN/sgcluster"
. "$here/lib/authpol.sh"
. "$here/lib/maild.sh"
. "$here/lib/clients.sh"
authpol_setup || fail "authpol_setup"
S=$AUTHPOL_S
DLOG=$(maild_log node1 dovecot)
PLOG=$(maild_log node1 postfix)
mkdir -p "$(dirname "$DLOG")"

# The switch needs the service: reads nothing of Dovecot's logins otherwise.
authpol_conf "log_auth_lines = no"
sed "s/^enabled = yes/enabled = no/" "$AUTHPOL_CONF" > "$NETNS_DIR/bad.conf"
out=$("$BIN/sgagent" -n -c "$NETNS_DIR/bad.conf" 2>&1) && fail "sgagent -n accepted log_auth_lines = no without enabled = yes"
echo "$out" | grep -q "log_auth_lines = no needs enabled = yes" || fail "sgagent -n said: $out"

AUTHPOL_LOGS="$DLOG, $PLOG"
authpol_conf
authpol_start || fail "agent did not answer"
js() { "$SG" status $S --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
ap() { authpol_status "d$1"; }
PORT=$(ap '["port"]')
count() { # IP: the auth-ip count of IP
    "$SG" explain "$1" $S --json | python3 -c '
import json, sys
print(next(s["count"] for s in json.load(sys.stdin)["scenarios"] if s["id"] == "auth-ip"))'
}
authpol_dovecot_extra || fail "authpol_dovecot_extra"
maild_start node1 || fail "maild_start"
ip1=$(node_ip 1)
c1=$(netns_ip client 1)
c2=$(netns_ip client 2)

# --- both the log and the reports: each attempt once ---------------------------------------------
imap_login -s "$c1" "$ip1" alice alice-pw; [ $? = 0 ] || fail "alice cannot log in"
for i in 1 2 3; do imap_login -s "$c1" "$ip1" bob "wrong-imap-$i"; [ $? = 1 ] || fail "IMAP: a wrong password was accepted"; done
for i in 1 2; do pop3_login -s "$c1" "$ip1" bob "wrong-pop3-$i"; [ $? = 1 ] || fail "POP3: a wrong password was accepted"; done
for i in 1 2; do smtp_auth -s "$c1" "$ip1" carol "wrong-smtp-$i"; [ $? = 1 ] || fail "SMTP AUTH: a wrong password was accepted"; done
# 7 failures and a success: 8 reports, 8 attempts from the logs (Dovecot's auth lines and Postfix's
# SASL warnings; the login lines of the same sessions are dups already), every one joined.
wait_for 10 test "$(ap '["report"]')" -ge 8 || fail "Dovecot's 8 reports did not all arrive: $(ap '["report"]')"
wait_for 10 test "$(ap '["once"]["once"]')" -ge 8 ||
    fail "not every attempt joined its report: once $(ap '["once"]')"
n=$(count "$c1")
[ "$n" = 7 ] || fail "7 failed logins from $c1 gave an auth-ip count of $n (14: counted twice), once $(ap '["once"]')"
[ "$(ap '["once"]["evictions"]')" = 0 ] || fail "evictions in a quiet table"
echo "ok: log and reports: 7 failures (IMAP, POP3, SMTP AUTH) count 7, $(ap '["once"]["once"]') attempts joined by session or by address and user"

# --- reports only ----------------------------------------------------------------------------------
authpol_conf "log_auth_lines = no"
kill -HUP "$AUTHPOL_PID"
wait_for 10 test "$(js 'd["reloads"]')" = 1 || fail "reload not done"
[ "$(ap '["log_auth_lines"]')" = True ] && fail "log_auth_lines still on after the reload"
[ "$(ap '["port"]')" = "$PORT" ] || fail "the auth-policy port changed on the reload"
ev0=$(js 'd["detect"]["events"]')
lines0=$(js 'd["detect"]["lines"]')
rep0=$(ap '["report"]')
pw0=$(ap '["pwhash"]')
# A phone repeating one wrong password 4 times, then 3 different wrong passwords.
for i in 1 2 3 4; do imap_login -s "$c2" "$ip1" bob same-old-password; [ $? = 1 ] || fail "a wrong password was accepted"; done
for i in 1 2 3; do imap_login -s "$c2" "$ip1" bob "guess-$i"; [ $? = 1 ] || fail "a wrong password was accepted"; done
wait_for 10 test "$(ap '["report"]')" -ge $((rep0 + 7)) || fail "the 7 reports did not arrive"
wait_for 10 test "$(grep -c "passwd-file(bob,$c2" "$DLOG")" -ge 7 || fail "Dovecot did not log the 7 failures"
wait_for 10 test "$(js 'd["detect"]["lines"]')" -ge $((lines0 + 14)) || fail "the agent did not read Dovecot's lines"
[ "$(js 'd["detect"]["events"]')" = "$ev0" ] || fail "log lines still gave events with log_auth_lines = no"
[ "$(ap '["pwhash"]')" -ge $((pw0 + 7)) ] || fail "reports without a usable pwhash: $(ap '')"
[ "$(ap '["pwhash_ignored"]')" = 0 ] || fail "Dovecot's pwhash refused as not a hash"
n=$(count "$c2")
[ "$n" = 4 ] || fail "one password repeated 4 times and 3 different ones from $c2 gave $n (want 4: 1 + 3)"
echo "ok: reports only (log_auth_lines = no): Dovecot's lines read, no events from them; pwhash: 4 repeats of one wrong password count 1, 3 different ones 3"
