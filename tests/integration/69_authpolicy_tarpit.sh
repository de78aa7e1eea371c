#!/bin/bash
# 69_authpolicy_tarpit.sh: one account attacked from thirty addresses, on two nodes with real
# Dovecot asking their agents (lib/authpolicy.sh: dry-run enforcement, so the auth-policy answer is
# all that stops a client). The account's owner logs in first from her usual address, which makes
# it known-good for her ([precision]: a successful login, reported by Dovecot). Twenty addresses
# (the extra addresses of the attacker namespace, on the client side of its veth) each fail once,
# spread over both nodes: the account is then under attack cluster-wide (attack_addresses = 20).
# From then on every try from the ten others, and every second try of all thirty, is tarpitted
# (tarpit = 2s here) or refused (-1: the account-attack scenario banned it at its first failure
# under attack), while the owner's known-good address logs in at once on both nodes, and a fresh
# address with the right password gets in, slowed.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/authpolicy.sh"

TARPIT=2
# The test net is one /24 holding nodes, attackers and the owner: the ISP's customer network,
# never banned as a prefix (auth-prefix would otherwise ban it after 6 failing addresses).
hook() {
    authpolicy_conf "$1" "tarpit = ${TARPIT}s"
    cluster_conf "$1" precision "customer_networks = 10.77.0.0/24"
}
authpolicy_maild
e2e_up 2 hook
CLUSTER_BACKEND=dryrun
netns_add_addrs attacker 30 || fail "thirty attacker addresses"
OWNER=$(netns_ip client)
dlog() { maild_log "node$1" dovecot; }
node_of() { echo $(( $1 % 2 + 1 )); }     # attacker address K tries node (K mod 2) + 1
explain() { # I PYEXPR (d: explain alice OWNER --json)
    sgc "$1" explain alice "$OWNER" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

explain_is() { [ "$(explain "$1" "$2")" = "$3" ]; }

# The owner logs in from her usual address: it becomes known-good for alice on both nodes.
imap_login "$(node_ip 1)" alice alice-pw || fail "alice cannot log in from $OWNER"
for i in 1 2; do
    wait_for 10 explain_is "$i" 'd["known_good"]["known_good"]' True ||
        fail "node$i: $OWNER never became known-good for alice: $(sgc "$i" explain alice "$OWNER")"
done

# tries FROM TO PASSWORD: attacker addresses FROM..TO each try alice once, all at once; each
# client's exit code goes to $T/rc.K.
T=$NETNS_DIR/tries
mkdir -p "$T"
tries() {
    local k pids=()
    for k in $(seq "$1" "$2"); do
        ( CLIENT_OUT=""; imap_login -n attacker -s "$(netns_ip attacker "$k")" "$(node_ip "$(node_of "$k")")" \
              alice "$3"; echo $? > "$T/rc.$k" ) &
        pids+=($!)
    done
    wait "${pids[@]}"
}

# Twenty addresses fail once each: the account is under attack on both nodes. These tries are
# answered 0 (nothing was known yet): Dovecot checks the passwords.
tries 1 20 wrong-1
for k in $(seq 1 20); do [ "$(cat "$T/rc.$k")" = 1 ] || fail "try 1 from $(netns_ip attacker "$k"): exit $(cat "$T/rc.$k")"; done
for i in 1 2; do
    wait_for 10 explain_is "$i" 'd["under_attack"]' True ||
        fail "node$i: alice not under attack after 20 failing addresses: $(sgc "$i" explain alice)"
done

# Every try from now on, per address, is tarpitted or refused. Dovecot logs each answer.
answers() { # ADDR: the statuses Dovecot got for alice from ADDR, on both nodes
    cat "$(dlog 1)" "$(dlog 2)" | sed -n "s/.*policy(alice,$1,.*Policy response \(-\?[0-9]*\).*/\1/p" | tr '\n' ' '
}
slowed_or_refused() { # ADDR: each answer for ADDR since the logs were emptied was -1 or TARPIT
    local a got
    got=$(answers "$1")
    [ -n "$got" ] || return 1
    for a in $got; do [ "$a" = -1 ] || [ "$a" = "$TARPIT" ] || return 1; done
}
: > "$(dlog 1)"; : > "$(dlog 2)"
t0=$(ms)
tries 21 30 wrong-2
t_ten=$(( $(ms) - t0 ))
# Each failed under attack: account-attack banned it (before its second try, not racing it).
for k in $(seq 21 30); do
    wait_for 10 cluster_has_ban "$(node_of "$k")" "ip:$(netns_ip attacker "$k")" ||
        fail "$(netns_ip attacker "$k") failed for alice under attack and was not banned"
done
t0=$(ms)
tries 1 30 wrong-3
t_thirty=$(( $(ms) - t0 ))
tarpitted=0; refused=0
for k in $(seq 1 30); do
    a=$(netns_ip attacker "$k")
    [ "$(cat "$T/rc.$k")" = 1 ] || fail "second try from $a: exit $(cat "$T/rc.$k"), want 1 (refused)"
    slowed_or_refused "$a" || fail "$a was answered '$(answers "$a")', want only -1 or $TARPIT"
    got=$(answers "$a")
    tarpitted=$((tarpitted + $(echo "$got" | grep -o "$TARPIT" | wc -l)))
    refused=$((refused + $(echo "$got" | grep -o -- "-1" | wc -l)))
done
[ "$tarpitted" -ge 10 ] || fail "only $tarpitted tarpitted answers: the ten fresh addresses were not slowed"
[ "$refused" -ge 10 ] || fail "only $refused refusals: the addresses that failed under attack were not banned"
# Every one of them still went through Dovecot's password check only when tarpitted: a refusal
# comes before it.
echo "measured: 30 addresses on one account: $tarpitted tarpitted (${TARPIT} s) and $refused refused answers; 10 fresh addresses at once took $t_ten ms, 30 second tries at once $t_thirty ms"

# The owner's known-good address logs in at once on both nodes, answered 0 every time.
for i in 1 2; do
    t0=$(ms)
    imap_login "$(node_ip "$i")" alice alice-pw || fail "node$i: the owner was refused during the attack"
    echo "measured: node$i: the owner's login during the attack took $(( $(ms) - t0 )) ms"
done
got=$(answers "$OWNER")
[ -n "$got" ] && [ -z "$(echo "$got" | tr -d ' 0')" ] || fail "the owner's address was answered '$got', want only 0"

# A fresh address with the right password is slowed, not locked out (the tarpit is for the
# account, not a ban of shared addresses).
netns_add_addrs client 1 || fail "a second client address"
NEW=$(netns_ip client 1)
imap_login -s "$NEW" "$(node_ip 2)" alice alice-pw || fail "a fresh address with alice's password was refused"
[ "$(answers "$NEW" | awk '{print $1}')" = "$TARPIT" ] || fail "the fresh address was answered '$(answers "$NEW")', want $TARPIT first"
for i in 1 2; do authpolicy_no_errors "$i"; done
echo "measured: tarpitted $(( $(cluster_status_field 1 'd["authpolicy"]["tarpitted"]') + $(cluster_status_field 2 'd["authpolicy"]["tarpitted"]') )), refused $(( $(cluster_status_field 1 'd["authpolicy"]["rejected"]') + $(cluster_status_field 2 'd["authpolicy"]["rejected"]') )) by the two agents"
echo "ok: one account from 30 addresses: tarpitted or refused; its owner's known-good address logs in on both nodes"
