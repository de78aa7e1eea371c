# nft.sh: sourced by the 2*_nft_*.sh tests: checks root and tools (exit 77 to skip) and makes sure
# the bench_nft helper (a bench program the test targets do not build) exists. Sets ROOT, HELPER.
# Usage: . "$SG_ROOT/tests/integration/lib/nft.sh"; nft_require TOOL...
. "${SG_ROOT:-$(pwd)}/tests/integration/lib/wait.sh"   # wait_for
nft_require() {
    [ "$(id -u)" = 0 ] || { echo "skip: needs root for network namespaces"; exit 77; }
    for tool in nft ip "$@"; do
        command -v "$tool" >/dev/null || { echo "skip: needs $tool"; exit 77; }
    done
    ROOT=${SG_ROOT:-$(pwd)}
    build=${SG_BUILD:-$ROOT/build}
    HELPER=$build/tests/bench_nft
    [ -x "$HELPER" ] && return 0
    # Same flags as the library it links: a sanitizer build dir gets a sanitizer helper.
    san=
    nm "$build/libsg.a" 2>/dev/null | grep -q __asan && san=SAN=1
    make -C "$ROOT" --no-print-directory $san BUILD="$build" "$HELPER" >/dev/null ||
        { echo "FAIL: cannot build $HELPER"; exit 1; }
}
# nft_netns PREFIX: makes the namespace NS=PREFIX<pid> for this test (deleted at exit), or skips.
nft_netns() {
    NS=$1$$
    trap 'ip netns del $NS 2>/dev/null' EXIT INT TERM
    ip netns add "$NS" || { echo "skip: ip netns add failed"; exit 77; }
}
# nft_agent_netns PREFIX: for a test of one agent (lib/agent1.sh) in a namespace of its own: makes
# NS=PREFIX<pid> (or skips) and the directory T; at exit runs the test's nft_agent_on_exit when it
# defines one, stops the agent, deletes NS and removes T (kept when SG_KEEP is set). Also ok MSG,
# bad MSG (counted in fails) and sgc ARGS (sgcluster against the agent).
nft_agent_netns() {
    NS=$1$$
    T=$(mktemp -d "/tmp/sgt-$1.XXXXXX")
    fails=0
    trap _nft_agent_exit EXIT INT TERM
    ip netns add "$NS" || { echo "skip: ip netns add failed"; exit 77; }
}
_nft_agent_exit() {
    command -v nft_agent_on_exit >/dev/null && nft_agent_on_exit
    agent1_stop
    ip netns del "$NS" 2>/dev/null
    [ -n "${SG_KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
sgc() { agent1_ctl "$@"; }
