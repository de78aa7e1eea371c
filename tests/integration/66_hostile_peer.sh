#!/bin/bash
# Three real sgagent processes on loopback and a hostile cluster member (tests/tools/hostile.c: a
# valid key of the keyring, real ZeroMQ sockets) that tries every record attack on n1: a 50-year
# unban, a 50-year hold, 2000 /16 bans, a /8, control characters and invalid UTF-8 in keys and
# reasons, kinds their keys do not take, other origins' counter slots, a wire version 1 frame, and
# more address space and records than its budgets allow. Each is refused and counted by reason;
# the honest nodes hold and enforce only what the bounds let through, relay nothing refused, log
# no control character; an unban shields its address only for the configured grace; and a reload
# applies new limits.
[ -z "${BASH_VERSION:-}" ] && exec bash "$0" "$@"
set -u
SG_BIN=${SG_BIN:?}; SG_ROOT=${SG_ROOT:?}
SG_BUILD=${SG_BUILD:-$SG_ROOT/build}
HOSTILE=$SG_BUILD/tests/tool_hostile
. "$SG_ROOT/tests/integration/lib/cluster.sh"
T=$(mktemp -d)
cleanup() { cluster_stop_all; if [ -n "${SG_KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for i in 1 2 3; do echo "--- n$i"; tail -15 "$T/n$i/agent.log"; done; exit 1; }
[ -x "$HOSTILE" ] || fail "$HOSTILE not built (make $HOSTILE)"
all_nodes() { local i; for i in 1 2 3; do "$@" "$i" || return 1; done; }
field() { cluster_status_field "$1" "$2"; }
refused() { field "$1" "d['records_refused']['$2']"; }
# records I AUTHOR: how many records of that author node I holds (bans, tombstones, offense memory).
records() {
    sgc "$1" bans --all --json | python3 -c '
import json, sys
print(sum(1 for b in json.load(sys.stdin) if b["author"] == sys.argv[1]))' "$2"
}

cluster_init 3 "$T" || fail "init"
# The hostile member's key is in every node's keyring, as a node added by the role would be.
mkdir -p "$T/mallory"
"$SG_BIN/sgcluster" keygen --node mallory "$T/mallory" >/dev/null || fail "keygen mallory"
cp "$T/mallory/mallory.pub" "$T/peers/"
# Gossip in plaintext (curve = no, allowed on loopback): under CURVE, the default, ZAP admits only
# the configured peers, and mallory is a keyring member outside the peer list, as a node added by
# the role is until the others reload; these attacks are about what a member may write.
for i in 1 2 3; do
    cluster_conf $i node "curve = no"
    cluster_conf $i limits "author_max_records = 50" "author_max_addresses_per_hour = 4160" "unban_grace = 3s"
    : > "$T/n$i/mail.log"
done
for i in 1 2 3; do cluster_start $i || fail "start n$i"; done
wait_for 15 all_nodes cluster_healthy || fail "cluster not healthy"
echo "measured: 3 agents healthy"

sync1="tcp://127.0.0.1:$(_cluster_port 1 sync)"
t_sent=$(now_ms)
"$HOSTILE" "$sync1" "$T/mallory" mallory "$T/peers" n2 > "$T/hostile.out" || fail "hostile tool: $(cat "$T/hostile.out")"
sed 's/^/  /' "$T/hostile.out"

# n1 holds exactly what the budgets let through: the one-day unban, 16 of the 64 /24s (4096 of the
# 4160 addresses an hour; the other 48 would pass it) and 33 of the 150 address bans (50 records in
# all; the other 117 would pass that). n2 and n3 get the same from n1, and refuse none of it.
mallory_done() { [ "$(records "$1" mallory)" = 50 ]; }
wait_for 15 all_nodes mallory_done || fail "the hostile member's accepted records did not reach every node"
t0=$(now_ms)
expect_refused() { # NODE REASON COUNT
    local got
    got=$(refused "$1" "$2")
    [ "$got" = "$3" ] || fail "n$1: $got records refused as $2, expected $3"
}
counted_n1() { [ "$(refused 1 author_records)" = 117 ]; }
wait_for 10 counted_n1 || fail "n1 did not count the refusals"
expect_refused 1 too_long 2
expect_refused 1 too_wide 2001
expect_refused 1 bad_text 5
expect_refused 1 bad_key 3
expect_refused 1 foreign_slot 2
expect_refused 1 author_span 48
expect_refused 1 author_records 117
[ "$(field 1 "d['gossip']['drops']['old_version']")" = 1 ] || fail "n1 did not count the version 1 frame"
grep -q "old wire version 1.*claiming to be mallory" "$T/n1/agent.log" || fail "n1 did not say why, and from whom, it dropped the version 1 frame"
# The peers table says who sent them: all 2178 from mallory, none from the honest peers.
peer_refused() { sgc 1 peers | awk -v p="$1" '$1 == "PEER" { for (i = 1; i <= NF; i++) if ($i == "REFUSED") c = i } $1 == p { print $c }'; }
[ "$(peer_refused mallory)" = 2178 ] || fail "n1's peers table shows $(peer_refused mallory) entries refused from mallory, expected 2178"
for p in n2 n3; do [ "$(peer_refused $p)" = 0 ] || fail "n1 refused entries from the honest peer $p"; done
echo "measured: n1 refused 2 too_long, 2001 too_wide, 5 bad_text, 3 bad_key, 2 foreign_slot, 48 author_span, 117 author_records, 1 old_version frame"

# The honest nodes decided and hold nothing they should not, and relayed nothing refused.
python_check() { # NODE
    sgc "$1" bans --all --json | python3 -c '
import json, sys
bad = []
for b in json.load(sys.stdin):
    k = b["key"]
    if k in ("ip:198.51.100.10", "user:victim@example.jp", "net:44.0.0.0/8", "ip:203.0.113.99") \
       or k.endswith("/16") or k.startswith(("ip:198.51.100.3", "ip:198.51.100.4", "ip:198.51.100.6")) \
       or any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in k + b["reason"]):
        bad.append(k)
    if b["author"] == "mallory" and b["expires_at"] > 2 * 86400 * 1000 + int(sys.argv[1]):
        bad.append(k + " (lives too long)")
if bad:
    print("unexpected records:", bad[:5])
    sys.exit(1)' "$t_sent"
}
for i in 1 2 3; do
    python_check $i || fail "n$i holds a record it should have refused"
    [ "$(field $i "d['kernel']['set4']")" = 49 ] || fail "n$i: $(field $i "d['kernel']['set4']") IPv4 elements, expected 49 (16 /24s and 33 addresses)"
done
for i in 2 3; do
    total=$(field $i "sum(d['records_refused'].values())")
    [ "$total" = 0 ] || fail "n$i refused $total relayed records: n1 relayed something it should have refused"
done
! grep -qh "decided here.*203.0.113.99" "$T"/n*/agent.log || fail "a node decided on forged counter slots"
! LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$T"/n*/agent.log || fail "a control character reached an agent's log"
echo "measured: every node holds the 50 records within bounds, enforces 49 elements, refused 0 relayed records"

# An unban shields its address only for unban_grace (3s): after that, failures ban it again.
now() { date -u '+%b %e %H:%M:%S'; }
past() { [ "$(now_ms)" -gt "$1" ]; }
wait_for 10 past $((t_sent + 3500)) || fail "the clock did not pass the grace"
t_fail=$(now_ms)
for k in $(seq 1 12); do
    echo "$(now) mx2 dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<bob>, method=PLAIN, rip=198.51.100.50, lip=10.0.0.2, TLS, session=<g$k>" >> "$T/n2/mail.log"
done
has50() { cluster_has_ban "$1" ip:198.51.100.50; }
wait_for 10 all_nodes has50 || fail "an address unbanned by the hostile member stayed shielded past the grace"
# n2 counted those failures; n1's `top` shows them too (every origin's slots, not only its own).
sgc 1 top --json | python3 -c '
import json, sys
sys.exit(0 if any(x["key"] == "auth-ip|ip:198.51.100.50" and x["count"] >= 10 for x in json.load(sys.stdin)) else 1)' ||
    fail "n1 top does not show the failures counted on n2"
echo "measured: the address the hostile member unbanned was banned again $(( $(now_ms) - t_fail )) ms after new failures, $(( $(now_ms) - t_sent )) ms after the unban (grace 3 s)"
# A reload applies new limits: with max_ban = 1h on n1, an operator's 5-hour ban there lasts 1h.
cluster_conf 1 limits "max_ban = 1h"
kill -HUP "${CLUSTER_PID[1]}"
reloaded() { [ "$(field 1 "d['reloads']")" = 1 ]; }
wait_for 10 reloaded || fail "n1 did not reload"
sgc 1 ban 203.0.113.77 --for 5h >/dev/null || fail "operator ban on n1"
left=$(sgc 1 bans --json | python3 -c '
import json, sys, time
print(int(next(b["expires_at"] for b in json.load(sys.stdin) if b["key"] == "ip:203.0.113.77") / 1000 - time.time()))')
if [ "$left" -gt 3600 ] || [ "$left" -le 3500 ]; then fail "after the reload a 5h ban on n1 lasts ${left}s, expected 1h"; fi
echo "measured: after a reload with max_ban = 1h, an operator's 5h ban lasts ${left}s"
echo "hostile peer checks passed ($(( $(now_ms) - t0 )) ms of checks)"
