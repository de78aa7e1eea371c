#!/bin/bash
# 95_package.sh: the Debian package. `make _deb` builds it in a copy of the tree (the checkout is
# left as it was), lintian finds no error; then, in a private mount, pid and network namespace
# whose "/" is an overlay over the host's (every write lands in a scratch upper directory), the
# Ansible role installs it (sgcluster_install_from: package): files, conffiles, user, directories;
# the agent runs from the installed unit as its user and makes its nft table; an upgrade to a
# higher version keeps edited conffiles; purge removes the table, state and user, and the upper
# directory then holds nothing the package left behind. Reuse a build: SG_PKG_DEBS=DIR (its *.deb).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=lib/wait.sh
. "$ROOT/tests/integration/lib/wait.sh"
fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }

# ---- inside the namespaces: bash 95_package.sh --inner T ----------------------------------------
inner() {
    T=$1
    O=$T/ov
    R=$O/root
    mount --make-rprivate / || fail "cannot make the mounts private"
    mkdir -p "$O" && mount -t tmpfs -o mode=0755 sgpkg "$O" || fail "tmpfs for the overlay"
    mkdir "$O/upper" "$O/work" "$R"
    mount -t overlay overlay -o "lowerdir=/,upperdir=$O/upper,workdir=$O/work" "$R" || fail "overlay over /"
    mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && mount -t tmpfs tmpfs "$R/run" \
        && mount -t tmpfs tmpfs "$R/tmp" || fail "cannot mount /proc, /dev, /run, /tmp in the overlay"
    ip link set lo up
    cp "$T"/debs/*.deb "$R/tmp/" && mkdir -p "$R/tmp/src" "$R/tmp/home" && cp -a "$T/src/deploy" "$R/tmp/src/" \
        || fail "cannot copy the packages and the playbook"
    # The mail log the agent follows (Debian's root:adm 0640); the test's own, removed at the end.
    : > "$R/var/log/sgpkg-test.log" && chown root:adm "$R/var/log/sgpkg-test.log" && chmod 0640 "$R/var/log/sgpkg-test.log"

    in_root() {
        chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp/home LANG=C.UTF-8 \
            DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 ANSIBLE_HOME=/tmp/home/.ansible \
            ANSIBLE_LOCAL_TEMP=/tmp/ansible ANSIBLE_REMOTE_TEMP=/tmp/ansible ANSIBLE_NOCOLOR=1 \
            ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks "$@"
    }
    cat > "$R/tmp/hosts.yml" <<EOF
sgcluster:
  hosts:
    mx1:
      ansible_connection: local
      ansible_python_interpreter: /usr/bin/python3
      sgcluster_address: 127.0.0.1
      sgcluster_install_from: package
      sgcluster_package_path: /tmp/$(basename "$T"/debs/old.deb)
      sgcluster_logs: [/var/log/sgpkg-test.log]
      sgcluster_journal: "no"
EOF

    # 1. The role installs the package (no systemd here: the service steps are left out).
    t0=$(now_ms)
    in_root ansible-playbook -i /tmp/hosts.yml /tmp/src/deploy/ansible/site.yml --skip-tags service \
        > "$T/play.log" 2>&1 || { tail -40 "$T/play.log"; fail "site.yml with sgcluster_install_from: package"; }
    echo "measured: site.yml installed the package in $(( $(now_ms) - t0 )) ms"
    in_root dpkg-query -W -f='${Status} ${Version}\n' sgcluster | grep -qx "install ok installed $VERSION" \
        || fail "the package is not installed at $VERSION"
    for f in /usr/sbin/sgagent /usr/bin/sgcluster /etc/sgcluster/rules.d/postfix.conf \
        /etc/sgcluster/scenarios.d/10-default.conf \
        /usr/share/man/man8/sgagent.8.gz /usr/share/man/man8/sgcluster.8.gz /usr/share/man/man5/sgagent.conf.5.gz \
        /usr/share/bash-completion/completions/sgcluster /lib/systemd/system/sgagent.service \
        /usr/share/doc/sgcluster/examples/sgcluster-policy.cf /usr/share/doc/sgcluster/examples/sgcluster.json; do
        [ -f "$R$f" ] || [ -f "$R$f.gz" ] || fail "$f not installed"
    done
    grep -qx 'ExecStart=/usr/sbin/sgagent -c /etc/sgcluster/sgagent.conf' "$R/lib/systemd/system/sgagent.service" \
        || fail "the unit does not start /usr/sbin/sgagent"
    conff=$(in_root dpkg-query -W -f='${Conffiles}\n' sgcluster | awk 'NF {print $1}')
    for f in /etc/sgcluster/sgagent.conf /etc/sgcluster/rules.d/dovecot.conf /etc/sgcluster/scenarios.d/10-default.conf; do
        grep -qx "$f" <<<"$conff" || fail "$f is not a conffile"
    done
    echo "measured: $(wc -l <<<"$conff") conffiles"
    [ -e "$R/etc/systemd/system/multi-user.target.wants/sgagent.service" ] && fail "the unit was enabled at install"
    in_root getent passwd sgcluster | grep -q ':/var/lib/sgcluster:/usr/sbin/nologin$' || fail "no system user sgcluster"
    in_root id -nG sgcluster | grep -qw adm || fail "sgcluster is not in group adm"
    [ "$(in_root stat -c '%U:%G %a' /var/lib/sgcluster)" = "sgcluster:sgcluster 750" ] || fail "state directory owner/mode"
    [ "$(in_root stat -c '%U:%G %a' /var/spool/postfix/sgcluster)" = "sgcluster:postfix 750" ] || fail "policy socket directory owner/mode"
    grep -q '^name = mx1' "$R/etc/sgcluster/sgagent.conf" || fail "the role did not write sgagent.conf"

    # 2. The agent from the installed unit, as its user, with CAP_NET_ADMIN only.
    in_root sgagent -n -c /etc/sgcluster/sgagent.conf | grep -q 'configuration OK' || fail "sgagent -n"
    nft add table inet sgpkg_other || fail "cannot add a table of someone else"
    "$ROOT/deploy/systemd/run-unit.sh" "$R/lib/systemd/system/sgagent.service" chroot "$R" > "$T/agent.log" 2>&1 &
    AGENT=$!
    wait_for 20 in_root sgcluster status >/dev/null 2>&1 || { cat "$T/agent.log"; fail "the installed agent does not answer"; }
    in_root sgcluster ban 192.0.2.7 --for 10m --reason sgpkg >/dev/null || fail "sgcluster ban"
    wait_for 10 sh -c 'nft list set inet sgcluster ban4 | grep -q 192.0.2.7' || fail "the ban is not in the kernel"
    grep -q "^Uid:.*$(in_root id -u sgcluster)" "$R/proc/$AGENT/status" || fail "the agent does not run as sgcluster"
    kill -TERM "$AGENT" && wait "$AGENT" || fail "the agent did not stop cleanly on SIGTERM"

    # 3. Upgrade to a higher version whose sgagent.conf changed too: the operator's files stay.
    echo "; the operator's line" >> "$R/etc/sgcluster/sgagent.conf"
    echo "; the operator's note" >> "$R/etc/sgcluster/scenarios.d/10-default.conf"
    in_root dpkg --force-confdef --force-confold -i /tmp/new.deb > "$T/upgrade.log" 2>&1 \
        || { cat "$T/upgrade.log"; fail "upgrade"; }
    in_root dpkg-query -W -f='${Version}\n' sgcluster | grep -qx "$VERSION+1" || fail "not upgraded to $VERSION+1"
    grep -q "^; the operator's line" "$R/etc/sgcluster/sgagent.conf" && grep -q '^name = mx1' "$R/etc/sgcluster/sgagent.conf" \
        || fail "the upgrade replaced the edited sgagent.conf"
    grep -q "^; the new version's line" "$R/etc/sgcluster/sgagent.conf.dpkg-dist" || fail "no sgagent.conf.dpkg-dist"
    grep -q "^; the operator's note" "$R/etc/sgcluster/scenarios.d/10-default.conf" || fail "the upgrade replaced an edited scenario file"
    echo "measured: upgrade $VERSION -> $VERSION+1 kept the edited sgagent.conf and scenarios.d/10-default.conf"

    # 4. Purge: table, state, keys, configuration and user gone, another table untouched.
    in_root dpkg --purge sgcluster > "$T/purge.log" 2>&1 || { cat "$T/purge.log"; fail "purge"; }
    nft list table inet sgcluster >/dev/null 2>&1 && fail "purge left table inet sgcluster"
    nft list table inet sgpkg_other >/dev/null 2>&1 || fail "purge touched another table"
    in_root getent passwd sgcluster >/dev/null && fail "purge left the user sgcluster"
    in_root getent group sgcluster >/dev/null && fail "purge left the group sgcluster"
    # The role's removal then finds nothing left to do.
    in_root ansible-playbook -i /tmp/hosts.yml /tmp/src/deploy/ansible/remove.yml --skip-tags service \
        > "$T/remove.log" 2>&1 || { tail -30 "$T/remove.log"; fail "remove.yml after the purge"; }
    grep -A3 '^PLAY RECAP' "$T/remove.log" | grep -q 'changed=0' || { tail -20 "$T/remove.log"; fail "remove.yml found leftovers"; }
    rm -f "$R/var/log/sgpkg-test.log"
    umount -l "$R/tmp" "$R/run" "$R/proc"

    # 5. What the upper directory still holds, against the host's "/": only what dpkg, apt and
    # adduser keep about any package (their databases, logs, the man-db cache, backup copies
    # of the user files).
    left=$(cd "$O/upper" && find . -mindepth 1 | sed 's|^\.||' | while read -r p; do
        case $p in
        /var/lib/dpkg|/var/lib/dpkg/*|/var/log/dpkg.log|/var/log/apt|/var/log/apt/*|/var/cache/apt|/var/cache/apt/*) continue ;;
        /var/cache/man|/var/cache/man/*|/var/cache/debconf|/var/cache/debconf/*|/etc/passwd-|/etc/group-|/etc/shadow-|/etc/gshadow-) continue ;;
        esac
        u=$O/upper$p
        case $p in
        # The host's own users may change while this runs (other tests): only ours must be gone.
        /etc/passwd|/etc/group|/etc/shadow|/etc/gshadow)
            grep -qE '(^|[:,])sgcluster(:|,|$)' "$u" && echo "sgcluster left in $p"
            continue ;;
        esac
        if [ -c "$u" ] && [ "$(stat -c '%t%T' "$u")" = 00 ]; then echo "deleted: $p"
        elif [ -L "$u" ]; then [ "$(readlink "$u")" = "$(readlink "$p" 2>/dev/null)" ] || echo "link: $p"
        elif [ -d "$u" ]; then [ -d "$p" ] || echo "new directory: $p"
        elif [ ! -e "$p" ]; then echo "new file: $p"
        elif ! cmp -s "$u" "$p"; then echo "changed: $p"
        fi
    done)
    [ -z "$left" ] || { echo "$left"; fail "files left behind after purge"; }
    [ -s "$O/upper/var/lib/dpkg/status" ] || fail "the overlay recorded nothing: the comparison would prove nothing"
    echo "measured: after install, run, upgrade and purge: $(cd "$O/upper" && find . -mindepth 1 | wc -l) entries in the overlay, none but dpkg's, apt's and the user files' own records"
    exit 0
}
if [ "${1:-}" = --inner ]; then
    VERSION=$3
    inner "$2"
fi

# ---- outside: build, lint, then the namespaces ----------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (mount namespace, overlay, nft)"
for c in dpkg-buildpackage dh fakeroot lintian unshare nft ansible-playbook setpriv chroot; do
    command -v "$c" >/dev/null || skip "$c not installed (deploy/deps.sh install package deploy test)"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || skip "no overlayfs in this kernel"
T=$(mktemp -d /tmp/sgpkg.XXXXXX) || exit 1
chmod 755 "$T"
trap '[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"' EXIT

if [ -n "${SG_PKG_DEBS:-}" ]; then
    mkdir -p "$T/deb" && cp "$SG_PKG_DEBS"/*.deb "$SG_PKG_DEBS"/*.changes "$SG_PKG_DEBS"/*.buildinfo "$T/deb/" \
        && tar -C "$ROOT" -cf - deploy | (mkdir -p "$T/deb/src" && tar -C "$T/deb/src" -xf -) || fail "SG_PKG_DEBS"
else
    before=$(git -C "$ROOT" status --porcelain --ignored 2>/dev/null)
    t0=$(now_ms)
    make -C "$ROOT" --no-print-directory _deb DEBBUILD="$T/deb" > "$T/build.log" 2>&1 \
        || { tail -40 "$T/build.log"; fail "make _deb"; }
    echo "measured: make _deb built the package in $(( ($(now_ms) - t0) / 1000 )) s"
    [ "$(git -C "$ROOT" status --porcelain --ignored 2>/dev/null)" = "$before" ] || fail "make _deb changed the checkout"
fi
deb=$(ls "$T"/deb/sgcluster_*.deb | grep -v dbgsym | head -n 1)
[ -f "$deb" ] || fail "no .deb"
VERSION=$(dpkg-deb -f "$deb" Version)
echo "measured: $(basename "$deb"), $(stat -c %s "$deb") bytes, Depends: $(dpkg-deb -f "$deb" Depends)"

lintian --fail-on error "$T"/deb/*.changes > "$T/lintian.log" 2>&1
rc=$?
grep -v 'running with root privileges' "$T/lintian.log"
[ "$rc" = 0 ] && ! grep -q '^E:' "$T/lintian.log" || fail "lintian reports errors"
echo "measured: lintian: 0 errors, $(grep -c '^W:' "$T/lintian.log") warnings"

# The upgrade: the same files as a higher version whose shipped sgagent.conf changed too.
mkdir -p "$T/debs" "$T/up" && cp "$deb" "$T/debs/old.deb" && dpkg-deb -R "$deb" "$T/up" || fail "cannot unpack the package"
sed -i "s/^Version: .*/Version: $VERSION+1/" "$T/up/DEBIAN/control"
echo "; the new version's line" >> "$T/up/etc/sgcluster/sgagent.conf"
dpkg-deb --build "$T/up" "$T/debs/new.deb" > /dev/null || fail "cannot build the upgrade"
mv "$T/deb/src" "$T/src"

t0=$(now_ms)
unshare --mount --net --pid --fork bash "$0" --inner "$T" "$VERSION" || fail "in the namespaces (above)"
echo "measured: install, run, upgrade, purge and the comparison took $(( $(now_ms) - t0 )) ms"
echo "package: built, lint clean, installed, upgraded and purged without a trace"
exit 0
