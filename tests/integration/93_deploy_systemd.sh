#!/bin/bash
# 93_deploy_systemd.sh: the playbook WITH its service steps, against a real systemd. This
# machine's PID 1 is not systemd, so the test boots one as PID 1 of its own namespaces (pid,
# mount, network, cgroup, uts, ipc; tmpfs over /run, /tmp, /etc/systemd/system, /dev, a cgroup
# subtree of its own: lib/sdns.sh) with a target that pulls in nothing. Then: site.yml enables and starts sgagent
# (Type=notify: start returns once READY=1), the agent runs sandboxed as its user with only
# CAP_NET_ADMIN and a seccomp filter and answers `sgcluster status`; a second run changes
# nothing; a changed variable reloads it (the handler: SIGHUP, same PID, no restart);
# `systemd-analyze security` scores the running unit; remove.yml stops, disables and removes it.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${SG_BIN:-$ROOT/bin}
BUILD=${SG_BUILD:-$ROOT/build}
DEPLOY_USER=sgs$$
SGUSER=$DEPLOY_USER
# shellcheck source=lib/deploy.sh
. "$ROOT/tests/integration/lib/deploy.sh"
# Not under /tmp or /var/tmp (the unit's PrivateTmp= would hide it from the agent), and not under
# the build directory either, which may itself be in /tmp (a clone there, as CI may make).
deploy_setup /srv/sgdeploysd
[ -x "$BIN/sgagent" ] && [ -x "$BIN/sgcluster" ] || { echo "skip: no sgagent/sgcluster in $BIN (run make first)"; exit 77; }
# shellcheck source=lib/sdns.sh
. "$ROOT/tests/integration/lib/sdns.sh"
deploy_on_cleanup sdns_stop
P=$T/root
deploy_log_file "$P/var/log/mail.log"

# multi-user.target (the unit's WantedBy=) pulls in nothing here. The unit's default dependencies
# would pull in sysinit.target: a whole boot (udev, sysctl, sysusers, tmpfiles) acting on this
# machine's shared /sys, /proc/sys and /etc. Only they go: the unit's own settings, sandbox and
# all, are what the test runs. LeakSanitizer (make check's sanitizer build) needs ptrace, which
# the unit's filter denies.
# shellcheck disable=SC2034 # read by sdns_boot
SDNS_SETUP="printf '[Unit]\\nDescription=multi-user (test)\\nDefaultDependencies=no\\n' > /etc/systemd/system/multi-user.target
mkdir -p /run/systemd/system/sgagent.service.d
printf '[Unit]\\nDefaultDependencies=no\\n[Service]\\nEnvironment=ASAN_OPTIONS=detect_leaks=0\\n' \\
    > /run/systemd/system/sgagent.service.d/test.conf"
sdns_boot "$T" "$ROOT" "$BUILD" "$BIN"
SD=$SDNS_PID
inside() { sdns_in "$@"; }
echo "measured: systemd $(sdns_version) is PID 1 of the test namespaces"

deploy_inventory1 "$T/hosts.yml" "$P" <<EOT
sgcluster_build_bin_dir: $BIN
sgcluster_source_dir: $ROOT
# systemd's own places (tmpfs in the test namespaces)
sgcluster_unit_dir: /etc/systemd/system
sgcluster_control_socket: /run/sgcluster/control.sock
EOT
# shellcheck disable=SC2034 # DEPLOY_WRAP is read by deploy_play (lib/deploy.sh)
DEPLOY_WRAP=(nsenter -t "$SD" -m -p -n -u -i)
play() { deploy_play "$@"; }
prop() { inside systemctl show -P "$1" sgagent.service; }

# 1. First run, service steps included.
play "$T/run1.log" "$ROOT/deploy/ansible/site.yml" --skip-tags packages,build \
    || { grep -E '^(fatal|failed)|msg' "$T/run1.log" | head; inside journalctl -u sgagent --no-pager | tail; fail "first run failed"; }
echo "measured: first run $(deploy_recap "$T/run1.log" mx1)"
grep -q 'TASK \[sgcluster : Enable and start sgagent\]' "$T/run1.log" || fail "the service steps did not run"
# The new binary and unit notified the restart handler, the new config the reload one, which
# a restart in the same run makes needless.
grep -A1 'RUNNING HANDLER \[sgcluster : Restart sgagent\]' "$T/run1.log" | grep -q '^changed:' \
    || fail "the restart handler did not run"
grep -A1 'RUNNING HANDLER \[sgcluster : Reload sgagent\]' "$T/run1.log" | grep -q '^skipping:' \
    || fail "the agent was reloaded right after its restart"
[ "$(inside systemctl is-active sgagent.service)" = active ] || fail "sgagent is not active"
[ "$(inside systemctl is-enabled sgagent.service)" = enabled ] || fail "sgagent is not enabled"
PID=$(prop MainPID)
[ "$PID" -gt 0 ] || fail "no main PID"
S=$(inside cat "/proc/$PID/status")
grep -q "^Uid:[[:space:]]*$(id -u "$SGUSER")[[:space:]]" <<<"$S" || fail "agent not running as $SGUSER"
grep -q '^CapEff:[[:space:]]*0000000000001000$' <<<"$S" || fail "agent has capabilities other than CAP_NET_ADMIN"
grep -q '^NoNewPrivs:[[:space:]]*1$' <<<"$S" || fail "NoNewPrivs not set"
grep -q '^Seccomp:[[:space:]]*2$' <<<"$S" || fail "no seccomp filter"
inside "$P/usr/local/bin/sgcluster" status --json > "$T/status.json" || fail "sgcluster status does not answer"
grep -q '"node":"mx1"' "$T/status.json" || fail "status: wrong node"
grep -q '"healthy":true' "$T/status.json" || { cat "$T/status.json"; fail "status: not healthy"; }
inside nft list table inet sgcluster > /dev/null || fail "no nft table in the test namespace"
echo "measured: sgagent active under systemd (Type=notify), uid $SGUSER, CapEff=CAP_NET_ADMIN, NoNewPrivs, seccomp"
# Under systemd stderr is a journal stream: "<N>" prefixes must become priorities, not text.
# A ban is logged at notice, the start line at info.
inside "$P/usr/local/bin/sgcluster" ban 203.0.113.9 --for 5m --reason journal-test >/dev/null || fail "ban refused"
notice() { inside journalctl -u sgagent.service -p notice -o cat --no-pager > "$T/notice.txt" && grep -q 203.0.113.9 "$T/notice.txt"; }
wait_for 3 notice || fail "the ban's notice line is not in the journal at priority notice"
inside journalctl -u sgagent.service -o cat --no-pager > "$T/journal.txt"
grep -q 'started' "$T/journal.txt" || { cat "$T/journal.txt"; fail "the agent's start is not in the journal"; }
grep -q 'started' "$T/notice.txt" && fail "the info-level start line was logged above info"
grep -q '^<[0-7]>' "$T/journal.txt" && fail "journal lines carry raw <N> prefixes"
echo "measured: journal priorities from the agent's <N> prefixes (ban at notice, start at info)"
SEC=$(inside systemd-analyze security sgagent.service 2>/dev/null | sed -n 's/.*exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p')
echo "measured: systemd-analyze security of the running unit: $SEC"

# 2. Idempotence with the service steps.
play "$T/run2.log" "$ROOT/deploy/ansible/site.yml" --skip-tags packages,build || fail "second run failed"
r=$(deploy_recap "$T/run2.log" mx1)
echo "measured: second run $r"
case $r in *" changed=0 "*" failed=0 "*) ;; *) grep -B2 -A6 '^changed:' "$T/run2.log" | head -40; fail "second run is not idempotent" ;; esac

# 3. A changed variable rewrites sgagent.conf; the handler reloads (SIGHUP), it does not restart.
inside "$P/usr/local/bin/sgcluster" status --json > "$T/status2.json" || fail "status before the reload"
R0=$(sed -n 's/.*"reloads":\([0-9]*\),.*/\1/p' "$T/status2.json")
play "$T/run3.log" "$ROOT/deploy/ansible/site.yml" --skip-tags packages,build -e '{"sgcluster_allowlist": ["198.51.100.0/24"]}' \
    || fail "run with a new allowlist failed"
grep -q 'RUNNING HANDLER \[sgcluster : Reload sgagent\]' "$T/run3.log" || fail "the reload handler did not run"
[ "$(prop MainPID)" = "$PID" ] || fail "the agent was restarted instead of reloaded"
[ "$(prop NRestarts)" = 0 ] || fail "the agent restarted"
# ExecReload= (kill -HUP) returns at once: give the agent a moment to reread everything.
reloaded() {
    inside "$P/usr/local/bin/sgcluster" status --json > "$T/status3.json" && grep -q "\"reloads\":$((R0 + 1))," "$T/status3.json"
}
wait_for 5 reloaded || { cat "$T/status3.json"; inside journalctl -u sgagent --no-pager | tail -5; fail "the agent did not reload"; }
grep -q '"reload_errors":0' "$T/status3.json" || { inside journalctl -u sgagent --no-pager | tail -5; fail "the reload failed"; }
grep -q '^allowlist = 198.51.100.0/24$' "$P/etc/sgcluster/sgagent.conf" || fail "allowlist not written"
echo "measured: changed allowlist -> handler reload (SIGHUP), same PID $PID, 0 restarts"

# 4. No mail log file (a stock Debian 12 has no rsyslog): the role switches the agent to the journal
# (sgcluster_journal: auto) and reloads it. The sandboxed agent reads the journal as its user through
# group adm (the ACL systemd-tmpfiles gives the journal files at boot, done here by hand), and a
# Dovecot line forged by root from outside any mail unit is counted as untrusted, not as a failure.
inside systemd-tmpfiles --create --prefix=/run/log/journal || fail "systemd-tmpfiles for the journal"
rm "$P/var/log/mail.log"
play "$T/run4.log" "$ROOT/deploy/ansible/site.yml" --skip-tags packages,build || fail "run without a mail log failed"
grep -q '^journal = yes$' "$P/etc/sgcluster/sgagent.conf" || fail "no mail log, but the journal was not configured"
grep -q '^logs = ' "$P/etc/sgcluster/sgagent.conf" && fail "logs still configured beside the journal"
jstatus() {
    inside "$P/usr/local/bin/sgcluster" status --json > "$T/status4.json" &&
        python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if eval(sys.argv[2]) else 1)' "$T/status4.json" "$1"
}
wait_for 5 jstatus "d['reloads'] == $((R0 + 2)) and d['journal']['enabled']" ||
    { cat "$T/status4.json"; fail "the agent did not reload onto the journal"; }
inside journalctl -u sgagent.service -o cat --no-pager | grep -q 'no journal file readable' && fail "the agent cannot read the journal"
inside logger -t dovecot 'imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.77, lip=127.0.0.1, session=<forged>'
wait_for 5 jstatus "d['journal']['untrusted'] == 1" && jstatus "d['detect']['events'] == 0" ||
    { cat "$T/status4.json"; fail "the forged journal line was not counted as untrusted, or was counted"; }
echo "measured: no mail log -> journal = yes, reload, the sandboxed agent reads the journal through group adm; forged line untrusted"

# 5. Removal with the service steps.
play "$T/remove.log" "$ROOT/deploy/ansible/remove.yml" || { tail -30 "$T/remove.log"; fail "remove.yml failed"; }
echo "measured: removal $(deploy_recap "$T/remove.log" mx1)"
[ "$(inside systemctl is-active sgagent.service)" = active ] && fail "sgagent still active"
inside test -e /etc/systemd/system/sgagent.service && fail "unit file left"
inside test -e /etc/systemd/system/multi-user.target.wants/sgagent.service && fail "enable link left"
inside nft list table inet sgcluster >/dev/null 2>&1 && fail "nft table left"
left=$(find "$P" -mindepth 1 ! -type d ! -path "$P/var/log/mail.log")
[ -z "$left" ] || fail "files left behind: $left"
getent passwd "$SGUSER" >/dev/null && fail "user $SGUSER left behind"
echo "deploy systemd: enable/start, sandbox, idempotence, reload handler and removal OK under systemd"
exit 0
