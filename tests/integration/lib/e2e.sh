# e2e.sh: the common start of the end-to-end tests: requirements, a net of N mail nodes with real
# Dovecot and Postfix, and an sgagent in each node's namespace enforcing with nft.
# Sourced by bash scripts after setting `here` to tests/integration.
#
#   e2e_require                 exit 77 (skip) unless root and every tool is there
#   e2e_up N [HOOK]             netns_up N, mail daemons on node1..N, agents configured (HOOK I is
#                               called for each node before the agents start, e.g. to add
#                               cluster_conf lines), started, and healthy
#   fail MESSAGE                print it, the last client transcript and each agent's log tail; exit 1
#   in_kernel I ADDR            ADDR is in node I's kernel set (nft list set inet sgcluster ban4)
#   ms                          wall clock in milliseconds
#   e2e_send NODE USER [NRCPT]  a message as USER through NODE's submission port: 0 accepted,
#                               4 deferred (4xx), 5 rejected (5xx), 2 no session, 1 otherwise
#   e2e_policy_sock I           node I's policy socket, in its Postfix queue directory (as
#                               deployed: check_policy_service unix:sgcluster/policy)
#   e2e_policy_dir I            makes that socket's directory as the role does (group postfix, 0750)
#   E2E_POLICY                  the check_policy_service restriction for MAILD_POLICY(_EOD)
. "$here/lib/netns.sh"
. "$here/lib/maild.sh"
. "$here/lib/clients.sh"
. "$here/lib/cluster.sh"

e2e_require() {
    local b
    [ "$(id -u)" = 0 ] || { echo "skip: needs root (network namespaces, nft, mail daemons)"; exit 77; }
    for b in ip nft dovecot postfix swaks curl python3; do
        command -v "$b" >/dev/null 2>&1 || { echo "skip: missing $b"; exit 77; }
    done
    : "${SG_BIN:?}" "${SG_ROOT:?}"
}

fail() {
    local i
    echo "FAIL: $*"
    [ -n "$CLIENT_OUT" ] && [ -s "$CLIENT_OUT" ] && tail -6 "$CLIENT_OUT" | sed 's/^/    | /'
    for i in $(seq 1 "$CLUSTER_N"); do echo "--- agent n$i"; tail -12 "$CLUSTER_DIR/n$i/agent.log" 2>/dev/null; done
    exit 1
}

ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
in_kernel() { nsexec "node$1" nft list set inet sgcluster ban4 2>/dev/null | grep -qw "$2"; }

e2e_up() { # N [HOOK]
    local n=$1 hook=${2:-} i nodes=()
    netns_up "$n" || fail "netns_up"
    netns_on_down cluster_stop_all
    for i in $(seq 1 "$n"); do nodes+=("node$i"); done
    maild_start_nodes "${nodes[@]}" || fail "mail daemons did not start"
    CLUSTER_NETNS=1
    CLUSTER_BACKEND=nft
    for i in $(seq 1 "$n"); do
        eval "CLUSTER_LOGS_$i=\"$(maild_log "node$i" dovecot), $(maild_log "node$i" postfix)\""
    done
    cluster_init "$n" "$NETNS_DIR/cluster" || fail "cluster_init"
    if [ -n "$hook" ]; then for i in $(seq 1 "$n"); do "$hook" "$i"; done; fi
    for i in $(seq 1 "$n"); do cluster_start "$i" || fail "agent n$i did not start"; done
    for i in $(seq 1 "$n"); do wait_for 20 cluster_healthy "$i" || fail "cluster not healthy"; done
}

e2e_send() { # NODE USER [NRCPT]
    smtp_send -n client "$(node_ip "$1")" "$2" "$(maild_password "$2")" "${3:-2}"
    local rc=$?
    [ $rc = 0 ] && return 0
    [ $rc = 2 ] && return 2
    grep -qE '^ *<~?\** +4[0-9]{2}[ -]' "$CLIENT_OUT" && return 4
    grep -qE '^ *<~?\** +5[0-9]{2}[ -]' "$CLIENT_OUT" && return 5
    return 1
}

E2E_POLICY="check_policy_service { unix:sgcluster/policy, timeout=10s, default_action=DUNNO }"
e2e_policy_sock() { echo "$(maild_dir "node$1")/postfix/spool/sgcluster/policy"; }
e2e_policy_dir() { install -d -o root -g postfix -m 0750 "$(dirname "$(e2e_policy_sock "$1")")"; }
