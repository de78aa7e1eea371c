#!/bin/sh
# 25_nft_reconcile_sliced.sh: the full reconcile of 120,000 bans cut into slices, one per tick,
# as the agent runs it (bench_nft script, real nft in a namespace). Hand edits made before the
# kernel's dump is read are repaired; a ban and an unban queued while the dump is read across
# ticks wait for its end and then go in; the end state is the wanted set, and it took many slices.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require
nft_netns sgs
# The kernel holds 10.1.0.0 .. +120000 (10.1.0.0 - 10.2.212.191). The state wants all but the
# last, plus 198.51.100.7 and the /24 2001:db8:7::/48 over IPv6.
out=$(ip netns exec $NS "$HELPER" script 2>&1 <<'SCRIPT'
ban 10.1.0.0+120000 3600
commit
reconcile-start 10.1.0.0+119999=3600 198.51.100.7=600 2001:db8:7::/48=600
ticks-until sort
sh nft delete element inet sgcluster ban4 '{ 10.1.0.5 }'
sh nft add element inet sgcluster ban4 '{ 192.0.2.99 timeout 1h }'
ticks-until dump
tick
ban 198.51.100.50 600
unban 10.1.0.7
tick
ticks-until done
stats
sh nft get element inet sgcluster ban4 '{ 10.1.0.5 }' >/dev/null
sh nft get element inet sgcluster ban4 '{ 198.51.100.7 }' >/dev/null
sh nft get element inet sgcluster ban4 '{ 198.51.100.50 }' >/dev/null
sh nft get element inet sgcluster ban6 '{ 2001:db8:7::/48 }' >/dev/null
sh nft get element inet sgcluster ban4 '{ 10.1.0.6 }' >/dev/null
sh nft get element inet sgcluster ban4 '{ 10.1.0.7 }' >/dev/null 2>&1
sh nft get element inet sgcluster ban4 '{ 192.0.2.99 }' >/dev/null 2>&1
sh nft get element inet sgcluster ban4 '{ 10.2.212.191 }' >/dev/null 2>&1
SCRIPT
)
echo "$out" | grep -v "^stats: .*reconcile_slices=0" | sed 's/^/  /' | tail -40
fails=0
want() { echo "$out" | grep -qF -- "$1" || { echo "FAIL: missing: $1"; fails=$((fails + 1)); }; }
want "> commit = 0"
want "> reconcile-start 10.1.0.0+119999=3600 198.51.100.7=600 2001:db8:7::/48=600 = 0"
want "stage: sort"
want "stage: dump"
want "> ban 198.51.100.50 600 = 0"
want "stage: done"
want "> sh nft get element inet sgcluster ban4 '{ 10.1.0.5 }' >/dev/null = 0"        # deleted by hand: back
want "> sh nft get element inet sgcluster ban4 '{ 198.51.100.7 }' >/dev/null = 0"     # wanted: added
want "> sh nft get element inet sgcluster ban4 '{ 198.51.100.50 }' >/dev/null = 0"    # banned mid-dump: in after it
want "> sh nft get element inet sgcluster ban6 '{ 2001:db8:7::/48 }' >/dev/null = 0"
want "> sh nft get element inet sgcluster ban4 '{ 10.1.0.6 }' >/dev/null = 0"
want "> sh nft get element inet sgcluster ban4 '{ 10.1.0.7 }' >/dev/null 2>&1 = 1"    # unbanned mid-dump: out after it
want "> sh nft get element inet sgcluster ban4 '{ 192.0.2.99 }' >/dev/null 2>&1 = 1"  # added by hand: removed
want "> sh nft get element inet sgcluster ban4 '{ 10.2.212.191 }' >/dev/null 2>&1 = 1" # no longer wanted: removed
# Added: 10.1.0.5, 198.51.100.7, the /48; removed: 192.0.2.99 and the last address.
want "reconciled_added=3 reconciled_removed=2 reconciled_retimed=0"
# Sorting 120k bans, reading a 120k-element dump reply by reply, sorting and planning: each
# slice is bounded, so there are many (the exact count depends on the kernel's reply sizes).
slices=$(echo "$out" | sed -n 's/^stats: .*reconcile_slices=\([0-9]*\).*/\1/p' | tail -1)
[ "${slices:-0}" -ge 50 ] || { echo "FAIL: reconcile in ${slices:-?} slices, expected 50 or more"; fails=$((fails + 1)); }
# A fresh process reads the kernel sets whole: exactly the wanted set.
count=$(ip netns exec $NS "$HELPER" status 2>&1 | sed -n 's/^kernel: table=yes set4=\([0-9]*\) set6=\([0-9]*\).*/\1 \2/p')
[ "$count" = "120000 1" ] || { echo "FAIL: the kernel holds '$count' (ban4 ban6), want '120000 1'"; fails=$((fails + 1)); }
[ $fails = 0 ] || exit 1
echo "pass: a 120k-ban reconcile in $slices slices; hand edits repaired, bans queued meanwhile applied after it"
