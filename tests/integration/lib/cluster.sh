# cluster.sh: start a cluster of real sgagent processes for integration tests and the demo.
# Sourced by bash scripts. Nodes run on loopback (distinct ports) or, with CLUSTER_NETNS=1, one per
# network namespace made by lib/netns.sh (node I at node_ip I).
#
#   cluster_init N DIR          keys and configurations for nodes 1..N under DIR
#   cluster_conf I KEY VALUE... append "KEY = VALUE" lines to a section of node I's config
#                               (e.g. cluster_conf 2 enforce "allowlist = 203.0.113.0/24")
#   cluster_start I             start node I's agent (inside its namespace with CLUSTER_NETNS=1)
#   cluster_kill I [SIGNAL]     signal node I's agent (default TERM) and wait for it
#   sgc I ARGS...               sgcluster ARGS against node I's control socket
#   cluster_healthy I           node I reports healthy (all peers alive)
#   cluster_has_ban I KEY...    node I's ban map holds an active ban for each KEY
#   cluster_deciders KEY        the nodes whose agent logged deciding KEY itself, one a line
#   cluster_ban_authors I KEY...  "KEY AUTHOR" for each KEY node I holds a ban for, one a line
#   cluster_count I ADDR SCENARIO   node I's cluster-wide count of SCENARIO for ADDR (explain)
# Variables: CLUSTER_BACKEND (dryrun|nft, default dryrun), CLUSTER_PORT (first port, loopback
# mode; by default cluster_init reserves a block with lib/ports.sh: outside the ephemeral range,
# never shared with another test run), CLUSTER_LOGS_I (log files node I follows; default
# DIR/nI/mail.log; each is created empty when missing and its directory exists).
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

CLUSTER_N=0
CLUSTER_DIR=
CLUSTER_BACKEND=${CLUSTER_BACKEND:-dryrun}
CLUSTER_NETNS=${CLUSTER_NETNS:-0}
CLUSTER_PORT=${CLUSTER_PORT:-}
declare -A CLUSTER_PID=()

_cluster_addr() { # I -> address the node binds
    if [ "$CLUSTER_NETNS" = 1 ]; then node_ip "$1"; else echo 127.0.0.1; fi
}
_cluster_port() { # I pub|sync
    local off=0
    [ "$2" = sync ] && off=1
    if [ "$CLUSTER_NETNS" = 1 ]; then echo $((7946 + off)); else echo $((CLUSTER_PORT + 2 * $1 + off)); fi
}

cluster_init() { # N DIR
    CLUSTER_N=$1
    CLUSTER_DIR=$2
    local i j d
    if [ "$CLUSTER_NETNS" != 1 ] && [ -z "$CLUSTER_PORT" ]; then
        [ $((2 * CLUSTER_N + 2)) -le "$PORT_BLOCK" ] || { echo "cluster_init: too many nodes for one block of ports" >&2; return 1; }
        port_block || return 1
        CLUSTER_PORT=$PORT_BASE
    fi
    mkdir -p "$CLUSTER_DIR/peers"
    for i in $(seq 1 "$CLUSTER_N"); do
        d=$CLUSTER_DIR/n$i
        mkdir -p "$d/keys" "$d/state"
        "$SG_BIN/sgcluster" keygen --node "n$i" "$d/keys" >/dev/null || return 1
        cp "$d/keys/n$i.pub" "$CLUSTER_DIR/peers/"
    done
    for i in $(seq 1 "$CLUSTER_N"); do
        d=$CLUSTER_DIR/n$i
        local logs_var="CLUSTER_LOGS_$i"
        local logs=${!logs_var:-$d/mail.log}
        # A log that does not exist makes the node DEGRADED: each one whose directory is there is
        # made empty here, as a mail node has it (its daemon appends; a test that wants it missing
        # removes it).
        local lf
        for lf in ${logs//,/ }; do [ -e "$lf" ] || [ ! -d "$(dirname "$lf")" ] || : > "$lf"; done
        local addrs
        addrs=$(_cluster_addr "$i")
        [ "$CLUSTER_NETNS" = 1 ] && addrs="$addrs, $(node_ip6 "$i")"
        {
            echo "[node]"
            echo "name = n$i"
            echo "addresses = $addrs"
            echo "gossip_bind = tcp://$(_cluster_addr "$i"):$(_cluster_port "$i" pub)"
            echo "sync_bind = tcp://$(_cluster_addr "$i"):$(_cluster_port "$i" sync)"
            echo "key_dir = $d/keys"
            echo "peer_key_dir = $CLUSTER_DIR/peers"
            echo "state_dir = $d/state"
            echo "control_socket = $d/ctl.sock"
            echo "snapshot_interval = 2s"
            echo "[detect]"
            echo "rules = $SG_ROOT/detect/rules.d"
            echo "scenarios = $SG_ROOT/agent/scenarios.d"
            echo "logs = $logs"
            echo "[enforce]"
            echo "backend = $CLUSTER_BACKEND"
            # Test agents share the host's file system: never its Postfix spool (tests that want
            # the policy service set a socket of their own, or listen).
            echo "[policy]"
            echo "socket = none"
            for j in $(seq 1 "$CLUSTER_N"); do
                [ "$j" = "$i" ] && continue
                echo "[peer n$j]"
                echo "pub = tcp://$(_cluster_addr "$j"):$(_cluster_port "$j" pub)"
                echo "sync = tcp://$(_cluster_addr "$j"):$(_cluster_port "$j" sync)"
                if [ "$CLUSTER_NETNS" = 1 ]; then echo "addresses = $(node_ip "$j"), $(node_ip6 "$j")"; fi
            done
        } > "$d/sgagent.conf"
    done
}

# Adds lines to a section of node I's configuration (the section is appended if absent).
cluster_conf() { # I SECTION LINE...
    local f=$CLUSTER_DIR/n$1/sgagent.conf sec=$2
    shift 2
    python3 - "$f" "$sec" "$@" <<'PY'
import sys
f, sec, lines = sys.argv[1], sys.argv[2], sys.argv[3:]
text = open(f).read().split("\n")
hdr = "[%s]" % sec
if hdr in text:
    # At the end of the section: the lines given win over what cluster_init wrote there.
    i = text.index(hdr) + 1
    while i < len(text) and not text[i].startswith("["):
        i += 1
    text[i:i] = lines
else:
    text += [hdr] + lines
open(f, "w").write("\n".join(text))
PY
}

cluster_start() { # I
    local i=$1 d=$CLUSTER_DIR/n$1
    if [ "$CLUSTER_NETNS" = 1 ]; then
        # ip netns exec execs the agent: $! is the agent itself, so signals reach it.
        ip netns exec "$(netns_name "node$i")" "$SG_BIN/sgagent" -c "$d/sgagent.conf" >> "$d/agent.log" 2>&1 &
    else
        "$SG_BIN/sgagent" -c "$d/sgagent.conf" >> "$d/agent.log" 2>&1 &
    fi
    CLUSTER_PID[$i]=$!
    if ! wait_for 15 _cluster_answers_or_died "$i" || ! kill -0 "${CLUSTER_PID[$i]}" 2>/dev/null; then
        echo "cluster: agent n$i did not start (no answer on its control socket):" >&2
        tail -20 "$d/agent.log" >&2
        return 1
    fi
}
# The agent answers on its control socket, or has exited (no use waiting longer).
_cluster_answers_or_died() { # I
    sgc "$1" status >/dev/null 2>&1 || ! kill -0 "${CLUSTER_PID[$1]}" 2>/dev/null
}

# An agent that has not exited CLUSTER_STOP_WAIT seconds (default 60) after the signal is killed
# (SIGKILL, said on stderr): a test always ends, whatever an agent's exit waits for.
cluster_kill() { # I [SIGNAL]
    local pid=${CLUSTER_PID[$1]:-}
    [ -n "$pid" ] || return 0
    kill -"${2:-TERM}" "$pid" 2>/dev/null
    if ! wait_for "${CLUSTER_STOP_WAIT:-60}" _cluster_exited "$pid" 2>/dev/null; then
        echo "cluster: agent n$1 did not exit ${CLUSTER_STOP_WAIT:-60} s after SIG${2:-TERM}: killed" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    unset "CLUSTER_PID[$1]"
}
# Gone, or a zombie waiting for the wait above.
_cluster_exited() { # PID
    local st
    st=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) || return 0
    [ "$st" = Z ]
}

cluster_stop_all() {
    local i
    for i in "${!CLUSTER_PID[@]}"; do cluster_kill "$i" TERM; done
}

sgc() { # I ARGS...
    local i=$1
    shift
    "$SG_BIN/sgcluster" "$@" -s "$CLUSTER_DIR/n$i/ctl.sock"
}

cluster_healthy() { # I
    sgc "$1" status --json 2>/dev/null | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["healthy"] else 1)'
}

cluster_has_ban() { # I KEY...
    local i=$1
    shift
    sgc "$i" bans --json 2>/dev/null | python3 -c '
import json, sys, time
now = time.time() * 1000
have = {b["key"] for b in json.load(sys.stdin) if b["action"] == "ban" and b["expires_at"] > now}
sys.exit(0 if set(sys.argv[1:]) <= have else 1)' "$@"
}

cluster_deciders() { # KEY
    local i
    for i in $(seq 1 "$CLUSTER_N"); do
        grep -F "decided here" "$CLUSTER_DIR/n$i/agent.log" | grep -qF " $1 for " && echo "n$i"
    done
}

cluster_ban_authors() { # I KEY...
    local i=$1
    shift
    sgc "$i" bans --json 2>/dev/null | python3 -c '
import json, sys
by = {b["key"]: b["author"] for b in json.load(sys.stdin) if b["action"] == "ban"}
sys.stdout.write("".join("%s %s\n" % (k, by[k]) for k in sys.argv[1:] if k in by))' "$@"
}

# A JSON field of node I's status, e.g. cluster_status_field 2 'd["kernel"]["set4"]'.
cluster_status_field() { # I PYEXPR
    sgc "$1" status --json | python3 -c "import json,sys; d=json.load(sys.stdin); print($2)"
}

cluster_count() { # I ADDR SCENARIO
    sgc "$1" explain "$2" --json 2>/dev/null | python3 -c '
import json, sys
print(sum(s["count"] for s in json.load(sys.stdin)["scenarios"] if s["id"] == sys.argv[1]))' "$3"
}
