#!/bin/sh
# sgcluster tune on a tests/tools/genflow.py flow whose distributions are known by construction: the
# flow's shape stays inside the generator's bounds and every proposal inside the bounds its rule states
# (above the legitimate population's q99.9 by the margin, at or below the attackers' mass):
#   messages per user and hour <= K; failures of a stale phone in 10 minutes <= ceil(600/gap) + 1;
#   auth-ip's threshold lies in (that bound's q99.9, 2 x bound + 1] and at or below the guessers' fewest
#   attempts; account-rcpt's in (q99.9, 4 x K x R + 1] (a window straddles at most two clock hours of at
#   most K x R recipients) and below a compromised account's mass;
#   the what-if bans every guesser, no stale phone, and holds exactly the compromised accounts.
# A sending limit (recipients per user and hour) is proposed within (q99.9, 4 x K x R + 1] and its
# what-if refuses the compromised account only.
# --live: a running agent's counters (3 failures of one address, written to its log now) are held
# against the current and proposed thresholds.
# Also: the pictures are well-formed SVG with the cut drawn, and the HTML page holds one per measure.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
T=$(mktemp -d)
. "$ROOT/tests/integration/lib/agent1.sh"
trap 'agent1_stop; rm -rf "$T"' EXIT
K=4; R=5; GAP=120; GMIN=25
python3 "$ROOT/tests/tools/genflow.py" --seed 18 --hours 3 --users 2000 --msgs $K --rcpt $R --stale 12 --stale-gap $GAP \
    --guessers 30 --guess-min $GMIN --guess-max 40 --compromised 1 --truth "$T/truth" > "$T/flow.log"
. "$ROOT/tests/integration/lib/offline.sh"
offline_conf "$T/tune.conf"
LIMIT='user_hour=key=sasl_username measure=recipients window=1h max=500 service=submission warn=80% defer=100% hold=300%'
"$BIN/sgcluster" tune -c "$T/tune.conf" --limit "$LIMIT" --json --svg "$T/svg" --html "$T/tune.html" "$T/flow.log" > "$T/tune.json"
"$BIN/sgcluster" tune -c "$T/tune.conf" --limit "$LIMIT" --ini "$T/snippet.conf" "$T/flow.log" > "$T/report.txt"
grep -q '^limit.user_hour = key=sasl_username measure=recipients window=1h max=' "$T/snippet.conf" || { echo "snippet lacks the limit"; cat "$T/snippet.conf"; exit 1; }
grep -q '^auth-ip ' "$T/report.txt" || { echo "report lacks the auth-ip row"; cat "$T/report.txt"; exit 1; }
python3 - "$T" $K $R $GAP $GMIN <<'PY'
import json, math, os, sys
import xml.etree.ElementTree as ET
d, K, R, GAP, GMIN = sys.argv[1], *map(int, sys.argv[2:])
t = json.load(open(os.path.join(d, "tune.json")))
truth = [l.split() for l in open(os.path.join(d, "truth"))]
stale = {x[1] for x in truth if x[0] == "stale"}
guessers = {x[1]: int(x[2]) for x in truth if x[0] == "guesser"}
compromised = {x[1] for x in truth if x[0] == "compromised"}
m = {x["name"]: x for x in t["measures"]}
def check(cond, what):
    if not cond:
        print("FAILED:", what)
        sys.exit(1)
    print("ok:", what)

# The shape: bounds by construction (the compromised accounts are the users above them).
mh = m["user_messages_per_hour"]["legit"]
check(mh["n"] >= 1900 and mh["p999"] <= K, "messages per user and hour: q99.9 %d <= K=%d over %d users" % (mh["p999"], K, mh["n"]))
rh = m["user_recipients_per_hour"]["legit"]
check(rh["p999"] <= K * R, "recipients per user and hour: q99.9 %d <= K*R=%d" % (rh["p999"], K * R))
af = m["address_failures"]
check(af["legit"]["n"] == len(stale) and af["attack"]["n"] == len(guessers),
      "failing addresses: %d also succeed (stale phones %d), %d never do (guessers %d)"
      % (af["legit"]["n"], len(stale), af["attack"]["n"], len(guessers)))
check(af["attack"]["max"] == max(guessers.values()), "a guesser's failures: max %d" % af["attack"]["max"])

# auth-ip: the rule's bounds.
a = m["auth-ip"]["scenario"]
bound = math.ceil(600 / GAP) + 1
lq = m["auth-ip"]["legit"]["p999"]
check(lq <= bound, "auth-ip: stale phones' q99.9 %d <= ceil(600/gap)+1 = %d" % (lq, bound))
check(lq < a["proposed"] <= 2 * bound + 1, "auth-ip: proposed %d in (%d, %d]" % (a["proposed"], lq, 2 * bound + 1))
check(a["proposed"] <= GMIN and a["verdict"] == "separates",
      "auth-ip: proposed %d <= the guessers' fewest attempts %d (verdict %s)" % (a["proposed"], GMIN, a["verdict"]))
check(a["attack_p50"] >= GMIN, "auth-ip: guessers' median %d >= %d" % (a["attack_p50"], GMIN))

# account-rcpt: above the legitimate users' recipients in 10 minutes, far below a compromised account's.
c = m["account-rcpt"]["scenario"]
# A window may straddle two clock hours: at most 2*K*R recipients in it.
check(c["legit_q"] <= 2 * K * R and c["legit_q"] < c["proposed"] <= 4 * K * R + 1,
      "account-rcpt: proposed %d in (q99.9 %d, %d]" % (c["proposed"], c["legit_q"], 4 * K * R + 1))
check(c["proposed"] < 30 * 40, "account-rcpt: proposed %d below a compromised account's mass (>= 1200)" % c["proposed"])

# The what-ifs, against the truth.
banned = set()
for sid, w in t["whatif"].items():
    if w["action"] == "ban":
        banned |= {k["key"][3:] for k in w["keys"] if k["key"].startswith("ip:")}
held = {k["key"][5:] for w in t["whatif"].values() if w["action"] == "hold" for k in w["keys"]}
check(set(guessers) <= banned, "what-if: all %d guessers banned" % len(guessers))
check(not (banned & stale), "what-if: no stale phone banned")
check(banned <= set(guessers), "what-if: nothing else banned (%d)" % len(banned - set(guessers)))
check(held == compromised, "what-if: holds %s == compromised %s" % (sorted(held), sorted(compromised)))

# The sending limit: recipients in any hour <= 2*K*R for legitimate users (two clock hours); the what-if refuses
# (defer or hold) the compromised account and nobody else.
u = m["user_hour"]["limit"]
check(u["legit_q"] <= 2 * K * R and u["legit_q"] < u["proposed"] <= 4 * K * R + 1,
      "user_hour: defer fires at %d, in (q99.9 %d, %d]" % (u["proposed"], u["legit_q"], 4 * K * R + 1))
refused = {k["key"][5:] for tier in ("defer", "hold") for k in u["whatif"][tier]["keys"]}
check(refused == compromised, "user_hour what-if: refused %s == compromised %s" % (sorted(refused), sorted(compromised)))

# The pictures: one well-formed SVG per measure with data, the cut drawn where a proposal is.
ns = "{http://www.w3.org/2000/svg}"
for name in ("auth-ip", "account-rcpt", "user_messages_per_hour", "address_failures"):
    root = ET.parse(os.path.join(d, "svg", name + ".svg")).getroot()
    texts = " ".join(x.text or "" for x in root.iter(ns + "text"))
    bars = len(root.findall(ns + "rect"))
    if name in ("auth-ip", "account-rcpt"):
        check("cut %d" % m[name]["scenario"]["proposed"] in texts, "%s.svg marks the cut at %d" % (name, m[name]["scenario"]["proposed"]))
    check(bars > 2, "%s.svg has bars (%d rects)" % (name, bars))
html = open(os.path.join(d, "tune.html")).read()
check(html.count("<svg") == len([x for x in t["measures"] if x["legit"]["n"] or (x["attack"] or {}).get("n")]),
      "tune.html: one picture per measure with data")
PY

# --live against a real agent (dry-run backend): its cluster-wide counter for one address.
mkdir -p "$T/agent"
agent1_start "$T/agent" live dryrun < /dev/null
now=$(date -u +%Y-%m-%dT%H:%M:%S.000000+00:00)
for i in 1 2 3; do
    echo "$now mx1 dovecot: auth-worker(1001): sql(root,45.33.12.77,<AAAAAAAAAAAAAAA$i>): Password mismatch"
done >> "$T/agent/mail.log"
has_counter() { agent1_ctl top --json | grep -q '"auth-ip|ip:45.33.12.77","count":3'; }
wait_for 10 has_counter || { echo "FAILED: the agent did not count the 3 failures"; agent1_ctl top; exit 1; }
"$BIN/sgcluster" tune -c "$T/tune.conf" --live -s "$T/agent/ctl.sock" --no-whatif "$T/flow.log" > "$T/live.txt"
grep -E '^  auth-ip +1 keys in the last 10m, 0 at or above the current 10, 0 at or above the proposed [0-9]+, highest 3 \(ip:45.33.12.77\)$' "$T/live.txt" \
    || { echo "FAILED: --live does not report the agent's counter"; cat "$T/live.txt"; exit 1; }
echo "ok: --live reports the agent's auth-ip counter for 45.33.12.77 (3)"
