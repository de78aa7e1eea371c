#!/bin/sh
# sgcluster tune's what-ifs equal what `sgcluster replay` decides with the proposed thresholds: the INI
# snippet tune writes goes into a scenarios.d after the shipped file, replay runs over the same logs, and
# per scenario the keys acted on and the number of decisions must be the same. Two flows (a
# tests/tools/genlog.py node log with relay probers, and a tests/tools/genflow.py flow) and two rules (the
# default, and a looser quantile with a thin margin, which acts on more subjects). In at least one run
# the snippet must change the outcome (replay with the shipped thresholds decides differently), so
# that an ignored snippet cannot pass. The second rule also proposes a sending limit: its [throttle]
# line in the snippet must load where the snippet is installed.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 "$ROOT/tests/tools/genlog.py" --lines 200000 --seed 19 > "$T/node.log"
python3 "$ROOT/tests/tools/genflow.py" --seed 19 --hours 2 --users 1500 --guessers 20 --compromised 1 > "$T/flow.log"
. "$ROOT/tests/integration/lib/offline.sh"
offline_conf "$T/shipped.conf"
n=0
for log in node flow; do
    for rule in "" "--quantile 0.99 --margin 1.1"; do
        n=$((n + 1))
        limit=""
        [ -n "$rule" ] && limit='user_hour=key=sasl_username measure=recipients window=1h max=500 defer=100% hold=300%'
        # shellcheck disable=SC2086
        "$BIN/sgcluster" tune -c "$T/shipped.conf" $rule ${limit:+--limit "$limit"} --json --ini "$T/50-tune.$n.conf" "$T/$log.log" > "$T/tune.$n.json"
        mkdir -p "$T/scen.$n"
        cp "$ROOT/agent/scenarios.d/10-default.conf" "$T/scen.$n/"
        cp "$T/50-tune.$n.conf" "$T/scen.$n/50-tune.conf"
        offline_conf "$T/replay.$n.conf" "$T/scen.$n"
        if [ -n "$limit" ] && ! grep -q '^limit.user_hour = ' "$T/50-tune.$n.conf"; then
            echo "FAILED: the snippet lacks the proposed limit"; exit 1
        fi
        "$BIN/sgcluster" replay -c "$T/replay.$n.conf" --json "$T/$log.log" > "$T/replay.$n.json"
        "$BIN/sgcluster" replay -c "$T/shipped.conf" --json "$T/$log.log" > "$T/shipped.$n.json"
        python3 - "$T/tune.$n.json" "$T/replay.$n.json" "$T/shipped.$n.json" "$log ${rule:-default rule}" "$T/outcome" <<'PY'
import collections, json, sys
tune = json.load(open(sys.argv[1]))
def by_scenario(path):
    out = collections.defaultdict(collections.Counter)
    for line in open(path):
        d = json.loads(line)
        out[d["scenario"]][d["key"]] += 1
    return out
replay, shipped = by_scenario(sys.argv[2]), by_scenario(sys.argv[3])
whatif = {s: collections.Counter({k["key"]: k["decisions"] for k in w["keys"]}) for s, w in tune["whatif"].items()}
what = sys.argv[4]
scenarios = sorted(set(replay) | set(whatif))
for s in scenarios:
    a, b = whatif.get(s, collections.Counter()), replay.get(s, collections.Counter())
    if a != b:
        print("FAILED (%s): scenario %s: what-if %d keys / %d decisions, replay %d keys / %d decisions; only in what-if %s, only in replay %s"
              % (what, s, len(a), sum(a.values()), len(b), sum(b.values()), sorted(set(a) - set(b))[:5], sorted(set(b) - set(a))[:5]))
        sys.exit(1)
    sw = next((m["scenario"]["whatif"] for m in tune["measures"] if m["name"] == s and m.get("scenario")), None)
    if sw is not None and sw["subjects"] != len(b):
        print("FAILED (%s): %s: the scenario row says %d subjects, replay %d" % (what, s, sw["subjects"], len(b)))
        sys.exit(1)
    print("ok (%s): %-16s what-if = replay: %d keys, %d decisions" % (what, s, len(b), sum(b.values())))
if not scenarios or sum(sum(c.values()) for c in replay.values()) == 0:
    print("FAILED (%s): no decision at all: nothing compared" % what)
    sys.exit(1)
with open(sys.argv[5], "a") as f:
    f.write("%s\n" % ("same" if replay == shipped else "differs"))
print("(%s): with the shipped thresholds replay makes %d decisions, with the snippet %d"
      % (what, sum(sum(c.values()) for c in shipped.values()), sum(sum(c.values()) for c in replay.values())))
PY
    done
done
grep -q differs "$T/outcome" || { echo "FAILED: no snippet changed what replay decides: an ignored snippet would pass"; exit 1; }
echo "ok: $(grep -c differs "$T/outcome") of $n snippets change what replay decides"
