#!/bin/bash
# 05_mailnet.sh: self-test of the mail test net (namespaces, real Dovecot + Postfix per node, real clients, clean teardown).
# The end-to-end tests build on tests/integration/lib/; this proves each piece does what it
# says: logins work and fail as they should on every node and protocol, each failure lands in
# that node's own log files in the shape the agent will parse, the helpers for bans, botnets,
# link cuts, log rotation and the policy hook work, and nothing survives netns_down.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)

skip() { echo "skip: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces and mail daemons)"
for b in ip dovecot doveadm postfix postconf swaks curl timeout; do
    command -v "$b" >/dev/null 2>&1 || skip "missing $b"
done
command -v /usr/bin/python3 >/dev/null 2>&1 || command -v python3 >/dev/null 2>&1 || skip "missing python3"
pv=$(postconf -dh mail_version 2>/dev/null)
[ "${pv%%.*}" -gt 3 ] 2>/dev/null || { [ "${pv%%.*}" = 3 ] && [ "$(echo "$pv" | cut -d. -f2)" -ge 4 ]; } ||
    skip "Postfix $pv has no maillog_file (needs 3.4)"

. "$here/lib/netns.sh"
. "$here/lib/maild.sh"
. "$here/lib/clients.sh"

failures=0
ok() { echo "ok: $*"; }
bad() {
    echo "FAIL: $*"
    failures=$((failures + 1))
    [ -n "$CLIENT_OUT" ] && [ -s "$CLIENT_OUT" ] && sed 's/^/    | /' "$CLIENT_OUT" | tail -8
}
# expect RC DESCRIPTION CMD...: CMD must return RC.
expect() {
    local want=$1 what=$2 rc
    shift 2
    "$@"; rc=$?
    if [ "$rc" = "$want" ]; then ok "$what"; else bad "$what (returned $rc, wanted $want)"; fi
}
# logged NODE dovecot|postfix DESCRIPTION ERE: the node's log gets a matching line within 5 s.
logged() {
    if maild_wait_log "$1" "$2" "$4" 5 2>/dev/null; then ok "$1 $2.log: $3"; else
        bad "$1 $2.log: $3 (no line matching $4)"; tail -5 "$(maild_log "$1" "$2")" | sed 's/^/    | /'
    fi
}
esc() { printf '%s' "${1//./\\.}"; } # addresses into EREs: only the dots matter

# A throwaway policy server: answers every query with REJECT and what it was asked.
policy_server() { # NODE PORT
    # Braces: the stderr of the background subshell, which reports the server's death by SIGTERM.
    { nsexec "$1" "$CLIENT_PY" -c '
import socketserver, sys
class H(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            attrs = {}
            for raw in self.rfile:
                line = raw.decode().strip()
                if not line:
                    break
                k, _, v = line.partition("=")
                attrs[k] = v
            else:
                return
            said = "%s %s %s" % (attrs.get("sasl_username"), attrs.get("protocol_state"), attrs.get("recipient_count"))
            self.wfile.write(("action=REJECT sgtest policy hook: %s\n\n" % said).encode())
socketserver.TCPServer.allow_reuse_address = True
socketserver.TCPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$2"; } 2>/dev/null &
}

cli=$(netns_ip client)

t0=$(now_ms)
netns_up 3 || { echo "FAIL: netns_up"; exit 1; }
t1=$(now_ms)
maild_start_nodes node1 node2 node3 || { echo "FAIL: maild_start_nodes"; exit 1; }
t2=$(now_ms)
echo "measured: netns_up 3 nodes + attacker + client: $((t1 - t0)) ms"
echo "measured: Dovecot + Postfix up on 3 nodes (parallel): $((t2 - t1)) ms"

# Every node, every protocol: the good password works, a wrong one is refused and logged.
# The nodes are checked side by side: Dovecot answers a failed login only at its next 500 ms tick.
node_checks() { # I
    local i=$1 n=node$1 ip c a
    ip=$(node_ip "$i"); c=$(esc "$cli"); a=$(esc "$ip")
    CLIENT_OUT="" # each check job its own output file
    expect 0 "$n imap good login" imap_login "$ip" alice alice-pw
    expect 1 "$n imap bad login" imap_login "$ip" alice "wrong$i"
    expect 0 "$n pop3 good login" pop3_login "$ip" bob bob-pw
    expect 1 "$n pop3 bad login" pop3_login "$ip" bob "wrong$i"
    expect 0 "$n smtp auth good" smtp_auth "$ip" carol carol-pw
    expect 1 "$n smtp auth bad" smtp_auth "$ip" carol "wrong$i"
    logged "$n" dovecot "auth failure (imap)" "auth: Info: passwd-file\(alice,$c,<[^>]+>\): Password mismatch"
    logged "$n" dovecot "imap-login failure" "imap-login: Info: Disconnected.*\(auth failed, 1 attempts.*user=<alice>, method=PLAIN, rip=$c, lip=$a"
    logged "$n" dovecot "imap login ok" "imap-login: Info: Login: user=<alice>, method=PLAIN, rip=$c, lip=$a"
    logged "$n" dovecot "auth failure (pop3)" "auth: Info: passwd-file\(bob,$c,<[^>]+>\): Password mismatch"
    logged "$n" dovecot "pop3-login failure" "pop3-login: Info: Disconnected.*\(auth failed, 1 attempts.*user=<bob>, method=PLAIN, rip=$c, lip=$a"
    logged "$n" dovecot "auth failure (smtp sasl)" "auth: Info: passwd-file\(carol,$c\): Password mismatch"
    logged "$n" postfix "sasl failure" "$n postfix/submission/smtpd\[[0-9]+\]: warning: unknown\[$c\]: SASL LOGIN authentication failed"
}
t3=$(now_ms)
for i in 1 2 3; do node_checks $i > "$NETNS_DIR/checks.$i" 2>&1 & done
wait
for i in 1 2 3; do
    cat "$NETNS_DIR/checks.$i"
    failures=$((failures + $(grep -c '^FAIL:' "$NETNS_DIR/checks.$i")))
done
echo "measured: 3 good + 3 failed logins (IMAP, POP3, SMTP AUTH) and their log lines, on 3 nodes at once: $(($(now_ms) - t3)) ms"
t3=$(now_ms); imap_login "$(node_ip 1)" alice nope
echo "measured: one failed IMAP login, round trip: $(($(now_ms) - t3)) ms"
# Each node logs only its own traffic: no other node's address as local address.
for i in 1 2 3; do
    for j in 1 2 3; do
        [ $i = $j ] && continue
        if grep -q "lip=$(esc "$(node_ip $j)")," "$(maild_log node$i dovecot)"; then
            bad "node$i dovecot.log has node$j's traffic"
        fi
    done
done

# IPv6 works end to end.
if [ "$NETNS_IPV6" = 1 ]; then
    expect 0 "node1 imap over IPv6" imap_login "$(node_ip6 1)" alice alice-pw
    logged node1 dovecot "IPv6 client address" "Login: user=<alice>, method=PLAIN, rip=$(netns_ip6 client), lip=$(node_ip6 1)"
else
    echo "note: no IPv6 in this kernel, IPv6 checks left out"
fi

# A botnet: extra attacker addresses, each seen as itself.
netns_add_addrs attacker 2 || bad "netns_add_addrs"
b1=$(netns_ip attacker 1); b2=$(netns_ip attacker 2)
expect 1 "botnet imap from $b2" imap_login -n attacker -s "$b2" "$(node_ip 2)" alice nope
logged node2 dovecot "botnet source address" "passwd-file\(alice,$(esc "$b2"),<"
expect 1 "botnet smtp auth from $b1" smtp_auth -n attacker -s "$b1" "$(node_ip 2)" bob nope
logged node2 postfix "botnet source address" "warning: unknown\[$(esc "$b1")\]: SASL LOGIN authentication failed"

# Submission: relayed mail is discarded, local mail lands in a maildir, relaying needs AUTH.
expect 0 "submission of 3 recipients" smtp_send "$(node_ip 2)" alice alice-pw 3
logged node2 postfix "authenticated submission" "client=unknown\[$(esc "$cli")\], sasl_method=LOGIN, sasl_username=alice"
logged node2 postfix "relayed mail discarded" "to=<rcpt3@example.invalid>.*status=sent"
expect 0 "submission to a local user" smtp_send "$(node_ip 2)" alice alice-pw bob@sgtest.invalid
has_mail() { [ "$(maild_mailbox_count "$1" "$2")" -ge 1 ]; }
if wait_for 5 has_mail node2 bob; then ok "local delivery to a maildir"; else bad "no mail in bob's maildir"; fi
expect 1 "unauthenticated relay on 25" smtp_send -p 25 "$(node_ip 2)" "" "" 1
logged node2 postfix "relay denied" "NOQUEUE: reject: RCPT from unknown\[$(esc "$cli")\]: 554 5.7.1 <rcpt1@example.invalid>: Relay access denied"

# The policy hooks: Postfix on node3 asks a policy server in node3's own namespace.
policy_server node3 10031
policy="check_policy_service inet:127.0.0.1:10031"
# The production form (deploy/postfix/sgcluster-policy.cf): per-policy options, fail open.
policy_rcpt="check_policy_service { inet:127.0.0.1:10031, timeout=3s, default_action=DUNNO }"
policy_try() { # NRCPT EXPECTED_ANSWER
    smtp_send "$(node_ip 3)" carol carol-pw "$1"
    [ $? = 1 ] && grep -q "sgtest policy hook: $2" "$CLIENT_OUT"
}
wait_for 5 tcp_probe -n node3 127.0.0.1 10031 || bad "policy server did not start"
if maild_policy node3 "$policy_rcpt" && wait_for 10 policy_try 1 "carol RCPT 0"; then
    ok "policy hook at RCPT"; else bad "policy hook at RCPT"; fi
if maild_policy node3 "" "$policy" && wait_for 10 policy_try 3 "carol END-OF-MESSAGE 3"; then
    ok "policy hook at END-OF-MESSAGE, with the recipient count"; else bad "policy hook at END-OF-MESSAGE"; fi

# Cutting a node off and putting it back.
expect 0 "node3 reachable" tcp_probe "$(node_ip 3)" 143
link_down node3 || bad "link_down"
expect 1 "node3 unreachable after link_down" tcp_probe -t 1 "$(node_ip 3)" 143
expect 0 "node1 still reachable" tcp_probe "$(node_ip 1)" 143
link_up node3 || bad "link_up"
if wait_for 5 tcp_probe -t 1 "$(node_ip 3)" 143; then ok "node3 back after link_up"; else bad "node3 back after link_up"; fi

# Log rotation: nothing is lost after a rename, nor after a copytruncate.
for mode in rename copytruncate; do
    maild_logrotate node1 "$mode" || bad "maild_logrotate $mode"
    expect 1 "imap failure after $mode" imap_login "$(node_ip 1)" carol "after-$mode"
    logged node1 dovecot "new file after $mode" "passwd-file\(carol,$(esc "$cli"),<[^>]+>\): Password mismatch"
    expect 1 "smtp failure after $mode" smtp_auth "$(node_ip 1)" alice "after-$mode"
    logged node1 postfix "new file after $mode" "SASL LOGIN authentication failed"
    if [ "$(head -c 1 "$(maild_log node1 dovecot)" | od -An -c | tr -d ' ')" = '\0' ]; then
        bad "$mode: dovecot.log starts with NUL bytes (not O_APPEND)"
    fi
done
ls "$(dirname "$(maild_log node1 dovecot)")"/dovecot.log.2 >/dev/null 2>&1 || bad "rotated dovecot.log.1/.2 missing"

# A node's daemons restart in place, here with Dovecot lines shaped like syslog's and the
# policy hook at DATA set from the start.
maild_stop node3
if MAILD_LOG_STYLE=syslog MAILD_POLICY_DATA=$policy maild_start node3; then ok "node3 restarted"; else bad "node3 restart"; fi
expect 0 "node3 imap good login after restart" imap_login "$(node_ip 3)" alice alice-pw
logged node3 dovecot "syslog-style line" "^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} node3 dovecot: imap-login: Info: Login: user=<alice>"
if policy_try 2 "carol DATA 2"; then ok "policy hook at DATA, set at start"; else bad "policy hook at DATA"; fi

# Stopping a node's daemons leaves nothing of them in its namespace.
t5=$(now_ms)
maild_stop node2
echo "measured: maild_stop one node: $(($(now_ms) - t5)) ms"
if [ -z "$(_maild_pids node2)" ]; then ok "node2 daemons gone"; else bad "node2 daemons left: $(_maild_pids node2)"; fi
expect 1 "node2 port 143 closed" tcp_probe "$(node_ip 2)" 143
expect 1 "node2 port 587 closed" tcp_probe "$(node_ip 2)" 587

# Teardown: no namespace, process or directory of this run survives; /etc is untouched.
t4=$(now_ms)
netns_down
echo "measured: netns_down with daemons on 2 nodes: $(($(now_ms) - t4)) ms"
if out=$(netns_leftovers); then ok "nothing left after netns_down"; else bad "left after netns_down: $out"; fi
# Anything in the system's mail configuration changed since the net came up is the test's doing.
changed=$(find /etc/postfix /etc/dovecot -newermt "@$(( t1 / 1000 - 1 ))" 2>/dev/null)
if [ -z "$changed" ]; then ok "/etc/postfix and /etc/dovecot untouched"; else bad "system config changed: $changed"; fi
echo "measured: mailnet self-test total: $(($(now_ms) - t0)) ms"

if [ $failures -ne 0 ]; then echo "$failures check(s) failed"; exit 1; fi
echo "all checks passed"
