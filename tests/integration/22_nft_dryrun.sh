#!/bin/sh
# 22_nft_dryrun.sh: the dry-run backend logs each change it would make and leaves the kernel alone.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root for network namespaces"; exit 77; }
command -v nft >/dev/null && command -v ip >/dev/null || { echo "skip: needs nft and ip"; exit 77; }
ROOT=${SG_ROOT:-$(pwd)}
BUILD=${SG_BUILD:-$ROOT/build}
HELPER=$BUILD/tests/bench_nft
if [ ! -x "$HELPER" ]; then
    san=; nm "$BUILD/libsg.a" 2>/dev/null | grep -q __asan && san=SAN=1
    make -C "$ROOT" --no-print-directory $san BUILD="$BUILD" "$HELPER" >/dev/null || { echo "FAIL: cannot build $HELPER"; exit 1; }
fi
NS=sgd$$
trap 'ip netns del $NS 2>/dev/null' EXIT INT TERM
ip netns add $NS || { echo "skip: ip netns add failed"; exit 77; }
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
