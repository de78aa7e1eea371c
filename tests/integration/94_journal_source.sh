#!/bin/bash
# 94_journal_source.sh: the agent reads the systemd journal, as on a stock Debian 12 (no rsyslog, no
# mail log file). A real systemd is PID 1 of the test's namespaces with its real journald; real
# Dovecot (dovecot.service) and Postfix (postfix@-.service) run as its units and log through
# syslog(3) to /dev/log, which is journald. The agent, a unit there too (as root, unsandboxed: the
# sandboxed unit reading the journal is 93's), follows the journal ([detect] journal = yes).
#   1. Failed IMAP, POP3 and SMTP AUTH logins from distinct addresses are counted exactly.
#   2. Lines that claim to be Dovecot's or Postfix's but were written by someone else change no
#      counter and are counted as untrusted: `logger -t dovecot` by an unprivileged user in a unit
#      of its own, the same from outside any unit, and `logger -t postfix/submission/smtpd` run as an
#      unprivileged user inside postfix@-.service (what a recipient's .forward pipe is).
#   3. The agent stops; failures happen while it is down; it starts again and more follow: every
#      failure is counted once (no loss, no repeat), forged lines are not seen again.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
SG_ROOT=$ROOT
SG_BIN=${SG_BIN:-$ROOT/bin}
BUILD=${SG_BUILD:-$ROOT/build}
here=$ROOT/tests/integration
[ "$(id -u)" = 0 ] || { echo "skip: needs root (namespaces, systemd, mail daemons)"; exit 77; }
for b in dovecot postfix swaks curl python3 logger setpriv nsenter unshare; do
    command -v "$b" >/dev/null 2>&1 || { echo "skip: missing $b"; exit 77; }
done
[ -x "$SG_BIN/sgagent" ] || { echo "skip: no sgagent in $SG_BIN (run make first)"; exit 77; }

. "$here/lib/netns.sh"
. "$here/lib/maild.sh"
. "$here/lib/clients.sh"
. "$here/lib/cluster.sh"
. "$here/lib/sdns.sh"

# Not under /tmp (a tmpfs inside the test namespaces), reachable by the daemons' users.
mkdir -p /srv
T=$(mktemp -d /srv/sgjournal.XXXXXX) || exit 1
chmod 755 "$T"
NETNS_DIR=$T
NS=mx
cleanup() {
    sdns_stop
    ip netns del "$(netns_name "$NS")" 2>/dev/null
    if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
    echo "FAIL: $*"
    [ -n "$CLIENT_OUT" ] && [ -s "$CLIENT_OUT" ] && tail -6 "$CLIENT_OUT" | sed 's/^/    | /'
    sgc 1 status 2>/dev/null | sed "s/^/    status| /"
    tail -12 "$T/cluster/n1/agent.log" 2>/dev/null | sed 's/^/    agent| /'
    [ -n "${DEBUG:-}" ] && sdns_in journalctl --no-pager -n 2 -o export
    [ -n "$SDNS_PID" ] && sdns_in journalctl --no-pager -n 15 -o short-iso 2>/dev/null | sed 's/^/    journal| /'
    exit 1
}

# ---- the node: systemd, journald, Dovecot and Postfix as units -------------------------------------
MAILD_LOG_STYLE=journal
maild_prepare "$NS" || fail "mail daemon configuration"
D=$(maild_dir "$NS")
# shellcheck disable=SC2034 # read by sdns_boot
SDNS_SETUP="cat > /run/systemd/system/dovecot.service <<'U'
[Unit]
Description=Dovecot (sgcluster test)
DefaultDependencies=no
After=systemd-journald-dev-log.socket
[Service]
ExecStart=/usr/sbin/dovecot -F -c $D/dovecot/dovecot.conf
U
cat > /run/systemd/system/postfix@-.service <<'U'
[Unit]
Description=Postfix (sgcluster test)
DefaultDependencies=no
After=systemd-journald-dev-log.socket dovecot.service
[Service]
Type=forking
GuessMainPID=no
ExecStart=/usr/sbin/postfix -c $D/postfix/etc start
ExecStop=/usr/sbin/postfix -c $D/postfix/etc stop
U
cat > /run/systemd/system/sgagent-test.service <<'U'
[Unit]
Description=sgagent following the journal (sgcluster test)
DefaultDependencies=no
[Service]
Type=notify
NotifyAccess=main
ExecStart=$SG_BIN/sgagent -c $T/cluster/n1/sgagent.conf
StandardOutput=append:$T/cluster/n1/agent.log
StandardError=append:$T/cluster/n1/agent.log
U"
sdns_boot "$T" "$ROOT" "$BUILD" "$SG_BIN"
echo "measured: systemd $(sdns_version) is PID 1 of the test namespaces"
# The namespaces' network under a name, so that the clients' nsexec reaches it; the server and the
# "attackers" are addresses on its loopback.
ip netns attach "$(netns_name "$NS")" "$SDNS_PID" || fail "ip netns attach"
SRV=10.77.0.1
for h in 1 100 101 102 103 104; do nsexec "$NS" ip addr add "10.77.0.$h/32" dev lo || fail "address 10.77.0.$h"; done
sdns_in systemctl start systemd-journald-dev-log.socket dovecot.service postfix@-.service \
    || { sdns_in systemctl status --no-pager dovecot.service 'postfix@-.service' | tail -20; fail "mail units did not start"; }
mail_up() {
    local p
    for p in 25 587 110 143; do tcp_probe -n "$NS" "$SRV" "$p" || return 1; done
    [ -S "$D/postfix/spool/private/auth" ]
}
wait_for 20 mail_up || fail "Dovecot and Postfix do not listen"
# Both daemons really log to the journal, under their units.
in_journal() { # UNIT ERE
    sdns_in journalctl --no-pager -o cat -u "$1" | grep -qE -- "$2"
}
wait_for 10 in_journal dovecot.service 'starting up' || fail "Dovecot's start is not in the journal"
wait_for 10 in_journal 'postfix@-.service' 'daemon started' || fail "Postfix's start is not in the journal"
echo "measured: Dovecot $(dovecot --version | cut -d' ' -f1) and Postfix $(postconf -dh mail_version) log to journald through /dev/log"

# ---- the agent: the journal as its only source, run as a unit (sgagent-test.service, as root) ----
cluster_init 1 "$T/cluster" || fail "cluster_init"
sed -i '/^logs = /d' "$T/cluster/n1/sgagent.conf"
cluster_conf 1 detect "journal = yes"
out=$(sdns_in "$SG_BIN/sgagent" -n -c "$T/cluster/n1/sgagent.conf" 2>&1) || fail "sgagent -n: $out"
# Type=notify: start returns once the agent is ready (its control socket is up by then); stop
# waits for its exit, after the final snapshot, and a clean exit is status 0.
agent_start() { sdns_in systemctl start sgagent-test.service || fail "the agent did not start"; }
agent_stop() {
    sdns_in systemctl stop sgagent-test.service
    [ "$(sdns_in systemctl show -P ExecMainStatus sgagent-test.service)" = 0 ] ||
        fail "the agent did not exit cleanly: status $(sdns_in systemctl show -P ExecMainStatus sgagent-test.service)"
}
agent_start

# count ADDR: what the agent counts against ADDR (auth-ip, cluster-wide).
count() {
    sgc 1 top --json -n 100 | python3 -c '
import json, sys
k = "auth-ip|ip:" + sys.argv[1]
print(sum(x["count"] for x in json.load(sys.stdin) if x["key"] == k))' "$1"
}
has_count() { [ "$(count "$1")" = "$2" ]; }
jfield() { sgc 1 status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['journal']['$1'])"; }
has_jfield() { [ "$(jfield "$1")" = "$2" ]; }
# Each step ends with a failure from 10.77.0.104 (the marker): once the agent has counted it, it has
# read every line logged before it, and exact counts can be asserted.
MARK=0
marker() {
    MARK=$((MARK + 1))
    imap_login -n "$NS" -s 10.77.0.104 "$SRV" carol wrong-pw
    [ $? = 1 ] || fail "marker login was not refused"
    wait_for 15 has_count 10.77.0.104 "$MARK" || fail "marker failure $MARK not counted (counted $(count 10.77.0.104))"
}
expect() { # ADDR COUNT WHAT
    local got
    got=$(count "$1")
    [ "$got" = "$2" ] || fail "$3: $1 counted $got times, expected $2"
}
refused() { # CLIENT ARGS...: a login that must be refused
    "$@"
    [ $? = 1 ] || fail "$* was not refused"
}

# 1. Real failures, three protocols, one address each.
for _ in 1 2 3; do refused imap_login -n "$NS" -s 10.77.0.100 "$SRV" alice wrong-pw; done
for _ in 1 2; do refused pop3_login -n "$NS" -s 10.77.0.101 "$SRV" bob wrong-pw; done
for _ in 1 2; do refused smtp_auth -n "$NS" -s 10.77.0.102 "$SRV" alice wrong-pw; done
imap_login -n "$NS" -s 10.77.0.101 "$SRV" bob bob-pw || fail "bob's good IMAP login was refused"
marker
expect 10.77.0.100 3 "IMAP"
expect 10.77.0.101 2 "POP3"
expect 10.77.0.102 2 "SMTP AUTH"
lines1=$(jfield lines)
echo "measured: from the journal: IMAP 3/3, POP3 2/2, SMTP AUTH 2/2 failures counted; $lines1 trusted lines read"

# 2. Forgeries, each claiming a mail daemon and naming 203.0.113.9.
has_jfield untrusted 0 || fail "untrusted lines before any forgery: $(jfield untrusted)"
FORGED_IMAP='imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.9, lip=10.77.0.1, session=<forged>'
FORGED_SMTP='warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6'
NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
forged_in_journal() { [ "$(sdns_in journalctl --no-pager -o cat | grep -c 203.0.113.9)" = "$1" ]; }
# forge HOW IDENT MESSAGE: `logger -t IDENT` as nobody, MESSAGE on its standard input: in a unit of
# its own (unit), outside any unit (nounit), or inside postfix@-.service (postfix). logger lives until
# its input ends, which is once the line is in the journal: journald reads the sender's unit from
# /proc when the line arrives, and a sender already gone would have none.
FORGED=0
printf '#!/bin/sh\nexec logger -t "$(cat "$1/forge.ident")" < "$1/hold"\n' > "$T/forge.sh"
forge() {
    local pid
    rm -f "$T/hold"
    mkfifo -m 644 "$T/hold" || fail "mkfifo"
    printf '%s' "$2" > "$T/forge.ident"
    case $1 in
    unit) # systemd-run needs D-Bus, which this boot does not start: a unit file does the same.
        printf '[Service]\nUser=nobody\nGroup=nogroup\nExecStart=/bin/sh %s/forge.sh %s\n' "$T" "$T" > "$T/forger.service"
        sdns_in sh -c "cp $T/forger.service /run/systemd/system/ && systemctl daemon-reload && systemctl start forger.service" & ;;
    nounit) sdns_in "${NOBODY[@]}" sh "$T/forge.sh" "$T" & ;;
    postfix) # shellcheck disable=SC2016 # $$ is the inner shell's
        sdns_in sh -c 'for h in systemd unified; do echo $$ > "/sys/fs/cgroup/$h$1/cgroup.procs" || exit 1; done
             shift; exec "$@"' sh "$(sdns_in systemctl show -P ControlGroup 'postfix@-.service')" \
             "${NOBODY[@]}" sh "$T/forge.sh" "$T" & ;;
    esac
    pid=$!
    # Read-write open: never blocks, whether logger has opened its end yet or not.
    exec 3<>"$T/hold"
    printf '%s\n' "$3" >&3
    FORGED=$((FORGED + 1))
    wait_for 10 forged_in_journal "$FORGED" || { exec 3>&-; fail "forged line $FORGED ($1) is not in the journal"; }
    exec 3>&-
    wait "$pid" || fail "forged line $FORGED ($1): the sender failed"
}
forge unit dovecot "$FORGED_IMAP"
forge nounit dovecot "$FORGED_IMAP"
forge postfix postfix/submission/smtpd "$FORGED_SMTP"
# What journald recorded for the last one: postfix@-.service, but as nobody.
sdns_in journalctl --no-pager -o export "MESSAGE=$FORGED_SMTP" | grep -a -E '^(_SYSTEMD_UNIT|_UID)=' > "$T/forged-fields"
grep -qx '_SYSTEMD_UNIT=postfix@-.service' "$T/forged-fields" || { cat "$T/forged-fields"; fail "the forged line was not written inside postfix@-.service"; }
grep -qx "_UID=$(id -u nobody)" "$T/forged-fields" || { cat "$T/forged-fields"; fail "the forged line was not written as nobody"; }
wait_for 15 has_jfield untrusted 3 || fail "forged lines counted as untrusted: $(jfield untrusted), expected 3"
# Another daemon's line that nobody asked for (sshd, not a trusted unit's family) is not a forgery.
sdns_in logger -t sshd 'Failed password for root from 203.0.113.10 port 22 ssh2' || fail "logger -t sshd"
marker
has_jfield untrusted 3 || fail "an sshd line was counted as untrusted ($(jfield untrusted))"
[ "$(count 203.0.113.9)" = 0 ] || fail "a forged line was counted for 203.0.113.9"
sgc 1 top --json -n 100 | grep -q 203.0.113.9 && fail "203.0.113.9 appears in the counters"
expect 10.77.0.100 3 "IMAP after the forgeries"
expect 10.77.0.102 2 "SMTP AUTH after the forgeries"
echo "measured: 3 forged lines (own unit, no unit, inside postfix@-.service as nobody): untrusted=3, counters unchanged"
sgc 1 status | grep -q '^journal .* 3 untrusted' || fail "sgcluster status does not show the untrusted lines"
# The first forgery is logged (journald's fields only), the next ones within a minute are not.
[ "$(grep -c 'journal: ignored a line that claims to be' "$T/cluster/n1/agent.log")" = 1 ] ||
    fail "forged lines not logged once"
grep -q "claims to be dovecot, written by unit forger.service uid $(id -u nobody) (not a trusted writer); 1 such lines" \
    "$T/cluster/n1/agent.log" ||
    fail "the forged line's log line does not name its unit and uid"

# 3. Restart: lines logged while the agent is down are read once, the ones before are not read again.
agent_stop
grep -q '^journal s=' "$T/cluster/n1/state/cursors" || fail "no journal cursor saved"
for _ in 1 2; do refused imap_login -n "$NS" -s 10.77.0.103 "$SRV" alice wrong-pw; done
agent_start
refused imap_login -n "$NS" -s 10.77.0.100 "$SRV" alice wrong-pw
marker
expect 10.77.0.103 2 "IMAP while the agent was down"
expect 10.77.0.100 4 "IMAP before and after the restart"
expect 10.77.0.101 2 "POP3 after the restart"
expect 10.77.0.102 2 "SMTP AUTH after the restart"
has_jfield untrusted 0 || fail "the forged lines were read again after the restart ($(jfield untrusted))"
lines2=$(jfield lines)
echo "measured: restart: 2 failures while down + 1 after counted once each (10.77.0.103=2, 10.77.0.100=4), $lines2 lines read after the restart, 0 forged lines again"
echo "journal source: exact counts from real daemons, forged lines ignored and counted, restart without loss or repeat"
exit 0
