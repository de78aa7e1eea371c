# ports.sh: a block of loopback TCP ports for tests whose processes must know each other's ports
# before they start (a peer list), so that binding port 0 and reading it back cannot work.
# Sourced by sh or bash scripts.
#
#   port_block [FD]   sets PORT_BASE: PORT_BLOCK (64) consecutive ports PORT_BASE..PORT_BASE+63,
#                     reserved for the life of this shell (it holds an flock through file
#                     descriptor FD, default 9, which its children inherit); 1 and a message if
#                     no block could be had
#
# The protocol, which tests/support/portblock.h follows too (one per language):
# - the ports lie outside the kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range),
#   below it from 10048 when there is room (else above it), so no connect() or bind to port 0
#   anywhere on the machine is handed one of them;
# - blocks of 64 ports start at multiples of 64; block BASE is taken while a process holds an
#   exclusive flock on /tmp/sgcluster-ports/BASE.lock (two test runs, two clones, never share a
#   block; the kernel drops the lock when its holder dies, so nothing goes stale);
# - a block one of whose ports is in use by anything else (any TCP state, IPv4 or IPv6, in this
#   network namespace) is passed over.
PORT_BLOCK=64
PORT_LOCK_DIR=/tmp/sgcluster-ports
PORT_BASE=

# _port_range: "FIRST LAST" of the block bases to draw from.
_port_range() {
    # Not `read`: dash reads a byte at a time, and a sysctl file answers only the first read.
    set -- $(cat /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null) 32768 60999
    lo=$1; hi=$2
    if [ $((lo - 10048)) -ge $((PORT_BLOCK * 16)) ]; then
        echo "10048 $((lo - PORT_BLOCK))"
    else
        echo "$(( (hi / PORT_BLOCK + 1) * PORT_BLOCK )) $((65536 - PORT_BLOCK))"
    fi
}

# _port_used BASE: 0 if a port of the block appears in /proc/net/tcp or tcp6 (column 2 is
# ADDR:PORT in hex).
_port_used() {
    awk -v lo="$1" -v n="$PORT_BLOCK" '
        FNR > 1 { split($2, a, ":"); p = 0; h = a[length(a)]
                  for (i = 1; i <= length(h); i++) p = p * 16 + index("0123456789ABCDEF", substr(h, i, 1)) - 1
                  if (p >= lo && p < lo + n) { found = 1; exit } }
        END { exit found ? 0 : 1 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

port_block() { # [FD]
    _pb_fd=${1:-9}
    set -- $(_port_range)
    _pb_first=$(( $1 / PORT_BLOCK )); _pb_n=$(( $2 / PORT_BLOCK - _pb_first + 1 ))
    mkdir -p "$PORT_LOCK_DIR" 2>/dev/null && chmod 1777 "$PORT_LOCK_DIR" 2>/dev/null
    _pb_try=0
    while [ $_pb_try -lt 100 ]; do
        _pb_try=$((_pb_try + 1))
        _pb_base=$(( (_pb_first + $(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % _pb_n) * PORT_BLOCK ))
        _pb_f=$PORT_LOCK_DIR/$_pb_base.lock
        # Made readable by every user: flock needs only a descriptor open for reading.
        [ -e "$_pb_f" ] || { : >> "$_pb_f" && chmod 0644 "$_pb_f"; } 2>/dev/null
        eval "exec $_pb_fd<\"\$_pb_f\"" 2>/dev/null || continue
        if flock -n "$_pb_fd"; then
            if _port_used "$_pb_base"; then flock -u "$_pb_fd"; continue; fi
            PORT_BASE=$_pb_base
            return 0
        fi
    done
    eval "exec $_pb_fd<&-"
    echo "port_block: no free block of $PORT_BLOCK ports in $(_port_range) after 100 tries" >&2
    return 1
}
