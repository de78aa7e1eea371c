# deploy.sh: what the deployment tests (9*_deploy_*.sh) share: preflight, a scratch directory,
# a throwaway system user, ansible settings for local runs, and a cleanup that undoes them.
# Sourced by bash scripts after setting DEPLOY_USER (a short unique user name).
#
#   deploy_setup PREFIX      checks (exit 77 with a reason), makes $T (mktemp, 0755; PREFIX is a
#                            name under /tmp, or a path), exports the ansible settings, installs
#                            the EXIT/INT/TERM trap
#   deploy_on_cleanup CMD    run CMD first at exit (stop agents, delete namespaces)
#   deploy_recap LOG HOST    the PLAY RECAP line of HOST
#   fail MESSAGE             print and exit 1

. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"   # wait_for

DEPLOY_HOOKS=()

fail() { echo "FAIL: $*"; exit 1; }

deploy_on_cleanup() { DEPLOY_HOOKS+=("$*"); }

_deploy_cleanup() {
    local i
    for ((i = ${#DEPLOY_HOOKS[@]} - 1; i >= 0; i--)); do eval "${DEPLOY_HOOKS[$i]}" >/dev/null 2>&1; done
    getent passwd "$DEPLOY_USER" >/dev/null && userdel "$DEPLOY_USER"
    getent group "$DEPLOY_USER" >/dev/null && groupdel "$DEPLOY_USER"
    if [ -n "${KEEP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}

deploy_setup() { # PREFIX
    [ "$(id -u)" = 0 ] || { echo "skip: needs root (system user, network namespaces, nft)"; exit 77; }
    command -v ansible-playbook >/dev/null || { echo "skip: ansible-playbook not installed (apt-get install ansible)"; exit 77; }
    command -v setpriv >/dev/null || { echo "skip: setpriv (util-linux) not installed"; exit 77; }
    case $1 in
    */*) mkdir -p "$(dirname "$1")"; T=$(mktemp -d "$1.XXXXXX") || exit 1 ;;
    *) T=$(mktemp -d "/tmp/$1.XXXXXX") || exit 1 ;;
    esac
    # The agent's user must reach the files under it.
    chmod 755 "$T"
    mkdir -p "$T/tmp"
    trap _deploy_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    # Pipelining: one python process per task instead of a copied module file (local runs).
    export ANSIBLE_LOCAL_TEMP=$T/tmp ANSIBLE_REMOTE_TEMP=$T/tmp ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 \
        ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_PIPELINING=1 ANSIBLE_STDOUT_CALLBACK=default
}

deploy_recap() { grep -A20 '^PLAY RECAP' "$1" | grep "^$2 "; }

# deploy_log_file PATH: an empty mail log as Debian has it (root:adm 0640), so the agent reads
# it through its supplementary group only.
deploy_log_file() {
    mkdir -p "$(dirname "$1")"
    : > "$1"
    chown root:adm "$1"
    chmod 0640 "$1"
}

# deploy_inventory1 FILE PREFIX: a one-node inventory (mx1, local connection, no become) whose
# paths hang off PREFIX; more host variables come on stdin, written as at the left margin.
deploy_inventory1() {
    {
        printf 'sgcluster:\n  hosts:\n    mx1:\n'
        printf '      %s\n' "ansible_connection: local" "ansible_become: false" \
            "ansible_python_interpreter: /usr/bin/python3" "sgcluster_prefix: $2" \
            "sgcluster_address: 127.0.0.1" "sgcluster_user: $DEPLOY_USER" \
            "sgcluster_logs: [$2/var/log/mail.log]" "sgcluster_policy_listen: 127.0.0.1:10040"
        sed 's/^/      /'
    } > "$1"
}

# deploy_play LOG ARGS...: ansible-playbook -i $T/hosts.yml ARGS, run under the command in the
# array DEPLOY_WRAP (e.g. ip netns exec NS), output to LOG.
DEPLOY_WRAP=()
deploy_play() {
    local log=$1
    shift
    "${DEPLOY_WRAP[@]}" ansible-playbook -i "$T/hosts.yml" "$@" > "$log" 2>&1
}
