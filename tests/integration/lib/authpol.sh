# authpol.sh: one node's real sgagent serving Dovecot's auth-policy protocol, and the Dovecot lines
# that point its node's Dovecot at it (63_authpolicy_dovecot, 72_authpolicy_reports).
# Sourced after netns.sh (netns_up done); uses $NETNS_DIR, $SG_ROOT and $SG_BIN.
#
#   authpol_setup                 keys and API key for node1 (AUTHPOL_KEY); sets AUTHPOL_CONF, AUTHPOL_S
#                                 ("-s SOCKET" for sgcluster)
#   authpol_conf [LINES]          write node1's config to $AUTHPOL_CONF: dry-run backend, the shipped
#                                 rules and scenarios, [authpolicy] on port 0; LINES (with \n) are
#                                 added at the end of [authpolicy], e.g. "log_auth_lines = no";
#                                 AUTHPOL_LOGS (comma-separated) become [detect] logs
#   authpol_start / authpol_stop  run the agent in node1 (AUTHPOL_PID), wait until it answers
#   authpol_status EXPR           EXPR of the JSON status's "authpolicy" object d, e.g. 'd["port"]'
#   authpol_dovecot_extra         MAILD_DOVECOT_EXTRA: deploy/dovecot/91-sgcluster-authpolicy.conf with
#                                 this run's port, API key and hash nonce (call after authpol_start)

AUTHPOL_LOGS=${AUTHPOL_LOGS:-}
AUTHPOL_PID=""

authpol_setup() {
    AUTHPOL_KEY=dovecot-test-key-$$-0123456789
    AUTHPOL_CONF=$NETNS_DIR/node1.conf
    AUTHPOL_S="-s $NETNS_DIR/ctl.sock"
    mkdir -p "$NETNS_DIR/keys" || return 1
    "$SG_BIN/sgcluster" keygen --node node1 "$NETNS_DIR/keys" >/dev/null || return 1
    printf '%s\n' "$AUTHPOL_KEY" > "$NETNS_DIR/authpolicy.key"
    netns_on_down authpol_stop
}

authpol_conf() {
    cat > "$AUTHPOL_CONF" <<CONF
[node]
name = node1
key_dir = $NETNS_DIR/keys
state_dir = $NETNS_DIR/state
control_socket = $NETNS_DIR/ctl.sock
[detect]
rules = $SG_ROOT/detect/rules.d
scenarios = $SG_ROOT/agent/scenarios.d
${AUTHPOL_LOGS:+logs = $AUTHPOL_LOGS}
[enforce]
backend = dryrun
[authpolicy]
enabled = yes
listen = 127.0.0.1:0
api_key_file = $NETNS_DIR/authpolicy.key
CONF
    [ -z "${1:-}" ] || printf '%b\n' "$1" >> "$AUTHPOL_CONF"
}

authpol_start() {
    ip netns exec "$(netns_name node1)" "$SG_BIN/sgagent" -c "$AUTHPOL_CONF" >> "$NETNS_DIR/agent.log" 2>&1 &
    AUTHPOL_PID=$!
    wait_for 10 "$SG_BIN/sgcluster" status $AUTHPOL_S >/dev/null 2>&1
}

authpol_stop() { [ -n "$AUTHPOL_PID" ] && kill -TERM "$AUTHPOL_PID" 2>/dev/null && wait "$AUTHPOL_PID"; AUTHPOL_PID=""; }

authpol_status() {
    "$SG_BIN/sgcluster" status $AUTHPOL_S --json |
        python3 -c "import json,sys; d=json.load(sys.stdin)['authpolicy']; print($1)"
}

authpol_dovecot_extra() {
    local port
    port=$(authpol_status 'd["port"]') || return 1
    MAILD_DOVECOT_EXTRA=$(maild_authpolicy_snippet "$AUTHPOL_KEY" "nonce-$$" "$port")
}
