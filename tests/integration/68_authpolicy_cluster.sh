#!/bin/bash
# 68_authpolicy_cluster.sh: issue 16's acceptance on three nodes, each with real Dovecot 2.3 and
# real Postfix (SMTP AUTH on 587 through Dovecot SASL) asking its own agent (the shipped
# deploy/dovecot/91-sgcluster-authpolicy.conf as it is: 127.0.0.1:9413 is the node's agent in
# each namespace). The agents gossip and enforce with the dry-run backend: as behind a proxy or
# a load balancer, no kernel can drop the client, so only the auth-policy answer stops it.
# - An address banned by node1 (its guesses there, reported by Dovecot) is refused at its next
#   IMAP, POP3 and SMTP AUTH login on node2 and node3 with the right password, before any
#   password check: Dovecot logs the policy refusal and no passdb lookup for it.
# - An operator ban on node1 reaches node2's and node3's answers (measured: ms).
# - A held account (held on node1) cannot log in over IMAP on node2; its refused logins do not
#   count as failures of the address.
# - With node3's agent stopped, the banned address logs in there (Dovecot fails open).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/authpolicy.sh"
authpolicy_maild
e2e_up 3 authpolicy_conf
CLUSTER_BACKEND=dryrun   # as configured (e2e_up's default is nft)

ATT=$(netns_ip attacker)
dlog() { maild_log "node$1" dovecot; }
refused_by() { [ "$(authpolicy_status "$@")" = -1 ]; }
st() { cluster_status_field "$1" "d['authpolicy']$2"; }

# Before any ban the attacker's address can log in anywhere with the right password (the
# control: nothing else stops it), and every login is asked about and reported.
imap_login -n attacker "$(node_ip 2)" alice alice-pw || fail "IMAP login on node2 before the ban"
pop3_login -n attacker "$(node_ip 3)" alice alice-pw || fail "POP3 login on node3 before the ban"
smtp_auth -n attacker "$(node_ip 2)" alice alice-pw || fail "SMTP AUTH on node2 before the ban"
has_report() { [ "$(st "$1" '["report"]')" -ge 1 ]; }
for i in 2 3; do
    wait_for 10 has_report "$i" || fail "node$i's agent got no report from Dovecot"
done

# The attacker guesses bob's password on node1 until node1 bans it (auth-ip: 10 failures;
# counted from Dovecot's reports, the log rules being off). Dovecot checks each password there.
g=0
while ! cluster_has_ban 1 "ip:$ATT" && [ $g -lt 20 ]; do
    g=$((g + 1))
    imap_login -n attacker "$(node_ip 1)" bob "guess-$g"
done
wait_for 10 cluster_has_ban 1 "ip:$ATT" || fail "node1 did not ban $ATT after $g guesses"
grep -q "passwd-file(bob,$ATT,.*Password mismatch" "$(dlog 1)" || fail "node1's Dovecot did not check the guesses"
t_ban=$(ms)
for i in 2 3; do
    wait_for 10 refused_by "$i" "$ATT" alice || fail "node$i's agent does not refuse $ATT banned by node1"
done
echo "measured: $ATT banned by node1 after $g guessed passwords; refused by node2 and node3 within $(( $(ms) - t_ban )) ms"

# Its next IMAP, POP3 and SMTP AUTH logins on node2 and node3, with alice's right password.
for i in 2 3; do
    : > "$(dlog "$i")"
    rej0=$(st "$i" '["rejected"]')
    imap_login -n attacker "$(node_ip "$i")" alice alice-pw; rc=$?
    [ $rc = 1 ] || fail "node$i: banned address, right password: IMAP login exit $rc, want 1 (refused)"
    pop3_login -n attacker "$(node_ip "$i")" alice alice-pw; rc=$?
    [ $rc = 1 ] || fail "node$i: banned address, right password: POP3 login exit $rc, want 1 (refused)"
    smtp_auth -n attacker "$(node_ip "$i")" alice alice-pw; rc=$?
    [ $rc = 1 ] || fail "node$i: banned address, right password: SMTP AUTH exit $rc, want 1 (refused)"
    [ "$(st "$i" '["rejected"]')" -ge $((rej0 + 3)) ] || fail "node$i's agent did not refuse the three logins"
    # Before the password check: Dovecot asked about each protocol, logged the policy's refusal
    # three times and never looked alice up in its passdb for this address.
    for proto in imap pop3 smtp; do
        grep -qE "policy\(alice,$ATT[,)].*Policy server request JSON: .*\"protocol\":\"$proto\",.*\"remote\":\"$ATT\"" "$(dlog "$i")" ||
            { tail -20 "$(dlog "$i")"; fail "node$i: Dovecot did not ask the agent about $proto"; }
    done
    n=$(grep -cE "policy\(alice,$ATT[,)].*Authentication failure due to policy server refusal" "$(dlog "$i")")
    [ "$n" = 3 ] || { tail -20 "$(dlog "$i")"; fail "node$i: $n policy refusals in Dovecot's log, want 3"; }
    if grep -E "passwd-file\(alice,$ATT," "$(dlog "$i")"; then
        fail "node$i: Dovecot looked the banned address's password up"
    fi
done
grep -q "authentication failed" "$(maild_log node2 postfix)" || fail "Postfix did not log the refused SMTP AUTH"

# Another client address still logs in everywhere (the ban is the address's, not alice's).
for i in 1 2 3; do
    imap_login "$(node_ip "$i")" alice alice-pw || fail "node$i: alice from the client address refused"
done

# An operator's ban on node1 reaches the other nodes' answers: time from `sgcluster ban`'s
# return on node1 to the first -1 from node2's and node3's agents (polled with curl: 20 to
# 200 ms between tries, so an upper bound).
netns_add_addrs attacker 5 || fail "attacker addresses"
times=()
for k in 1 2 3 4 5; do
    a=$(netns_ip attacker "$k")
    sgc 1 ban "$a" --for 1h >/dev/null || fail "sgcluster ban $a on node1"
    t0=$(ms)
    for i in 2 3; do
        wait_for 10 refused_by "$i" "$a" alice || fail "node$i does not refuse $a banned on node1"
        times+=($(( $(ms) - t0 )))
    done
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "measured: operator ban on node1 to refusal by node2/node3's auth-policy: ${sorted}ms (10 samples)"
imap_login -n attacker -s "$(netns_ip attacker 1)" "$(node_ip 3)" alice alice-pw; rc=$?
[ $rc = 1 ] || fail "node3: $(netns_ip attacker 1) banned on node1: IMAP login exit $rc, want 1"

# A held account (held on node1) cannot log in over IMAP on node2, with its right password.
sgc 1 hold carol --for 1h >/dev/null || fail "sgcluster hold carol"
wait_for 10 refused_by 2 "$(netns_ip client)" carol || fail "node2 does not refuse held carol"
imap_login "$(node_ip 2)" carol carol-pw; rc=$?
[ $rc = 1 ] || fail "node2: held account: IMAP login exit $rc, want 1 (refused)"
imap_login "$(node_ip 2)" bob bob-pw || fail "node2: bob (not held) refused"
# Refused logins are no failures: carol's phone polling with her right password (11 times, over
# auth-ip's threshold of 10) does not count against the address, which alice and bob share.
CL=$(netns_ip client)
r0=$(st 2 '["report"]')
for n in $(seq 1 11); do imap_login "$(node_ip 2)" carol carol-pw; done
reported() { [ "$(st 2 '["report"]')" -ge $((r0 + 11)) ]; }
wait_for 10 reported || fail "node2's agent did not get the 11 reports of carol's refused logins"
sgc 2 explain "$CL" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
n = sum(s["count"] for s in d["scenarios"] if s["id"] == "auth-ip")
assert d["banned"] is None and n == 0, (n, d["banned"])
' || fail "carol's refused logins counted against $CL: $(sgc 2 explain "$CL")"

for i in 1 2 3; do authpolicy_no_errors "$i"; done
# With node3's agent stopped, Dovecot there fails open: the banned address logs in.
cluster_kill 3 TERM
imap_login -n attacker "$(node_ip 3)" alice alice-pw || fail "node3's agent stopped: IMAP login did not fail open"
pop3_login -n attacker "$(node_ip 3)" alice alice-pw || fail "node3's agent stopped: POP3 login did not fail open"
smtp_auth -n attacker "$(node_ip 3)" alice alice-pw || fail "node3's agent stopped: SMTP AUTH did not fail open"
grep -q "auth: Error: policy(alice,$ATT.*Policy server HTTP error" "$(dlog 3)" || fail "node3's Dovecot did not try its agent"
imap_login -n attacker "$(node_ip 2)" alice alice-pw; rc=$?
[ $rc = 1 ] || fail "node2 (agent running) let the banned address in"
echo "ok: banned on node1, refused before the password check at IMAP, POP3 and SMTP AUTH on node2 and node3; held account refused; fails open"
