#!/bin/bash
# record-corpus.sh: records the labelled Dovecot and Postfix lines of tests/corpus from the real daemons.
# Usage (as root): tests/tools/record-corpus.sh [OUTDIR]        (default: tests/corpus)
#
# Starts the same namespaces and daemons as the integration tests (tests/integration/lib: netns.sh,
# maild.sh, clients.sh): node1 with Dovecot's own log file format, node2 with syslog-style Dovecot
# lines, Postfix on both. Then it plays a fixed list of sessions, each from a source address of its
# own (good and bad IMAP/POP3 logins, several attempts in one session, SMTP AUTH failures, relay
# attempts, unknown recipients, VRFY probes, non-SMTP commands, submissions, inbound mail, ...),
# waits until every queued message is gone, stops the daemons and hands their log files and the list
# of sessions to label-corpus.py, which labels every line (see there) and writes
#   OUTDIR/recorded-dovecot-native.jsonl  OUTDIR/recorded-dovecot-syslog.jsonl  OUTDIR/recorded-postfix.jsonl
# The labels follow from what each session did, not from sgcluster's rules; a session whose
# expected lines did not appear fails the recording.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/tests/corpus}
lib=$root/tests/integration/lib

[ "$(id -u)" = 0 ] || { echo "record-corpus: needs root (network namespaces, mail daemons)" >&2; exit 1; }
for b in ip dovecot doveadm postfix postconf swaks curl python3; do
    command -v "$b" >/dev/null 2>&1 || { echo "record-corpus: missing $b" >&2; exit 1; }
done

# shellcheck source=tests/integration/lib/netns.sh
. "$lib/netns.sh"
# shellcheck source=tests/integration/lib/maild.sh
. "$lib/maild.sh"
# shellcheck source=tests/integration/lib/clients.sh
. "$lib/clients.sh"

netns_up 2 || { echo "record-corpus: netns_up failed" >&2; exit 1; }
if ! netns_add_addrs attacker 45 || ! netns_add_addrs client 25; then echo "record-corpus: addresses" >&2; exit 1; fi
maild_start node1 || exit 1
MAILD_LOG_STYLE=syslog maild_start node2 || exit 1

manifest=$NETNS_DIR/sessions.tsv
: > "$manifest"
next_attacker=1
next_client=1
failed=0

# session NAME NODE attacker|client [6] USER EXPECT CMD [-x OPT]... ARGS...: runs CMD (a clients.sh
# function, its options first, or "ms" for mailsession.py) from a fresh address of attacker or client on NODE's address (IPv6 with
# "6"); records "NAME NODE SRC USER" in the manifest. CMD's return code must be EXPECT.
session() {
    local name=$1 node=$2 ns=$3 v6="" user expect cmd src dst k rc opts=()
    shift 3
    [ "$1" = 6 ] && { v6=1; shift; }
    user=$1 expect=$2 cmd=$3
    shift 3
    while [ "${1:0:1}" = - ]; do opts+=("$1" "$2"); shift 2; done
    if [ "$ns" = attacker ]; then k=$next_attacker; next_attacker=$((k + 1)); else k=$next_client; next_client=$((k + 1)); fi
    if [ -n "$v6" ]; then
        [ "$NETNS_IPV6" = 1 ] || return 0
        src=$(netns_ip6 "$ns" "$k"); dst=$(node_ip6 "${node#node}")
    else
        src=$(netns_ip "$ns" "$k"); dst=$(node_ip "${node#node}")
    fi
    # shellcheck disable=SC2034 # read by clients.sh: a fresh output file per session
    CLIENT_OUT=""
    if [ "$cmd" = ms ]; then
        nsexec "$ns" timeout 20 python3 "$here/mailsession.py" --src "$src" "$1" "$dst" "${@:2}" > "$NETNS_DIR/ms.out" 2>&1
    else
        "$cmd" -n "$ns" -s "$src" "${opts[@]}" "$dst" "$@"
    fi
    rc=$?
    if [ "$rc" != "$expect" ]; then
        echo "record-corpus: session $name on $node from $src returned $rc, wanted $expect" >&2
        failed=$((failed + 1))
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" "$node" "$src" "$user" >> "$manifest"
}

# Dovecot, on both nodes (two log formats).
for node in node1 node2; do
    session imap-good "$node" client alice 0 imap_login alice alice-pw
    session imap-bad "$node" attacker alice 1 imap_login alice wrong-pw
    session imap-unknown "$node" attacker nosuchuser 1 imap_login nosuchuser secret
    session imap-attempts "$node" attacker bob 0 ms imap-logins bob guess1 3
    session imap-noauth "$node" client "" 0 ms imap-noauth
    session pop3-good "$node" client bob 0 pop3_login bob bob-pw
    session pop3-bad "$node" attacker bob 1 pop3_login bob wrong-pw
    session pop3-unknown "$node" attacker admin 1 pop3_login admin admin
    session pop3-attempts "$node" attacker carol 0 ms pop3-logins carol guess2 2
    session imap-good "$node" client 6 carol 0 imap_login carol carol-pw
    session imap-bad "$node" attacker 6 alice 1 imap_login alice 123456
    # A customer's typo, then the right password from the same address: the failure is still one.
    session imap-typo "$node" client alice 1 imap_login alice alice-pW
done
# A stale phone: the last typo address (node2's) logs in right afterwards with the right password.
src=$(netns_ip client "$((next_client - 1))")
imap_login -n client -s "$src" "$(node_ip 2)" alice alice-pw || { echo "record-corpus: typo follow-up failed" >&2; failed=$((failed + 1)); }

# Postfix on node1 (submission with Dovecot SASL on 587, plain SMTP on 25).
session smtp-auth-bad node1 attacker carol 1 smtp_auth carol wrong-pw
session smtp-auth-bad node1 attacker alice 1 smtp_auth -m PLAIN alice wrong-pw
session smtp-auth-unknown node1 attacker info 1 smtp_auth info info123
session smtp-auth-bad node1 attacker 6 bob 1 smtp_auth bob wrong-pw
session submit-good node1 client alice 0 smtp_send alice alice-pw 3
session submit-good node1 client alice 0 smtp_send alice alice-pw bob@sgtest.invalid
session submit-good node1 client 6 carol 0 smtp_send -m PLAIN carol carol-pw 2
session inbound node1 client "" 0 smtp_send -p 25 "" "" bob@sgtest.invalid sender@example.org
session relay node1 attacker "" 1 smtp_send -p 25 "" "" 1 spam@example.org
session relay node1 attacker 6 "" 1 smtp_send -p 25 "" "" 2 spam@example.org
session rcpt-unknown node1 attacker "" 1 smtp_send -p 25 "" "" nosuch@sgtest.invalid probe@example.org
session vrfy node1 attacker "" 0 ms smtp 25 "EHLO probe.example" "VRFY nosuch@sgtest.invalid" "QUIT"
session lost-connect node1 attacker "" 0 ms tcp-close 25
session non-smtp node1 attacker "" 0 ms smtp 25 "GET / HTTP/1.0"
session early-drop node1 attacker "" 0 ms smtp-early 25 "EHLO early.example"
session pipelining node1 attacker "" 0 ms smtp-pipe 25 "HELO pipe.example" "MAIL FROM:<a@pipe.example>" "RCPT TO:<bob@sgtest.invalid>" "QUIT"
session auth-on-25 node1 attacker "" 0 ms smtp 25 "EHLO probe.example" "AUTH PLAIN AGFsaWNlAHdyb25n" "QUIT"
session ehlo-quit node1 client "" 0 ms smtp 25 "EHLO client.example" "QUIT"
session submit-noauth node1 client "" 1 smtp_send "" "" 1

[ "$failed" = 0 ] || { echo "record-corpus: $failed session(s) did not behave as expected" >&2; exit 1; }

# Every queued message delivered and removed, every session's disconnect written.
queue_empty() {
    local f d node
    for node in node1 node2; do
        f=$(maild_log "$node" postfix)
        d=$(maild_dir "$node")/postfix/spool
        [ -z "$(find "$d/incoming" "$d/active" "$d/deferred" "$d/maildrop" -type f 2>/dev/null)" ] || return 1
        [ "$(grep -c ': message-id=' "$f")" = "$(grep -c ': removed$' "$f")" ] || return 1
        [ "$(grep -c ' connect from ' "$f")" = "$(grep -c ' disconnect from ' "$f")" ] || return 1
    done
}
if ! wait_for 20 queue_empty; then
    echo "record-corpus: queue not empty, or a session without its disconnect line:" >&2
    tail -15 "$(maild_log node1 postfix)" >&2
    exit 1
fi
maild_stop_all

mkdir -p "$out"
python3 "$here/label-corpus.py" --manifest "$manifest" \
    --dovecot-version "$(dovecot --version | cut -d' ' -f1)" --postfix-version "$(postconf -dh mail_version)" \
    "dovecot:$(maild_log node1 dovecot):$out/recorded-dovecot-native.jsonl" \
    "dovecot:$(maild_log node2 dovecot):$out/recorded-dovecot-syslog.jsonl" \
    "postfix:$(maild_log node1 postfix):$out/recorded-postfix.jsonl" || exit 1
netns_down
