#!/bin/sh
# 00_runner.sh: tests/run.sh itself. Fake integration scripts (exit 0, 77 with a reason, 1) and fake
# unit binaries (exit 0, 77) run under SG_NO_SKIP=0 and 1: a script's 77 is a skip that prints its
# reason and, under SG_NO_SKIP=1, fails the run; a binary's 77 is always a failure (cmocka: 77
# failed tests); a script past SG_TEST_TIMEOUT seconds is stopped and fails; the summary line keeps
# its form.
set -u
unset SG_TEST_TIMEOUT   # the runs below set it where they mean to
ROOT=${SG_ROOT:-$(pwd)}
T=$(mktemp -d /tmp/sg-runner.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ -f "$T/out" ] && sed 's/^/    | /' "$T/out"; exit 1; }

printf 'echo fine\nexit 0\n' > "$T/ok.sh"
printf 'echo working\necho "skip: no frobnicator here"\nexit 77\n' > "$T/skipper.sh"
printf 'echo broken\nexit 1\n' > "$T/bad.sh"
printf 'sleep 5\nexit 0\n' > "$T/slow.sh"
printf '#!/bin/sh\nexit 0\n' > "$T/test_good"
printf '#!/bin/sh\necho "[  FAILED  ] 77 test(s)"\nexit 77\n' > "$T/test_77"
chmod +x "$T/test_good" "$T/test_77"

# run NO_SKIP ARGS...: run.sh's output in $T/out, its exit status in $rc.
run() {
    ns=$1; shift
    SG_NO_SKIP=$ns SG_BUILD=$T/build sh "$ROOT/tests/run.sh" "$@" > "$T/out" 2>&1; rc=$?
}
has() { grep -qF -- "$1" "$T/out" || fail "no line '$1'"; }

run 0 integration "$T/ok.sh" "$T/skipper.sh"
[ $rc -eq 0 ] || fail "a skip failed the run without SG_NO_SKIP"
has "SKIP  skipper (skip: no frobnicator here)"
has "PASS  ok ("                   # and its run time
has "tests: 1 passed, 0 failed, 1 skipped"

run 1 integration "$T/ok.sh" "$T/skipper.sh"
[ $rc -ne 0 ] || fail "a skip passed the run under SG_NO_SKIP=1"
has "FAIL  skipper (skipped, and SG_NO_SKIP=1 makes a skip a failure: skip: no frobnicator here)"
has "tests: 1 passed, 1 failed, 1 skipped"

run 0 integration "$T/ok.sh" "$T/bad.sh"
[ $rc -ne 0 ] || fail "a failing script passed the run"
has "FAIL  bad (exit 1)"
has "tests: 1 passed, 1 failed, 0 skipped"

# The guard against a hang: SG_TEST_TIMEOUT seconds (900 by default) stops a script, and it fails.
SG_TEST_TIMEOUT=1 SG_NO_SKIP=0 SG_BUILD=$T/build sh "$ROOT/tests/run.sh" integration "$T/slow.sh" > "$T/out" 2>&1; rc=$?
[ $rc -ne 0 ] || fail "a script past SG_TEST_TIMEOUT passed the run"
has "FAIL  slow (exit 124)"
run 0 integration "$T/slow.sh"
[ $rc -eq 0 ] || fail "a 5 s script failed under the default guard"
has "PASS  slow ("

for ns in 0 1; do
    run $ns unit "$T/test_good" "$T/test_77" --
    [ $rc -ne 0 ] || fail "a unit binary's exit 77 passed the run (SG_NO_SKIP=$ns)"
    has "FAIL  test_77 (exit 77)"
    has "tests: 1 passed, 1 failed, 0 skipped"
done

# A replay binary: the same rule, and it gets its corpus directory.
run 0 unit -- "$T/test_77"
[ $rc -ne 0 ] || fail "a replay's exit 77 passed the run"
has "tests: 0 passed, 1 failed, 0 skipped"

run 0 all "$T/test_good" -- -- "$T/ok.sh"
[ $rc -eq 0 ] || fail "all good, yet the run failed"
has "tests: 2 passed, 0 failed, 0 skipped"
echo "ok: run.sh"
