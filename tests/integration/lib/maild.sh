# maild.sh: real Dovecot (IMAP, POP3, SASL) and real Postfix (25, 587) per test node, each instance self-contained.
# Sourced after netns.sh. Each node gets its own config, queue, pid files, sockets and log files
# under $NETNS_DIR/mail/NODE; /etc/postfix and /etc/dovecot are never written to. The daemons
# start as root inside the node's namespace and drop to their usual users (postfix, dovecot,
# dovenull); user mail belongs to nobody.
#
#   maild_start NODE              render the templates in deploy/{dovecot,postfix}, start both,
#                                 wait (bounded) until 25, 587, 110, 143 and the auth socket are up
#   maild_start_nodes NODE...    the same for several nodes in parallel
#   maild_prepare NODE            only render the configuration and make the directories (for a test
#                                 that starts the daemons some other way, e.g. as systemd units)
#   maild_stop NODE / maild_stop_all     stop both, then kill whatever they left in the namespace
#   maild_log NODE dovecot|postfix       path of the log file the node's agent should follow
#   maild_dir NODE                the node's directory (config, queue, mailboxes, logs)
#   maild_password USER           the test password of USER
#   maild_policy NODE RCPT [EOD [DATA]]   set smtpd_recipient_, smtpd_end_of_data_ (and
#                                 smtpd_data_) restrictions, then reload Postfix
#   maild_logrotate NODE rename|copytruncate [dovecot|postfix|both]   rotate, like logrotate(8) does
#   maild_wait_log NODE dovecot|postfix ERE [SECONDS]                 wait until a line matches
#   maild_mailbox_count NODE USER number of messages delivered to USER's maildir on NODE
#
# Knobs (set before maild_start): MAILD_USERS ("user:password ..."), MAILD_DOMAIN,
# MAILD_POLICY / MAILD_POLICY_DATA / MAILD_POLICY_EOD (restriction lists at RCPT, DATA and
# END-OF-MESSAGE, e.g. "check_policy_service inet:127.0.0.1:10040": the agent listens in the
# node's own namespace, so 127.0.0.1 is that node's agent),
# MAILD_AUTH_FAILURE_DELAY (Dovecot's, default 0 s; Dovecot still answers a failure only at its
# next 500 ms tick), MAILD_AUTH_PENALTY (yes: keep Dovecot's growing per-address delay after
# failures; default no, it would slow every test), MAILD_LOG_STYLE (native: what Dovecot writes
# to log_path; syslog: "Mon dd hh:mm:ss NODE dovecot: " as a syslog daemon would; journal: both
# daemons log through syslog(3) to /dev/log, which is journald on a stock Debian 12, and no file),
# MAILD_DOVECOT_EXTRA (lines appended to each node's dovecot.conf).

MAILD_USERS=${MAILD_USERS:-"alice:alice-pw bob:bob-pw carol:carol-pw"}
MAILD_DOMAIN=${MAILD_DOMAIN:-sgtest.invalid}
MAILD_POLICY=${MAILD_POLICY:-}
MAILD_POLICY_DATA=${MAILD_POLICY_DATA:-}
MAILD_POLICY_EOD=${MAILD_POLICY_EOD:-}
MAILD_AUTH_FAILURE_DELAY=${MAILD_AUTH_FAILURE_DELAY:-0}
MAILD_AUTH_PENALTY=${MAILD_AUTH_PENALTY:-no}
MAILD_LOG_STYLE=${MAILD_LOG_STYLE:-native}
MAILD_DOVECOT_EXTRA=${MAILD_DOVECOT_EXTRA:-}
MAILD_TEMPLATES=${MAILD_TEMPLATES:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../deploy" && pwd)}

# maild_authpolicy_snippet KEY NONCE [PORT]: the shipped deploy/dovecot/91-sgcluster-authpolicy.conf
# with this run's API key and hash nonce, and the agent's port when it is not the default 9413;
# for MAILD_DOVECOT_EXTRA (lib/authpol.sh, lib/authpolicy.sh).
maild_authpolicy_snippet() {
    sed -e "s|127.0.0.1:9413|127.0.0.1:${3:-9413}|" -e "s|X-API-Key:.*|X-API-Key:$1|" \
        -e "s|^auth_policy_hash_nonce = .*|auth_policy_hash_nonce = $2|" "$MAILD_TEMPLATES/dovecot/91-sgcluster-authpolicy.conf"
}
MAILD_PORTS="25 587 110 143"
MAILD_STARTED=""
_MAILD_HOOKED=""

maild_dir() { echo "$NETNS_DIR/mail/$1"; }

maild_log() { # NODE dovecot|postfix
    case $2 in
    dovecot|postfix) echo "$NETNS_DIR/mail/$1/log/$2.log" ;;
    *) echo "maild_log: dovecot or postfix, not '$2'" >&2; return 1 ;;
    esac
}

maild_password() {
    local u
    for u in $MAILD_USERS; do
        [ "${u%%:*}" = "$1" ] && { echo "${u#*:}"; return 0; }
    done
    return 1
}

# _maild_render TEMPLATE OUT KEY=VALUE...: replace every @KEY@; fail if one is left unfilled.
_maild_render() {
    local tpl=$1 out=$2 text kv left
    shift 2
    text=$(<"$tpl") || return 1
    for kv in "$@"; do
        # Quoted replacement: bash 5.2 would otherwise expand '&' in VALUE to the match.
        text=${text//@${kv%%=*}@/"${kv#*=}"}
    done
    left=$(grep -o '@[A-Z_]*@' <<<"$text" | sort -u | tr '\n' ' ')
    if [ -n "$left" ]; then echo "maild: $tpl: unfilled $left" >&2; return 1; fi
    printf '%s\n' "$text" > "$out"
}

# Listening TCP ports inside the node's namespace, read from a daemon's /proc/PID/net (which
# shows the namespace of PID) rather than by entering it.
_maild_listening() { # NODE
    local d port pid listen
    d=$(maild_dir "$1")
    pid=$(cat "$d/dovecot/run/master.pid" 2>/dev/null) || return 1
    # Column 2 is ADDR:PORT in hex, column 4 the state (0A: listening).
    listen=" $(awk '$4 == "0A" { split($2, a, ":"); print a[2] }' \
        "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6" 2>/dev/null | tr '\n' ' ')"
    for port in $MAILD_PORTS; do
        case $listen in *" $(printf '%04X' "$port") "*) ;; *) return 1 ;; esac
    done
    [ -S "$d/postfix/spool/private/auth" ]
}

_maild_pid_alive() { # PIDFILE
    local pid
    pid=$(tr -d ' \n' < "$1" 2>/dev/null)
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# netns_down stops the daemons cleanly before it kills what is left in the namespaces.
_maild_hook() {
    [ -n "$_MAILD_HOOKED" ] && return 0
    netns_on_down maild_stop_all
    _MAILD_HOOKED=1
}

# The queue and data directories as the installed postfix-files lists them. `postfix start`
# would make them too, but at ~60 forks of postconf (2 s a node), and Dovecot needs private/
# for Postfix's auth socket before Postfix starts.
_maild_postfix_dirs() { # QUEUE_DIR DATA_DIR
    local path type owner group mode rest p
    while IFS=: read -r path type owner group mode rest; do
        [ "$type" = d ] || continue
        # shellcheck disable=SC2016 # the file's own $names, not ours
        case $path in
        '$queue_directory'*) p=$1${path#\$queue_directory} ;;
        '$data_directory'*) p=$2${path#\$data_directory} ;;
        *) continue ;;
        esac
        owner=${owner/\$mail_owner/postfix}
        case $group in -) group=root ;; \$setgid_group) group=postdrop ;; esac
        mkdir -p "$p" && chown "$owner:$group" "$p" && chmod "$mode" "$p" || return 1
    done < "$(postconf -dh meta_directory)/postfix-files"
}

maild_prepare() {
    local node=$1 d mail_uid mail_gid stamp penalty map="" u inet="all" listen="*, ::" dlog plog inst
    d=$(maild_dir "$node")
    [ "${NETNS_IPV6:-1}" = 1 ] || { inet=ipv4; listen="*"; }
    mail_uid=$(id -u nobody) && mail_gid=$(getent group nogroup | cut -d: -f3) || return 1
    mkdir -p "$d"/{dovecot/run,dovecot/state,log,mail,mailboxes,postfix/etc} || return 1
    chown nobody:nogroup "$d/mail" "$d/mailboxes" || return 1
    _maild_postfix_dirs "$d/postfix/spool" "$d/postfix/data" || return 1
    : > "$d/dovecot/users"
    for u in $MAILD_USERS; do
        printf '%s:{PLAIN}%s::::::\n' "${u%%:*}" "${u#*:}" >> "$d/dovecot/users"
        map="$map ${u%%:*}@$MAILD_DOMAIN=${u%%:*}/Maildir/,"
    done
    chown root:dovecot "$d/dovecot/users" && chmod 640 "$d/dovecot/users" || return 1
    stamp="%b %d %H:%M:%S "
    penalty=0; [ "$MAILD_AUTH_PENALTY" = yes ] && penalty=0600
    [ "$MAILD_LOG_STYLE" = syslog ] && stamp="%b %e %H:%M:%S $node dovecot: "
    dlog=$d/log/dovecot.log; plog=$d/log/postfix.log; inst=$(netns_name "$node")
    # Dovecot's log_path = syslog; Postfix without maillog_file logs to syslog. Dovecot's syslog
    # identifier is its instance name: "dovecot", as on a server (one instance per systemd here).
    [ "$MAILD_LOG_STYLE" = journal ] && { dlog=syslog; plog=""; inst=dovecot; }
    _maild_render "$MAILD_TEMPLATES/dovecot/sgtest.conf.in" "$d/dovecot/dovecot.conf" \
        "INSTANCE=$inst" "RUN_DIR=$d/dovecot/run" "STATE_DIR=$d/dovecot/state" \
        "LISTEN=$listen" "LOG=$dlog" "LOG_TIMESTAMP=$stamp" \
        "AUTH_FAILURE_DELAY=$MAILD_AUTH_FAILURE_DELAY" "PENALTY_SOCKET_MODE=$penalty" \
        "USERS_FILE=$d/dovecot/users" "MAIL_UID=$mail_uid" "MAIL_GID=$mail_gid" "MAIL_DIR=$d/mail" \
        "AUTH_SOCKET=$d/postfix/spool/private/auth" || return 1
    # Extra settings (e.g. the auth-policy lines a test points at its agent), appended as they are.
    [ -z "$MAILD_DOVECOT_EXTRA" ] || printf '%s\n' "$MAILD_DOVECOT_EXTRA" >> "$d/dovecot/dovecot.conf" || return 1
    _maild_render "$MAILD_TEMPLATES/postfix/main.cf.in" "$d/postfix/etc/main.cf" \
        "QUEUE_DIR=$d/postfix/spool" "DATA_DIR=$d/postfix/data" "HOST=$node" \
        "DOMAIN=$MAILD_DOMAIN" "INET_PROTOCOLS=$inet" "LOG=$plog" "LOG_DIR=$d/log/" \
        "POLICY_RCPT=$MAILD_POLICY" "POLICY_DATA=$MAILD_POLICY_DATA" "POLICY_EOD=$MAILD_POLICY_EOD" \
        "MAILBOX_DIR=$d/mailboxes" "MAILBOX_MAP=${map%,}" "MAIL_UID=$mail_uid" "MAIL_GID=$mail_gid" || return 1
    _maild_render "$MAILD_TEMPLATES/postfix/master.cf.in" "$d/postfix/etc/master.cf" || return 1
    # Postfix takes a main.cf younger than a second for one being edited, and waits 300 ms
    # before each of its ~10 reads during start.
    touch -d '-5 seconds' "$d/postfix/etc/main.cf" "$d/postfix/etc/master.cf"
}

maild_start() {
    local node=$1 d
    d=$(maild_dir "$node")
    if [ -z "$NETNS_DIR" ] || ! _netns_list | grep -qx "$(netns_name "$node")"; then
        echo "maild_start: no namespace for $node (netns_up first)" >&2; return 1
    fi
    maild_prepare "$node" || return 1
    case " $MAILD_STARTED " in *" $node "*) ;; *) MAILD_STARTED="$MAILD_STARTED $node" ;; esac
    _maild_hook
    if ! nsexec "$node" dovecot -c "$d/dovecot/dovecot.conf" > "$d/log/start.out" 2>&1 ||
       ! nsexec "$node" postfix -c "$d/postfix/etc" start >> "$d/log/start.out" 2>&1 ||
       ! wait_for 15 _maild_listening "$node"; then
        echo "maild_start: $node did not come up:" >&2
        tail -20 "$d/log/start.out" "$d/log/dovecot.log" "$d/log/postfix.log" >&2 2>/dev/null
        return 1
    fi
}

# maild_start_nodes NODE...: maild_start on every NODE at once (each takes ~1 s, mostly
# Postfix's start script). 0 only if all came up.
maild_start_nodes() {
    local node pids=() rc=0 p
    for node in "$@"; do
        case " $MAILD_STARTED " in *" $node "*) ;; *) MAILD_STARTED="$MAILD_STARTED $node" ;; esac
    done
    _maild_hook
    for node in "$@"; do
        maild_start "$node" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    return $rc
}

# Processes of either daemon still in the node's namespace, by executable (all of them, or
# only those whose executable's name is NAME).
_maild_pids() { # NODE [NAME]
    local p exe
    for p in $(ip netns pids "$(netns_name "$1")" 2>/dev/null); do
        exe=$(readlink "/proc/$p/exe" 2>/dev/null) || continue
        [ -z "${2:-}" ] || [ "${exe##*/}" = "$2" ] || continue
        case $exe in /usr/sbin/dovecot|/usr/lib/dovecot/*|/usr/lib/postfix/*|/usr/sbin/post*) echo "$p" ;; esac
    done
}
_maild_gone() { [ -z "$(_maild_pids "$1")" ]; }
_maild_gone_pids() {
    local p
    for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done
    return 0
}

maild_stop() {
    local node=$1 d pid
    d=$(maild_dir "$node")
    [ -d "$d" ] || return 0
    # What `postfix stop` does, less its polling in whole seconds: SIGTERM to each master,
    # which takes its children down with it.
    for pid in "$d/dovecot/run/master.pid" "$d/postfix/spool/pid/master.pid"; do
        _maild_pid_alive "$pid" && kill -TERM "$(tr -d ' \n' < "$pid")" 2>/dev/null
    done
    if ! wait_for 5 _maild_gone "$node" 2>/dev/null; then
        # shellcheck disable=SC2046
        kill -KILL $(_maild_pids "$node") 2>/dev/null
        wait_for 3 _maild_gone "$node"
    fi
}

maild_stop_all() {
    local n rc=0 pids=() p
    for n in $MAILD_STARTED; do maild_stop "$n" & pids+=($!); done
    for p in "${pids[@]}"; do wait "$p" || rc=1; done
    MAILD_STARTED=""; _MAILD_HOOKED=""
    return $rc
}

# Postfix applies a reload to new sessions only once the running smtpd processes have gone
# (they exit when idle after the reload): a caller checks the effect with wait_for.
maild_policy() { # NODE RCPT [EOD [DATA]]
    local etc
    etc=$(maild_dir "$1")/postfix/etc
    postconf -c "$etc" -e "smtpd_recipient_restrictions = $2" "smtpd_end_of_data_restrictions = ${3:-}" \
        "smtpd_data_restrictions = ${4:-}" &&
        postfix -c "$etc" reload >/dev/null 2>&1
}

# maild_logrotate NODE rename|copytruncate [dovecot|postfix|both]: like logrotate(8). rename
# moves the file to the next free NAME.N and makes the daemon reopen (Dovecot: doveadm log
# reopen, Postfix: reload restarts postlogd); copytruncate copies then truncates in place (both
# daemons write with O_APPEND, so they go on at offset 0).
maild_logrotate() {
    local node=$1 mode=$2 which=${3:-both} d daemon f n old
    d=$(maild_dir "$node")
    for daemon in dovecot postfix; do
        [ "$which" = both ] || [ "$which" = "$daemon" ] || continue
        f=$(maild_log "$node" "$daemon"); n=1
        while [ -e "$f.$n" ]; do n=$((n + 1)); done
        case $mode in
        rename)
            mv "$f" "$f.$n" || return 1
            if [ "$daemon" = dovecot ]; then
                doveadm -c "$d/dovecot/dovecot.conf" log reopen || return 1
            else
                # As `postfix logrotate` does: a reload makes postlogd exit; the next one
                # spawned opens the file anew. Done once the old postlogd is gone.
                old=$(_maild_pids "$node" postlogd)
                postfix -c "$d/postfix/etc" reload >/dev/null 2>&1 || return 1
                # shellcheck disable=SC2086 # one argument per pid
                [ -z "$old" ] || wait_for 5 _maild_gone_pids $old || return 1
            fi ;;
        copytruncate)
            cp "$f" "$f.$n" && : > "$f" || return 1 ;;
        *) echo "maild_logrotate: rename or copytruncate" >&2; return 1 ;;
        esac
    done
}

maild_wait_log() { # NODE dovecot|postfix ERE [SECONDS]
    local f
    f=$(maild_log "$1" "$2") || return 1
    wait_for "${4:-5}" grep -qE -- "$3" "$f"
}

maild_mailbox_count() { # NODE USER
    local d
    d=$(maild_dir "$1")/mailboxes/$2/Maildir
    find "$d/new" "$d/cur" -type f 2>/dev/null | wc -l
}
