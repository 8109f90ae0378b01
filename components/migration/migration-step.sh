#!/usr/bin/env bash
# Runs one step of the data migration (dump, restore or verify) on the VPS, inside a
# throwaway container of the Postgres image (so the client tools match the server's
# major version), attached to the edge network (to reach Supabase) and to the internal
# network (to reach the new Postgres). The step is done by pg-migrate, a file shipped to
# this host beside this script (PG_MIGRATE), mounted read-only into the container. The
# secrets come with the other settings on stdin and only ever touch a 0600 file in a
# 0700 directory that is removed when the step ends.
#
# SERVICE is the container that uses the target database (the backend for the app's
# data, the SuperTokens core for the auth data):
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
# - replicate (MODE=replicate): sync stops it (its database is replaced by the schema and
#   then written by the subscription); a sync refused before it changed anything (exit 2
#   or 3) starts it again. cutover starts it once it has succeeded; abort always does.
#
# Usage: migration-step.sh dump|restore|verify|sync|cutover|abort|--check-settings < settings
#   --check-settings  only read and check the settings (pg-migrate's too, by pg-migrate
#                     check-settings); touch no container, file or database (exit 0 or 2)
# Settings (KEY=VALUE lines on stdin, all required; components/shared/settings.sh):
#   CHAIN             app (the app's data) or auth (the SuperTokens core's data)
#   RUN_ID            the migration run (migrationRunId): letters, digits, . _ -, at most 64;
#                     the work directory is /var/lib/byte-runner/migration/RUN_ID (RUN_ID-auth)
#   PG_MIGRATE        absolute path of the shipped pg-migrate on this host
#   PG_MIGRATE_SHA256 its sha256: a missing or different file is refused
#   IMAGE             the Postgres image whose client tools run pg-migrate (postgresImage)
#   EDGE_NETWORK      Docker network that reaches the source
#   INTERNAL_NETWORK  Docker network that reaches the new Postgres
#   SERVICE           the service using the target database (its running container, the newest
#                     if several: components/shared/service-containers.sh); empty: none
#   SOURCE_DATABASE_URL TARGET_DATABASE_URL APP_ROLE OWNER SCHEMAS JOBS RLS FORCE
#   MODE FREEZE_ROLES CUTOVER_MAX_LAG_BYTES
#   REPLACE_IF_EMPTY  pg-migrate's own settings (pg-migrate --help), handed to it as its
#                     environment; the two URLs are secrets
# Exit status: 0 done, 1 failure (the step's own, or pg-migrate's), 2 bad settings.
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"
# shellcheck source=../shared/service-containers.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/service-containers.sh"

die() {
    printf 'migration-step: error: %s\n' "$*" >&2
    exit 1
}

readonly PG_MIGRATE_KEYS=(SOURCE_DATABASE_URL TARGET_DATABASE_URL APP_ROLE OWNER SCHEMAS JOBS RLS FORCE REPLACE_IF_EMPTY MODE FREEZE_ROLES CUTOVER_MAX_LAG_BYTES)
readonly DOCKER_NAME='^[A-Za-z0-9][A-Za-z0-9_.-]*$'

step=${1-}
case $step in
    dump | restore | verify | sync | cutover | abort) ;;
    --check-settings) SETTINGS_CHECK_ONLY=1 ;;
    *)
        printf 'migration-step: unknown step %s (dump, restore, verify, sync, cutover, abort or --check-settings; settings come on stdin)\n' "'$step'" >&2
        exit 2
        ;;
esac
settings_read migration-step CHAIN RUN_ID PG_MIGRATE PG_MIGRATE_SHA256 IMAGE EDGE_NETWORK INTERNAL_NETWORK SERVICE "${PG_MIGRATE_KEYS[@]}"
case ${settings[CHAIN]} in app | auth) ;; *) settings_fail CHAIN "'${settings[CHAIN]}' is not app or auth" ;; esac
run_id=${settings[RUN_ID]}
[[ $run_id =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || settings_fail RUN_ID "'$run_id' is not letters, digits, dots, dashes or underscores (at most 64, starting with a letter or digit)"
tool=${settings[PG_MIGRATE]}
[[ $tool == /* ]] || settings_fail PG_MIGRATE "'$tool' is not an absolute path"
[[ ${settings[PG_MIGRATE_SHA256]} =~ ^[0-9a-f]{64}$ ]] || settings_fail PG_MIGRATE_SHA256 "'${settings[PG_MIGRATE_SHA256]}' is not a sha256 (64 hex digits)"
image=${settings[IMAGE]}
[[ $image =~ ^[^[:space:]]+$ ]] || settings_fail IMAGE "'$image' is not an image reference"
edge_network=${settings[EDGE_NETWORK]} internal_network=${settings[INTERNAL_NETWORK]} service=${settings[SERVICE]}
[[ $edge_network =~ $DOCKER_NAME ]] || settings_fail EDGE_NETWORK "'$edge_network' is not a Docker network name"
[[ $internal_network =~ $DOCKER_NAME ]] || settings_fail INTERNAL_NETWORK "'$internal_network' is not a Docker network name"
[[ -z $service || $service =~ $DOCKER_NAME ]] || settings_fail SERVICE "'$service' is not a container name"
[[ -n ${settings[SOURCE_DATABASE_URL]} ]] || settings_fail SOURCE_DATABASE_URL "empty: every step needs the source"
[[ -n ${settings[TARGET_DATABASE_URL]} ]] || settings_fail TARGET_DATABASE_URL "empty: every step needs the target"
if ! printf '%s  %s\n' "${settings[PG_MIGRATE_SHA256]}" "$tool" | sha256sum --check --status 2>/dev/null; then
    die "PG_MIGRATE: $tool is missing on this host, or is not the file that was uploaded (sha256 ${settings[PG_MIGRATE_SHA256]}). Upload it again with: pulumi up --replace <the URN of migration-upload-pg-migrate, from: pulumi stack --show-urns>; then run pulumi up again. Runbook: INFRASTRUCTURE.md, An uploaded script is missing on the host."
fi
# pg-migrate checks its own settings: one rule, in one place.
if ! (
    unset CHECK_ONLY DUMP_DIR MAINTENANCE_WORK_MEM AUDIT_JSON
    for key in "${PG_MIGRATE_KEYS[@]}"; do export "$key=${settings[$key]}"; done
    bash "$tool" check-settings >/dev/null
); then
    exit 2
fi
settings_done

# The service's container: an app has one per release (named by it), the others one.
if [[ -n $service ]]; then
    resolved=""
    while IFS= read -r candidate; do
        [[ -n $resolved ]] || resolved=$candidate
        if [[ $(docker container inspect -f '{{.State.Running}}' "$candidate" 2>/dev/null) == true ]]; then
            resolved=$candidate
            break
        fi
    done < <(service_containers "$service")
    service=${resolved:-$service}
fi

base=/var/lib/byte-runner/migration
run_dir=$base/$run_id
[[ ${settings[CHAIN]} == app ]] || run_dir=$base/$run_id-${settings[CHAIN]}
umask 077
mkdir -p "$run_dir/dump"
chmod 700 "$base" "$run_dir"

secrets=$(mktemp -d "$base/.env-XXXXXX")
container="byte-runner-migration-$step-${run_dir##*/}"
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
    # replicate: the service stays stopped from sync (its database is being replicated into)
    # until cutover has succeeded, or abort has put its database back.
    if [[ ($step == cutover && $tool_status == 0) || $step == abort || ($step == sync && $service_stopped == 1 && $tool_status =~ ^[23]$) ]] &&
        [[ -n $service ]] && docker container inspect "$service" >/dev/null 2>&1; then
        start_service || status=1
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
for key in "${PG_MIGRATE_KEYS[@]}"; do
    printf '%s=%s\n' "$key" "${settings[$key]}"
done >"$secrets/env"

# make_container NAME [docker create options...]: pg-migrate STEP in a container on both networks.
make_container() {
    local name=$1
    shift
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker create --name "$name" --network "$edge_network" --env-file "$secrets/env" "$@" \
        --env DUMP_DIR=/dump/data \
        --volume "$run_dir/dump:/dump" --volume "$tool:/opt/pg-migrate/pg-migrate:ro" \
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

if [[ -n $service && $step == sync ]] && docker container inspect "$service" >/dev/null 2>&1 &&
    [[ $(docker container inspect -f '{{.State.Running}}' "$service") == true ]]; then
    service_stopped=1
    docker stop "$service" >/dev/null || die "could not stop $service before sync"
    printf 'migration-step: stopped %s: it stays stopped until cutover (or abort) has run\n' "$service"
fi
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

printf 'migration-step: %s of run %s (%s data)\n' "$step" "$run_id" "${settings[CHAIN]}"
status=0
# In the background and waited for: a signal to this script (pulumi cancelled, SSH session
# lost) runs cleanup at once, which stops the step gracefully, instead of after the step.
docker start -a "$container" &
wait "$!" || status=$?
tool_status=$status
[[ $status -eq 0 ]] || die "$step failed with exit status $status (see the output above; pg-migrate --help explains the codes)"
printf 'migration-step: %s of run %s succeeded\n' "$step" "$run_id"
