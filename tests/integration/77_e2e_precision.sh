#!/bin/bash
# 77_e2e_precision.sh: precision on real software. One mail node (real Dovecot) with its agent
# enforcing in nft. Prefixes are /28 here (prefix4 = 28: the test net is one /24 holding the node)
# and 2 banned addresses escalate to a prefix ban. In one customer /28, three good customers log in,
# a phone keeps retrying an old password after its user logged in from it, and two infected
# addresses guess passwords: the infected are banned one by one, the /28 is not, the good customers
# and the phone's household keep access. The same infection in a /28 without good customers gets
# that /28 banned: the evidence is what held.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/e2e.sh"
e2e_require

MAILD_USERS="alice:alice-pw bob:bob-pw carol:carol-pw dave:dave-pw erin:erin-pw"
narrow() { cluster_conf "$1" "enforce" "prefix4 = 28" "prefix_ban_after = 2"; }
e2e_up 1 narrow
netns_add_addrs client 15 || fail "customer addresses"
ip_of() { netns_ip client "$1"; }          # 10.77.0.(200 + K): K 0-7 in .192/28, 8-15 in .208/28

# Good customers and the phone's household log in (10.77.0.192/28 gets 4 good users).
k=1
for u in alice bob carol dave; do
    imap_login -s "$(ip_of $k)" "$(node_ip 1)" $u "$(maild_password $u)" || fail "$u cannot log in from $(ip_of $k)"
    k=$((k + 1))
done
PHONE=$(ip_of 4)
known_good() { sgc 1 explain "$PHONE" dave --json 2>/dev/null | grep -q '"known_good":true'; }
wait_for 10 known_good || { sgc 1 explain "$PHONE" dave; fail "the phone's address never became known-good for dave"; }

# The stale phone (15 tries of dave's old password) and two infected customers (10 guesses each)
# in the good /28, and two infected ones in the other /28, all at once.
# (Each loop is waited for by its pid: a bare `wait` would wait for the agent too.)
pids=()
( for i in $(seq 1 15); do CLIENT_OUT="" imap_login -s "$PHONE" "$(node_ip 1)" dave old-password; done ) & pids+=($!)
for k in 5 6 9 10; do
    ( for i in $(seq 1 10); do CLIENT_OUT="" imap_login -s "$(ip_of $k)" "$(node_ip 1)" erin "guess-$k-$i"; done ) & pids+=($!)
done
wait "${pids[@]}"
for k in 5 6; do
    wait_for 10 in_kernel 1 "$(ip_of $k)" || fail "infected $(ip_of $k) not in the kernel set"
done
# In the other /28 the prefix ban covers its two addresses (the kernel set keeps the prefix).
wait_for 10 in_kernel 1 "10.77.0.208/28" || { sgc 1 explain "$(ip_of 9)"; fail "the /28 without good customers was not banned"; }
for k in 9 10; do cluster_has_ban 1 "ip:$(ip_of $k)" || fail "infected $(ip_of $k) has no ban record"; done
echo "measured: 4 infected addresses banned; 10.77.0.208/28 (no good customers) banned"
in_kernel 1 "10.77.0.192/28" && { sgc 1 explain "$(ip_of 5)"; fail "the customer /28 was banned"; }
in_kernel 1 "$PHONE" && fail "the stale phone's address was banned"
for k in 1 2 3; do
    u=$(echo alice bob carol | cut -d' ' -f$k)
    imap_login -s "$(ip_of $k)" "$(node_ip 1)" $u "$(maild_password $u)" || fail "$u lost access"
done
imap_login -s "$PHONE" "$(node_ip 1)" dave "$(maild_password dave)" || fail "the phone's household lost access"
sgc 1 explain "$(ip_of 5)" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["banned"]["scenario"] == "auth-ip", d["banned"]
assert d["prefix_banned"] is None and d["evidence"]["prefix_protected"], d
assert d["evidence"]["prefix_good_users"] >= 3, d["evidence"]
' || fail "explain of an infected customer"
sgc 1 explain "$PHONE" dave --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["banned"] is None and d["known_good"]["known_good"] and d["evidence"]["stale_users"] == 1, d
' || fail "explain of the stale phone"
sgc 1 status --json | python3 -c 'import json,sys; d=json.load(sys.stdin)["precision"]; assert d["refused_prefix_bans"] >= 1 and d["stale_failures"] >= 15, d' \
    || fail "precision counters"
echo "measured: $(sgc 1 status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["precision"])')"
echo "e2e precision checks passed"
