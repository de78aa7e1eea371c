#!/bin/bash
# 90_deploy_local.sh: the Ansible playbook applied to this machine (-c local, one node): build,
# key, configure; the agent started from the installed unit's command line answers
# `sgcluster status`; a second run changes nothing; remove.yml leaves nothing behind.
# Every path sits under a scratch prefix; ansible and the agent run inside a network namespace
# made here, so the nft table they create and delete is that namespace's, never the host's.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
DEPLOY_USER=sgd$$         # a throwaway system user, removed by remove.yml (and at exit)
# shellcheck source=lib/deploy.sh
. "$ROOT/tests/integration/lib/deploy.sh"
deploy_setup sgdeploy
P=$T/root                 # the node's "/"
NS=sgdep$$
SGUSER=$DEPLOY_USER
AGENT=""
SOCK=$P/run/sgcluster/control.sock
deploy_on_cleanup 'ip netns del "$NS"'
deploy_on_cleanup '[ -n "$AGENT" ] && kill "$AGENT" && wait "$AGENT"'

ip netns add "$NS" || fail "cannot create network namespace"
ip -n "$NS" link set lo up

# A frozen copy of the source: other work in the tree must not change it between the two runs.
mkdir -p "$T/src"
tar -C "$ROOT" -cf - Makefile common agent detect gossip enforce deploy | tar -C "$T/src" -xf - || fail "cannot copy the source"
PB=$T/src/deploy/ansible
deploy_log_file "$P/var/log/mail.log"

deploy_inventory1 "$T/hosts.yml" "$P" <<EOT
sgcluster_source_tar: $T/cache/src.tar
sgcluster_allowlist: [198.51.100.0/24]
sgcluster_scenarios:
  auth-ip: {threshold: 7, duration: 2h}
sgcluster_authpolicy_enabled: true
sgcluster_authpolicy_listen: "127.0.0.1:0"
sgcluster_authpolicy_api_key: deploy-test-key-0123456789
sgcluster_authpolicy_reports_only: true
EOT
# shellcheck disable=SC2034 # DEPLOY_WRAP is read by deploy_play (lib/deploy.sh)
DEPLOY_WRAP=(ip netns exec "$NS")
play() { deploy_play "$@"; }
recap() { deploy_recap "$1" mx1; }

# 1. First run: everything but the systemd steps (no systemd here).
t0=$(date +%s)
play "$T/run1.log" "$PB/site.yml" --skip-tags service || { tail -40 "$T/run1.log"; fail "first run failed"; }
t1=$(date +%s)
echo "measured: first run (packages, build, install, keys, config) $((t1 - t0)) s; $(recap "$T/run1.log")"

CONF=$P/etc/sgcluster/sgagent.conf
UNIT=$P/etc/systemd/system/sgagent.service
for f in "$P/usr/local/sbin/sgagent" "$P/usr/local/bin/sgcluster" "$CONF" "$UNIT" \
         "$P/usr/local/share/man/man8/sgagent.8" "$P/usr/local/share/man/man8/sgcluster.8" \
         "$P/usr/local/share/man/man5/sgagent.conf.5" "$P/etc/sgcluster/scenarios.d/10-default.conf" \
         "$P/etc/sgcluster/scenarios.d/50-ansible.conf" "$P/etc/sgcluster/keys/mx1.pub"; do
    [ -s "$f" ] || fail "not installed: $f"
done
ls "$P"/etc/sgcluster/rules.d/*.conf >/dev/null 2>&1 || fail "no rules installed"
[ "$(stat -c '%U %a' "$P/etc/sgcluster/keys/mx1.key")" = "$SGUSER 600" ] || fail "secret key not 0600 owned by $SGUSER"
[ "$(stat -c '%G %a' "$CONF")" = "$SGUSER 640" ] || fail "sgagent.conf not 0640 group $SGUSER"
id -nG "$SGUSER" | grep -qw adm || fail "$SGUSER is not in group adm"
grep -q "^control_socket = $SOCK\$" "$CONF" || fail "control socket not templated"
grep -q "^allowlist = 198.51.100.0/24\$" "$CONF" || fail "allowlist not templated"
grep -q "^threshold = 7\$" "$P/etc/sgcluster/scenarios.d/50-ansible.conf" || fail "scenario override not written"
grep -q "^ExecStart=$P/usr/local/sbin/sgagent -c $CONF\$" "$UNIT" || fail "unit ExecStart not rewritten to the prefix"
grep -q "^User=$SGUSER\$" "$UNIT" || fail "unit User= not set"
grep -q "^api_key_file = $P/etc/sgcluster/authpolicy.key\$" "$CONF" || fail "[authpolicy] not templated"
[ "$(stat -c '%U %G %a' "$P/etc/sgcluster/authpolicy.key")" = "root $SGUSER 640" ] || fail "authpolicy.key not 0640 root:$SGUSER"
[ "$(cat "$P/etc/sgcluster/authpolicy.key")" = deploy-test-key-0123456789 ] || fail "authpolicy.key does not hold the key"
grep -q "^log_auth_lines = no\$" "$CONF" || fail "sgcluster_authpolicy_reports_only did not set log_auth_lines = no"
"$P/usr/local/sbin/sgagent" -n -c "$CONF" | grep -q "configuration OK" || fail "installed config does not check"

# 2. Start the agent as systemd would (RuntimeDirectory= made by hand), in the namespace, with
# a notify socket and a watchdog interval: Type=notify and WatchdogSec= must work.
install -d -o "$SGUSER" -g "$SGUSER" -m 0750 "$P/run/sgcluster"
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", 0) as f:
    while True:
        f.write(s.recv(4096).replace(b"\n", b" ") + b"\n")' "$T/notify.sock" "$T/notify.log" &
# shellcheck disable=SC2034 # NOTIFYD is used by the cleanup hook
NOTIFYD=$!
deploy_on_cleanup 'kill "$NOTIFYD"'
notified() { # PATTERN [COUNT]: the agent sent PATTERN at least COUNT times
    [ "$(grep -c "$1" "$T/notify.log" 2>/dev/null)" -ge "${2:-1}" ]
}
wait_for 5 test -S "$T/notify.sock" || fail "notify listener did not start"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=1000000 \
    "$PB/../systemd/run-unit.sh" "$UNIT" ip netns exec "$NS" > "$T/agent.log" 2>&1 &
AGENT=$!
answers_or_died() {
    "$P/usr/local/bin/sgcluster" status --json -s "$SOCK" > "$T/status.json" 2>/dev/null || ! kill -0 "$AGENT" 2>/dev/null
}
wait_for 10 answers_or_died && [ -s "$T/status.json" ] || { tail -20 "$T/agent.log"; fail "sgcluster status does not answer"; }
python3 - "$T/status.json" <<'EOT' || fail "status does not show the templated node"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["node"] == "mx1", s
assert s["kernel"]["backend"] == "nft" and s["kernel"]["table"], s["kernel"]
assert s["healthy"], s
EOT
[ "$(ps -o user= -p "$AGENT")" = "$SGUSER" ] || fail "agent does not run as $SGUSER"
# The auth-policy service the role enabled answers Dovecot's requests with the role's key.
apport=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["authpolicy"]["port"])' "$T/status.json")
ans=$(ip netns exec "$NS" curl -s -X POST -H 'X-API-Key: deploy-test-key-0123456789' \
    --data-binary '{"login":"alice","remote":"203.0.113.7","protocol":"imap"}' "http://127.0.0.1:$apport/?command=allow")
[ "$ans" = '{"status":0,"msg":""}' ] || fail "auth-policy service on port $apport answered '$ans'"
grep -q '^CapEff:[[:space:]]*0000000000001000$' "/proc/$AGENT/status" || fail "agent has capabilities other than CAP_NET_ADMIN"
ip netns exec "$NS" nft list table inet sgcluster >/dev/null 2>&1 || fail "agent made no nft table"
echo "measured: agent from the unit's command line answers status as $SGUSER with CapEff=CAP_NET_ADMIN"
wait_for 5 notified READY=1 || fail "no READY=1 on \$NOTIFY_SOCKET (Type=notify)"
wait_for 5 notified WATCHDOG=1 2 || fail "no WATCHDOG=1 pings with WATCHDOG_USEC=1s"
# systemctl reload (the role's handler) is SIGHUP: RELOADING=1, then READY=1 again.
kill -HUP "$AGENT"
wait_for 5 notified RELOADING=1 || fail "no RELOADING=1 after SIGHUP"
wait_for 5 notified READY=1 2 || fail "no READY=1 after the reload"
"$P/usr/local/bin/sgcluster" status --json -s "$SOCK" | grep -q '"reloads":1,"reload_errors":0' || fail "reload not counted by status"
echo "measured: notify protocol READY=1, WATCHDOG=1 every <=1s, SIGHUP -> RELOADING=1 + READY=1"

# 3. Second run: nothing may change (what molecule's idempotence step checks).
play "$T/run2.log" "$PB/site.yml" --skip-tags service || { tail -40 "$T/run2.log"; fail "second run failed"; }
r=$(recap "$T/run2.log")
echo "measured: second run $r"
case $r in *" changed=0 "*" failed=0 "*) ;; *) grep -B2 -A6 '^changed:' "$T/run2.log" | head -60; fail "second run is not idempotent: $r" ;; esac

# 4. Removal: the agent is stopped (systemd would; here we do), then remove.yml.
kill -TERM "$AGENT"
wait "$AGENT" || fail "agent exited with status $? on SIGTERM"
AGENT=""
notified STOPPING=1 || fail "no STOPPING=1 on SIGTERM"
play "$T/remove.log" "$PB/remove.yml" --skip-tags service || { tail -40 "$T/remove.log"; fail "remove.yml failed"; }
echo "measured: removal $(recap "$T/remove.log")"
ip netns exec "$NS" nft list table inet sgcluster >/dev/null 2>&1 && fail "nft table inet sgcluster left behind"
left=$(find "$P" -mindepth 1 ! -type d ! -path "$P/var/log/mail.log")
[ -z "$left" ] || fail "files left behind: $left"
for d in etc/sgcluster var/lib/sgcluster run/sgcluster var/cache/sgcluster; do
    [ -e "$P/$d" ] && fail "directory left behind: $P/$d"
done
getent passwd "$SGUSER" >/dev/null && fail "user $SGUSER left behind"
getent group "$SGUSER" >/dev/null && fail "group $SGUSER left behind"
play "$T/remove2.log" "$PB/remove.yml" --skip-tags service || fail "second removal failed"
case $(recap "$T/remove2.log") in *" changed=0 "*) ;; *) fail "second removal changed something" ;; esac
echo "deploy local: install, status, idempotent re-run and removal OK"
exit 0
