# agent1.sh: one real sgagent for an integration test (sourced by sh or bash scripts; needs
# BIN and ROOT set).
. "$ROOT/tests/integration/lib/wait.sh"   # wait_for
#   agent1_start DIR NAME BACKEND [WRAP...]   keys (unless DIR/keys has them) and a configuration in DIR (node NAME at
#       192.0.2.1, the shipped rules and scenarios, a followed log DIR/mail.log, the enforcement
#       BACKEND, no policy socket) with the lines read from stdin appended, then starts the agent (under WRAP, e.g.
#       ip netns exec NS) and waits, bounded (AGENT1_UP_S seconds, 10 unless set), until it answers. Sets AGENT1_PID and AGENT1_DIR;
#       its output goes to DIR/agent.log. Returns 1 (with the log's tail) when it does not come up.
#   agent1_ctl ARGS...   sgcluster ARGS against it
#   agent1_stop          TERM, and wait for it
AGENT1_PID=
AGENT1_DIR=
agent1_ctl() { "$BIN/sgcluster" "$@" -s "$AGENT1_DIR/ctl.sock"; }
agent1_stop() {
    [ -n "$AGENT1_PID" ] && kill "$AGENT1_PID" 2>/dev/null && wait "$AGENT1_PID" 2>/dev/null
    AGENT1_PID=
}
agent1_start() {
    a1_dir=$1 a1_name=$2 a1_backend=$3
    shift 3
    AGENT1_DIR=$a1_dir
    mkdir -p "$a1_dir/keys"
    [ -f "$a1_dir/keys/$a1_name.key" ] || "$BIN/sgcluster" keygen --node "$a1_name" "$a1_dir/keys" >/dev/null || return 1
    : > "$a1_dir/mail.log"
    {
        printf '[node]\nname = %s\naddresses = 192.0.2.1\nkey_dir = %s/keys\n' "$a1_name" "$a1_dir"
        printf 'state_dir = %s/state\ncontrol_socket = %s/ctl.sock\n' "$a1_dir" "$a1_dir"
        printf '[detect]\nrules = %s/detect/rules.d\nscenarios = %s/agent/scenarios.d\nlogs = %s/mail.log\n' \
            "$ROOT" "$ROOT" "$a1_dir"
        printf '[enforce]\nbackend = %s\n' "$a1_backend"
        # Never the host's Postfix spool; a test's own [policy] lines below override this.
        printf '[policy]\nsocket = none\n'
        cat
    } > "$a1_dir/$a1_name.conf"
    "$@" "$BIN/sgagent" -c "$a1_dir/$a1_name.conf" > "$a1_dir/agent.log" 2>&1 &
    AGENT1_PID=$!
    if ! wait_for "${AGENT1_UP_S:-10}" _agent1_up || ! kill -0 "$AGENT1_PID" 2>/dev/null; then
        echo "agent1: $a1_name did not answer within ${AGENT1_UP_S:-10} s (or exited):"
        tail -20 "$a1_dir/agent.log"
        return 1
    fi
}
# The agent answers, or has exited (no use waiting longer).
_agent1_up() { agent1_ctl status >/dev/null 2>&1 || ! kill -0 "$AGENT1_PID" 2>/dev/null; }
