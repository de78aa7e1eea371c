#!/bin/sh
# 21_nft_reconcile.sh: reconcile against a real kernel: an element added by hand to our set is
# removed, one deleted by hand is restored, a wrong timeout is fixed; a bad element in a large
# batch is isolated by the halving retries while the rest goes in; other tables are untouched
# before and after; removing the table leaves no trace. Runs in a namespace made here.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require
nft_netns sgr
fails=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
node() { ip netns exec $NS "$HELPER" "$@"; }
nftx() { ip netns exec $NS nft "$@"; }
has() { nftx list set inet sgcluster "$1" | grep -q "$2"; }

# Someone else's tables: they must come through everything unchanged.
nftx -f - <<'NFT' || exit 1
table inet other {
    set friends { type ipv4_addr; elements = { 192.0.2.1, 192.0.2.2 } }
    chain input { type filter hook input priority 0; policy accept; tcp dport 22 ip saddr @friends accept; }
}
table ip legacy {
    chain fw { type filter hook forward priority 0; policy drop; }
}
NFT
others() { nftx list ruleset | awk '/^table inet sgcluster/{skip=1} /^table/&&!/sgcluster/{skip=0} !skip'; }
before=$(others)

WANT="203.0.113.1=600 203.0.113.2=600 198.51.100.0/24=600 2001:db8:5::/64=600"
node reconcile $WANT | grep -q "reconciled_added=4" && ok "reconcile from empty added 4" || bad "first reconcile"

# Hand edits: add a stranger, delete one of ours, shorten the timeout of another.
nftx add element inet sgcluster ban4 '{ 203.0.113.99 timeout 1h }'
nftx delete element inet sgcluster ban4 '{ 203.0.113.2 }'
nftx delete element inet sgcluster ban6 '{ 2001:db8:5::/64 }'
nftx add element inet sgcluster ban6 '{ 2001:db8:5::/64 timeout 10s }'
has ban4 203.0.113.99 && ! has ban4 203.0.113.2 || bad "hand edits did not land"

out=$(node reconcile $WANT); echo "  $out"
case $out in *"reconciled_added=1 reconciled_removed=1 reconciled_retimed=1"*) ok "reconcile counted 1/1/1" ;;
    *) bad "reconcile counters" ;; esac
has ban4 203.0.113.2 && ok "deleted element restored" || bad "203.0.113.2 not restored"
has ban4 203.0.113.99 && bad "stranger 203.0.113.99 still there" || ok "stranger removed"
nftx list set inet sgcluster ban6 | grep -q "2001:db8:5::/64 timeout 10m" && ok "timeout fixed to 10m" ||
    bad "ban6 timeout: $(nftx list set inet sgcluster ban6 | grep 2001)"
out=$(node reconcile $WANT)
case $out in *"reconciled_added=0 reconciled_removed=0 reconciled_retimed=0"*"transactions=1 "*) ok "second reconcile: nothing to do" ;;
    *) bad "second reconcile changed something: $out" ;; esac

# A hand-made range that no ban may overlap, then 600 bans in one commit with one inside it:
# the kernel refuses that chunk; halving isolates the bad element, the other 600 go in.
nftx add element inet sgcluster ban4 '{ 198.18.100.10-198.18.100.20 timeout 1h }'
set --
i=0; while [ $i -lt 600 ]; do set -- "$@" "198.19.$((i / 250)).$((i % 250 + 1))" 600; i=$((i + 1)); done
out=$(node ban "$@" 198.18.100.15 600 2>&1); rc=$?
echo "$out" | grep -E "refused 198|stats" | sed 's/^/  /'
case $out in *"applied=600 "*"failed=1 "*) ok "bad element isolated, 600 applied (rc=$rc)" ;; *) bad "bisection: $out" ;; esac
case $out in *"retries=0"*) bad "no retry round seen" ;; esac
st=$(node status | head -1)
case $st in *"set4=604 "*) ok "$st" ;; *) bad "set sizes after bisection: $st" ;; esac

# A ban covering held addresses replaces them; an address inside a held prefix is skipped.
node ban 198.19.0.0/24 600 198.51.100.7 600 > /dev/null
has ban4 198.19.0.0/24 && ! has ban4 "198.19.0.5 " && ok "prefix replaced the addresses it covers" || bad "covering prefix"
nftx list set inet sgcluster ban4 | grep -q "198.51.100.7" && bad "covered address added" || ok "covered address skipped"

after=$(others)
[ "$before" = "$after" ] && ok "other tables untouched" || { bad "other tables changed"; echo "$before"; echo "$after"; }
node remove >/dev/null || bad "remove failed"
nftx list ruleset | grep -q sgcluster && bad "sgcluster left after remove" || ok "table removed"
[ "$before" = "$(others)" ] && [ "$before" = "$(nftx list ruleset)" ] && ok "only the other tables remain" ||
    bad "ruleset after remove differs"
node remove >/dev/null || bad "second remove (absent table) failed"
[ $fails = 0 ] || { echo "FAIL: $fails checks failed"; exit 1; }
echo "pass: reconcile, retries and removal against the kernel"
