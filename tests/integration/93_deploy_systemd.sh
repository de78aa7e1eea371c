#!/bin/bash
# 93_deploy_systemd.sh: the playbook WITH its service steps, against a real systemd. This
# machine's PID 1 is not systemd, so the test boots one as PID 1 of its own namespaces (pid,
# mount, network, cgroup, uts, ipc; tmpfs over /run, /tmp, /etc/systemd/system, a cgroup subtree
# of its own) with a target that pulls in nothing. Then: site.yml enables and starts sgagent
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
SD=""
CG=sgdeploy$$
# shellcheck source=lib/deploy.sh
. "$ROOT/tests/integration/lib/deploy.sh"
# Not under /tmp or /var/tmp (the unit's PrivateTmp= would hide it from the agent), and not under
# the build directory either, which may itself be in /tmp (a clone there, as CI may make).
deploy_setup /srv/sgdeploysd
[ -x "$BIN/sgagent" ] && [ -x "$BIN/sgcluster" ] || { echo "skip: no sgagent/sgcluster in $BIN (run make first)"; exit 77; }
[ -x /lib/systemd/systemd ] || { echo "skip: systemd is not installed"; exit 77; }
for h in systemd unified; do
    [ -d "/sys/fs/cgroup/$h" ] || { echo "skip: needs the cgroup hierarchies /sys/fs/cgroup/systemd and unified"; exit 77; }
done

sd_gone() { ! kill -0 "$SD" 2>/dev/null; }
stop_systemd() {
    # SIGKILL to a namespace's PID 1 ends every process in it; then the cgroups go, leaves first.
    [ -n "$SD" ] && kill -KILL "$SD" 2>/dev/null
    [ -z "$SD" ] || wait_for 5 sd_gone
    find "/sys/fs/cgroup/systemd/$CG" "/sys/fs/cgroup/unified/$CG" -depth -type d -exec rmdir {} \; 2>/dev/null
    SD=""
}
deploy_on_cleanup stop_systemd
P=$T/root
deploy_log_file "$P/var/log/mail.log"

cat > "$T/boot.sh" <<'EOT'
#!/bin/bash
# Runs as PID 1 of the new namespaces, then becomes systemd.
set -e
# The checkout and the test's own directory may lie under a directory replaced by tmpfs below
# (a clone in /tmp, as CI may make): they are held on a namespace-local tmpfs over /mnt and bound
# back to the same paths afterwards.
keep=()
while IFS= read -r p; do
    case $p in /run/*|/tmp/*|/var/tmp/*|/var/lib/*|/var/log/*) keep+=("$p") ;; esac
done < "$(dirname "$0")/keep-paths"
if [ ${#keep[@]} -gt 0 ]; then
    mount -t tmpfs -o mode=755 tmpfs /mnt
    for i in "${!keep[@]}"; do mkdir -p "/mnt/k$i"; mount --bind "${keep[$i]}" "/mnt/k$i"; done
fi
# Everything systemd or the unit would write outside the test's prefix lands in tmpfs: the
# runtime and state directories, PrivateTmp's directories, the journal, unit links.
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs -o mode=755 tmpfs /var/lib
mount -t tmpfs -o mode=755 tmpfs /var/log
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
for i in "${!keep[@]}"; do mkdir -p "${keep[$i]}"; mount --bind "/mnt/k$i" "${keep[$i]}"; done
mkdir -p /run/systemd/system
printf '[Unit]\nDescription=sgcluster deployment test\nDefaultDependencies=no\nWants=systemd-journald.socket\n' \
    > /run/systemd/system/sgtest.target
# multi-user.target (the unit's WantedBy=) pulls in nothing here either.
printf '[Unit]\nDescription=multi-user (test)\nDefaultDependencies=no\n' > /etc/systemd/system/multi-user.target
# The unit's default dependencies would pull in sysinit.target: a whole boot (udev, sysctl,
# sysusers, tmpfiles) acting on this machine's shared /sys, /proc/sys and /etc. Only they go:
# the unit's own settings, sandbox and all, are what the test runs.
# LeakSanitizer (make check's sanitizer build) needs ptrace, which the unit's filter denies.
mkdir -p /run/systemd/system/sgagent.service.d
printf '[Unit]\nDefaultDependencies=no\n[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0\n' \
    > /run/systemd/system/sgagent.service.d/test.conf
ip link set lo up
exec env -i container=sgtest PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=sgtest.target --log-target=console --show-status=no
EOT
# What must stay visible inside (parents first, so a nested path is bound over its parent).
printf '%s\n' "$ROOT" "$BUILD" "$BIN" "$T" > "$T/keep-paths"
mkdir "/sys/fs/cgroup/systemd/$CG" "/sys/fs/cgroup/unified/$CG" || fail "cannot make cgroups"
(
    echo "$BASHPID" > "/sys/fs/cgroup/systemd/$CG/cgroup.procs"
    echo "$BASHPID" > "/sys/fs/cgroup/unified/$CG/cgroup.procs"
    exec unshare --pid --mount --net --cgroup --uts --ipc --fork --mount-proc bash "$T/boot.sh"
) > "$T/systemd.log" 2>&1 &
UNSHARE=$!
sd_started() { SD=$(pgrep -P "$UNSHARE" 2>/dev/null | head -n 1); [ -n "$SD" ]; }
wait_for 10 sd_started || { cat "$T/systemd.log"; fail "systemd did not start"; }
inside() { nsenter -t "$SD" -m -p -n -u -i "$@"; }
running() { [ "$(inside systemctl is-system-running 2>/dev/null)" = running ]; }
wait_for 10 running || { cat "$T/systemd.log"; echo "skip: systemd does not boot in a namespace here"; exit 77; }
echo "measured: systemd $(inside systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p') is PID 1 of the test namespaces"

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

# 4. Removal with the service steps.
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
