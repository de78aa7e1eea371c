# netns.sh: a throwaway test network in namespaces (bridge in its own namespace, N mail nodes, attacker, client).
# Sourced by bash integration scripts (they re-exec bash: tests/run.sh starts them with sh).
#
#   netns_up N            make <prefix>br (holding bridge br0), node1..nodeN, attacker, client;
#                         installs an EXIT/INT/TERM trap that calls netns_down
#   netns_down            kill every process inside the run's namespaces, delete them, remove the
#                         run directory (idempotent; keep it with NETNS_KEEP=1)
#   nsexec NAME CMD...    run CMD inside namespace NAME (node1, attacker, client, br)
#   link_down NAME / link_up NAME      cut NAME off the bridge / put it back (carrier of its eth0)
#   netns_add_addrs NAME K             give attacker or client K more addresses (a "botnet")
#   netns_ip NAME [K] / netns_ip6 NAME [K] / node_ip I / node_ip6 I     addresses
#   netns_on_down CMD...  run CMD first when netns_down runs (stop daemons cleanly)
#   netns_gc              remove namespaces and directories of dead runs (netns_up does it first)
#   netns_leftovers       after netns_down: print what survived (namespace, process, dir); 1 if any
#   wait_for SECONDS CMD... / now_ms   from lib/wait.sh, sourced here
#
# After netns_up: NETNS_DIR (the run's scratch directory, 0755), NETNS_NODES, NETNS_PREFIX,
# NETNS_IPV6 (0 when the kernel has no IPv6: then only IPv4 addresses are set).
# Addressing (IPv4 10.77.0.0/24, IPv6 fd77::/64, both only inside the run's namespaces):
#   nodeI .I (I = 1..49), attacker .100 (+ .101-.149 extra), client .200 (+ .201-.249 extra).
# Nothing is ever configured in the caller's namespace: the bridge lives in its own namespace and
# every veth pair is created there with its other end moved straight into the member namespace.

NETNS_PREFIX=${NETNS_PREFIX:-sgt$$-}
NETNS_NET4=10.77.0
NETNS_NET6=fd77:
NETNS_BR=${NETNS_PREFIX}br
NETNS_DIR=${NETNS_DIR:-}
NETNS_NODES=0
NETNS_MEMBERS=""
NETNS_DOWN_HOOKS=()
NETNS_INODES=""
# A kernel booted without IPv6 gets an IPv4-only net (and daemons listening on IPv4 only).
NETNS_IPV6=1
[ -d /proc/sys/net/ipv6 ] || NETNS_IPV6=0
_NETNS_EXTRA_attacker=0
_NETNS_EXTRA_client=0

# wait_for and now_ms (see there).
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

netns_name() { echo "${NETNS_PREFIX}$1"; }

# Host part of a member's address: the base, plus K for its K-th extra address.
_netns_host() { # NAME [K]
    local k=${2:-0}
    case $1 in
    node[0-9]*) echo $(( ${1#node} + k )) ;;
    attacker) echo $(( 100 + k )) ;;
    client) echo $(( 200 + k )) ;;
    *) echo "netns: no address plan for '$1'" >&2; return 1 ;;
    esac
}
netns_ip() { local h; h=$(_netns_host "$@") || return 1; echo "$NETNS_NET4.$h"; }
netns_ip6() { local h; h=$(_netns_host "$@") || return 1; echo "$NETNS_NET6:$h"; }
node_ip() { netns_ip "node$1"; }
node_ip6() { netns_ip6 "node$1"; }

nsexec() { # NAME CMD...
    local ns=${NETNS_PREFIX}$1
    shift
    ip netns exec "$ns" "$@"
}

# eth0 of a member is usable once both veth ends are up (operstate UP).
_netns_link_ready() { # NAME
    [ "$(ip -n "${NETNS_PREFIX}$1" -o link show eth0 2>/dev/null | grep -o 'state [A-Z]*')" = "state UP" ]
}

_netns_add_member() { # NAME
    local name=$1 ns=${NETNS_PREFIX}$1 h
    h=$(_netns_host "$name") || return 1
    ip netns add "$ns" || return 1
    NETNS_MEMBERS="$NETNS_MEMBERS $name"
    NETNS_INODES="$NETNS_INODES $(stat -L -c %i "/run/netns/$ns")"
    ip -n "$NETNS_BR" link add "v-$name" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$NETNS_BR" link set "v-$name" master br0 up || return 1
    ip -n "$ns" link set lo up || return 1
    ip -n "$ns" addr add "$NETNS_NET4.$h/24" dev eth0 || return 1
    # nodad: the address is usable at once instead of after duplicate detection (~1 s).
    if [ "$NETNS_IPV6" = 1 ] && ! ip -n "$ns" -6 addr add "$NETNS_NET6:$h/64" dev eth0 nodad 2>/dev/null; then
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.eth0.disable_ipv6=0 \
            && ip -n "$ns" -6 addr add "$NETNS_NET6:$h/64" dev eth0 nodad || return 1
    fi
    ip -n "$ns" link set eth0 up
}

# netns_gc: remove what runs killed by SIGKILL left: namespaces named sgtPID-* and directories
# /tmp/sgtPID.* whose PID no longer runs (their processes are killed first).
netns_gc() {
    local ns pid p
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^sgt[0-9]+-'); do
        pid=${ns#sgt}; pid=${pid%%-*}
        kill -0 "$pid" 2>/dev/null && continue
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    for p in /tmp/sgt[0-9]*.*; do
        [ -d "$p" ] || continue
        pid=${p#/tmp/sgt}; pid=${pid%%.*}
        case $pid in *[!0-9]*) continue ;; esac
        kill -0 "$pid" 2>/dev/null || rm -rf "$p"
    done
}

# netns_up N: the whole topology. Fails (1) without leaving anything behind.
netns_up() {
    local n=${1:-3} i m
    if [ -n "$NETNS_MEMBERS" ]; then echo "netns_up: already up" >&2; return 1; fi
    netns_gc
    if [ "$n" -lt 1 ] || [ "$n" -gt 49 ]; then echo "netns_up: 1..49 nodes" >&2; return 1; fi
    # shellcheck disable=SC2034 # for the scripts: how many nodes this run has
    NETNS_NODES=$n
    if [ -z "${NETNS_NO_TRAP:-}" ]; then
        trap '_netns_exit_trap' EXIT
        trap 'netns_down; exit 130' INT
        trap 'netns_down; exit 143' TERM
    fi
    NETNS_DIR=$(mktemp -d "/tmp/${NETNS_PREFIX%-}.XXXXXX") || return 1
    # Daemons that drop privileges (postfix, dovecot) must be able to reach their dirs below.
    chmod 755 "$NETNS_DIR"
    ip netns add "$NETNS_BR" || { netns_down; return 1; }
    NETNS_INODES="$(stat -L -c %i "/run/netns/$NETNS_BR")"
    # No snooping: with no multicast querier on the test net it would only delay IPv6 neighbours.
    if ! { ip -n "$NETNS_BR" link set lo up &&
           ip -n "$NETNS_BR" link add br0 type bridge mcast_snooping 0 &&
           ip -n "$NETNS_BR" link set br0 up; }; then
        netns_down; return 1
    fi
    for ((i = 1; i <= n; i++)); do
        _netns_add_member "node$i" || { netns_down; return 1; }
    done
    _netns_add_member attacker || { netns_down; return 1; }
    _netns_add_member client || { netns_down; return 1; }
    for m in $NETNS_MEMBERS; do
        wait_for 5 _netns_link_ready "$m" || { netns_down; return 1; }
    done
}

# netns_add_addrs NAME K: K more addresses on NAME's eth0 (NAME is attacker or client).
netns_add_addrs() {
    local name=$1 k=$2 var=_NETNS_EXTRA_$1 j from
    case $name in attacker|client) ;; *) echo "netns_add_addrs: attacker or client" >&2; return 1 ;; esac
    from=${!var}
    if [ $((from + k)) -gt 49 ]; then echo "netns_add_addrs: at most 49 extra" >&2; return 1; fi
    for ((j = from + 1; j <= from + k; j++)); do
        ip -n "${NETNS_PREFIX}$name" addr add "$(netns_ip "$name" "$j")/24" dev eth0 || return 1
        [ "$NETNS_IPV6" = 0 ] ||
            ip -n "${NETNS_PREFIX}$name" -6 addr add "$(netns_ip6 "$name" "$j")/64" dev eth0 nodad || return 1
    done
    printf -v "$var" '%d' $((from + k))
}

# netns_addrs NAME: every IPv4 address of NAME, base first.
netns_addrs() {
    local var=_NETNS_EXTRA_$1 j extra=0
    case $1 in attacker|client) extra=${!var} ;; esac
    for ((j = 0; j <= extra; j++)); do netns_ip "$1" "$j"; done
}

# Cutting the bridge side drops the member's carrier: its addresses stay, its packets go nowhere.
link_down() { ip -n "$NETNS_BR" link set "v-$1" down; }
link_up() {
    ip -n "$NETNS_BR" link set "v-$1" up || return 1
    wait_for 5 _netns_link_ready "$1"
}

netns_on_down() { NETNS_DOWN_HOOKS+=("$*"); }

_netns_exit_trap() {
    local rc=$?
    netns_down
    exit $rc
}

# Every namespace of this run, from the kernel's list rather than our variables, so that a
# half-made topology (netns_up failed midway) is cleaned up too.
_netns_list() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep "^${NETNS_PREFIX}" || true
}

_netns_all_pids() {
    local ns
    for ns in $(_netns_list); do ip netns pids "$ns" 2>/dev/null; done
}

_netns_no_pids() { [ -z "$(_netns_all_pids)" ]; }

netns_down() {
    local i hooks=("${NETNS_DOWN_HOOKS[@]}") pids ns
    NETNS_DOWN_HOOKS=()
    for ((i = ${#hooks[@]} - 1; i >= 0; i--)); do eval "${hooks[$i]}" >/dev/null 2>&1; done
    pids=$(_netns_all_pids)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null
        if ! wait_for 3 _netns_no_pids 2>/dev/null; then
            [ -n "${NETNS_DEBUG:-}" ] && ps -o pid,stat,args -p "$(_netns_all_pids | tr '\n' ,)0" >&2
            # shellcheck disable=SC2046
            kill -KILL $(_netns_all_pids) 2>/dev/null
            wait_for 3 _netns_no_pids
        fi
    fi
    for ns in $(_netns_list); do ip netns del "$ns" 2>/dev/null; done
    if [ -n "$NETNS_DIR" ] && [ -z "${NETNS_KEEP:-}" ]; then
        rm -rf "$NETNS_DIR"
    elif [ -n "$NETNS_DIR" ]; then
        echo "netns: kept $NETNS_DIR" >&2
    fi
    NETNS_MEMBERS=""
    return 0
}

# netns_leftovers: what survived netns_down. Namespaces by name, processes by the network
# namespace they sit in (a deleted namespace lives on while a process holds it) and by the run
# directory in their command line.
netns_leftovers() {
    local found=0 pid link ino f
    if [ -n "$(_netns_list)" ]; then echo "leftover namespaces: $(_netns_list | tr '\n' ' ')"; found=1; fi
    # One find and one grep for the whole process table (a fork per process takes seconds).
    while read -r pid link; do
        ino=${link#net:[}; ino=${ino%]}
        case " $NETNS_INODES " in
        *" $ino "*) echo "leftover process ${pid#/proc/}: $(tr '\0' ' ' < "$pid/cmdline" 2>/dev/null)"; found=1 ;;
        esac
    done < <(find /proc -mindepth 3 -maxdepth 3 -path '/proc/[0-9]*/ns/net' -printf '%h %l\n' 2>/dev/null |
             sed 's|/ns | |')
    if [ -n "$NETNS_DIR" ]; then
        # The pattern comes from a file so that grep's own command line does not match it.
        while read -r f; do
            echo "leftover process $(basename "$(dirname "$f")"): $(tr '\0' ' ' < "$f" 2>/dev/null)"; found=1
        done < <(grep -lFf <(printf '%s\n' "$NETNS_DIR") /proc/[0-9]*/cmdline 2>/dev/null)
    fi
    if [ -n "$NETNS_DIR" ] && [ -e "$NETNS_DIR" ] && [ -z "${NETNS_KEEP:-}" ]; then
        echo "leftover directory $NETNS_DIR"; found=1
    fi
    [ $found -eq 0 ]
}
