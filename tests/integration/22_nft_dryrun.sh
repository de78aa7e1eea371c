#!/bin/sh
# 22_nft_dryrun.sh: the dry-run backend logs each change it would make and leaves the kernel alone.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require
nft_netns sgd
out=$(ip netns exec $NS "$HELPER" --dry-run ban 203.0.113.7 600 2001:db8::/64 600 127.0.0.1 60 2>&1); rc=$?
echo "$out" | sed 's/^/  /'
fails=0
echo "$out" | grep -q "would add element inet sgcluster ban4 { 203.0.113.7 timeout 600s }" || { echo "FAIL: no v4 log line"; fails=1; }
echo "$out" | grep -q "would add element inet sgcluster ban6 { 2001:db8::/64 timeout 600s }" || { echo "FAIL: no v6 log line"; fails=1; }
echo "$out" | grep -q "refused ban of 127.0.0.1" || { echo "FAIL: guard not applied in dry-run"; fails=1; }
[ $rc = 3 ] || { echo "FAIL: exit $rc, wanted 3 (one refused)"; fails=1; }
rs=$(ip netns exec $NS nft list ruleset)
[ -z "$rs" ] || { echo "FAIL: dry-run changed the kernel:"; echo "$rs"; fails=1; }
[ $fails = 0 ] || exit 1
echo "pass: dry-run logs and does not touch nftables"
