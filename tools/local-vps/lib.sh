# shellcheck shell=bash
# Shared helpers for the local "VPS" scripts. Sourced, never executed.
# Every script keeps its state (keys, pid files, caches) under LOCAL_VPS_STATE,
# which defaults to <repo>/.local/vps (gitignored).

LOCAL_VPS_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCAL_VPS_REPO_DIR="$(cd "${LOCAL_VPS_SCRIPT_DIR}/../.." && pwd)"
LOCAL_VPS_STATE="${LOCAL_VPS_STATE:-${LOCAL_VPS_REPO_DIR}/.local/vps}"

log() { printf '[local-vps %s] %s\n' "${LOCAL_VPS_COMPONENT:-}" "$*"; }
warn() { printf '[local-vps %s] warning: %s\n' "${LOCAL_VPS_COMPONENT:-}" "$*" >&2; }
die() {
    printf '[local-vps %s] error: %s\n' "${LOCAL_VPS_COMPONENT:-}" "$*" >&2
    exit 1
}

# without_inherited_fds: closes every descriptor above 2 of this (sub)shell; call it in the
# subshell that execs a daemon. A daemon started inside a run that holds a lock (flock around
# tools/main.sh, a build lock) would otherwise hold that lock for its whole life and lock out
# every later run.
without_inherited_fds() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        if ((fd > 2)); then eval "exec ${fd}>&-" 2>/dev/null || true; fi
    done
}

require_root() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root (installs packages and starts daemons)"
}

# ensure_state_dir SUBDIR: creates LOCAL_VPS_STATE/SUBDIR (mode 0700) and prints its path.
ensure_state_dir() {
    local dir="${LOCAL_VPS_STATE}/$1"
    mkdir -p "${dir}" || die "cannot create state directory ${dir}"
    chmod 700 "${LOCAL_VPS_STATE}" "${dir}"
    printf '%s\n' "${dir}"
}

# apt_install PACKAGE...: installs Debian packages without starting services
# (this machine has no init system; a service started by a postinst would be orphaned).
apt_install() {
    log "installing Debian packages: $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null || die "apt-get update failed"
        apt-get install -y --no-install-recommends "$@" >/dev/null ||
            die "apt-get install $* failed"
    fi
}

# pid_alive PIDFILE EXPECTED_COMM: true when the pid in PIDFILE runs a process named EXPECTED_COMM
# (the name check guards against a recycled pid). comm has no spaces here, so field 3 of
# /proc/PID/stat is the state.
pid_alive() {
    local pidfile="$1" expected="$2" pid comm
    [[ -s "${pidfile}" ]] || return 1
    pid="$(<"${pidfile}")"
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 1
    comm="$(cat "/proc/${pid}/comm" 2>/dev/null)" || return 1
    [[ "${comm}" == "${expected}" ]] || return 1
    # An exited process not yet reaped by its parent (state Z) is not running.
    [[ "$(awk '{ print $3 }' "/proc/${pid}/stat" 2>/dev/null)" != Z ]]
}

# stop_pid PIDFILE EXPECTED_COMM WHAT: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
    local pidfile="$1" expected="$2" what="$3" pid
    if ! pid_alive "${pidfile}" "${expected}"; then
        log "${what} not running (nothing started by these scripts)"
        rm -f "${pidfile}"
        return 0
    fi
    pid="$(<"${pidfile}")"
    log "stopping ${what} (pid ${pid})"
    kill -TERM "${pid}"
    for _ in $(seq 1 60); do
        pid_alive "${pidfile}" "${expected}" || break
        sleep 0.5
    done
    if pid_alive "${pidfile}" "${expected}"; then
        warn "${what} (pid ${pid}) ignored SIGTERM for 30 s; sending SIGKILL"
        kill -KILL "${pid}"
    fi
    rm -f "${pidfile}"
    log "${what} stopped"
}

# take_over_port HOST PORT PATTERN WHAT: the port is taken. The machine has one local VPS
# at a time (its containers have fixed names, and `local-stack.sh reset` clears another
# clone's): when every listener's command line matches PATTERN (a glob: this component
# started from another clone), stop it; anything else is left alone and is an error.
take_over_port() {
    local host="$1" port="$2" pattern="$3" what="$4" pids pid cmdline
    pids="$(ss -ltnpH "sport = :${port}" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)"
    [[ -n "${pids}" ]] || die "${host}:${port} is already taken by another process"
    for pid in ${pids}; do
        cmdline="$(tr '\0' ' ' <"/proc/${pid}/cmdline" 2>/dev/null || true)"
        # shellcheck disable=SC2053 # PATTERN is a glob on purpose
        [[ "${cmdline}" == ${pattern} ]] || die "${host}:${port} is already taken by another process (pid ${pid}: ${cmdline:-unknown})"
    done
    for pid in ${pids}; do
        log "port ${port} is held by another clone's ${what} (pid ${pid}); stopping it"
        kill "${pid}" 2>/dev/null || true
    done
    for _ in $(seq 1 40); do
        (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null || return 0
        sleep 0.25
    done
    die "${host}:${port} is still taken after stopping ${pids//$'\n'/ }"
}

# shell_quote VALUE: single-quoted for a POSIX shell, safe to eval.
shell_quote() {
    local value="$1"
    printf "'%s'" "${value//\'/\'\\\'\'}"
}
