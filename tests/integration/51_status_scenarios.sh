#!/bin/sh
# `sgcluster status --scenarios`, like `fail2ban-client status JAIL`: one block per scenario with the
# subjects currently counting, the decisions taken, what is banned now and the banned list; --short
# the counts only; --json both. The numbers move with real log lines read by a real agent.
set -u
BIN=${SG_BIN:?}; ROOT=${SG_ROOT:?}
. "$ROOT/tests/integration/lib/agent1.sh"
T=$(mktemp -d)
trap 'agent1_stop; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; tail -20 "$T/agent.log"; exit 1; }
agent1_start "$T" n1 dryrun < /dev/null || fail "agent did not start"
sc() { agent1_ctl status --scenarios "$@"; }
field() { # PYEXPR over d = {scenario id: row}
    sc --json | python3 -c 'import json,sys; d={r["scenario"]: r for r in json.load(sys.stdin)}; print(eval(sys.argv[1]))' "$1"
}
fails() { # FIRST LAST: auth failures from 203.0.113.9 for users uFIRST..uLAST
    i=$1
    while [ "$i" -le "$2" ]; do
        echo "$(date -u '+%b %e %H:%M:%S') mx1 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<u$i@example.jp>, method=PLAIN, rip=203.0.113.9, lip=192.0.2.1, TLS, session=<s$i>" >> "$T/mail.log"
        i=$((i + 1))
    done
}

# Every configured scenario, nothing counting yet.
[ "$(field 'sorted(d) == sorted(["auth-ip", "auth-prefix", "spray-ip", "relay-ip", "rejected-ip", "conn-flood", "account-rcpt", "account-spread"])')" = True ] \
    || fail "scenarios listed: $(field 'sorted(d)')"
[ "$(field 'sum(r["counting"] + r["decided"] + r["active"] for r in d.values())')" = 0 ] || fail "counts before any line: $(sc --json)"

# Three failures: the address is counting in auth-ip (and the prefix in auth-prefix), nothing decided.
fails 1 3
counting() { [ "$(field 'd["auth-ip"]["counting"]')" = 1 ]; }
wait_for 10 counting || fail "auth-ip not counting after 3 failures: $(sc)"
[ "$(field 'd["auth-prefix"]["counting"]')" = 1 ] || fail "auth-prefix: $(sc --json)"
[ "$(field 'sum(r["decided"] for r in d.values())')" = 0 ] || fail "decided too early: $(sc --json)"
sc | grep -q "^|- Currently counting: 1 subjects in the window" || fail "text block: $(sc)"

# Nine more, all different users: one scenario decides, and its block lists the address.
fails 4 12
decided() { [ "$(field 'sum(r["decided"] for r in d.values())')" = 1 ]; }
wait_for 10 decided || fail "no decision after 12 failures: $(sc)"
who=$(field '[k for k, r in d.items() if r["decided"]][0]')
[ "$(field "d['$who']['list'] == ['ip:203.0.113.9'] and d['$who']['active'] == 1")" = True ] || fail "$who: $(sc --json)"
sc > "$T/sc.txt"
grep -A4 "^Scenario: $who " "$T/sc.txt" > "$T/block.txt"
grep -q "^|- Total decided:      1 " "$T/block.txt" || fail "block: $(cat "$T/block.txt")"
grep -q "^|- Currently banned:   1 cluster-wide" "$T/block.txt" || fail "block: $(cat "$T/block.txt")"
grep -q "^\`- Banned list:       ip:203.0.113.9$" "$T/block.txt" || fail "block: $(cat "$T/block.txt")"

# --short: one row per scenario with the counts, no lists.
agent1_ctl status --scenarios --short > "$T/short.txt" || fail "--short exit $?"
head -1 "$T/short.txt" | grep -qE '^SCENARIO +COUNTING +DECIDED +BANNED$' || fail "--short header: $(head -1 "$T/short.txt")"
grep -qE "^$who +[0-9]+ +1 +1$" "$T/short.txt" || fail "--short row: $(cat "$T/short.txt")"
grep -q "Banned list\|203.0.113.9" "$T/short.txt" && fail "--short lists keys: $(cat "$T/short.txt")"
agent1_ctl status --scenarios --short --json | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if r and all("list" not in x and "active" in x for x in r) else 1)' \
    || fail "--short --json: $(agent1_ctl status --scenarios --short --json)"
agent1_ctl status --short 2>/dev/null && fail "--short without --scenarios accepted"

# An operator ban shows under "manual"; unbanning lowers the banned count, not the decided one.
agent1_ctl ban 198.51.100.40 > /dev/null || fail "ban"
[ "$(field 'd["manual"]["list"] == ["ip:198.51.100.40"] and not d["manual"]["configured"]')" = True ] || fail "manual: $(sc --json)"
agent1_ctl unban 203.0.113.9 > /dev/null || fail "unban"
[ "$(field "d['$who']['active'] == 0 and d['$who']['decided'] == 1 and d['$who']['list'] == []")" = True ] || fail "after unban: $(sc --json)"
echo "measured: $who decided after 12 failures; status --scenarios followed it"
