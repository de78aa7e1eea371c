#!/bin/bash
# 63_authpolicy_dovecot.sh: real Dovecot 2.3 asks its node's real sgagent (auth_policy_server_url,
# the lines of deploy/dovecot/91-sgcluster-authpolicy.conf): a banned client address is refused at
# IMAP and POP3 login before the password check (the right password does not help, and the
# agent counts the refusal); a held account is refused after it; Dovecot's reports reach the
# agent; with the agent stopped, logins work again (Dovecot fails open).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
ROOT=${SG_ROOT:?}; BIN=${SG_BIN:?}

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and mail daemons)"
for b in ip dovecot curl python3 timeout; do command -v "$b" >/dev/null 2>&1 || skip "missing $b"; done

. "$here/lib/netns.sh"
fail() { echo "FAIL: $*"; [ -f "$NETNS_DIR/agent.log" ] && tail -15 "$NETNS_DIR/agent.log"; exit 1; }
netns_up 1 || fail "netns_up"
SG="$BIN/sgcluster"
. "$here/lib/authpol.sh"
authpol_setup || fail "authpol_setup"
S=$AUTHPOL_S
authpol_conf
authpol_start || fail "agent did not answer"
st() { authpol_status "$1"; }

. "$here/lib/maild.sh"
# Dovecot's side, from the shipped snippet with this run's port, key and nonce.
authpol_dovecot_extra || fail "authpol_dovecot_extra"
. "$here/lib/clients.sh"
maild_start node1 || fail "maild_start"
ip1=$(node_ip 1)
client=$(netns_ip client)

imap_login "$ip1" alice alice-pw; [ $? = 0 ] || fail "alice cannot log in over IMAP before any ban"
reported() { [ "$(st 'd["report"]')" -ge 1 ]; }
wait_for 5 reported || fail "Dovecot's report of the login did not reach the agent"
allows=$(st 'd["allow"]')
[ "$allows" -ge 2 ] || fail "expected allow before and after the password check, agent saw $allows"

# A wrong password while not banned: Dovecot checks it and logs the mismatch (one line).
DLOG=$(maild_log node1 dovecot)
mismatches() { grep -c "Password mismatch" "$DLOG"; }
imap_login "$ip1" alice wrong-pw; [ $? = 1 ] || fail "a wrong password was accepted"
one_mismatch() { [ "$(mismatches)" = 1 ]; }
wait_for 5 one_mismatch || fail "no 'Password mismatch' line for a wrong password: $(tail -3 "$DLOG")"

"$SG" ban "$client" --for 1h $S >/dev/null || fail "sgcluster ban $client"
rej0=$(st 'd["rejected"]')
imap_login "$ip1" alice wrong-pw; rc=$?
[ $rc = 1 ] || fail "banned address, wrong password: IMAP login exit $rc, want 1 (refused)"
imap_login "$ip1" alice alice-pw; rc=$?
[ $rc = 1 ] || fail "banned address: IMAP login exit $rc, want 1 (refused)"
pop3_login "$ip1" alice alice-pw; rc=$?
[ $rc = 1 ] || fail "banned address: POP3 login exit $rc, want 1 (refused)"
[ "$(st 'd["rejected"]')" -ge $((rej0 + 3)) ] || fail "the agent did not refuse the three logins"
# Refused before the password check: Dovecot did not check the wrong password this time.
[ "$(mismatches)" = 1 ] || fail "a password was checked for a banned address: $(grep "Password mismatch" "$DLOG")"
"$SG" unban "$client" $S >/dev/null || fail "unban"
imap_login "$ip1" alice alice-pw; [ $? = 0 ] || fail "unbanned: IMAP login refused"

"$SG" hold bob --for 1h $S >/dev/null || fail "sgcluster hold bob"
imap_login "$ip1" bob bob-pw; rc=$?
[ $rc = 1 ] || fail "held account: IMAP login exit $rc, want 1 (refused)"
imap_login "$ip1" carol carol-pw; [ $? = 0 ] || fail "carol (not held) refused"

# Fails open: with the agent stopped, the banned address and the held account log in again.
"$SG" ban "$client" --for 1h $S >/dev/null || fail "sgcluster ban again"
authpol_stop
imap_login "$ip1" alice alice-pw; [ $? = 0 ] || fail "agent stopped: IMAP login did not fail open"
echo "ok: Dovecot asks the agent: banned address refused at IMAP and POP3 before the password check, held account refused, reports counted, fails open"
