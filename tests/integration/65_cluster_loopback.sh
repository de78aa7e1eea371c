#!/bin/sh
# Three real sgagent processes gossiping over real ZeroMQ sockets on loopback (dry-run backend):
# an attack spread over the nodes is counted cluster-wide and banned everywhere; operator bans,
# unbans and holds reach every node; a threshold crossed in merges is decided by one node, and
# by the others when that one refuses or is stopped; a ban from a peer on an address a node allowlists is refused
# there; a node killed with SIGKILL or stopped with SIGSTOP catches up when it returns.
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
SG_BIN=${SG_BIN:?}; SG_ROOT=${SG_ROOT:?}
. "$SG_ROOT/tests/integration/lib/cluster.sh"
T=$(mktemp -d)
cleanup() { kill -CONT "${CLUSTER_PID[@]}" 2>/dev/null; cluster_stop_all; [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for i in 1 2 3; do echo "--- n$i"; tail -15 "$T/n$i/agent.log"; done; exit 1; }
ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
wait_all() { # SECONDS DESCRIPTION CMD-with-%i
    local secs=$1 what=$2 tmpl=$3 deadline i ok
    deadline=$(( $(ms) + secs * 1000 ))
    while :; do
        ok=1
        for i in 1 2 3; do eval "${tmpl//%i/$i}" || { ok=0; break; }; done
        [ $ok = 1 ] && return 0
        [ "$(ms)" -ge $deadline ] && fail "$what (after ${secs}s)"
        sleep 0.05
    done
}

cluster_init 3 "$T" || fail "init"
# n2 and n3 protect 203.0.113.66; n1 (a misconfigured or hostile peer) does not.
cluster_conf 2 enforce "allowlist = 203.0.113.66"
# n3's never-ban rule also covers 198.19.0.0/16: crossings there that n3 decides, it refuses.
cluster_conf 3 enforce "allowlist = 203.0.113.66, 198.19.0.0/16"
for i in 1 2 3; do : > "$T/n$i/mail.log"; done
for i in 1 2 3; do cluster_start $i || fail "start n$i"; done
wait_all 15 "cluster not healthy" 'cluster_healthy %i'
echo "measured: 3 agents healthy"

# An attack spread over the three nodes: 4 failures on each (threshold 10 cluster-wide, per node never).
now() { date -u '+%b %e %H:%M:%S'; }
t0=$(ms)
for k in 1 2 3 4; do
  for i in 1 2 3; do
    echo "$(now) mx$i dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<alice>, method=PLAIN, rip=203.0.113.10, lip=10.0.0.$i, TLS, session=<s$k$i>" >> "$T/n$i/mail.log"
  done
done
wait_all 10 "spread attack not banned on every node" 'cluster_has_ban %i ip:203.0.113.10'
echo "measured: spread attack (4+4+4 failures) banned on all 3 nodes $(( $(ms) - t0 )) ms after the first failure"
for i in 1 2 3; do
  [ "$(cluster_status_field $i 'd["kernel"]["set4"]')" -ge 1 ] || fail "n$i: ban not in its (dry-run) set"
done
grep -h "decided here" "$T"/n*/agent.log | grep -q "ip:203.0.113.10" || fail "no node logged the decision"

# Crossings seen only through merges have one decider each (docs/agent.md). burst NET N NODE...:
# addresses NET.K.9 (K < N; one /24 and one user each, so no prefix or account rule joins in) fail
# 5 times in each NODE's log, every log written at once: each node counts its own failures before
# the others' arrive, and the threshold (10) is crossed in merges, on every node at about once.
burst() {
    python3 - "$@" <<'PY'
import os, sys, time
net, n, nodes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
stamp = time.strftime("%b %e %H:%M:%S", time.gmtime())
out = []
for i in nodes:
    lines = ["%s mx%s dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u%d@example.jp>, "
             "method=PLAIN, rip=%s.%d.9, lip=10.0.0.%s, TLS, session=<b%s%s%d%d>\n" % (stamp, i, k, net, k, i, net, i, k, r)
             for k in range(n) for r in range(5)]
    out.append((os.open(os.environ["T"] + "/n%s/mail.log" % i, os.O_WRONLY | os.O_APPEND), "".join(lines).encode()))
for fd, data in out:
    os.write(fd, data)
PY
}
burst_keys() { local k; for k in $(seq 0 $(($2 - 1))); do printf "ip:%s.%d.9 " "$1" "$k"; done; }
export T
t0=$(ms)
burst 198.18 20 1 2
keys=$(burst_keys 198.18 20)
wait_all 15 "merge-crossed bans not on every node" "cluster_has_ban %i $keys"
for i in 1 2 3; do cluster_ban_authors $i $keys > "$T/authors$i"; done
for k in $keys; do
    d=$(cluster_deciders "$k")
    [ "$(echo "$d" | wc -w)" = 1 ] || fail "$k decided by $(echo $d) (one decider expected)"
    for i in 1 2 3; do grep -qxF "$k $d" "$T/authors$i" || fail "n$i: the ban of $k is not $d's"; done
done
deferred() { cluster_status_field "$1" 'd["evaluation"]["deferred"]'; }
echo "measured: 20 addresses crossed in merges banned everywhere, one decider each, in $(( $(ms) - t0 )) ms" \
     "(deferred to their decider: n1 $(deferred 1), n2 $(deferred 2), n3 $(deferred 3))"

# A decider whose ban never comes: 30 addresses in 198.19.0.0/16 fail 5 times on n1, then, once n3
# counts them, 5 times on n3, whose never-ban rule refuses them: n1 and n2 see the crossing in n3's
# merge only; those n3 decides, they take over at their deadline. All are banned on n1 and n2.
taken() { cluster_status_field "$1" 'd["evaluation"]["taken_over"]'; }
t0=$(ms)
burst 198.19 30 1
wait_all 15 "n3 did not count n1's failures" '[ %i != 3 ] || [ "$(cluster_count 3 198.19.29.9 auth-ip)" -ge 5 ]'
burst 198.19 30 3
keys=$(burst_keys 198.19 30)
wait_all 120 "n1 and n2 did not ban all 30 addresses n3 refuses" "[ %i = 3 ] || cluster_has_ban %i $keys"
echo "measured: n1 and n2 banned all 30 in $(( $(ms) - t0 )) ms, taken over from n3: n1 $(taken 1), n2 $(taken 2)"
[ $(( $(taken 1) + $(taken 2) )) -ge 1 ] || fail "no crossing n3 decides and refuses was taken over"

# The decider gone: n3 stopped, 30 more addresses fail on n1 and n2: they ban all of them (those n3
# decides at their deadline if n3 still counted as alive when they crossed, at once if not).
kill -STOP "${CLUSTER_PID[3]}"
t0=$(ms)
burst 198.20 30 1 2
keys=$(burst_keys 198.20 30)
wait_all 60 "n1 and n2 did not ban all 30 addresses with n3 stopped" "[ %i = 3 ] || cluster_has_ban %i $keys"
echo "measured: with n3 stopped, n1 and n2 banned all 30 in $(( $(ms) - t0 )) ms (taken over, all told: n1 $(taken 1), n2 $(taken 2))"
kill -CONT "${CLUSTER_PID[3]}"
wait_all 15 "n3 did not catch up after SIGCONT" "cluster_has_ban %i $keys"
wait_all 15 "cluster not healthy after SIGCONT" 'cluster_healthy %i'

# Operator ban on n1, unban on n3, hold on n2: every node follows.
sgc 1 ban 203.0.113.20 --for 1h --reason "operator test" >/dev/null || fail "ban"
t0=$(ms)
wait_all 5 "operator ban did not reach every node" 'cluster_has_ban %i ip:203.0.113.20'
echo "measured: operator ban on n1 visible on all nodes in $(( $(ms) - t0 )) ms"
sgc 3 unban 203.0.113.20 >/dev/null || fail "unban"
wait_all 5 "unban did not reach every node" '! cluster_has_ban %i ip:203.0.113.20'
sgc 2 hold mallory@example.jp >/dev/null || fail "hold"
wait_all 5 "hold did not reach every node" 'cluster_has_ban %i user:mallory@example.jp'

# A ban from a peer on an address n2 and n3 allowlist: stored everywhere, enforced only on n1.
before2=$(cluster_status_field 2 'd["kernel"]["set4"]')
declare -A refused_before=()   # n3 refused the 198.19.0.0/16 bans above already
for i in 2 3; do refused_before[$i]=$(cluster_status_field $i 'd["enforce"]["refused_by_guard"]'); done
sgc 1 ban 203.0.113.66 >/dev/null || fail "n1 refused to ban 203.0.113.66"
wait_all 5 "record of the allowlisted ban did not travel" 'cluster_has_ban %i ip:203.0.113.66'
refused() { [ "$(cluster_status_field "$1" 'd["enforce"]["refused_by_guard"]')" -gt "${refused_before[$1]}" ]; }
wait_all 5 "n2 and n3 did not refuse the allowlisted ban" '[ %i = 1 ] || refused %i'
[ "$(cluster_status_field 2 'd["kernel"]["set4"]')" = "$before2" ] || fail "n2 enforced an allowlisted address"
grep -q "203.0.113.66" "$T/n2/agent.log" || fail "n2 did not log the refusal"

# SIGKILL n3; a ban while it is down; it restarts with a new epoch and catches up.
cluster_kill 3 KILL
sgc 1 ban 203.0.113.30 >/dev/null || fail "ban while n3 down"
wait_all 5 "n1/n2 missing ban" '[ %i = 3 ] || cluster_has_ban %i ip:203.0.113.30'
cluster_start 3 || fail "restart n3"
t0=$(ms)
wait_all 15 "restarted n3 did not catch up" 'cluster_has_ban %i ip:203.0.113.30'
echo "measured: n3 restarted after SIGKILL caught up in $(( $(ms) - t0 )) ms"
cluster_has_ban 3 ip:203.0.113.10 || fail "n3 lost the attack ban across SIGKILL"

# SIGSTOP n2 (cut off); n1 sees it go suspect; a ban meanwhile; SIGCONT: it converges.
kill -STOP "${CLUSTER_PID[2]}"
wait_all 10 "n1 did not notice n2 stopped" '[ %i != 1 ] || ! cluster_healthy 1'
sgc 1 ban 203.0.113.40 >/dev/null || fail "ban while n2 stopped"
kill -CONT "${CLUSTER_PID[2]}"
t0=$(ms)
wait_all 15 "n2 did not converge after SIGCONT" 'cluster_has_ban %i ip:203.0.113.40'
wait_all 15 "cluster not healthy again" 'cluster_healthy %i'
echo "measured: n2 converged $(( $(ms) - t0 )) ms after SIGCONT"
echo "cluster loopback checks passed"
