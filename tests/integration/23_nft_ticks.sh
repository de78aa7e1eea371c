#!/bin/sh
# 23_nft_ticks.sh: one long-lived process, as the agent runs it: commits tick after tick against
# its mirror of the kernel sets; heals when the table is deleted under it; a re-ban racing the
# kernel's own expiry still lands; a re-ban of a live element takes its new timeout; a ban
# overlapping a hand-made element fails alone and is counted.
set -u
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/nft.sh"
nft_require
nft_netns sgt
out=$(ip netns exec $NS "$HELPER" script 2>&1 <<'SCRIPT'
ban 203.0.113.1 600 203.0.113.0/24 600 2001:db8:1::/64 600
commit
status
ban 203.0.113.9 600
commit
stats
sh nft delete table inet sgcluster
ban 203.0.113.2 600 198.51.100.1 600
commit
status
sh nft list set inet sgcluster ban4 | grep -q '198.51.100.1 timeout'
ban 198.51.100.1 1200
commit
sh nft list set inet sgcluster ban4 | grep -q '198.51.100.1 timeout 20m'
ban 192.0.2.7 2
commit
sh timeout 5 sh -c 'while nft list set inet sgcluster ban4 | grep -q "192.0.2.7 "; do sleep 0.1; done'
ban 192.0.2.7 600
commit
sh nft list set inet sgcluster ban4 | grep -q '192.0.2.7 timeout 10m'
sh nft add element inet sgcluster ban4 '{ 10.9.0.0/24 timeout 1h }'
ban 10.9.0.5 600 10.8.0.5 600
commit
sh nft list set inet sgcluster ban4 | grep -q '10.8.0.5 timeout'
stats
SCRIPT
)
echo "$out" | sed 's/^/  /'
fails=0
want() { # LINE-PREFIX EXPECTED-SUBSTRING: the line after "> LINE = RC" or the line itself
    echo "$out" | grep -qF -- "$1" || { echo "FAIL: missing: $1"; fails=$((fails + 1)); }
}
want "> commit = 0"
want "kernel: table=yes set4=1 set6=1"                # the /24 folded the address in it
want "> ban 203.0.113.9 600 = 0"
want "covered=2"                                       # .1 in the first tick, .9 against the mirror
want "> sh nft delete table inet sgcluster = 0"
want "kernel: table=yes set4=2 set6=0"                 # set up again, only this tick's bans
want "> sh nft list set inet sgcluster ban4 | grep -q '198.51.100.1 timeout' = 0"
want "> sh nft list set inet sgcluster ban4 | grep -q '198.51.100.1 timeout 20m' = 0"   # live refresh
want "do sleep 0.1; done' = 0"                               # the kernel let 192.0.2.7 expire (within 5 s)
want "> sh nft list set inet sgcluster ban4 | grep -q '192.0.2.7 timeout 10m' = 0"
want "> commit = 1"                                    # the overlapping ban failed...
want "> sh nft list set inet sgcluster ban4 | grep -q '10.8.0.5 timeout' = 0"   # ...alone
echo "$out" | tail -1 | grep -q "failed=1 " || { echo "FAIL: failed counter"; fails=$((fails + 1)); }
[ $fails = 0 ] || exit 1
echo "pass: ticks in one process: mirror, self-healing, expiry race, isolated failure"
