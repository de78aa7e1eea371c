#!/bin/sh
# sgcluster tune's what-ifs equal what `sgcluster replay` decides with the proposed thresholds: the INI
# snippet tune writes goes into a scenarios.d after the shipped file, replay runs over the same logs, and
# per scenario the keys acted on and the number of decisions must be the same. Two flows (a
# tests/tools/genlog.py node log with relay probers, and a tests/tools/genflow.py flow) and two rules (the
# default, and a looser quantile with a thin margin, which acts on more subjects). In at least one run
# the snippet must change the outcome (replay with the shipped thresholds decides differently), so
# that an ignored snippet cannot pass. The second rule also proposes sending limits (recipients per
# user, messages per envelope sender, bytes per sender domain, messages per client /24 on port 25): their
# [throttle] lines in the snippet must load where the snippet is installed, and their what-ifs (limit,
# tier, subject, decisions) must equal what the policy service's rules decide with the proposed limits
# over the same messages: an independent model of enforce/throttle.h (windows of 10 s slots, tiers on
# what was let through or tried, one commit per message) fed from the log lines themselves (smtpd's
# client= and tag, qmgr's from=, size= and nrcpt=). With the thin margin each limit refuses someone.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 "$ROOT/tests/tools/genlog.py" --lines 200000 --seed 19 > "$T/node.log"
python3 "$ROOT/tests/tools/genflow.py" --seed 19 --hours 2 --users 1500 --guessers 20 --compromised 1 --mtas 300 --flooders 1 > "$T/flow.log"
. "$ROOT/tests/integration/lib/offline.sh"
offline_conf "$T/shipped.conf"
n=0
for log in node flow; do
    for rule in "" "--quantile 0.99 --margin 1.1"; do
        n=$((n + 1))
        set --
        [ -n "$rule" ] && set -- --limit 'user_hour=key=sasl_username measure=recipients window=1h max=500 defer=100% hold=300%' \
            --limit 'snd_hour=key=sender measure=messages window=1h max=1000 service=submission warn=50% defer=100%' \
            --limit 'dom_bytes=key=sender_domain measure=bytes window=1h max=2000000000 service=any hold=100%' \
            --limit 'p25_net=key=client_address prefix=24/64 measure=messages window=10m max=10000 service=smtp defer=100% reject=200%'
        limit=${1:-}
        # shellcheck disable=SC2086
        "$BIN/sgcluster" tune -c "$T/shipped.conf" $rule "$@" --json --ini "$T/50-tune.$n.conf" "$T/$log.log" > "$T/tune.$n.json"
        mkdir -p "$T/scen.$n"
        cp "$ROOT/agent/scenarios.d/10-default.conf" "$T/scen.$n/"
        cp "$T/50-tune.$n.conf" "$T/scen.$n/50-tune.conf"
        offline_conf "$T/replay.$n.conf" "$T/scen.$n"
        [ -z "$limit" ] || for l in user_hour snd_hour dom_bytes p25_net; do
            grep -q "^limit.$l = " "$T/50-tune.$n.conf" || { echo "FAILED: the snippet lacks the proposed limit $l"; exit 1; }
        done
        # The model reads genflow's RFC 3339 times (genlog's node log has BSD times, which need a zone).
        if [ -n "$limit" ] && [ "$log" = flow ]; then
            python3 - "$T/tune.$n.json" "$T/$log.log" "$log" <<'PY'
# The policy service's decisions (enforce/throttle.h), modelled independently of the C code, over the
# messages of the log, with the limits tune proposed; compared with tune's what-if.
import collections, datetime, ipaddress, json, re, sys
tune = json.load(open(sys.argv[1]))
SLOT = 10000
TIERS = ["none", "warn", "defer", "hold", "reject"]
def dur(v):
    return int(v[:-1]) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[v[-1]] * 1000
limits = []
for m in tune["measures"]:
    L = m.get("limit")
    if not L or L["verdict"] == "no-data":
        continue
    kv = dict(x.split("=", 1) for x in L["proposed_spec"].split())
    assert "window" in kv, "the model has windows only: %s" % L["proposed_spec"]
    p4, p6 = map(int, kv.get("prefix", "32/128").split("/"))
    limits.append({"name": m["name"], "key": kv["key"], "measure": kv.get("measure", "messages"),
                   "service": kv.get("service", "any"), "window": dur(kv["window"]), "max": int(kv["max"]),
                   "pct": {t: int(kv[t].rstrip("%")) for t in TIERS[1:] if t in kv}, "p4": p4, "p6": p6})
assert len(limits) == 4, "limits with data: %s" % [l["name"] for l in limits]
def subject(l, msg):
    if l["key"] == "sasl_username":
        return "user:" + msg["user"] if msg["user"] else None
    if l["key"] in ("sender", "sender_domain"):
        s = msg["sender"]
        if l["key"] == "sender_domain":
            if "@" not in s:
                return None
            s = s.rsplit("@", 1)[1]
        if not s or len(s) > 250:
            return None
        return ("from:" if l["key"] == "sender" else "dom:") + s.lower()
    a = ipaddress.ip_address(msg["ip"])
    n = ipaddress.ip_network("%s/%d" % (a, l["p4"] if a.version == 4 else l["p6"]), strict=False)
    return "ip:%s" % a if n.num_addresses == 1 else "net:%s" % n
cells = collections.defaultdict(list)   # (measure, service, refused, subject) -> [(slot, n)]
def window_sum(l, subj, services, refused, now):
    hi = now // SLOT * SLOT
    lo = hi - ((l["window"] + SLOT - 1) // SLOT - 1) * SLOT
    return sum(n for svc in services for r in refused for (t, n) in cells[(l["measure"], svc, r, subj)] if lo <= t <= hi)
whatif = collections.Counter()
smtpd, seen, last = {}, set(), 0
ts = re.compile(r"^(\S+) \S+ (postfix/(?:submission/)?smtpd|postfix/qmgr)\[\d+\]: (\w+): (.*)$")
for line in open(sys.argv[2]):
    mm = ts.match(line.rstrip("\n"))
    if not mm:
        continue
    when, prog, qid, rest = mm.groups()
    if prog.endswith("smtpd"):
        c = re.match(r"client=[^\[\s]*\[([0-9A-Fa-f:.]+)\](?:, sasl_method=[^,]*, sasl_username=(.*))?$", rest)
        if c and qid not in smtpd:
            smtpd[qid] = {"ip": c.group(1), "user": c.group(2) or "", "service": "sub" if "submission" in prog else "smtp"}
        continue
    q = re.match(r"from=<(.*)>, size=(\d+), nrcpt=(\d+)(?: \([^()]*\))?$", rest)
    if not q or qid not in smtpd or qid in seen:
        continue
    seen.add(qid)
    sec, frac = when.split("+")[0].split(".") if "." in when else (when.split("+")[0], "0")
    base = datetime.datetime.fromisoformat(sec).replace(tzinfo=datetime.timezone.utc)
    now = max(last, int(base.timestamp()) * 1000 + int((frac + "000")[:3]))   # ms, truncated as the parser does
    last = now
    msg = dict(smtpd[qid], sender=q.group(1))
    amount = {"messages": 1, "recipients": max(1, int(q.group(3))), "bytes": max(1, int(q.group(2)))}
    svc = msg["service"]
    hits, top = [], 0
    for l in limits:
        if l["service"] not in ("any", {"sub": "submission", "smtp": "smtp"}[svc]):
            continue
        subj = subject(l, msg)
        if not subj:
            continue
        services = ("sub", "smtp") if l["service"] == "any" else (svc,)
        used = window_sum(l, subj, services, (False,), now)
        tried = used + window_sum(l, subj, services, (True,), now)
        a = amount[l["measure"]]
        tier = 0
        for t in (4, 3, 2, 1):
            pct = l["pct"].get(TIERS[t])
            x = tried if t >= 3 else used
            if pct and (x + a) * 100 > pct * l["max"]:
                tier = t
                break
        if tier:
            hits.append((l["name"], TIERS[tier], subj))
            top = max(top, tier)
    for h in hits:
        whatif[h] += 1
    done = set()
    for l in limits:   # one commit per (measure, subject), under the request's service
        subj = subject(l, msg) if l["service"] in ("any", {"sub": "submission", "smtp": "smtp"}[svc]) else None
        if not subj or (l["measure"], subj) in done:
            continue
        done.add((l["measure"], subj))
        cells[(l["measure"], svc, top > 1, subj)].append((now // SLOT * SLOT, amount[l["measure"]]))
got = collections.Counter()
for m in tune["measures"]:
    L = m.get("limit")
    for tier, w in ((L or {}).get("whatif") or {}).items():
        for k in w["keys"]:
            got[(m["name"], tier, k["key"])] += k["decisions"]
what = sys.argv[3]
if got != whatif:
    print("FAILED (%s): limits' what-if != the model: only in tune %s, only in the model %s"
          % (what, sorted((got - whatif).items())[:5], sorted((whatif - got).items())[:5]))
    sys.exit(1)
for l in limits:
    n = {k: v for k, v in whatif.items() if k[0] == l["name"]}
    print("ok (%s): limit %-10s what-if = the model: %d subjects, %d decisions, tiers %s"
          % (what, l["name"], len({k[2] for k in n}), sum(n.values()), sorted({k[1] for k in n})))
    if not n:
        print("FAILED (%s): limit %s refuses nobody: nothing compared" % (what, l["name"]))
        sys.exit(1)
PY
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
