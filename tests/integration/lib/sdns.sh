# sdns.sh: a real systemd as PID 1 of namespaces of its own, for tests that need one (this machine's
# PID 1 is not systemd). Sourced by bash scripts that define fail().
#
#   sdns_boot DIR PATH...   boot it: new pid, mount, network, cgroup, uts and ipc namespaces; tmpfs over
#                           /run, /tmp, /var/tmp, /var/lib, /var/log, /etc/systemd/system and /dev (a
#                           few device nodes bound back, so nothing systemd makes there, such as the
#                           /dev/log link, reaches this machine's /dev); a cgroup subtree of its own;
#                           a target that pulls in nothing but journald. The PATHs (and DIR) stay
#                           visible inside. Sets SDNS_PID (PID 1's pid out here). Exits 77 (skip)
#                           when systemd cannot boot here. Lines in SDNS_SETUP run just before
#                           systemd starts (unit files under /run/systemd/system, drop-ins).
#   sdns_in CMD...          run CMD inside (every namespace but the cgroup one)
#   sdns_stop               kill it (and everything in it), remove its cgroups
#   sdns_version            systemd's version number inside
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

SDNS_PID=""
SDNS_CG=sgsd$$
SDNS_SETUP=${SDNS_SETUP:-}

sdns_in() { nsenter -t "$SDNS_PID" -m -p -n -u -i "$@"; }
sdns_version() { sdns_in systemctl --version | sed -n '1s/systemd \([0-9]*\).*/\1/p'; }
_sdns_running() { [ "$(sdns_in systemctl is-system-running 2>/dev/null)" = running ]; }
_sdns_gone() { ! kill -0 "$SDNS_PID" 2>/dev/null; }
_sdns_started() { SDNS_PID=$(pgrep -P "$_SDNS_UNSHARE" 2>/dev/null | head -n 1); [ -n "$SDNS_PID" ]; }

sdns_stop() {
    # SIGKILL to a namespace's PID 1 ends every process in it; then the cgroups go, leaves first.
    [ -n "$SDNS_PID" ] && kill -KILL "$SDNS_PID" 2>/dev/null
    [ -z "$SDNS_PID" ] || wait_for 5 _sdns_gone
    find "/sys/fs/cgroup/systemd/$SDNS_CG" "/sys/fs/cgroup/unified/$SDNS_CG" -depth -type d -exec rmdir {} \; 2>/dev/null
    SDNS_PID=""
}

sdns_boot() { # DIR PATH...
    local dir=$1 h
    shift
    [ -x /lib/systemd/systemd ] || { echo "skip: systemd is not installed"; exit 77; }
    for h in systemd unified; do
        [ -d "/sys/fs/cgroup/$h" ] || { echo "skip: needs the cgroup hierarchies /sys/fs/cgroup/systemd and unified"; exit 77; }
    done
    cat > "$dir/boot.sh" <<'EOT'
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
# Everything systemd or a unit would write outside the test's directories lands in tmpfs: the
# runtime and state directories, PrivateTmp's directories, the journal, unit links, /dev/log.
mount -t tmpfs -o mode=755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mount -t tmpfs -o mode=755 tmpfs /var/lib
mount -t tmpfs -o mode=755 tmpfs /var/log
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
mkdir /run/hostdev
mount --rbind /dev /run/hostdev
mount -t tmpfs -o mode=755 tmpfs /dev
for d in null zero full random urandom tty ptmx console; do
    [ -e "/run/hostdev/$d" ] || continue
    touch "/dev/$d"; mount --bind "/run/hostdev/$d" "/dev/$d"
done
mkdir /dev/pts /dev/shm
mount --bind /run/hostdev/pts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
ln -s /proc/self/fd /dev/fd
umount -l /run/hostdev
mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
for i in "${!keep[@]}"; do mkdir -p "${keep[$i]}"; mount --bind "/mnt/k$i" "${keep[$i]}"; done
mkdir -p /run/systemd/system
printf '[Unit]\nDescription=sgcluster test\nDefaultDependencies=no\nWants=systemd-journald.socket\n' \
    > /run/systemd/system/sgtest.target
. "$(dirname "$0")/setup.sh"
ip link set lo up
exec env -i container=sgtest PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    /lib/systemd/systemd --system --unit=sgtest.target --log-target=console --show-status=no
EOT
    printf '%s\n' "$SDNS_SETUP" > "$dir/setup.sh"
    # What must stay visible inside (parents first, so a nested path is bound over its parent).
    printf '%s\n' "$@" "$dir" > "$dir/keep-paths"
    mkdir "/sys/fs/cgroup/systemd/$SDNS_CG" "/sys/fs/cgroup/unified/$SDNS_CG" || fail "cannot make cgroups"
    (
        echo "$BASHPID" > "/sys/fs/cgroup/systemd/$SDNS_CG/cgroup.procs"
        echo "$BASHPID" > "/sys/fs/cgroup/unified/$SDNS_CG/cgroup.procs"
        exec unshare --pid --mount --net --cgroup --uts --ipc --fork --mount-proc bash "$dir/boot.sh"
    ) > "$dir/systemd.log" 2>&1 &
    _SDNS_UNSHARE=$!
    wait_for 10 _sdns_started || { cat "$dir/systemd.log"; fail "systemd did not start"; }
    wait_for 10 _sdns_running || { cat "$dir/systemd.log"; echo "skip: systemd does not boot in a namespace here"; exit 77; }
}
