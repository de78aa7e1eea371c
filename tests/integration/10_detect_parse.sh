#!/bin/sh
# sgcluster parse over a tests/tools/genlog.py log with known attackers: every attacker is found with one
# count per failed attempt (Dovecot's auth-worker line counts, the login summary, Postfix's SASL warning
# and its disconnect summary are marked dup), no benign client but the known typos gives an abuse event,
# each authenticated submission gives one auth_ok and one `sent` with qmgr's nrcpt, every mailbox login
# one auth_ok; the JSON fields are there and RFC 3339 times are kept to the millisecond; garbled input,
# oversized lines and bad rule files are handled with counters and errors.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
GEN=$ROOT/tests/tools/genlog.py
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P="$BIN/sgcluster parse --rules $ROOT/detect/rules.d --now 1795838400"   # BSD years: 2026

python3 "$GEN" --lines 100000 --seed 7 --truth "$T/truth" > "$T/mail.log"
$P --json --stats "$T/mail.log" > "$T/events.json" 2> "$T/stats.txt"
python3 - "$T/truth" "$T/events.json" "$T/mail.log" <<'PY'
import collections, json, re, sys
truth = [l.split() for l in open(sys.argv[1]) if l.strip()]
ev = [json.loads(l) for l in open(sys.argv[2])]
lines = open(sys.argv[3]).read().split("\n")
for e in ev:
    for f in ("line", "rule", "service", "kind", "ip", "user", "time", "count", "nrcpt", "dup"):
        assert f in e, "event lacks %s: %r" % (f, e)
    assert e["count"] >= 1
    if e["ip"]:
        assert e["ip"] in lines[e["line"] - 1] or e["kind"] in ("sent", "received"), "line %d has no %s" % (e["line"], e["ip"])
abuse_kinds = ("auth_fail", "relay_denied", "rejected")
attackers = {t[1]: (t[2], int(t[3])) for t in truth if t[0] == "attacker"}
typos = {t[1]: t[2] for t in truth if t[0] == "typo"}
stale = {t[1]: t[2] for t in truth if t[0] == "stale"}
assert len(attackers) >= 60 and {k for k, _ in attackers.values()} == {"smtp-auth", "imap-auth", "pop3-auth", "relay"}
assert any(":" in a for a in attackers) and typos and stale, "truth lacks IPv6 attackers, typos or stale phones"
seen = {e["ip"] for e in ev if e["kind"] in abuse_kinds}
missed = set(attackers) - seen
assert not missed, "attackers missed: %s" % sorted(missed)[:5]
benign = seen - set(attackers) - set(typos) - set(stale)
assert not benign, "benign addresses with abuse events: %s" % sorted(benign)[:5]
assert set(typos) | set(stale) <= seen, "typos or stale phones not seen: %s" % sorted((set(typos) | set(stale)) - seen)[:5]
# One attempt, one count: per attacker, counted (non-dup) abuse events add up to its attempts.
counted = collections.Counter()
for e in ev:
    if e["kind"] in abuse_kinds and not e["dup"]:
        counted[e["ip"]] += e["count"]
wrong = [(ip, counted[ip], n) for ip, (_, n) in attackers.items() if counted[ip] != n]
assert not wrong, "attempts counted != made (ip, counted, made): %s" % wrong[:5]
assert all(counted[ip] == 1 for ip in typos), "a typo counted other than once"
# Each attempt is written once by Dovecot's auth process; every other report of it is dup.
auth_lines = [l for l in lines if re.search(r"auth-worker\(\d+\): sql\([^)]*\): (Password mismatch|unknown user)$", l)]
for ip in stale:
    n = sum(1 for l in auth_lines if ",%s," % ip in l)
    assert n >= 1 and counted[ip] == n, "stale phone %s: %d failures counted, %d written" % (ip, counted[ip], n)
fails = sum(e["count"] for e in ev if e["kind"] == "auth_fail" and not e["dup"])
assert fails == len(auth_lines), "auth failures counted %d, auth process lines %d" % (fails, len(auth_lines))
sasl = sum(1 for l in lines if "SASL LOGIN authentication failed" in l)
assert sasl and sum(1 for e in ev if e["rule"] == "postfix-sasl-fail" and e["dup"]) == sasl
# Dovecot: a login summary of "N attempts" stands for the N auth lines of its session, all dup.
per_session = collections.Counter(m.group(1) for l in auth_lines for m in [re.search(r",<([^>]+)>\)", l)] if m)
summaries = {m.group(2): int(m.group(1)) for l in lines
             for m in [re.search(r"auth failed, (\d+) attempts in \d+ secs\): .*session=<([^>]+)>", l)] if m}
assert summaries and all(per_session[s] == n for s, n in summaries.items()), "summary attempts != auth lines"
got = [e for e in ev if e["rule"] == "dovecot-login-auth-failed"]
assert len(got) == len(summaries) and all(e["dup"] for e in got) and sum(e["count"] for e in got) == sum(summaries.values())
# Each authenticated submission: one auth_ok (with its user) and, once qmgr took it, one sent with its nrcpt.
subs = {m.group(1): m.group(2) for l in lines for m in [re.search(r": (\w+): client=\S+, sasl_method=\w+, sasl_username=(\S+)$", l)] if m}
qm = {m.group(1): int(m.group(2)) for l in lines for m in [re.search(r"qmgr\[\d+\]: (\w+): from=<[^>]*>, size=\d+, nrcpt=(\d+)", l)] if m}
oks = [e for e in ev if e["rule"] == "postfix-submission"]
sent = [e for e in ev if e["kind"] == "sent"]
assert len(oks) == len(subs) > 1000, "submissions %d, auth_ok %d" % (len(subs), len(oks))
assert len(sent) == len(set(subs) & set(qm)), "sent %d, submissions queued %d" % (len(sent), len(set(subs) & set(qm)))
for e in sent:
    qid = lines[e["line"] - 1].split(": ")[1]
    assert e["nrcpt"] == qm[qid] and e["user"] == subs[qid] and e["ip"], e
accounts = [t for t in truth if t[0] == "account"]
comp = {t[1] for t in accounts}
used = {e["ip"] for e in sent if e["user"] in comp}
bots = {t[2] for t in accounts}
assert bots <= used and len(used - bots) <= len(comp), "account senders %s, bots %s" % (sorted(used)[:4], sorted(bots)[:4])
logins = sum(1 for l in lines if "-login: Login: user=<" in l)
assert sum(1 for e in ev if e["rule"] == "dovecot-login-ok") == logins > 1000
assert all(e["time"] and e["time"].startswith("2026-11-28T") for e in ev)
print("measured: %d events, %d attackers found, %d attempts counted once each, %d sent, %d typos and %d stale phones seen"
      % (len(ev), len(attackers), fails, len(sent), len(typos), len(stale)))
PY
n=$(wc -l < "$T/mail.log")
[ "$n" -eq 100000 ] || { echo "FAIL: genlog wrote $n lines, not 100000"; exit 1; }
grep -q "^lines read: *$n\$" "$T/stats.txt" || { echo "FAIL: stats (want $n lines read)"; cat "$T/stats.txt"; exit 1; }

# The generator is deterministic; RFC 3339 timestamps (rsyslog high precision) give the same detections,
# each event at its line's time to the millisecond.
python3 "$GEN" --lines 20000 --seed 7 --format iso > "$T/iso.log"
python3 "$GEN" --lines 20000 --seed 7 > "$T/bsd.log"
python3 "$GEN" --lines 20000 --seed 7 | cmp -s - "$T/bsd.log" || { echo "FAIL: same seed, different log"; exit 1; }
a=$($P --json "$T/iso.log" | grep -c '"kind":"auth_fail"')
b=$($P --json "$T/bsd.log" | grep -c '"kind":"auth_fail"')
[ "$a" -eq "$b" ] && [ "$a" -gt 0 ] || { echo "FAIL: iso $a vs bsd $b auth_fail events"; exit 1; }
$P --json "$T/iso.log" | python3 -c '
import json, sys
lines = open(sys.argv[1]).read().split("\n")
n = 0
for l in sys.stdin:
    e = json.loads(l)
    stamp = lines[e["line"] - 1].split()[0]
    want = stamp[:23] + "Z"
    assert e["time"] == want, "time %s, line says %s" % (e["time"], stamp)
    n += 1
assert n > 1000
' "$T/iso.log" || { echo "FAIL: iso times"; exit 1; }

# Garbled input on stdin: NUL bytes, invalid UTF-8, a 100 kB line, no final newline. Never a crash.
{
    printf 'Nov 28 04:31:06 mx1 sshd[1]: Invalid user \377\376 from 192.0.2.45 port 1\n'
    printf 'Nov 28 04:31:06 mx1 sshd[1]: Invalid user a\000b from 192.0.2.46 port 1\n'
    head -c 100000 /dev/zero | tr '\0' 'A'; printf '\n'
    head -c 3000 /dev/urandom; printf '\n'
    printf 'Nov 28 04:31:07 mx1 sshd[2]: Invalid user z from 192.0.2.47 port 1'
} | $P --json --stats > "$T/g.json" 2> "$T/g.txt"
grep -q '"ip":"192.0.2.45"' "$T/g.json" && grep -q '"ip":"192.0.2.46"' "$T/g.json" && grep -q '"ip":"192.0.2.47"' "$T/g.json" \
    || { echo "FAIL: garbled lines lost their events"; cat "$T/g.json"; exit 1; }
grep -q '^oversized: *1' "$T/g.txt" && grep -Eq '^invalid: *([2-9]|[1-9][0-9]+)$' "$T/g.txt" || { echo "FAIL: counters"; cat "$T/g.txt"; exit 1; }

# A broken operator rule: exit 1 and file:line in the message; --extra overrides by id.
mkdir "$T/extra"
printf '[postfix-connect]\nprogram = postfix*/smtpd\nliteral = connect from\npattern = ^connect from (?<ip\nkind = conn\n' > "$T/extra/bad.conf"
if $P --extra "$T/extra" "$T/bsd.log" > /dev/null 2> "$T/err.txt"; then echo "FAIL: bad rule accepted"; exit 1; fi
grep -q 'bad.conf:4: rule .postfix-connect.: pattern error' "$T/err.txt" || { echo "FAIL: error text"; cat "$T/err.txt"; exit 1; }
printf '[postfix-connect]\nenabled = no\n' > "$T/extra/bad.conf"
n=$($P --extra "$T/extra" --json "$T/bsd.log" | grep -c '"rule":"postfix-connect"' || true)
[ "$n" -eq 0 ] || { echo "FAIL: disabled rule still matches ($n)"; exit 1; }
echo "measured: garbled, oversized and bad-rule cases handled"
