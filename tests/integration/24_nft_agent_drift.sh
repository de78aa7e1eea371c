#!/bin/sh
# 24_nft_agent_drift.sh: kernel equals state, with a real sgagent and real nft in a namespace made
# here. Two addresses banned, then a short prefix ban covering them: when the prefix expires (and
# again when one is lifted by unban) both addresses are back in the kernel set, with `bans` and
# `status` agreeing. An element deleted by hand is put back by the drift check, one added by hand
# is deleted, a table deleted by hand comes back, and `status` counts the repairs.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require
BIN=${SG_BIN:-$ROOT/bin}
. "$ROOT/tests/integration/lib/agent1.sh"
nft_agent_netns sgd   # NS, T, ok, bad, sgc
nftx() { ip netns exec $NS nft "$@"; }
# has ELEMENT: the ban4 set holds exactly this element (an address or a prefix)
has() { nftx list set inet sgcluster ban4 2>/dev/null | tr '{},' '\n\n\n' | grep -qE "^[[:space:]]*$1( |\$)"; }
# wait_until SECONDS WHAT CMD...: wait_for (lib/wait.sh), and a failed check saying which
wait_until() {
    w_s=$1 w_what=$2
    shift 2
    wait_for "$w_s" "$@" || { bad "not within ${w_s}s: $w_what"; return 1; }
}

agent1_start "$T" d1 nft ip netns exec $NS < /dev/null || { echo "FAIL: agent did not start"; exit 1; }

status_field() { sgc status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

# Two addresses, then a prefix covering them for 3 s: the prefix replaces them in the kernel.
sgc ban 203.0.113.1 --for 600 >/dev/null && sgc ban 203.0.113.2 --for 600 >/dev/null || bad "ban of the addresses"
wait_until 5 "203.0.113.1 and .2 in ban4" eval 'has 203.0.113.1 && has 203.0.113.2'
sgc ban 203.0.113.0/24 --for 3 >/dev/null || bad "prefix ban"
wait_until 5 "the /24 replaced the addresses" eval 'has 203.0.113.0/24 && ! has 203.0.113.1 && ! has 203.0.113.2' &&
    ok "the /24 replaced 203.0.113.1 and .2 in the kernel"
# The prefix expires by itself (kernel timeout); the agent must put the two back.
wait_until 10 "the /24 expired" eval '! has 203.0.113.0/24'
t_gone=$(now_ms)
wait_until 5 "both addresses back after the /24 expired" eval 'has 203.0.113.1 && has 203.0.113.2' &&
    ok "both addresses back in the kernel $(($(now_ms) - t_gone)) ms after the /24 was seen gone (polled)"
sgc bans | grep -q "^ip:203.0.113.1 " && sgc bans | grep -q "^ip:203.0.113.2 " || bad "bans no longer lists both"
[ "$(status_field 'd["enforce"]["uncovered"] >= 2 and d["healthy"]')" = True ] && ok "status: healthy, uncovered >= 2" ||
    bad "status after expiry: $(sgc status --json)"

# Lifted instead of expired: ban the /24 for long, then unban it.
sgc ban 203.0.113.0/24 --for 600 >/dev/null || bad "second prefix ban"
wait_until 5 "the /24 replaced the addresses again" eval 'has 203.0.113.0/24 && ! has 203.0.113.1'
sgc unban 203.0.113.0/24 >/dev/null || bad "unban of the /24"
wait_until 5 "both addresses back after the unban" eval '! has 203.0.113.0/24 && has 203.0.113.1 && has 203.0.113.2' &&
    ok "unban of the /24 put both addresses back"
[ "$(status_field 'd["enforce"]["uncovered"]')" -ge 4 ] && ok "uncovered counted both times" ||
    bad "uncovered: $(status_field 'd["enforce"]')"

# Drift: an element deleted by hand is found by the periodic check and put back, and counted.
before=$(status_field 'd["enforce"]["drift_repaired"]')
[ "$before" = 0 ] || bad "drift repaired before any drift: $before"
nftx delete element inet sgcluster ban4 '{ 203.0.113.2 }' || bad "hand delete"
t_del=$(now_ms)
# (no check that it is gone: the drift check may already have put it back)
wait_until 35 "hand-deleted 203.0.113.2 put back" has 203.0.113.2 &&
    ok "hand-deleted element put back $(($(now_ms) - t_del)) ms later"
wait_until 5 "status counts the repair" eval '[ "$(status_field "d[\"enforce\"][\"drift_repaired\"]")" = 1 ]' &&
    ok "status counts 1 drift repair"
sgc status | grep -q "HEALTHY" && ok "status HEALTHY once repaired" || bad "status: $(sgc status | head -3)"
sgc status | grep -E "^(cluster|repair)" | sed 's/^/  /'

# An element nobody asked for, added by hand: the whole-set check (small sets, every 30 s)
# deletes it and counts it.
nftx add element inet sgcluster ban4 '{ 198.51.100.99 timeout 1h }' || bad "hand add"
t_add=$(now_ms)
wait_until 40 "hand-added 198.51.100.99 deleted" eval '! has 198.51.100.99' &&
    ok "hand-added element deleted $(($(now_ms) - t_add)) ms later (whole-set check every 30 s)"
[ "$(status_field 'd["enforce"]["drift_extra"]')" = 1 ] && ok "status counts 1 extra element" ||
    bad "drift_extra: $(status_field 'd["enforce"]')"
has 203.0.113.1 && has 203.0.113.2 || bad "the whole-set check lost a ban"

# The whole table deleted by hand: every ban comes back, not only the next tick's.
nftx delete table inet sgcluster || bad "hand delete of the table"
wait_until 35 "the table and both bans back" eval 'has 203.0.113.1 && has 203.0.113.2' &&
    ok "table deleted by hand: both bans back"

kill -0 $AGENT1_PID 2>/dev/null || bad "agent died"
[ $fails = 0 ] || { echo "FAIL: $fails checks failed"; tail -30 "$T/agent.log"; exit 1; }
echo "pass: kernel equals state: covered bans return, drift is repaired and counted"
