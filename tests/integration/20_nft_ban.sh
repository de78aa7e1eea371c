#!/bin/sh
# 20_nft_ban.sh: bans hold in a real kernel: a banned address (its own namespace) cannot reach a
# mail port of the node while an allowed one can, over IPv4 and IPv6; a prefix ban covers the
# prefix; other ports stay open; an entry expires on its own; reject answers with a reset;
# unban reopens; the guard refuses the node's own address. Everything runs in namespaces made here.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require python3
PROBE=$ROOT/tests/bench/nft_probe.py

N=sgn$$; NODE=${N}n; BAD=${N}b; GOOD=${N}g
LPID=
cleanup() {
    [ -n "$LPID" ] && kill "$LPID" 2>/dev/null
    for ns in $NODE $BAD $GOOD; do ip netns del "$ns" 2>/dev/null; done
}
trap cleanup EXIT INT TERM
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

for ns in $NODE $BAD $GOOD; do ip netns add "$ns" || { echo "skip: ip netns add failed"; exit 77; }; done
for ns in $NODE $BAD $GOOD; do ip -n "$ns" link set lo up; done
ip link add ${N}nb netns $NODE type veth peer name ${N}bn netns $BAD || exit 1
ip link add ${N}ng netns $NODE type veth peer name ${N}gn netns $GOOD || exit 1
ip -n $NODE addr add 10.200.1.1/24 dev ${N}nb
ip -n $NODE addr add fd00:1::1/64 dev ${N}nb nodad
ip -n $NODE addr add 10.200.2.1/24 dev ${N}ng
ip -n $NODE addr add fd00:2::1/64 dev ${N}ng nodad
ip -n $BAD addr add 10.200.1.2/24 dev ${N}bn
ip -n $BAD addr add 10.200.1.60/24 dev ${N}bn
ip -n $BAD addr add 10.200.1.61/24 dev ${N}bn
ip -n $BAD addr add 10.200.1.130/24 dev ${N}bn
ip -n $BAD addr add fd00:1::2/64 dev ${N}bn nodad
ip -n $GOOD addr add 10.200.2.2/24 dev ${N}gn
ip -n $GOOD addr add fd00:2::2/64 dev ${N}gn nodad
for l in "$NODE ${N}nb" "$NODE ${N}ng" "$BAD ${N}bn" "$GOOD ${N}gn"; do set -- $l; ip -n "$1" link set "$2" up; done

ip netns exec $NODE python3 "$PROBE" listen 25 587 993 2525 > "${TMPDIR:-/tmp}/$N.listen" 2>&1 &
LPID=$!
wait_for 5 grep -q listening "${TMPDIR:-/tmp}/$N.listen" || { echo "FAIL: listener did not start"; exit 1; }
rm -f "${TMPDIR:-/tmp}/$N.listen"

# expect NS SRC DST PORT WANT: one connection attempt, WANT is ok|timeout|refused
expect() {
    got=$(ip netns exec "$1" python3 "$PROBE" connect "$2" "$3" "$4" 1.5)
    if [ "$got" = "$5" ]; then ok "$2 -> $3:$4 $got"; else bad "$2 -> $3:$4: wanted $5, got $got"; fi
}
node() { ip netns exec $NODE "$HELPER" "$@"; }

# Before any ban, everything connects (else the rest proves nothing).
expect $BAD 10.200.1.2 10.200.1.1 25 ok
expect $BAD fd00:1::2 fd00:1::1 587 ok
expect $GOOD 10.200.2.2 10.200.2.1 25 ok

# Expiry first: 10.200.1.61 is banned for 4 s, blocked now, open again later without us.
node ban 10.200.1.61 4 >/dev/null || bad "ban returned $?"
expect $BAD 10.200.1.61 10.200.1.1 25 timeout
node ban 10.200.1.2 120 fd00:1::2 120 10.200.1.128/25 120 || bad "ban returned $?"
expect $BAD 10.200.1.2 10.200.1.1 25 timeout
expect $BAD 10.200.1.2 10.200.1.1 587 timeout
expect $BAD 10.200.1.2 10.200.1.1 993 timeout
expect $BAD 10.200.1.2 10.200.1.1 2525 ok            # not a mail port: untouched
expect $GOOD 10.200.2.2 10.200.2.1 25 ok             # allowed address still connects
expect $BAD 10.200.1.60 10.200.1.1 25 ok             # a neighbour of the banned address
expect $BAD fd00:1::2 fd00:1::1 25 timeout           # IPv6 ban
expect $BAD fd00:1::2 fd00:1::1 993 timeout
expect $GOOD fd00:2::2 fd00:2::1 25 ok
expect $BAD 10.200.1.130 10.200.1.1 587 timeout      # inside the banned /25

# Expiry: the kernel drops 10.200.1.61 on its own once its 4 s are over (a bounded wait for it).
set4_is() { node status | grep -q "set4=$1 "; }
wait_for 10 set4_is 2 && ok "expired element gone from the set" || bad "set4 after expiry: $(node status | head -1)"
expect $BAD 10.200.1.61 10.200.1.1 25 ok

# The drop rules counted the packets of the attempts above.
st=$(node status | head -1)
case $st in *"drop4=0/"*) bad "no IPv4 drops counted: $st" ;; *) ok "drop counters: $st" ;; esac
case $st in *"drop6=0/"*) bad "no IPv6 drops counted: $st" ;; esac

# Reject instead of drop: the same ban now answers with a TCP reset at once.
node --reject ban 10.200.1.2 120 >/dev/null || bad "re-setup with --reject"
expect $BAD 10.200.1.2 10.200.1.1 25 refused
expect $BAD fd00:1::2 fd00:1::1 25 refused
node ban 10.200.1.2 120 >/dev/null
expect $BAD 10.200.1.2 10.200.1.1 25 timeout
rules=$(ip netns exec $NODE nft -a list chain inet sgcluster input | grep -c "saddr @ban")
[ "$rules" = 2 ] && ok "rules rewritten, not doubled" || bad "$rules ban rules in the chain"

# Unban reopens.
node unban 10.200.1.2 fd00:1::2 >/dev/null || bad "unban returned $?"
expect $BAD 10.200.1.2 10.200.1.1 25 ok
expect $BAD fd00:1::2 fd00:1::1 25 ok

# The guard: the node's own address and loopback are refused (exit 3) and counted.
out=$(node --node 10.200.1.1 ban 10.200.1.1 60 127.0.0.1 60 10.200.1.0/24 60 2>&1); rc=$?
echo "$out" | sed 's/^/  /'
[ $rc = 3 ] && echo "$out" | grep -q "refused=3" && ok "guard refused 3 bans" || bad "guard: rc=$rc"
expect $GOOD 10.200.2.2 10.200.2.1 25 ok

node remove >/dev/null || bad "remove"
ip netns exec $NODE nft list tables | grep -q sgcluster && bad "table left after remove"
[ $fails = 0 ] || { echo "FAIL: $fails checks failed"; exit 1; }
echo "pass: nft bans enforced in the kernel"
