#!/bin/sh
# run-unit.sh: start a service's ExecStart= the way its unit says, where systemd does not run
# (containers, CI): as its User=/Group= with its SupplementaryGroups= and only the capabilities
# of AmbientCapabilities=, no new privileges. It does not sandbox the file system.
#   run-unit.sh [-p] UNIT_FILE [WRAPPER...]
#     -p       print the command line instead of running it
#     WRAPPER  a command to run it under, e.g. `ip netns exec NS` (placed before setpriv)
# Execs the service in the foreground: the caller backgrounds it and keeps its pid.
set -eu
print=no
if [ "${1:-}" = "-p" ]; then print=yes; shift; fi
unit=${1:?usage: run-unit.sh [-p] UNIT_FILE [WRAPPER...]}
shift

# Last value of KEY= in [Service] (systemd's rule for single-valued settings).
key() {
    sed -n '/^\[Service\]/,/^\[/p' "$unit" | sed -n "s/^$1=//p" | tail -n 1
}

exec_start=$(key ExecStart)
[ -n "$exec_start" ] || { echo "run-unit: no ExecStart= in $unit" >&2; exit 1; }
user=$(key User)
group=$(key Group)
groups=$(key SupplementaryGroups | tr ' ' ',')
caps=$(key AmbientCapabilities | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ /,+/g')

set --  "$@"
if [ -n "$user" ]; then
    set -- "$@" setpriv --reuid="$user" --regid="${group:-$user}" --no-new-privs
    if [ -n "$groups" ]; then set -- "$@" --groups="$groups"; else set -- "$@" --clear-groups; fi
    if [ -n "$caps" ]; then
        set -- "$@" --inh-caps="-all,+$caps" --ambient-caps="-all,+$caps" --bounding-set="-all,+$caps"
    else
        set -- "$@" --inh-caps=-all --bounding-set=-all
    fi
    set -- "$@" --
fi
# ExecStart= is split on blanks, as the unit's command lines here have no quoting.
# shellcheck disable=SC2086
set -- "$@" $exec_start
if [ "$print" = yes ]; then echo "$@"; exit 0; fi
exec "$@"
