#!/bin/sh
# 92_deploy_lint.sh: the deployment files are clean: playbooks pass --syntax-check and
# ansible-lint (production profile, offline), the unit's systemd-analyze exposure stays at or
# below 2.5, the man pages format without groff warnings, the helper scripts pass sh -n.
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
A=$ROOT/deploy/ansible
command -v ansible-playbook >/dev/null || { echo "skip: ansible not installed (apt-get install ansible ansible-lint)"; exit 77; }
command -v ansible-lint >/dev/null || { echo "skip: ansible-lint not installed (apt-get install ansible-lint)"; exit 77; }
T=$(mktemp -d /tmp/sgdeploylint.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
export ANSIBLE_LOCAL_TEMP=$T ANSIBLE_NOCOLOR=1 NO_COLOR=1
fail() { echo "FAIL: $*"; exit 1; }

for pb in site.yml remove.yml; do
    (cd "$A" && ansible-playbook -i inventory/hosts.example.yml --syntax-check "$pb") > "$T/syntax.log" 2>&1 \
        || { cat "$T/syntax.log"; fail "$pb: syntax check"; }
done
(cd "$A" && ansible-lint --offline -p site.yml remove.yml roles/sgcluster) > "$T/lint.log" 2>&1 \
    || { cat "$T/lint.log"; fail "ansible-lint"; }
echo "measured: ansible-lint $(grep -o 'Passed with [a-z]* profile' "$T/lint.log" || echo passed)"

if command -v systemd-analyze >/dev/null; then
    # --offline reads the file alone; the score is out of 10 (lower is better), threshold x10.
    systemd-analyze security --offline=true --threshold=25 "$ROOT/deploy/systemd/sgagent.service" > "$T/sec.log" 2>&1 \
        || { tail -5 "$T/sec.log"; fail "unit exposure above 2.5"; }
    echo "measured: systemd-analyze security sgagent.service exposure $(sed -n 's/.*exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p' "$T/sec.log")"
fi

for m in "$ROOT"/deploy/man/*.[58]; do
    groff -mdoc -ww -z -t "$m" > "$T/groff.log" 2>&1 || fail "groff: $m"
    [ -s "$T/groff.log" ] && { cat "$T/groff.log"; fail "groff warnings in $m"; }
done
sh -n "$ROOT/deploy/systemd/run-unit.sh" || fail "run-unit.sh syntax"
# run-unit.sh must reproduce the unit's user, groups and capability set.
line=$("$ROOT/deploy/systemd/run-unit.sh" -p "$ROOT/deploy/systemd/sgagent.service")
case $line in
"setpriv --reuid=sgcluster --regid=sgcluster --no-new-privs --groups=adm --inh-caps=-all,+net_admin"*"-- /usr/local/sbin/sgagent -c /etc/sgcluster/sgagent.conf") ;;
*) fail "run-unit.sh: unexpected command line: $line" ;;
esac
echo "deploy lint: playbooks, role, unit and man pages clean"
exit 0
