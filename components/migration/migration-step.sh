#!/usr/bin/env bash
# Runs one step of the data migration (dump, restore or verify) on the VPS, inside a
# throwaway container of the Postgres image (so the client tools match the server's
# major version), attached to the edge network (to reach Supabase) and to the internal
# network (to reach the new Postgres). The pg-migrate tool's text comes as $3; the
# secrets come as KEY=VALUE lines on stdin and only ever touch a 0600 file in a 0700
# directory that is removed when the step ends.
#
# SERVICE_CONTAINER (optional) is the container that uses the target database (the
# backend for the app's data, the SuperTokens core for the auth data):
# - restore first asks pg-migrate whether it would go ahead at all (CHECK_ONLY=1; a
#   refusal leaves the service running), then stops it. If the restore fails or this
#   script is interrupted before the target was replaced, the service is started again on
#   its unchanged database; once the target is replaced (pg-migrate's RESTORED marker) it
#   stays stopped, so that verify compares data nobody has written to since. A service
#   that was stopped already is left as it is.
# - verify starts it again when it has an answer (the copy matches, or it names what
#   differs). When verify itself could not run (exit 1/2: e.g. a connection lost), the
#   service stays stopped so that the next `pulumi up` retries verify on quiet data; the
#   message says how to start it by hand.
#
# Usage: migration-step.sh STEP RUN_ID PG_MIGRATE_TEXT IMAGE EDGE_NETWORK INTERNAL_NETWORK [SERVICE_CONTAINER] < env
set -euo pipefail

die() {
    printf 'migration-step: error: %s\n' "$*" >&2
    exit 1
}

[[ $# -eq 6 || $# -eq 7 ]] || die "usage: migration-step.sh STEP RUN_ID PG_MIGRATE_TEXT IMAGE EDGE_NETWORK INTERNAL_NETWORK [SERVICE_CONTAINER] < env"
step=$1 run_id=$2 tool_text=$3 image=$4 edge_network=$5 internal_network=$6 service=${7-}
case $step in dump | restore | verify) ;; *) die "unknown step '$step' (dump, restore or verify)" ;; esac
[[ $run_id =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "bad run id '$run_id'"

base=/var/lib/byte-runner/migration
run_dir=$base/$run_id
umask 077
mkdir -p "$run_dir/dump" "$base/bin"
chmod 700 "$base" "$run_dir"
chmod 755 "$base/bin"
# Written aside and renamed: a step of the other chain may be reading the current one.
tool_tmp=$(mktemp "$base/bin/.pg-migrate-XXXXXX")
printf '%s' "$tool_text" >"$tool_tmp"
chmod 755 "$tool_tmp"
mv -f -- "$tool_tmp" "$base/bin/pg-migrate"

secrets=$(mktemp -d "$base/.env-XXXXXX")
container="byte-runner-migration-$step-$run_id"
service_stopped=0                           # restore stopped the service
tool_status=""                              # pg-migrate's exit status, once it has run
restored_marker=$run_dir/dump/data/RESTORED # pg-migrate writes it once the target is replaced
say() { printf 'migration-step: %s\n' "$*" >&2 || true; }
# start_service: start it again, after any stop still in flight has ended.
start_service() {
    docker stop "$service" >/dev/null 2>&1 || true
    if docker start "$service" >/dev/null; then
        printf 'migration-step: started %s again\n' "$service" || true
    else
        say "error: could not start $service again: docker start $service"
        return 1
    fi
}
cleanup() {
    local status=$?
    trap '' HUP INT TERM PIPE # a second signal must not cut this short
    # A step that is still running gets the time to clean up after itself (pg-migrate
    # drops its staging database on INT/TERM); then the containers go.
    docker stop -t 300 "$container" >/dev/null 2>&1 || true
    docker rm -f "$container" "$container-check" >/dev/null 2>&1 || true
    rm -rf -- "$secrets"
    if [[ $step == restore ]] && ((service_stopped)) && [[ $tool_status != 0 ]]; then
        if [[ -e $restored_marker ]]; then
            say "$service stays stopped: the target database was replaced but restore did not finish (see above) and verify has not run; the next pulumi up runs restore again, or check the data and start it by hand: docker start $service"
        else
            start_service || status=1
        fi
    fi
    if [[ $step == verify && -n $service ]] && docker container inspect "$service" >/dev/null 2>&1; then
        if [[ $tool_status == 0 || $tool_status == 4 ]]; then
            start_service || status=1
        elif [[ $(docker container inspect -f '{{.State.Running}}' "$service") != true ]]; then
            say "$service stays stopped: verify did not get an answer; the next pulumi up runs it again, or start the service by hand: docker start $service"
        fi
    fi
    exit "$status"
}
trap cleanup EXIT
# Interrupted (pulumi cancelled, SSH session lost): exit non-zero so that cleanup runs as for a failure.
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 141' PIPE
cat >"$secrets/env"
chmod 600 "$secrets/env"
grep -q '^TARGET_DATABASE_URL=' "$secrets/env" || die "no TARGET_DATABASE_URL on stdin"

# make_container NAME [docker create options...]: pg-migrate STEP in a container on both networks.
make_container() {
    local name=$1
    shift
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker create --name "$name" --network "$edge_network" --env-file "$secrets/env" "$@" \
        --env DUMP_DIR=/dump/data \
        --volume "$run_dir/dump:/dump" --volume "$base/bin:/opt/pg-migrate:ro" \
        --entrypoint bash "$image" /opt/pg-migrate/pg-migrate "$step" >/dev/null
    docker network connect "$internal_network" "$name"
}
make_container "$container"
stop_service=0
if [[ -n $service && $step == restore ]] && docker container inspect "$service" >/dev/null 2>&1; then
    stop_service=1
    make_container "$container-check" --env CHECK_ONLY=1
fi
# The secrets are now inside the containers' config only; the file is not needed.
rm -f -- "$secrets/env"

if ((stop_service)); then
    # Before the service is stopped: would restore go ahead at all? (A refusal leaves it running.)
    docker start -a "$container-check" || die "restore refused or cannot start (see above); nothing was changed and $service was not stopped"
    if [[ $(docker container inspect -f '{{.State.Running}}' "$service") == true ]]; then
        service_stopped=1
        docker stop "$service" >/dev/null || die "could not stop $service before the restore"
        printf 'migration-step: stopped %s: it stays stopped until verify has run\n' "$service"
    else
        say "$service was already stopped; it is left as it is"
    fi
fi
[[ $step != restore ]] || rm -f -- "$restored_marker"

printf 'migration-step: %s of run %s\n' "$step" "$run_id"
status=0
# In the background and waited for: a signal to this script (pulumi cancelled, SSH session
# lost) runs cleanup at once, which stops the step gracefully, instead of after the step.
docker start -a "$container" &
wait "$!" || status=$?
tool_status=$status
[[ $status -eq 0 ]] || die "$step failed with exit status $status (see the output above; pg-migrate --help explains the codes)"
printf 'migration-step: %s of run %s succeeded\n' "$step" "$run_id"
