# wait.sh: bounded waits on a condition instead of sleeps, for sh and bash scripts (lib/netns.sh
# sources it, so every bash test has it too).
#
#   wait_for SECONDS CMD...   run CMD until it succeeds, sleeping 20 ms growing to 200 ms in
#                             between; SECONDS may be fractional (0.5). 0 as soon as CMD succeeds;
#                             1 on timeout, after "wait_for: timeout after SECONDS s: CMD" on stderr
#   now_ms                    wall clock in milliseconds (no fork of date under bash)

now_ms() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        # "SECONDS.MICROSECONDS" (the separator follows the locale)
        _nm_t=${EPOCHREALTIME%[.,]*}${EPOCHREALTIME#*[.,]}
        echo $((_nm_t / 1000))
    else
        date +%s%3N
    fi
}

wait_for() {
    local _wf_secs _wf_frac _wf_deadline _wf_pause
    _wf_secs=$1; _wf_frac=000; _wf_pause=0.02
    shift
    case $_wf_secs in *.*) _wf_frac=${_wf_secs#*.}000 ;; esac
    while [ ${#_wf_frac} -gt 3 ]; do _wf_frac=${_wf_frac%?}; done
    _wf_deadline=$(( $(now_ms) + ${_wf_secs%%.*}0 * 100 + 1$_wf_frac - 1000 ))
    while :; do
        "$@" && return 0
        if [ "$(now_ms)" -ge "$_wf_deadline" ]; then
            echo "wait_for: timeout after ${_wf_secs}s: $*" >&2
            return 1
        fi
        sleep "$_wf_pause"
        case $_wf_pause in 0.02) _wf_pause=0.05 ;; 0.05) _wf_pause=0.1 ;; *) _wf_pause=0.2 ;; esac
    done
}
