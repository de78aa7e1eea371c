#!/bin/sh
# deps.sh: install (or check for) the Debian packages sgcluster needs, by group, so that each make
# target installs what it needs and no more.
# Usage: deploy/deps.sh check GROUP...   -> exit 0 when every package of the groups is present,
#                                           1 otherwise (prints what is missing)
#        deploy/deps.sh install GROUP... -> apt-get install what is missing (root; idempotent)
#        deploy/deps.sh list GROUP...    -> the packages of the groups, one a line
# No GROUP means every group. The Makefile names the groups of each target: `make` build;
# `make test`, `make check` build test deploy package; `make demo` build test; `make fuzz` build
# fuzz; `make bench` build test bench; `make deb` build package.
set -u
# To add a package, add it to the group whose targets need it; a new group is one more
# variable here and one more word in the Makefile's DEPS_* line of the targets that need it.
# build: compiler, pkg-config and the libraries named in the README (what `make` links).
DEPS_build="build-essential pkg-config \
 libzmq3-dev libczmq-dev libmsgpack-dev libpcre2-dev libnftnl-dev libmnl-dev \
 libsodium-dev libinih-dev libsystemd-dev libmicrohttpd-dev libjansson-dev"
# test: the unit test framework and cppcheck, then real kernels, real daemons, real clients.
DEPS_test="libcmocka-dev cppcheck nftables iproute2 procps python3 curl swaks postfix \
 dovecot-imapd dovecot-pop3d util-linux psmisc prometheus"
# deploy: the Ansible role and its tests (part of `make test`): Ansible, systemd (a real PID 1 in
# a namespace) and groff (the man pages are checked).
DEPS_deploy="ansible ansible-lint systemd groff-base"
# fuzz: libFuzzer comes with clang.
DEPS_fuzz="clang libclang-rt-14-dev"
# bench: the peers compared against. Installing them starts their system services, so only
# `make bench` asks for this group.
DEPS_bench="sshguard fail2ban time"
# package: what `make deb` and the package test need (debhelper's dh, dpkg-buildpackage, lintian).
DEPS_package="debhelper dpkg-dev fakeroot lintian"
GROUPS_ALL="build test deploy package fuzz bench"
# Packages wanted for one tool only (prometheus: promtool, which checks the /metrics output):
# installed without their recommends (prometheus-node-exporter), their services neither started
# (a policy-rc.d refuses it, unless one is there already) nor enabled at boot.
TOOL_ONLY="prometheus"
TOOL_SERVICES="prometheus.service"

cmd=${1:-check}
[ $# -gt 0 ] && shift
groups=${*:-$GROUPS_ALL}
pkgs=""
for g in $groups; do
    case " $GROUPS_ALL " in
    *" $g "*) eval "pkgs=\"\$pkgs \$DEPS_$g\"" ;;
    *) echo "deps: no group '$g' (groups: $GROUPS_ALL)" >&2; exit 2 ;;
    esac
done

missing() {
    for p in $pkgs; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

case $cmd in
list)
    printf '%s\n' $pkgs ;;
check)
    m=$(missing)
    [ -z "$m" ] && exit 0
    echo "deps: missing packages:" $m >&2
    exit 1 ;;
install)
    m=$(missing)
    [ -z "$m" ] && { echo "deps: all packages present ($groups)"; exit 0; }
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages:" $m >&2
        echo "deps: run 'deploy/deps.sh install $groups' as root (or: sudo apt-get install" $m ")" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Postfix asks how to configure itself; sgcluster's tests write their own main.cf.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q || exit 1
    tool="" rest=""
    for p in $m; do
        case " $TOOL_ONLY " in *" $p "*) tool="$tool $p" ;; *) rest="$rest $p" ;; esac
    done
    # shellcheck disable=SC2086
    [ -z "$rest" ] || apt-get install -y -q $rest || exit 1
    if [ -n "$tool" ]; then
        guard=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d && guard=1
        fi
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $tool; rc=$?
        [ -z "$guard" ] || rm -f /usr/sbin/policy-rc.d
        [ "$rc" = 0 ] || exit 1
        for s in $TOOL_SERVICES; do
            systemctl disable --now "$s" >/dev/null 2>&1 || deb-systemd-helper disable "$s" >/dev/null 2>&1 || true
        done
    fi
    echo "deps: installed" $m ;;
*)
    echo "usage: $0 check|install|list [GROUP...]   (groups: $GROUPS_ALL)" >&2; exit 2 ;;
esac
