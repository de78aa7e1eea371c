#!/bin/sh
# 26_nft_agent_reload.sh: SIGHUP and the kernel reconcile, with a real sgagent and real nft in a
# namespace made here. The agent starts with 100,000 bans (a snapshot written by tool_bansnap), so a
# full reconcile spans many ticks (about a second of the loop on an idle machine). A stream of
# SIGHUPs that leave the enforcement config alone, each 0.3 s after the last reload ended, keeps
# the running reconcile: a ban decided meanwhile reaches the kernel while they go on (a reload that
# rebuilt the enforcer restarted the reconcile each time, and the ban waited for its end, for
# ever). A reload that changes the never-ban list still rebuilds it: an address allowlisted then
# leaves the kernel.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require
BIN=${SG_BIN:-$ROOT/bin}
BANSNAP=${SG_BUILD:-$ROOT/build}/tests/tool_bansnap
. "$ROOT/tests/integration/lib/agent1.sh"
NBANS=100000
AGENT1_UP_S=180   # the restore checks every ban's signature: tens of seconds on a loaded machine
nft_agent_netns sgh   # NS, T, ok, bad, sgc
HUPS=
nft_agent_on_exit() { [ -n "$HUPS" ] && kill "$HUPS" 2>/dev/null && wait "$HUPS" 2>/dev/null; }
die() { bad "$*"; tail -30 "$T/agent.log"; exit 1; }
# in_kernel ADDR: the ban4 set holds ADDR (one lookup; `nft get element` reads the whole set first,
# seconds at 100,000 intervals, and starts again whenever a reload's setup changes the ruleset)
in_kernel() { ip netns exec $NS "$HELPER" has "$1" >/dev/null 2>&1; }
field() { sgc status --json 2>/dev/null | python3 -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
reconciled() { [ "$(field 'd["enforce"]["reconcile_stage"] is None and d["enforce"]["reconcile_last_ms"] > 0')" = True ]; }
reconciling() { [ "$(field 'd["enforce"]["reconcile_stage"] is not None')" = True ]; }
# reloads: how many reloads the agent has logged (read from its log: no wait on its loop)
reloads() { grep -c "^[^ ]* reloaded " "$T/agent.log" || :; }

mkdir -p "$T/keys" "$T/state"
"$BIN/sgcluster" keygen --node r1 "$T/keys" >/dev/null || die "keygen"
"$BANSNAP" "$T/keys" r1 "$T/state/state.snap" $NBANS || die "bansnap"
agent1_start "$T" r1 nft ip netns exec $NS < /dev/null || { echo "FAIL: agent did not start"; exit 1; }
[ "$(field 'd["bans"]')" = $NBANS ] || die "the agent restored $(field 'd["bans"]') bans, want $NBANS"
# No peers: synced at once; the first full reconcile runs within a housekeeping second.
wait_for 60 reconciled || die "the first full reconcile did not end"
in_kernel 10.1.0.1 && in_kernel 10.2.134.159 || die "the restored bans are not in the kernel"
ok "$NBANS bans restored and reconciled ($(field 'd["enforce"]["reconcile_slices"]') slices so far, the last reconcile $(field 'd["enforce"]["reconcile_last_ms"]') ms)"

# SIGHUPs, the configuration unchanged: each 0.3 s after the agent logged the last reload.
pid=$AGENT1_PID
r0=$(reloads)
(
    while n=$(reloads) && kill -HUP "$pid" 2>/dev/null; do
        wait_for 60 eval '[ "$(reloads)" -gt $n ]' 2>/dev/null
        sleep 0.3
    done
) &
HUPS=$!
wait_for 60 eval '[ "$(reloads)" -ge $((r0 + 2)) ]' || die "the agent does not reload"
# A ban decided while a reconcile runs; again (another address, up to 5) when that reconcile
# ended before the next reload, which would prove nothing.
proved=
for k in 0 1 2 3 4; do
    wait_for 60 reconciling || die "no reconcile under way during the SIGHUPs"
    wait_for 30 sgc ban 203.0.113.5$k --for 1h >/dev/null || die "ban of 203.0.113.5$k"
    r1=$(reloads)
    t0=$(now_ms)
    wait_for 120 in_kernel 203.0.113.5$k ||
        { bad "203.0.113.5$k never reached the kernel while SIGHUPs came in ($(($(reloads) - r1)) reloads)"; break; }
    r2=$(reloads)
    [ "$r2" -gt "$r1" ] || continue
    ok "a ban decided during a reconcile reached the kernel $(($(now_ms) - t0)) ms later, while $((r2 - r1)) SIGHUPs came in"
    proved=1
    break
done
[ -n "$proved" ] || [ $fails -gt 0 ] || bad "no reload came in while a ban waited, 5 times: the test proved nothing"
kill "$HUPS" 2>/dev/null
wait "$HUPS" 2>/dev/null
HUPS=
grep -q "enforcement restarted" "$T/agent.log" && bad "a reload with the same enforcement config restarted it"

# A reload that changes the never-ban list rebuilds the enforcer: the address allowlisted goes.
sgc ban 198.51.100.7 --for 1h >/dev/null || die "ban of 198.51.100.7"
wait_for 60 in_kernel 198.51.100.7 || die "198.51.100.7 did not reach the kernel"
sed -i 's|^backend = nft$|backend = nft\nallowlist = 198.51.100.0/24|' "$T/r1.conf"
grep -q "^allowlist = 198.51.100.0/24" "$T/r1.conf" || die "the allowlist line is not in the configuration"
r0=$(reloads)
kill -HUP "$AGENT1_PID"
wait_for 30 eval '[ "$(reloads)" -gt $r0 ]' || die "no reload"
grep -q "enforcement restarted" "$T/agent.log" && ok "the changed allowlist restarted enforcement" ||
    bad "the changed allowlist did not restart enforcement"
wait_for 120 eval '! in_kernel 198.51.100.7' && ok "198.51.100.7, allowlisted by the reload, left the kernel" ||
    bad "198.51.100.7 is still in the kernel after it was allowlisted"
in_kernel 203.0.113.5$k && in_kernel 10.1.0.1 || bad "the other bans did not survive the reload"

kill -0 "$AGENT1_PID" 2>/dev/null || bad "agent died"
[ $fails = 0 ] || { echo "FAIL: $fails checks failed"; tail -30 "$T/agent.log"; exit 1; }
echo "pass: SIGHUPs keep the running reconcile unless the enforcement config changed"
