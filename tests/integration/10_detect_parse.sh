#!/bin/sh
# sgcluster parse over a genmaillog.py log with known attackers: every attacker is found, no benign
# client gives an abuse event, each failed attempt is counted once (SASL warning + disconnect summary,
# "N attempts" lines), each authenticated submission gives one `sent` with its nrcpt; the JSON fields
# are there; garbled input, oversized lines and bad rule files are handled with counters and errors.
set -eu
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}; SHARED=${SG_SHARED:?}
GEN=$SHARED/tools/genmaillog.py
[ -f "$GEN" ] || { echo "FAIL: $GEN is missing"; exit 1; }
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
P="$BIN/sgcluster parse --rules $ROOT/detect/rules.d --now 1795838400"   # BSD years: 2026

python3 "$GEN" --lines 100000 --seed 7 --truth "$T/truth" > "$T/mail.log"
$P --json --stats "$T/mail.log" > "$T/events.json" 2> "$T/stats.txt"
python3 - "$T/truth" "$T/events.json" "$T/mail.log" <<'PY'
import json, re, sys
truth = [l.split() for l in open(sys.argv[1]) if l.strip()]
ev = [json.loads(l) for l in open(sys.argv[2])]
lines = open(sys.argv[3]).read().split("\n")
for e in ev:
    for f in ("line", "rule", "service", "kind", "ip", "user", "time", "count", "nrcpt", "dup"):
        assert f in e, "event lacks %s: %r" % (f, e)
    assert e["count"] >= 1
    if e["ip"]:
        assert e["ip"] in lines[e["line"] - 1] or e["kind"] == "sent", "line %d has no %s" % (e["line"], e["ip"])
abuse_kinds = ("auth_fail", "relay_denied", "rejected")
attackers = {t[0] for t in truth if t[-1] in ("smtp-auth", "imap-auth", "pop3-auth", "relay")}
seen = {e["ip"] for e in ev if e["kind"] in abuse_kinds}
assert attackers and not (attackers - seen), "attackers missed: %s" % sorted(attackers - seen)[:5]
assert not (seen - attackers), "benign addresses with abuse events: %s" % sorted(seen - attackers)[:5]
# One attempt, one count: SASL warnings are the attempts; the disconnect summaries repeat them.
sasl = sum(1 for l in lines if "SASL" in l and "authentication failed" in l)
smtp_counted = sum(e["count"] for e in ev if e["kind"] == "auth_fail" and not e["dup"] and e["rule"].startswith("postfix"))
assert smtp_counted == sasl, "SMTP AUTH failures counted %d, lines %d" % (smtp_counted, sasl)
# Dovecot: a login line saying "N attempts" stands for N.
want = sum(int(m.group(1)) for l in lines for m in [re.search(r"auth failed, (\d+) attempts", l)] if m)
got = sum(e["count"] for e in ev if e["rule"] == "dovecot-login-auth-failed" and not e["dup"])
assert got == want, "dovecot attempts %d, want %d" % (got, want)
# Each authenticated submission: one auth_ok (with its user) and one sent with qmgr's nrcpt.
subs = [l for l in lines if "sasl_username=" in l and "client=" in l]
oks = [e for e in ev if e["rule"] == "postfix-submission"]
sent = [e for e in ev if e["kind"] == "sent"]
assert len(oks) == len(subs) == len(sent), "submissions %d, auth_ok %d, sent %d" % (len(subs), len(oks), len(sent))
qm = {m.group(1): int(m.group(2)) for l in lines for m in [re.search(r"qmgr\[\d+\]: (\w+): from=<[^>]*>, size=\d+, nrcpt=(\d+)", l)] if m}
for e in sent:
    qid = lines[e["line"] - 1].split(": ")[1]
    assert e["nrcpt"] == qm[qid] and e["user"] and e["ip"], e
account = [t for t in truth if t[-1] == "account"]
comp = {t[0] for t in account}
bots = {t[1] for t in account}
assert {e["ip"] for e in sent if e["user"] in comp} == bots
logins = sum(1 for l in lines if "-login: Login: user=<" in l)
assert sum(1 for e in ev if e["rule"] == "dovecot-login-ok") == logins
assert all(e["time"] and e["time"].startswith("2026-11-28T") for e in ev)
print("measured: %d events, %d attackers found, %d SMTP AUTH failures counted once, %d sent" %
      (len(ev), len(attackers), sasl, len(sent)))
PY
n=$(wc -l < "$T/mail.log")
grep -q "^lines read: *$n\$" "$T/stats.txt" || { echo "FAIL: stats (want $n lines read)"; cat "$T/stats.txt"; exit 1; }

# RFC 3339 timestamps (rsyslog high precision) give the same detections with times.
python3 "$GEN" --lines 20000 --seed 7 --format iso > "$T/iso.log"
python3 "$GEN" --lines 20000 --seed 7 > "$T/bsd.log"
a=$($P --json "$T/iso.log" | grep -c '"kind":"auth_fail"')
b=$($P --json "$T/bsd.log" | grep -c '"kind":"auth_fail"')
[ "$a" -eq "$b" ] && [ "$a" -gt 0 ] || { echo "FAIL: iso $a vs bsd $b auth_fail events"; exit 1; }
$P --json "$T/iso.log" | head -1 | grep -Eq '"time":"2026-11-28T[0-9]{2}:[0-9]{2}:[0-9]{2}\.001Z"' || { echo "FAIL: iso time"; exit 1; }

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
