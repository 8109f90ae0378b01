#!/usr/bin/env bash
# Runs a Docker engine on this machine for the local "VPS" (no systemd here).
#   dockerd.sh start   install Debian's docker.io if dockerd is missing, start it, wait for the socket
#   dockerd.sh stop    stop the engine this script started (by its recorded pid), nothing else
#   dockerd.sh status  exit 0 when an engine answers on the socket
# Only --storage-driver=vfs is passed on the command line: everything else (log driver, log
# options) belongs in /etc/docker/daemon.json, which the project's host bootstrap writes and
# dockerd reads by default. A flag that is also in that file makes dockerd refuse to start.
set -euo pipefail

LOCAL_VPS_COMPONENT=dockerd
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DOCKER_SOCKET=/var/run/docker.sock
DAEMON_JSON=/etc/docker/daemon.json

engine_answers() {
    docker -H "unix://${DOCKER_SOCKET}" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start_engine() {
    require_root
    local state_dir pidfile logfile
    state_dir="$(ensure_state_dir dockerd)"
    pidfile="${state_dir}/dockerd.pid"
    logfile="${state_dir}/dockerd.log"

    if pid_alive "${pidfile}" dockerd && engine_answers; then
        log "already running (pid $(<"${pidfile}"))"
        return 0
    fi
    if engine_answers; then
        log "a Docker engine not started by this script already answers on ${DOCKER_SOCKET}; leaving it alone"
        return 0
    fi

    if ! command -v dockerd >/dev/null 2>&1; then
        apt_install docker.io iptables
    fi
    command -v iptables >/dev/null 2>&1 || apt_install iptables
    command -v docker >/dev/null 2>&1 || die "no docker client on PATH after installing docker.io"

    local -a engine_flags=()
    # Pass the storage driver only when daemon.json does not choose one (both would conflict).
    if [[ -f "${DAEMON_JSON}" ]] && grep -q '"storage-driver"' "${DAEMON_JSON}"; then
        log "${DAEMON_JSON} sets storage-driver; not passing --storage-driver"
    else
        engine_flags+=(--storage-driver=vfs)
    fi

    log "starting dockerd ${engine_flags[*]} (log: ${logfile})"
    # setsid: the engine must outlive this shell and not get its terminal's signals; and none
    # of this shell's descriptors (a caller's lock).
    (
        without_inherited_fds
        exec setsid dockerd "${engine_flags[@]}" </dev/null >>"${logfile}" 2>&1
    ) &
    printf '%s\n' "$!" >"${pidfile}"

    for _ in $(seq 1 120); do
        if engine_answers; then
            log "engine ready on ${DOCKER_SOCKET} (pid $(<"${pidfile}"), server $(docker version --format '{{.Server.Version}}'))"
            return 0
        fi
        if ! pid_alive "${pidfile}" dockerd; then
            tail -n 20 "${logfile}" >&2 || true
            rm -f "${pidfile}"
            die "dockerd exited during start-up; see ${logfile}"
        fi
        sleep 0.5
    done
    die "dockerd (pid $(<"${pidfile}")) did not answer on ${DOCKER_SOCKET} within 60 s; see ${logfile}"
}

stop_engine() {
    stop_pid "${LOCAL_VPS_STATE}/dockerd/dockerd.pid" dockerd dockerd
}

engine_status() {
    local pidfile="${LOCAL_VPS_STATE}/dockerd/dockerd.pid"
    if pid_alive "${pidfile}" dockerd && engine_answers; then
        log "running (pid $(<"${pidfile}"), socket ${DOCKER_SOCKET})"
    elif engine_answers; then
        log "an engine not started by this script answers on ${DOCKER_SOCKET}"
    else
        log "not running"
        return 3
    fi
}

case "${1:-}" in
    start) start_engine ;;
    stop) stop_engine ;;
    status) engine_status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
