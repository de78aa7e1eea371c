#!/bin/bash
# 78_scale_replay.sh: a million-address botnet against a three-node farm. Three mail nodes in network
# namespaces (real Dovecot and Postfix, an sgagent each enforcing with real nft in its own kernel)
# get the Dovecot and Postfix log lines of a botnet of SG_SCALE_ATTACKERS addresses (default
# 100000, see below; tests/tools/genbotnet.py, the daemons' own formats): every address fails once on every
# node, over IMAP on one, POP3 on the next and SMTP AUTH on the third, so no node alone sees enough
# and only the cluster's merged counts ban. Checked: every node's kernel set holds exactly the
# botnet (count and the sorted list, dumped with nft -j), a sampled botnet address is dropped by
# every node's kernel, and the legitimate client, which logged in and mistyped once before the
# attack, is in no set and no ban record and still logs in (a real IMAP session through each
# node's filter). Printed, not asserted: the time to all-banned per node, RSS, decisions.
#
# Configuration (what an ISP expecting a botnet of B addresses sets; docs/testing.md):
#   [scenario auth-ip] threshold = 3: the test's own choice, so that each address needs one line
#     per node (3 failures cluster-wide, one per node) and the log stays ~1.1 GB for 1M addresses.
#   [limits] author_max_records: a decision writes two records (the ban and its offense memory)
#     and any one node may take all of them, so 2 x B at least; the default 250000 lets one node
#     decide 125000 bans, the whole cluster of 3 at most 375000.
#   [limits] author_max_addresses_per_hour: at least B (the botnet arrives within the hour); the
#     default 262144 caps one node's bans at 262144 addresses per hour of stamps.
#   [limits] max_keys: each table (counters, sketches, ban records) holds at most max_keys keys,
#     default 1000000: the ban map of a 1M botnet needs 2M records (ban + offense memory), so with
#     the default at most ~500000 addresses stay banned and the rest are evicted. B counter keys
#     (auth-ip) also need room beside the farm's own.
#   snapshot_interval = 60s: the test harness's 2 s would write a 1M-key snapshot every 2 s.
# Under the sanitizers (build-san: `make check`) SG_SCALE_ATTACKERS defaults to 30000: measured there,
# each ASan agent holds ~25 KiB per address (750 MiB at 30000, so ~25 GiB for 1M over 3 agents) and
# 30000 took 97 s on the 2-core machine. The plain build defaults to 100000 (20 to 35 s from the
# attack on the quiet 2-core machine). SG_SCALE_ATTACKERS=1000000 runs the issue's full size. It
# passed in one run of two on 2026-12-08: every kernel held the whole botnet 451 to 526 s after the
# attack was appended; in the other one node held 912,498 at the bound, having taken over the
# crossings it had itself held back (docs/scale.md). The script then takes ~25 min, past run.sh's
# 900 s guard: SG_TEST_TIMEOUT=1800 (docs/testing.md).
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/e2e.sh"
e2e_require

if grep -q __asan_init "$SG_BIN/sgagent" 2>/dev/null; then
    N=${SG_SCALE_ATTACKERS:-30000} kib=28
    echo "info: sanitizer build: $N botnet addresses (SG_SCALE_ATTACKERS overrides)"
else
    N=${SG_SCALE_ATTACKERS:-100000} kib=6
fi
case $N in ''|*[!0-9]*) echo "FAIL: SG_SCALE_ATTACKERS must be a count"; exit 1 ;; esac
[ "$N" -ge 10 ] || { echo "FAIL: SG_SCALE_ATTACKERS: at least 10"; exit 1; }
# Memory: measured at 100,000 addresses, each agent's RSS grows ~5 KiB per botnet address (its ban
# records, counters, sketches and kernel mirror; ~25 KiB under ASan); with 6 (28) KiB each for 3
# agents, a machine short of it fails here, saying so, instead of running into the OOM killer.
need=$(( N * 3 * kib / 1024 + 512 ))
avail=$(awk '/^MemAvailable/ {print int($2 / 1024)}' /proc/meminfo)
[ "$avail" -ge "$need" ] || { echo "FAIL: $N addresses need ~$need MiB for 3 agents, $avail MiB available (set SG_SCALE_ATTACKERS lower)"; exit 1; }
echo "info: $N botnet addresses; ~$need MiB for the agents, $avail MiB available"
# The bound of the wait for every kernel to hold the botnet: generous for the size (a loaded
# 2-core machine, 3 agents), within run.sh's 900 s per script.
BAN_WAIT=$(( 120 + N / 500 ))
[ $BAN_WAIT -le 720 ] || BAN_WAIT=720

# The logs are made while the net and the daemons start (genbotnet takes ~15 s per 1M addresses);
# /tmp/sgtPID.* is what netns_gc removes should this run be killed.
G=$(mktemp -d "/tmp/sgt$$.gen.XXXXXX") || exit 1
python3 "$SG_ROOT/tests/tools/genbotnet.py" --attackers "$N" --dir "$G" --start "$(date +%s)" --span 120 \
    > "$G/gen.err" 2>&1 &
GEN_PID=$!
t_gen=$(ms)

# The ISP's settings for a botnet of N (see above), and the test's own threshold.
isp_conf() {
    cluster_conf "$1" "scenario auth-ip" "threshold = 3"
    cluster_conf "$1" limits "author_max_records = $(( 2 * N + 100000 ))" \
        "author_max_addresses_per_hour = $(( N + 100000 ))" "max_keys = $(( 2 * N + 1000000 ))"
    cluster_conf "$1" node "snapshot_interval = 60s"
}
e2e_up 3 isp_conf
netns_on_down "kill $GEN_PID 2>/dev/null; rm -rf '$G'"
echo "info: 3 mail nodes + agents up"

A=$(netns_ip attacker)
C=$(netns_ip client)
# The legitimate client before the attack: logs in on every node, mistypes once on node1.
for i in 1 2 3; do
    imap_login -n client "$(node_ip $i)" alice "$(maild_password alice)" || fail "legitimate login refused on node$i before the attack"
done
imap_login -n client "$(node_ip 1)" alice wrong-once && fail "a wrong password logged in"

wait "$GEN_PID" || { cat "$G/gen.err"; fail "genbotnet failed"; }
echo "info: botnet logs of $N addresses generated in $(( $(ms) - t_gen )) ms ($(du -sm "$G" | cut -f1) MiB)"
[ "$(wc -l < "$G/attackers")" = "$N" ] || fail "genbotnet wrote $(wc -l < "$G/attackers") addresses, not $N"

# One botnet address on the attacker's namespace, routed on-link from every node: it reaches every
# mail port before the attack, and must not after it.
S=$(head -1 "$G/attackers")
ip -n "$(netns_name attacker)" addr add "$S/32" dev eth0 || fail "sample address"
for i in 1 2 3; do
    ip -n "$(netns_name "node$i")" route add "$S/32" dev eth0 || fail "route to $S on node$i"
    tcp_probe -n attacker -s "$S" "$(node_ip $i)" 143 || fail "botnet address $S cannot reach node$i before the attack"
done

# The attack: each node's Dovecot and Postfix logs get their part, all three nodes at once.
t0=$(ms)
cats=()
for i in 1 2 3; do
    cat "$G/node$i.dovecot" >> "$(maild_log "node$i" dovecot)" & cats+=($!)
    cat "$G/node$i.postfix" >> "$(maild_log "node$i" postfix)" & cats+=($!)
done
wait "${cats[@]}"
echo "info: $N-address attack appended to the 3 nodes' logs in $(( $(ms) - t0 )) ms"

# Every agent's view of its kernel set (the mirror of what it wrote, cheap to ask) reaches N.
set4() { cluster_status_field "$1" 'd["kernel"]["set4"]' 2>/dev/null; }
# How far each agent's `sent` and `seen` (docs/agent.md, "Who decides") lag its clock, in s.
behind() {
    cluster_status_field "$1" '"%d/%d" % tuple((__import__("time").time() * 1000 - d["gossip"][k]) // 1000 for k in ("sent_ms", "seen_ms"))' 2>/dev/null
}
declare -A done_at=()
deadline=$(( t0 + BAN_WAIT * 1000 ))
last_print=$t0
while [ ${#done_at[@]} -lt 3 ]; do
    for i in 1 2 3; do
        [ -n "${done_at[$i]:-}" ] && continue
        n=$(set4 $i)
        [ "${n:-0}" -ge "$N" ] && done_at[$i]=$(ms)
    done
    now=$(ms)
    if [ $(( now - last_print )) -ge 20000 ]; then
        echo "info: after $(( (now - t0) / 1000 )) s: kernel sets $(set4 1) / $(set4 2) / $(set4 3) of $N;" \
             "s behind (sent/seen): $(behind 1) / $(behind 2) / $(behind 3)"
        last_print=$now
    fi
    if [ "$now" -ge $deadline ]; then
        for i in 1 2 3; do sgc $i status | sed "s/^/    n$i | /"; done   # whole: the peers table says who fell behind
        fail "not every node's kernel set reached $N addresses within $BAN_WAIT s ($(set4 1) / $(set4 2) / $(set4 3))"
    fi
    sleep 2   # each status still walks the agent's ban records (agent_ban_census): asked often, it slows what it measures
done
for i in 1 2 3; do
    echo "info: node$i: all $N attackers in its kernel set $(( done_at[$i] - t0 )) ms after the attack was appended"
done

# What each kernel holds, from the kernel itself: exactly the botnet, by count and by content.
# The kernel dumps an interval set by walking it again from the first element for each netlink
# message: a million elements take ~2 min of kernel time per node on an idle machine, so the three
# dumps run side by side.
want=$(sha256sum < "$G/attackers" | cut -d' ' -f1)
t_dump=$(ms)
dumps=()
for i in 1 2 3; do
    ( nsexec "node$i" nft -j list set inet sgcluster ban4 > "$G/set$i.json" && touch "$G/set$i.ok" ) &
    dumps+=($!)
done
wait "${dumps[@]}"
echo "info: the three kernel sets dumped in $(( $(ms) - t_dump )) ms"
for i in 1 2 3; do
    [ -e "$G/set$i.ok" ] || fail "node$i: nft -j list set"
    python3 - "$G/set$i.json" > "$G/set$i" <<'PY' || fail "node$i: unexpected elements in ban4 (see above)"
import json, sys
doc = json.load(open(sys.argv[1]))
out, bad = [], []
for item in doc["nftables"]:
    for e in item.get("set", {}).get("elem", []):
        v = e["elem"]["val"] if isinstance(e, dict) and "elem" in e else e
        (out if isinstance(v, str) else bad).append(v)
if bad:
    print("not single addresses: %d, first %r" % (len(bad), bad[0]), file=sys.stderr)
    sys.exit(1)
sys.stdout.write("".join(v + "\n" for v in sorted(out)))
PY
    got=$(wc -l < "$G/set$i")
    [ "$got" = "$N" ] || fail "node$i: kernel set holds $got addresses, not $N"
    [ "$(sha256sum < "$G/set$i" | cut -d' ' -f1)" = "$want" ] ||
        fail "node$i: kernel set differs from the botnet: $(comm -3 "$G/attackers" "$G/set$i" | head -3 | tr '\n' ' ')"
    grep -qxF "$C" "$G/set$i" && fail "node$i: the legitimate client $C is in the kernel set"
    grep -qxF "$A" "$G/set$i" && fail "node$i: the attacker namespace's own address $A is in the set (never attacked)"
    echo "info: node$i: kernel set = the $N botnet addresses (sorted lists equal, sha256 ${want:0:16})"
done

# The agents' records (sgcluster explain, asked until the agent answers: a busy loop may let one
# call time out): the sampled botnet address is banned, the legitimate client is not, nor its /24.
explain_to() { # I ADDR FILE
    sgc "$1" explain "$2" --json > "$3" 2>/dev/null && python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$3" 2>/dev/null
}
banned_in() { # FILE FIELD: the record is there
    python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])).get(sys.argv[2]) else 1)' "$1" "$2"
}
for i in 1 2 3; do
    wait_for 120 explain_to $i "$S" "$G/explain-s$i" || fail "node$i: explain $S did not answer"
    banned_in "$G/explain-s$i" banned || fail "node$i: no ban record for the botnet address $S"
    wait_for 120 explain_to $i "$C" "$G/explain-c$i" || fail "node$i: explain $C did not answer"
    banned_in "$G/explain-c$i" banned && fail "node$i: the legitimate client $C has a ban record"
    banned_in "$G/explain-c$i" prefix_banned && fail "node$i: the legitimate client's prefix has a ban record"
done

# The kernels drop the sampled botnet address; the legitimate client still logs in everywhere.
for i in 1 2 3; do
    for p in 25 587 110 143; do
        tcp_probe -n attacker -s "$S" -t 1 "$(node_ip $i)" $p && fail "botnet address $S still connects to node$i:$p"
    done
    imap_login -n client "$(node_ip $i)" alice "$(maild_password alice)" || fail "legitimate IMAP login refused on node$i after the attack"
done

# Figures (printed, not asserted).
for i in 1 2 3; do
    pid=${CLUSTER_PID[$i]}
    rss=$(awk '/^VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
    echo "info: node$i agent: RSS $rss MiB (peak $hwm MiB); $(sgc $i status --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("%d lines, %d events, %d bans, %d offense records, %d counter keys, %d sketch keys, state %d MiB, loop lag max %d ms, refused %s" % (
    d["detect"]["lines"], d["detect"]["events"], d["bans"], d["offense_records"], d["counter_keys"], d["sketch_keys"],
    d["memory_bytes"] >> 20, d["loop_lag_max_ms"], {k: v for k, v in d["records_refused"].items() if v} or "none"))' 2>/dev/null ||
        echo "status did not answer")"
done
for i in 1 2 3; do
    echo "info: node$i decided $(grep -c "decided here" "$CLUSTER_DIR/n$i/agent.log") bans itself (agent log)"
done
# Who signed the block records each node holds (one record a key wins: the others were signed,
# sent and checked for nothing), and the evaluation counters (docs/agent.md).
for i in 1 2 3; do
    echo "info: node$i: block records by author $(sgc $i bans --json 2>/dev/null | python3 -c '
import collections, json, sys
print(dict(sorted(collections.Counter(b["author"] for b in json.load(sys.stdin) if b["kind"] == "block").items())))' 2>/dev/null ||
        echo "(bans did not answer)"); evaluation $(cluster_status_field $i 'd.get("evaluation", "n/a")' 2>/dev/null)"
done
echo "info: load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "scale replay checks passed ($N addresses, 3 nodes, $(( ($(ms) - t0) / 1000 )) s from the attack)"
