#!/bin/sh
# deps.sh: install (or check for) every Debian package sgcluster needs to build, test, bench and demo.
# Usage: deploy/deps.sh check   -> exit 0 when everything is present, 1 otherwise (prints what is missing)
#        deploy/deps.sh install -> apt-get install what is missing (root; idempotent)
set -u
# Build: compiler, pkg-config and the libraries named in the README.
BUILD_PKGS="build-essential pkg-config clang libclang-rt-14-dev cppcheck \
 libzmq3-dev libczmq-dev libmsgpack-dev libpcre2-dev libnftnl-dev libmnl-dev \
 libsodium-dev libinih-dev libcmocka-dev"
# Tests and demo: real kernels, real daemons, real clients.
TEST_PKGS="nftables iproute2 procps python3 curl swaks postfix dovecot-imapd dovecot-pop3d \
 util-linux psmisc"
# Benchmarks run the peers side by side; deployment tests need Ansible, systemd (a real PID 1 in a
# namespace) and groff (the man pages are checked).
BENCH_PKGS="sshguard fail2ban time"
DEPLOY_PKGS="ansible ansible-lint systemd groff-base"
ALL="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS $DEPLOY_PKGS"

missing() {
    for p in $ALL; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

case "${1:-check}" in
check)
    m=$(missing)
    [ -z "$m" ] && exit 0
    echo "deps: missing packages:" $m >&2
    exit 1 ;;
install)
    m=$(missing)
    [ -z "$m" ] && { echo "deps: all packages present"; exit 0; }
    if [ "$(id -u)" != 0 ]; then
        echo "deps: missing packages:" $m >&2
        echo "deps: run 'make deps' as root (or: sudo apt-get install" $m ")" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Postfix asks how to configure itself; sgcluster's tests write their own main.cf.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get update -q || exit 1
    # shellcheck disable=SC2086
    apt-get install -y -q $m || exit 1
    echo "deps: installed" $m ;;
*)
    echo "usage: $0 check|install" >&2; exit 2 ;;
esac
