#!/bin/sh
# sgcluster replay over a tests/tools/genlog.py log: every attacker (SMTP AUTH, IMAP, POP3 password
# guessing, relay probing) is banned by address, the compromised account is held, and no benign client
# is touched: not the customers who mistyped their password once, not the phones with an old password,
# not a prefix, no throttle.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
GEN=$ROOT/tests/tools/genlog.py
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
python3 "$GEN" --lines 300000 --seed 11 --truth "$T/truth" > "$T/mail.log"
cat > "$T/replay.conf" <<CONF
[node]
name = replay
[detect]
rules = $ROOT/detect/rules.d
scenarios = $ROOT/agent/scenarios.d
CONF
start=$(date +%s%N)
"$BIN/sgcluster" replay -c "$T/replay.conf" --json "$T/mail.log" > "$T/decisions.json"
end=$(date +%s%N)
echo "measured: replay of 300000 lines in $(( (end - start) / 1000000 )) ms"
python3 - "$T/truth" "$T/decisions.json" <<'PY'
import json, sys
truth = [l.split() for l in open(sys.argv[1]) if l.strip()]
dec = [json.loads(l) for l in open(sys.argv[2])]
for d in dec:
    for f in ("time", "action", "key", "scenario", "duration_s"):
        assert f in d, "decision lacks %s: %r" % (f, d)
attackers = {t[1] for t in truth if t[0] == "attacker"}
typos = {t[1] for t in truth if t[0] == "typo"}
stale = {t[1] for t in truth if t[0] == "stale"}
accounts = {t[1] for t in truth if t[0] == "account"}
banned = {d["key"][3:] for d in dec if d["action"] == "ban" and d["key"].startswith("ip:")}
nets = [d["key"] for d in dec if d["key"].startswith("net:")]
held = {d["key"][5:] for d in dec if d["action"] == "hold"}
missed = attackers - banned
wrong = banned - attackers
print("measured: %d attackers, %d banned, %d missed, %d benign addresses banned, %d prefix bans, holds %s"
      % (len(attackers), len(banned & attackers), len(missed), len(wrong), len(nets), sorted(held)))
assert len(attackers) >= 100 and typos and stale and accounts, "truth file too small"
assert not (banned & (typos | stale)), "customers banned for a typo or a stale phone: %s" % sorted(banned & (typos | stale))
assert not missed, "attackers not banned: %s" % sorted(missed)[:10]
assert not wrong, "benign addresses banned: %s" % sorted(wrong)[:10]
assert not nets, "prefix bans on a log whose attackers are spread out: %s" % nets[:5]
assert held == accounts, "holds %s != compromised %s" % (held, accounts)
assert not [d for d in dec if d["action"] == "throttle"], "benign traffic throttled"
PY
