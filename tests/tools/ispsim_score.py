#!/usr/bin/env python3
"""ispsim_score.py TRUTH DECISIONS LOG [--check]: scores `sgcluster replay --json` decisions over an
ispsim.c log against its truth file. Prints "bench: NAME VALUE UNIT" lines: good customers who lost
access (an address or prefix of theirs banned while the log runs) and customer-minutes blocked; per
attack class, attackers stopped and attempts made before the stop. With --check, asserts the goals:
no good customer blocked, every attack class stopped (one-account: at least 90%)."""
import collections, ipaddress, json, re, sys
from datetime import datetime, timezone

check = "--check" in sys.argv[4:]
good = collections.defaultdict(set)    # address -> customers
attack = {}                            # address -> class
for l in open(sys.argv[1]):
    f = l.split()
    if f[1] == "good": good[f[0]].update(f[2:])
    else: attack[f[0]] = f[2]
dec = [json.loads(l) for l in open(sys.argv[2])]
bans = []
for d in dec:
    if d["action"] != "ban": continue
    k = d["key"].split(":", 1)[1]
    bans.append((ipaddress.ip_network(k if "/" in k else k + "/32"), d["time_ms"], d["time_ms"] + d["duration_s"] * 1000))
attempts = collections.defaultdict(list)   # attacker -> times of its failures
rip = re.compile(r"auth failed.*rip=([0-9.]+)")
lines = open(sys.argv[3]).read().splitlines()
# Syslog times have no year: the decisions' (the replay chose it) is theirs.
year = datetime.fromtimestamp(dec[0]["time_ms"] / 1000, timezone.utc).year if dec else 1970
def t_of(l):
    return int(datetime.strptime("%d %s" % (year, l[:15]), "%Y %b %d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp() * 1000)
end_ms = t_of(lines[-1])
def covering(a):
    ip = ipaddress.ip_address(a)
    return [(s, e) for (n, s, e) in bans if ip in n]
cov = {a: covering(a) for a in set(good) | set(attack)}
for l in lines:
    m = rip.search(l)
    if m and m.group(1) in attack: attempts[m.group(1)].append(t_of(l))
blocked, minutes = set(), 0.0
for a, custs in good.items():
    for s, e in cov[a]:
        if s < end_ms:
            blocked |= custs
            minutes += len(custs) * (min(e, end_ms) - s) / 60000
print("bench: precision_good_customers %d customers" % len(set().union(*good.values())))
print("bench: precision_good_customers_blocked %d customers" % len(blocked))
print("bench: precision_customer_minutes_blocked %d min" % round(minutes))
classes = sorted(set(attack.values()))
results = {}
for c in classes:
    addrs = [a for a in attack if attack[a] == c and attempts[a]]
    stopped = [a for a in addrs if cov[a]]
    before = [sum(1 for t in attempts[a] if t < min(s for s, e in cov[a])) for a in stopped]
    print("bench: precision_%s_stopped %d/%d attackers" % (c, len(stopped), len(addrs)))
    print("bench: precision_%s_attempts_before_stop_max %d attempts" % (c, max(before) if before else 0))
    print("bench: precision_%s_attempts_before_stop_total %d attempts" % (c, sum(before)))
    results[c] = (len(stopped), len(addrs))
if check:
    assert not blocked, "good customers blocked: %s" % sorted(blocked)[:10]
    for c, (s, n) in results.items():
        # one-account: an address whose two tries both came before the account was under attack
        # (the first 20) is not stopped; every other class entirely.
        assert n and (s == n or (c == "one-account" and s >= n * 9 // 10)), "%s: %d of %d stopped" % (c, s, n)
    print("precision checks passed")
