# clients.sh: real mail clients (curl for IMAP/POP3, swaks for SMTP AUTH/submission) run from a test namespace.
# Sourced after netns.sh. Every client is bounded by a timeout (CLIENT_TIMEOUT, default 5 s).
# Options before the arguments: -n NS (namespace to run in: client (default, or $CLIENT_NS),
# attacker, nodeI), -s SRC (source address, e.g. one of a botnet's from netns_add_addrs).
# Addresses may be IPv4 or IPv6.
#
#   imap_login [-n NS] [-s SRC] IP USER PASS         0 logged in, 1 login refused, 2 no session
#   pop3_login [-n NS] [-s SRC] IP USER PASS         (connection refused, dropped, timed out)
#   smtp_auth  [-n NS] [-s SRC] [-m PLAIN|LOGIN] IP USER PASS     AUTH on 587, then QUIT
#   smtp_send  [-n NS] [-s SRC] [-p PORT] IP USER PASS NRCPT|RCPT,... [FROM]
#              a whole message to NRCPT recipients (rcptK@example.invalid: relayed, discarded)
#              or to the listed ones (USER@sgtest.invalid: that user's maildir); USER "" sends
#              without AUTH; 0 accepted, 1 refused (AUTH, MAIL, RCPT or DATA), 2 no session
#   tcp_probe  [-n NS] [-s SRC] [-t SECONDS] IP PORT  0 if a TCP connection opens (default 2 s)
# The last client's output is in $CLIENT_OUT (a file) for a failing test to show; clients run
# side by side (background jobs) each set CLIENT_OUT="" first to get a file of their own.

CLIENT_NS=${CLIENT_NS:-client}
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-5}
CLIENT_PY=$(command -v /usr/bin/python3 || command -v python3)
CLIENT_OUT=""

# Parses the common options into _c_ns, _c_src, _c_mech, _c_port, _c_wait; sets _c_shift.
_client_opts() {
    _c_ns=$CLIENT_NS; _c_src=""; _c_mech=LOGIN; _c_port=""; _c_wait=2; _c_shift=0
    while [ $# -gt 0 ]; do
        case $1 in
        -n) _c_ns=$2 ;;
        -s) _c_src=$2 ;;
        -m) _c_mech=$2 ;;
        -p) _c_port=$2 ;;
        -t) _c_wait=$2 ;;
        *) return 0 ;;
        esac
        shift 2; _c_shift=$((_c_shift + 2))
    done
}

_client_out() {
    if [ -z "$CLIENT_OUT" ]; then
        CLIENT_OUT=$(mktemp "${NETNS_DIR:-/tmp}/client.XXXXXX") || CLIENT_OUT=/dev/null
    fi
}

# An IPv6 literal goes in brackets inside a URL.
_client_host() { case $1 in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# curl exits 67 when the server refuses the credentials; anything else but 0 means the session
# did not happen (refused, reset, timed out: what a ban looks like).
_client_curl() { # SCHEME IP USER PASS  (after options)
    local rc src=()
    [ -n "$_c_src" ] && src=(--interface "$_c_src")
    _client_out
    nsexec "$_c_ns" curl -sS --max-time "$CLIENT_TIMEOUT" --connect-timeout "$CLIENT_TIMEOUT" \
        "${src[@]}" --user "$3:$4" "$1://$(_client_host "$2")/" > "$CLIENT_OUT" 2>&1
    rc=$?
    case $rc in 0) return 0 ;; 67) return 1 ;; *) return 2 ;; esac
}

imap_login() {
    _client_opts "$@"; shift $_c_shift
    _client_curl imap "$@"
}

pop3_login() {
    _client_opts "$@"; shift $_c_shift
    _client_curl pop3 "$@"
}

# swaks: 28 is a failed AUTH, 23-26 a refused MAIL/RCPT/DATA/message; 2, 6 and 21 no session.
_client_swaks() { # SWAKS_ARGS...
    local rc src=()
    [ -n "$_c_src" ] && src=(--local-interface "$_c_src")
    _client_out
    # swaks bounds each read; the outer timeout bounds the whole session.
    nsexec "$_c_ns" timeout -k 1 $((CLIENT_TIMEOUT * 3)) swaks --timeout "$CLIENT_TIMEOUT" \
        --helo "$_c_ns.sgtest.invalid" "${src[@]}" "$@" > "$CLIENT_OUT" 2>&1
    rc=$?
    case $rc in 0) return 0 ;; 23|24|25|26|28) return 1 ;; *) return 2 ;; esac
}

smtp_auth() {
    _client_opts "$@"; shift $_c_shift
    _client_swaks --server "$(_client_host "$1"):${_c_port:-587}" --auth "$_c_mech" \
        --auth-user "$2" --auth-password "$3" --from "$2@sgtest.invalid" --quit-after AUTH
}

smtp_send() {
    local i to="" auth=()
    _client_opts "$@"; shift $_c_shift
    case $4 in
    *[!0-9]*) to=$4 ;;
    *) for ((i = 1; i <= $4; i++)); do to="$to${to:+,}rcpt$i@example.invalid"; done ;;
    esac
    [ -n "$2" ] && auth=(--auth "$_c_mech" --auth-user "$2" --auth-password "$3")
    _client_swaks --server "$(_client_host "$1"):${_c_port:-587}" "${auth[@]}" \
        --from "${5:-${2:-anonymous}@sgtest.invalid}" --to "$to" \
        --header "Subject: sgcluster test message" --body "test message from $_c_ns"
}

# A bare TCP connect: python because it can bind a source address and speaks IPv4 and IPv6.
tcp_probe() {
    _client_opts "$@"; shift $_c_shift
    nsexec "$_c_ns" timeout -k 1 "$((${_c_wait%.*} + 2))" "$CLIENT_PY" -c '
import socket, sys
host, port, src, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(wait)
try:
    if src:
        s.bind((src, 0))
    s.connect((host, port))
except OSError:
    sys.exit(1)
' "$1" "$2" "$_c_src" "$_c_wait" 2>/dev/null
}
