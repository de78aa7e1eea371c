#!/bin/bash
# 96_bash_completion.sh: the bash completion of sgcluster (deploy/bash-completion/sgcluster), as
# `make install` puts it, sourced in bash and driven through COMP_WORDS/COMP_CWORD against the
# built sgcluster: every command of `sgcluster help`, each command's options, directories for a
# DIR, files for a FILE or CONFIG, nothing for an address, the command found after -s PATH.
[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
set -u
ROOT=${SG_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
BIN=${SG_BIN:-$ROOT/bin}
BUILD=${SG_BUILD:-$ROOT/build}
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$BIN/sgcluster" ] || fail "no $BIN/sgcluster (make first)"
T=$(mktemp -d /tmp/sgcompl.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT

# make install (into a scratch DESTDIR, binaries as built) puts it where bash-completion looks.
make -C "$ROOT" --no-print-directory -s _install DESTDIR="$T/inst" PREFIX=/usr/local BIN="$BIN" BUILD="$BUILD" \
    > "$T/install.log" 2>&1 || { cat "$T/install.log"; fail "make _install"; }
C=$T/inst/usr/local/share/bash-completion/completions/sgcluster
[ -f "$C" ] || fail "make install did not install the completion"

mkdir -p "$T/d/rulesA" "$T/d/rulesB" && : > "$T/d/rulesfile" && : > "$T/d/conf.ini" && : > "$T/d/my file.log"
PATH=$BIN:$PATH
# shellcheck source=../../deploy/bash-completion/sgcluster
. "$C"
complete -p sgcluster | grep -q -- '-F _sgcluster' || fail "complete -p sgcluster: $(complete -p sgcluster 2>&1)"

# comp WORD...: COMPREPLY for the command line WORD... with the cursor on the last word, sorted,
# one a line.
comp() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMPREPLY=()
    _sgcluster
    [ ${#COMPREPLY[@]} -gt 0 ] && printf '%s\n' "${COMPREPLY[@]}" | sort
}
expect() { # DESCRIPTION EXPECTED(one a line) WORD...
    local what=$1 want=$2 got
    shift 2
    got=$(comp "$@")
    [ "$got" = "$want" ] || fail "$what: [$*] gave [$(echo $got)], want [$(echo $want)]"
}
has() { # DESCRIPTION ITEM... -- WORD...
    local what=$1 items=() got i
    shift
    while [ "$1" != -- ]; do items+=("$1"); shift; done
    shift
    got=$(comp "$@")
    for i in "${items[@]}"; do grep -qxF -- "$i" <<<"$got" || fail "$what: [$*] lacks $i (gave: $(echo $got))"; done
}

cmds=$(sgcluster help | sed -n 's/^  \([a-z][a-z-]*\).*/\1/p' | sort)
[ "$(wc -l <<<"$cmds")" -ge 12 ] || fail "sgcluster help lists too few commands: $cmds"
expect "every command" "$cmds" sgcluster ""
has "the commands" status peers bans ban unban hold release top explain replay keygen parse -- sgcluster ""
expect "a prefix" "status" sgcluster st
expect "global options" "$(sgcluster help | sed '/^commands:/q' | grep -oE -- '(^|[[ (|])--?[a-zA-Z][a-zA-Z-]*' | tr -d '[( |' | sort -u)" sgcluster -
has "global options" -s --json -- sgcluster -
expect "after -s PATH" "status" sgcluster -s /run/x.sock st
has "parse options" --rules --extra --json --stats --quiet --now -- sgcluster parse --
has "top options" --users -n --window --json -- sgcluster top -
has "ban options" --for --reason -- sgcluster ban 192.0.2.1 --
expect "bans --a" "--all" sgcluster bans --a
expect "an address is not a file" "" sgcluster ban ""
expect "a DIR: directories only" "$T/d/rulesA
$T/d/rulesB" sgcluster parse --rules "$T/d/rul"
expect "keygen's DIR" "$T/d/rulesA
$T/d/rulesB" sgcluster keygen --node mx1 "$T/d/rul"
expect "replay -c CONFIG: files" "$T/d/conf.ini" sgcluster replay -c "$T/d/co"
expect "parse FILE" "$T/d/my file.log" sgcluster parse --json "$T/d/my"
expect "replay LOGFILE" "$T/d/conf.ini" sgcluster replay -c x.conf "$T/d/con"
echo "measured: completion of $(wc -l <<<"$cmds") commands, options and file arguments as sgcluster help says"
exit 0
