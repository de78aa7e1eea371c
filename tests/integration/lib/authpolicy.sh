# authpolicy.sh: the auth-policy service on e2e nodes (lib/e2e.sh): every node's Dovecot asks its
# own agent with the shipped deploy/dovecot/91-sgcluster-authpolicy.conf, and the agents enforce
# with the dry-run backend, as behind a proxy or load balancer: no kernel drops a client, so
# what stops one is the auth-policy answer alone. Sourced by bash scripts after setting `here` to
# tests/integration: sources lib/e2e.sh and checks its requirements (e2e_require).
#
#   authpolicy_maild            set MAILD_DOVECOT_EXTRA: the shipped snippet as it is (127.0.0.1:9413
#                               is each node's own agent, one per namespace) with this run's key
#                               and nonce, plus auth_debug (Dovecot logs every passdb lookup and
#                               every policy answer)
#   authpolicy_conf I [LINE...] e2e_up hook: node I's agent dry-run, [authpolicy] enabled with the
#                               key, Dovecot's reports counted alone (log_auth_lines = no); LINEs more
#                               [authpolicy] lines (e.g. "tarpit = 2s")
#   authpolicy_status I ADDR USER   node I's agent's answer (status) to an allow request, asked in
#                               node I's namespace as its Dovecot asks it (no python: it is polled)
#   authpolicy_no_errors I      fail if node I's Dovecot logged a failed auth-policy request
. "$here/lib/e2e.sh"
e2e_require
AUTHPOLICY_KEY=authpolicy-e2e-key-$$-0123456789

authpolicy_maild() {
    MAILD_DOVECOT_EXTRA=$(maild_authpolicy_snippet "$AUTHPOLICY_KEY" "nonce-$$"; echo "auth_debug = yes")
}

authpolicy_conf() { # I [LINE...]
    local i=$1
    shift
    printf '%s\n' "$AUTHPOLICY_KEY" > "$NETNS_DIR/authpolicy.key"
    cluster_conf "$i" enforce "backend = dryrun"
    cluster_conf "$i" authpolicy "enabled = yes" "api_key_file = $NETNS_DIR/authpolicy.key" "log_auth_lines = no" "$@"
}

authpolicy_status() { # I ADDR USER
    local out
    out=$(nsexec "node$1" curl -s --max-time 2 -X POST -H "X-API-Key: $AUTHPOLICY_KEY" \
        --data-binary "{\"login\":\"$3\",\"remote\":\"$2\",\"protocol\":\"imap\"}" \
        "http://127.0.0.1:9413/?command=allow") || return 1
    out=${out#*\"status\":}
    echo "${out%%,*}"
}

authpolicy_no_errors() { # I
    if grep -E "auth: Error: policy" "$(maild_log "node$1" dovecot)"; then
        fail "node$1: Dovecot's auth-policy requests failed"
    fi
}
