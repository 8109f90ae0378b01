#!/usr/bin/env bash
# backup.sh: the database's backups with pgBackRest, on the VPS. One script for every
# step, so the operator runs at 3 a.m. exactly what the scheduler and the tests run.
#
# Where it runs: on the host (configure, stanza, restore, aside, and the operator's
# backup/drill/info, which it hands to the scheduler container), and inside the backup
# scheduler container (scheduler, job ...). Host and container see the same paths: the
# container mounts CONF_DIR, METRICS_DIR and the scripts' directory at the same place.
#
# Usage: backup.sh MODE [ARGS] < settings      (the operator's command, <prefix>-backup,
#                                               passes the stored settings itself)
#   --check-settings            check the settings; touch nothing (exit 0 or 2)
#   print-conf                  print pgbackrest.conf (secrets included) for these settings
#                               and the offsite CA file given as the first argument, if any
#   configure                   write pgbackrest.conf (0600, the only file with the
#                               secrets), the offsite CA, the stored settings and the
#                               operator's command; the settings on stdin include secrets
#   stanza                      create the stanza in every repository and check that WAL
#                               reaches them (on a new, empty cluster facing the backups of
#                               an earlier one, say how to restore and change nothing)
#   backup full|diff            take a backup into every repository now
#   drill                       run the restore drill now
#   info                        backups and recoverable window of every repository
#   restore [--target TIME] [--repo N] --yes
#                               restore the live database: to TIME ('2026-11-30 12:00:00+00')
#                               or to the end of the archive; stops the services, keeps the
#                               current data aside (nothing deleted), restores, starts them
#   aside list | aside discard NAME --yes
#                               the data kept aside by restores; discard deletes one
#   scheduler                   (the scheduler container's command) cron, and a first full
#                               backup when a repository has none
#   job backup full|diff | job drill
#                               (cron, in the scheduler container) the scheduled jobs
#
# Settings (KEY=VALUE lines on stdin; components/shared/settings.sh). configure takes all
# of them and stores every one but the secrets in CONF_DIR/settings; the other modes
# take the stored ones.
#   PREFIX                stack prefix, e.g. byte-runner-prod (names the operator's command)
#   CONF_DIR METRICS_DIR  directories on the host (absolute)
#   POSTGRES_CONTAINER SCHEDULER_CONTAINER
#   IMAGE                 the Postgres + pgBackRest image (one-off restore containers)
#   PGDATA_VOLUME REPO_VOLUME SOCKET_VOLUME
#   NETWORK               network of one-off containers (reaches the offsite store)
#   SERVICES              services that use the database, stopped during a restore (their
#                         containers: components/shared/service-containers.sh)
#   DATABASES             databases the drill compares, e.g. "app supertokens"
#   PG_MIGRATE            path of pg-migrate on the host (the drill's fingerprints)
#   FULL_SCHEDULE DIFF_SCHEDULE DRILL_SCHEDULE   cron schedules (DIFF may be empty)
#   LOCAL_RETENTION_FULL  full backups kept in repo1 (local volume)
#   OFFSITE               1: repo2 is an S3-compatible store; 0: none
#   OFFSITE_ENDPOINT OFFSITE_PORT OFFSITE_BUCKET OFFSITE_REGION
#   OFFSITE_ADDRESS       IP the endpoint resolves to in the containers (empty: DNS)
#   OFFSITE_CA_BASE64     PEM of the store's CA, base64 on one line (empty: system CAs)
#   OFFSITE_RETENTION_FULL
#   secrets (configure only): CIPHER_PASS OFFSITE_KEY OFFSITE_KEY_SECRET
# Exit status: 0 done, 1 failure, 2 bad settings or arguments, 3 refused (nothing changed).
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"
# shellcheck source=../shared/service-containers.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/service-containers.sh"

readonly STANZA=main
readonly PGDATA_MOUNT=/var/lib/postgresql/data
readonly PGDATA=$PGDATA_MOUNT/pgdata
readonly REPO_PATH=/var/lib/pgbackrest
readonly SOCKET_DIR=/var/run/postgresql
readonly DRILL_DIR=/var/lib/pgbackrest-drill
readonly DRILL_PORT=5499
readonly JOB_LOCK=/tmp/byte-runner-backup.lock
# Bounds of the drill's repository checks, in seconds: reaching a store, verifying one.
readonly REACH_TIMEOUT=60 VERIFY_TIMEOUT=7200
# A backup into a store that stops answering retries for a long time; past this it fails.
readonly BACKUP_TIMEOUT=21600
readonly STORED_KEYS="PREFIX CONF_DIR METRICS_DIR POSTGRES_CONTAINER SCHEDULER_CONTAINER IMAGE PGDATA_VOLUME REPO_VOLUME SOCKET_VOLUME NETWORK SERVICES DATABASES PG_MIGRATE FULL_SCHEDULE DIFF_SCHEDULE DRILL_SCHEDULE LOCAL_RETENTION_FULL OFFSITE OFFSITE_ENDPOINT OFFSITE_PORT OFFSITE_BUCKET OFFSITE_REGION OFFSITE_ADDRESS OFFSITE_CA_BASE64 OFFSITE_RETENTION_FULL"
readonly SECRET_KEYS="CIPHER_PASS OFFSITE_KEY OFFSITE_KEY_SECRET"

log() { printf '%s backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
refuse() {
    log "refused: $*"
    exit 3
}

# ---------------------------------------------------------------------------- settings

mode=${1-}
[[ -n $mode ]] || {
    echo "usage: backup.sh --check-settings|configure|stanza|backup|drill|info|restore|aside|scheduler|job ... < settings" >&2
    exit 2
}
shift
if [[ $mode == --check-settings || $mode == configure || $mode == print-conf ]]; then
    # shellcheck disable=SC2086 # word lists
    settings_read backup $STORED_KEYS $SECRET_KEYS
else
    # shellcheck disable=SC2086
    settings_read backup $STORED_KEYS
fi
[[ $mode != --check-settings ]] || SETTINGS_CHECK_ONLY=1

readonly NAME_RE='^[A-Za-z0-9][A-Za-z0-9_.-]*$'
readonly CRON_RE='^[0-9*,/-]+( [0-9*,/-]+){4}$'
for key in PREFIX POSTGRES_CONTAINER SCHEDULER_CONTAINER PGDATA_VOLUME REPO_VOLUME SOCKET_VOLUME NETWORK; do
    [[ ${settings[$key]} =~ $NAME_RE ]] || settings_fail "$key" "'${settings[$key]}' is not a Docker name"
done
for key in CONF_DIR METRICS_DIR PG_MIGRATE; do
    [[ ${settings[$key]} =~ ^/[A-Za-z0-9_./-]+$ && ${settings[$key]} != *..* ]] || settings_fail "$key" "'${settings[$key]}' is not an absolute path"
done
[[ ${settings[IMAGE]} =~ ^[a-z0-9]+([._/:-][A-Za-z0-9]+)*$ ]] || settings_fail IMAGE "'${settings[IMAGE]}' is not an image reference"
for key in SERVICES DATABASES; do
    for item in ${settings[$key]}; do
        [[ $item =~ $NAME_RE ]] || settings_fail "$key" "'$item' is not a name"
    done
done
[[ -n ${settings[DATABASES]} ]] || settings_fail DATABASES "empty: the drill compares at least one database"
for key in FULL_SCHEDULE DRILL_SCHEDULE; do
    [[ ${settings[$key]} =~ $CRON_RE ]] || settings_fail "$key" "'${settings[$key]}' is not a five-field cron schedule"
done
[[ -z ${settings[DIFF_SCHEDULE]} || ${settings[DIFF_SCHEDULE]} =~ $CRON_RE ]] || settings_fail DIFF_SCHEDULE "'${settings[DIFF_SCHEDULE]}' is not a five-field cron schedule"
settings_int LOCAL_RETENTION_FULL 1 9999
settings_flag OFFSITE
if ((settings[OFFSITE])); then
    [[ ${settings[OFFSITE_ENDPOINT]} =~ ^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$ ]] || settings_fail OFFSITE_ENDPOINT "'${settings[OFFSITE_ENDPOINT]}' is not a hostname"
    settings_int OFFSITE_PORT 1 65535
    [[ ${settings[OFFSITE_BUCKET]} =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || settings_fail OFFSITE_BUCKET "'${settings[OFFSITE_BUCKET]}' is not a bucket name"
    [[ ${settings[OFFSITE_REGION]} =~ ^[a-z0-9-]{1,32}$ ]] || settings_fail OFFSITE_REGION "'${settings[OFFSITE_REGION]}' is not a region"
    [[ -z ${settings[OFFSITE_ADDRESS]} || ${settings[OFFSITE_ADDRESS]} =~ ^[0-9a-fA-F:.]+$ ]] || settings_fail OFFSITE_ADDRESS "'${settings[OFFSITE_ADDRESS]}' is not an IP address"
    [[ ${settings[OFFSITE_CA_BASE64]} =~ ^[A-Za-z0-9+/=]*$ ]] || settings_fail OFFSITE_CA_BASE64 "not base64"
    settings_int OFFSITE_RETENTION_FULL 1 9999
fi
if [[ $mode == --check-settings || $mode == configure || $mode == print-conf ]]; then
    # Values not shown: secrets. pgBackRest's config file cannot quote, so no spaces or newlines.
    [[ ${settings[CIPHER_PASS]} =~ ^[A-Za-z0-9]{32,}$ ]] || settings_fail CIPHER_PASS "must be 32+ letters and digits (value not shown)"
    if ((settings[OFFSITE])); then
        for key in OFFSITE_KEY OFFSITE_KEY_SECRET; do
            [[ ${settings[$key]} =~ ^[!-~]{8,256}$ ]] || settings_fail "$key" "must be 8 to 256 printable characters without spaces (value not shown)"
        done
    fi
fi
settings_done

CONF_DIR=${settings[CONF_DIR]}
CONF=$CONF_DIR/pgbackrest.conf
REPOS=(1)
if ((settings[OFFSITE])); then REPOS+=(2); fi
# The repository drills restore from: the offsite one when there is one (the disaster case).
DRILL_REPO=${REPOS[-1]}

# ---------------------------------------------------------------------------- helpers

# The scheduler container marks itself when it starts (a file in its own filesystem); the
# host never has the mark, even when the host is itself a container.
readonly SCHEDULER_MARK=/run/byte-runner-backup-scheduler
in_container() { [[ -f $SCHEDULER_MARK ]]; }
require_host() { ! in_container || die "'$mode' runs on the host (ssh to the VPS), not inside a container"; }
require_container() { in_container || die "'$mode' runs inside the scheduler container; on the host use: ${settings[PREFIX]}-backup ..."; }

# pgbackrest as the postgres user, with this stack's config file; pgbr_within gives up
# after SECONDS (0: never).
pgbr_within() {
    local limit=$1
    shift
    if [[ $(id -u) == 0 ]]; then
        timeout "$limit" runuser -u postgres -- pgbackrest --config="$CONF" --stanza="$STANZA" "$@"
    else
        timeout "$limit" pgbackrest --config="$CONF" --stanza="$STANZA" "$@"
    fi
}
pgbr() { pgbr_within 0 "$@"; }

# From the host, in the live Postgres container: pgbackrest as postgres, and a psql query
# as the superuser over the socket (trusted locally, as in the official image).
postgres_pgbr() { docker exec -u postgres "${settings[POSTGRES_CONTAINER]}" pgbackrest --config="$CONF" --stanza="$STANZA" "$@"; }
postgres_sql() { docker exec "${settings[POSTGRES_CONTAINER]}" psql -X -At -h "$SOCKET_DIR" -U postgres -d "$1" -c "$2"; }

# The schemas of a database that are its own (not the catalog's), as an SQL condition on nspname.
readonly OWN_SCHEMAS="nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'"

# psql as the superuser over the live server's socket (trusted locally, as in the official image).
live_psql() {
    local db=$1
    shift
    runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -At -h "$SOCKET_DIR" -d "$db" "$@"
}

# A one-off container of the backup image with the data, repository, config and socket volumes.
oneoff() {
    local hosts=()
    [[ -z ${settings[OFFSITE_ADDRESS]} ]] || hosts=(--add-host "${settings[OFFSITE_ENDPOINT]}:${settings[OFFSITE_ADDRESS]}")
    docker run --rm --user postgres --network "${settings[NETWORK]}" "${hosts[@]}" \
        -v "${settings[PGDATA_VOLUME]}:$PGDATA_MOUNT" -v "${settings[REPO_VOLUME]}:$REPO_PATH" \
        -v "$CONF_DIR:$CONF_DIR:ro" --entrypoint "" "${settings[IMAGE]}" "$@"
}

metric_file() { # metric_file NAME < lines: atomically, for node_exporter's textfile collector
    local dir=${settings[METRICS_DIR]} tmp
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.$1.XXXXXX")
    cat >"$tmp"
    chmod 644 "$tmp"
    mv -f "$tmp" "$dir/$1.prom"
}

wait_live_ready() { # the live server answers and is out of recovery
    local container=${settings[POSTGRES_CONTAINER]} i
    for i in $(seq 1 300); do
        if [[ $(postgres_sql postgres 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]; then
            return 0
        fi
        ((i % 15 != 0)) || log "waiting for Postgres in $container to accept connections and finish recovery (${i} s)"
        sleep 1
    done
    die "Postgres in $container did not come up out of recovery within 300 s (docker logs $container)"
}

# ---------------------------------------------------------------------------- configure

# pgbackrest.conf for these settings (secrets included: only to a 0600 file or a pipe).
# The benchmark (tools/bench-backup.sh) uses the same options with its own paths.
print_conf() {
    local ca=$1
    echo "# Written by backup.sh configure (pulumi up); holds secrets: 0600, owner postgres (uid 999)."
    echo "[global]"
    echo "repo1-path=$REPO_PATH"
    echo "repo1-retention-full=${settings[LOCAL_RETENTION_FULL]}"
    echo "repo1-cipher-type=aes-256-cbc"
    echo "repo1-cipher-pass=${settings[CIPHER_PASS]}"
    if ((settings[OFFSITE])); then
        echo "repo2-type=s3"
        echo "repo2-path=/${settings[PREFIX]}"
        echo "repo2-s3-bucket=${settings[OFFSITE_BUCKET]}"
        echo "repo2-s3-endpoint=${settings[OFFSITE_ENDPOINT]}"
        echo "repo2-storage-port=${settings[OFFSITE_PORT]}"
        [[ -z $ca ]] || echo "repo2-storage-ca-file=$ca"
        echo "repo2-s3-region=${settings[OFFSITE_REGION]}"
        echo "repo2-s3-uri-style=path"
        echo "repo2-s3-key=${settings[OFFSITE_KEY]}"
        echo "repo2-s3-key-secret=${settings[OFFSITE_KEY_SECRET]}"
        echo "repo2-retention-full=${settings[OFFSITE_RETENTION_FULL]}"
        echo "repo2-cipher-type=aes-256-cbc"
        echo "repo2-cipher-pass=${settings[CIPHER_PASS]}"
    fi
    echo "compress-type=lz4"
    echo "process-max=2"
    echo "start-fast=y"
    echo "log-level-console=info"
    echo "log-level-file=off"
    echo "[$STANZA]"
    echo "pg1-path=$PGDATA"
    echo "pg1-socket-path=$SOCKET_DIR"
}

cmd_configure() {
    require_host
    local umask_before conf_tmp ca=""
    umask_before=$(umask)
    umask 077
    mkdir -p "$CONF_DIR" "${settings[METRICS_DIR]}"
    chmod 755 "$CONF_DIR" "${settings[METRICS_DIR]}"
    if [[ -n ${settings[OFFSITE_CA_BASE64]} ]]; then
        ca=$CONF_DIR/offsite-ca.pem
        base64 -d <<<"${settings[OFFSITE_CA_BASE64]}" >"$ca.tmp"
        chmod 644 "$ca.tmp"
        mv -f "$ca.tmp" "$ca"
    fi
    conf_tmp=$(mktemp "$CONF_DIR/.pgbackrest.conf.XXXXXX")
    print_conf "$ca" >"$conf_tmp"
    chown 999:999 "$conf_tmp"
    mv -f "$conf_tmp" "$CONF"

    local stored key
    stored=$(mktemp "$CONF_DIR/.settings.XXXXXX")
    for key in $STORED_KEYS; do printf '%s=%s\n' "$key" "${settings[$key]}"; done >"$stored"
    chmod 644 "$stored"
    mv -f "$stored" "$CONF_DIR/settings"

    # The operator's command: this script with the stored settings.
    local command=/usr/local/sbin/${settings[PREFIX]}-backup script
    script=$(readlink -f "${BASH_SOURCE[0]}")
    umask 022
    printf '#!/bin/sh\n# %s: backups of the %s stack (written by pulumi up; see INFRASTRUCTURE.md, Backups).\nexec bash %s "$@" <%s\n' \
        "${command##*/}" "${settings[PREFIX]}" "$script" "$CONF_DIR/settings" >"$command.tmp"
    chmod 755 "$command.tmp"
    mv -f "$command.tmp" "$command"
    umask "$umask_before"
    log "configured: $CONF (repositories: ${REPOS[*]}), operator command $command"
}

# ---------------------------------------------------------------------------- stanza

# True when the live cluster holds no table of its own in any database (a new volume).
live_is_empty() {
    local db count
    for db in ${settings[DATABASES]}; do
        count=$(postgres_sql "$db" "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p') AND $OWN_SCHEMAS" 2>/dev/null) || count=0
        [[ $count == 0 ]] || return 1
    done
}

cmd_stanza() {
    require_host
    wait_live_ready
    local system_id info foreign
    # A new, empty cluster facing the backups of another one is a new host after a disaster:
    # stanza-create would fail on those repositories after writing this cluster into the
    # others, and the restore that comes next would then not match. Change nothing, say how.
    system_id=$(postgres_sql postgres 'SELECT system_identifier FROM pg_control_system()')
    info=$(postgres_pgbr --output=json info 2>/dev/null) || info='[]'
    # System ids are 64-bit: read as text (jq would round them to a double).
    foreign=$(grep -oE '"repo-key":[0-9]+,"system-id":[0-9]+' <<<"$info" | awk -F'[:,]' -v id="$system_id" '($4 "") != (id "") { print "repo" $2 }' | sort -u | paste -sd' ') || foreign=""
    if [[ -n $foreign ]]; then
        if live_is_empty; then
            log "$foreign hold the backups of another cluster, and this one is new and empty: a new host."
            log "nothing was changed. To bring the data back: ${settings[PREFIX]}-backup restore --repo ${DRILL_REPO} --yes (INFRASTRUCTURE.md, Disaster recovery)"
            return 0
        fi
        die "$foreign hold the backups of another cluster (system id differs from this one's, $system_id), and this cluster has data: refusing to mix them. Check backupOffsiteBucket and the stack; see INFRASTRUCTURE.md, Backups"
    fi
    log "stanza-create in repositories ${REPOS[*]} (idempotent)"
    postgres_pgbr stanza-create >&2 || die "stanza-create failed (above)"
    log "check: a WAL switch must reach every repository"
    postgres_pgbr check >&2 ||
        die "pgbackrest check failed: WAL does not reach every repository (above); the database runs, but nothing is archived until this is fixed"
    log "stanza ready; WAL reaches repositories ${REPOS[*]}"
}

# ---------------------------------------------------------------------------- jobs (scheduler container)

# job backup TYPE: one backup per repository (expire follows each, by its retention), each
# repository on its own so that an offsite outage does not stop the local backup.
job_backup() {
    local type=$1 repo start status failed=0 lines=""
    for repo in "${REPOS[@]}"; do
        start=$(date +%s)
        log "$type backup into repo$repo starting"
        if pgbr_within "$BACKUP_TIMEOUT" --repo="$repo" --type="$type" backup; then status=1; else
            status=0
            failed=1
        fi
        log "$type backup into repo$repo $( ((status)) && echo succeeded || echo FAILED) in $(($(date +%s) - start)) s"
        lines+="byte_runner_backup_last_status{repo=\"$repo\",type=\"$type\"} $status"$'\n'
        lines+="byte_runner_backup_last_run_timestamp_seconds{repo=\"$repo\",type=\"$type\"} $(date +%s)"$'\n'
        lines+="byte_runner_backup_last_duration_seconds{repo=\"$repo\",type=\"$type\"} $(($(date +%s) - start))"$'\n'
    done
    write_backup_metrics "$type" "$lines"
    ((failed == 0)) || die "$type backup FAILED in at least one repository (above)"
}

# The backup metrics file keeps the other type's lines and adds what pgBackRest knows.
write_backup_metrics() {
    local type=$1 lines=$2 file=${settings[METRICS_DIR]}/backup.prom info repo
    {
        echo "# HELP byte_runner_backup_last_status 1 if the last backup of this type into this repository succeeded."
        echo "# TYPE byte_runner_backup_last_status gauge"
        printf '%s' "$lines"
        [[ ! -f $file ]] || grep -v -e '^#' -e "type=\"$type\"" -e '^byte_runner_backup_newest_' "$file" || true
        info=$(pgbr --output=json info 2>/dev/null || echo '[]')
        for repo in "${REPOS[@]}"; do
            printf 'byte_runner_backup_newest_stop_timestamp_seconds{repo="%s"} %s\n' "$repo" \
                "$(jq -r --argjson r "$repo" '[.[0].backup[]? | select(.database["repo-key"] == $r) | .timestamp.stop] | max // 0' <<<"$info" 2>/dev/null || echo 0)"
        done
    } | metric_file backup
}

cmd_job() {
    require_container
    local what=${1-}
    exec 9>"$JOB_LOCK"
    flock -w 7200 9 || die "another backup job held the lock for 2 hours"
    case "$what:${2-}" in
        backup:full | backup:diff) job_backup "$2" ;;
        drill:) job_drill ;;
        *)
            echo "usage: backup.sh job backup full|diff | job drill" >&2
            exit 2
            ;;
    esac
}

# ---------------------------------------------------------------------------- drill

# A socket directory as the host of a postgresql:// URL (percent-encoded, as libpq takes it).
socket_host() { printf '%s' "${1//\//%2F}"; }

drill_failed() {
    DRILL_FAILURE=$*
    log "restore drill FAILED: $*"
    return 1
}

# pg-migrate fingerprint as the postgres user: FINGERPRINT_URL, SCHEMAS and the extra
# settings given as NAME=VALUE arguments; stdout to $1, stderr to $1.err.
fingerprint() {
    local out=$1
    shift
    env "$@" JOBS=2 runuser -u postgres --preserve-environment -- bash "${settings[PG_MIGRATE]}" fingerprint >"$out" 2>"$out.err"
}

stop_drill_server() {
    if [[ -f $DRILL_DIR/data/postmaster.pid ]]; then
        runuser -u postgres -- pg_ctl -D "$DRILL_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}

job_drill() {
    local started point work result=1 db
    started=$(date +%s)
    point="drill-$(date -u +%Y%m%d%H%M%S)"
    work=$(mktemp -d /tmp/drill.XXXXXX)
    chown postgres: "$work"
    DRILL_FAILURE=""
    trap 'stop_drill_server; rm -rf "$DRILL_DIR/data" "$DRILL_DIR/socket"' EXIT
    log "restore drill starting: verify repositories ${REPOS[*]}, then for each of ${settings[DATABASES]}: restore repo$DRILL_REPO to a restore point and compare"
    if drill_steps "$point" "$work"; then result=0; fi
    local finished
    finished=$(date +%s)
    {
        echo "# HELP byte_runner_restore_drill_last_status 1 if the last restore drill passed."
        echo "# TYPE byte_runner_restore_drill_last_status gauge"
        echo "byte_runner_restore_drill_last_status $((result == 0 ? 1 : 0))"
        echo "byte_runner_restore_drill_last_run_timestamp_seconds $finished"
        echo "byte_runner_restore_drill_duration_seconds $((finished - started))"
        local last_ok=0 file=${settings[METRICS_DIR]}/restore_drill.prom
        [[ ! -f $file ]] || last_ok=$(awk '$1 == "byte_runner_restore_drill_last_success_timestamp_seconds" { print $2 }' "$file")
        ((result != 0)) || last_ok=$finished
        echo "byte_runner_restore_drill_last_success_timestamp_seconds ${last_ok:-0}"
    } | metric_file restore_drill
    rm -rf "$work"
    if ((result != 0)); then die "restore drill FAILED after $((finished - started)) s: $DRILL_FAILURE"; fi
    log "restore drill PASSED in $((finished - started)) s: repo$DRILL_REPO restored to $point-<database>; ${settings[DATABASES]} equal to the live database at those points; pgbackrest verify and pg_amcheck clean"
}

drill_steps() {
    local point=$1 work=$2 repo out db
    # 1. Every file in every repository against its checksum. verify exits 0 even when it
    #    finds damage, so its report decides.
    for repo in "${REPOS[@]}"; do
        # A store that cannot be reached makes verify retry file after file: ask once first.
        if ! out=$(timeout "$REACH_TIMEOUT" runuser -u postgres -- pgbackrest --config="$CONF" --repo="$repo" repo-ls 2>&1); then
            printf '%s\n' "$out" | tail -n 5 >&2
            drill_failed "repo$repo cannot be reached or read (pgbackrest repo-ls failed or took over $REACH_TIMEOUT s)"
            return 1
        fi
        if ! out=$(pgbr_within "$VERIFY_TIMEOUT" --repo="$repo" --log-level-console=info verify 2>&1); then
            printf '%s\n' "$out" >&2
            drill_failed "pgbackrest verify of repo$repo failed or took over $VERIFY_TIMEOUT s (above)"
            return 1
        fi
        if grep -qE 'status: error|invalid checksum|(checksum|size) invalid: [1-9]|other: [1-9]|missing' <<<"$out"; then
            printf '%s\n' "$out" >&2
            drill_failed "pgbackrest verify found damaged or missing files in repo$repo (above)"
            return 1
        fi
        log "verify repo$repo: clean"
    done
    # 2. Each database in turn: its fingerprint at a new named restore point, a restore to
    #    that point, the same fingerprint from the restored copy. A restore point is the
    #    whole cluster's, but a fingerprint pauses the writers of one database only: one
    #    restore per database keeps each comparison exact without pausing writers in
    #    several databases at once.
    for db in ${settings[DATABASES]}; do
        drill_database "$db" "$point-$db" "$work" || return 1
    done
    # 3. Structure: heap and B-tree indexes of every database of the last restored copy.
    if ! runuser -u postgres -- pg_amcheck -h "$DRILL_DIR/socket" -p "$DRILL_PORT" --all --install-missing --heapallindexed --parent-check >"$work/amcheck.log" 2>&1; then
        cat "$work/amcheck.log" >&2
        drill_failed "pg_amcheck found corruption in the restored copy (above)"
        return 1
    fi
    log "pg_amcheck: heap and indexes of every database of the restored copy are clean"
}

# drill_database DB POINT WORK: fingerprint DB live at restore point POINT, restore
# DRILL_REPO to POINT into a throw-away server (left running for pg_amcheck), compare.
drill_database() {
    local db=$1 point=$2 work=$3 schemas
    schemas=$(live_psql "$db" -c "SELECT coalesce(string_agg(nspname, ',' ORDER BY nspname), 'public') FROM pg_namespace WHERE $OWN_SCHEMAS")
    if ! fingerprint "$work/live.$db" SOURCE_DATABASE_URL="postgresql://postgres@$(socket_host "$SOCKET_DIR")/$db" SCHEMAS="$schemas" RESTORE_POINT="$point"; then
        cat "$work/live.$db.err" >&2
        drill_failed "the fingerprint of the live $db at a restore point failed (above)"
        return 1
    fi
    grep -E 'paused|LSN' "$work/live.$db.err" >&2 || true
    # The restore point's WAL must be in the archive before a restore can reach it.
    pgbr check >/dev/null 2>"$work/check.err" || {
        cat "$work/check.err" >&2
        drill_failed "pgbackrest check failed: the WAL of restore point $point did not reach every repository"
        return 1
    }
    # A throw-away data directory; archive-mode off: it never writes to the repositories.
    # Its server keeps the live one's limits (recovery refuses a lower max_connections).
    stop_drill_server
    rm -rf "$DRILL_DIR/data" "$DRILL_DIR/socket"
    install -d -o postgres -g postgres -m 0700 "$DRILL_DIR/data" "$DRILL_DIR/socket"
    if ! pgbr --repo="$DRILL_REPO" --pg1-path="$DRILL_DIR/data" --type=name --target="$point" --target-action=promote --archive-mode=off restore >"$work/restore.log" 2>&1; then
        cat "$work/restore.log" >&2
        drill_failed "pgbackrest restore from repo$DRILL_REPO failed (above)"
        return 1
    fi
    log "restored repo$DRILL_REPO to $point into $DRILL_DIR/data; starting a throw-away server on a socket only"
    if ! runuser -u postgres -- pg_ctl -D "$DRILL_DIR/data" -l "$work/server.log" -w -t 600 start \
        -o "-c listen_addresses='' -c port=$DRILL_PORT -c unix_socket_directories=$DRILL_DIR/socket -c archive_mode=off -c shared_buffers=64MB"; then
        cat "$work/server.log" >&2
        drill_failed "the restored copy did not start (above)"
        return 1
    fi
    local i
    for i in $(seq 1 600); do
        [[ $(runuser -u postgres -- psql -X -At -h "$DRILL_DIR/socket" -p "$DRILL_PORT" -d postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) != f ]] || break
        sleep 1
    done
    ((i < 600)) || {
        tail -n 30 "$work/server.log" >&2
        drill_failed "the restored copy did not reach restore point $point and promote within 600 s"
        return 1
    }
    if ! fingerprint "$work/restored.$db" SOURCE_DATABASE_URL="postgresql://postgres@$(socket_host "$DRILL_DIR/socket"):$DRILL_PORT/$db" SCHEMAS="$schemas"; then
        cat "$work/restored.$db.err" >&2
        drill_failed "the fingerprint of the restored $db failed (above)"
        return 1
    fi
    if ! diff -u --label "live $db at $point" --label "restored $db" "$work/live.$db" "$work/restored.$db" >&2; then
        drill_failed "the restored $db differs from the live one at restore point $point (table, rows, checksum above)"
        return 1
    fi
    log "database $db: $(wc -l <"$work/live.$db") tables, rows and checksums equal to the live database at $point"
}

# ---------------------------------------------------------------------------- scheduler

cmd_scheduler() {
    [[ -f /.dockerenv ]] || die "'scheduler' is the scheduler container's command; it runs nowhere else"
    : >"$SCHEDULER_MARK"
    local script cron=/etc/cron.d/byte-runner-backup
    script=$(readlink -f "${BASH_SOURCE[0]}")
    local run="bash $script job"
    local tail="<$CONF_DIR/settings >/proc/1/fd/1 2>/proc/1/fd/2"
    {
        echo "# The backup schedule of ${settings[PREFIX]} (backup.sh scheduler; times UTC)."
        echo "SHELL=/bin/bash"
        echo "PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        echo "${settings[FULL_SCHEDULE]} root $run backup full $tail"
        [[ -z ${settings[DIFF_SCHEDULE]} ]] || echo "${settings[DIFF_SCHEDULE]} root $run backup diff $tail"
        echo "${settings[DRILL_SCHEDULE]} root $run drill $tail"
    } >"$cron.tmp"
    chmod 644 "$cron.tmp"
    mv -f "$cron.tmp" "$cron"
    log "schedule: full '${settings[FULL_SCHEDULE]}', diff '${settings[DIFF_SCHEDULE]}', drill '${settings[DRILL_SCHEDULE]}' (UTC)"
    # Catch up: a repository without any backup gets a full one now, not at the next slot.
    (
        sleep 5
        local info missing=0 repo
        info=$(pgbr --output=json info 2>/dev/null) || info='[]'
        for repo in "${REPOS[@]}"; do
            [[ $(jq --argjson r "$repo" '[.[0].backup[]? | select(.database["repo-key"] == $r)] | length' <<<"$info" 2>/dev/null || echo 0) != 0 ]] || missing=1
        done
        if ((missing)); then
            log "a repository has no backup yet: taking a full backup now"
            bash "$script" job backup full <"$CONF_DIR/settings" || true
        fi
    ) &
    exec cron -f
}

# ---------------------------------------------------------------------------- operator

cmd_in_scheduler() { # the operator's backup/drill/info: in the scheduler container, as cron would
    require_host
    local script
    script=$(readlink -f "${BASH_SOURCE[0]}")
    docker exec -i "${settings[SCHEDULER_CONTAINER]}" bash "$script" "$@" <"$CONF_DIR/settings"
}

cmd_info() {
    if in_container; then
        pgbr info
        return
    fi
    oneoff pgbackrest --config="$CONF" --stanza="$STANZA" info
}

# The recoverable window of a repository: from the oldest backup's end to the newest
# archived WAL (epoch seconds, "start end"); the live server's last archive time is the end.
recoverable_window() {
    local repo=$1 info start end
    info=$(oneoff pgbackrest --config="$CONF" --stanza="$STANZA" --repo="$repo" --output=json info) || die "cannot read repo$repo (above)"
    start=$(jq -r '[.[0].backup[]?.timestamp.stop] | min // empty' <<<"$info")
    [[ -n $start ]] || die "repo$repo has no backup: nothing to restore from"
    end=$(postgres_sql postgres "SELECT coalesce(extract(epoch FROM last_archived_time)::bigint, 0) FROM pg_stat_archiver" 2>/dev/null || echo "")
    [[ -n $end && $end != 0 ]] || end=$(date +%s)
    echo "$start $end"
}

# pgBackRest's per-file lines, thinned to one per 5% of the restore, and everything else.
progress() {
    awk '/ restore file / { if (match($0, /[0-9.]+%/)) { p = int(substr($0, RSTART, RLENGTH - 1) / 5); if (p != last) { last = p; print; fflush() } } next }
         !/ DETAIL: / { print; fflush() }'
}

fmt_time() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%S+00'; }

cmd_restore() {
    require_host
    local target="" repo=$DRILL_REPO yes=0
    while (($# > 0)); do
        case $1 in
            --target)
                target=${2-}
                shift 2
                ;;
            --repo)
                repo=${2-}
                shift 2
                ;;
            --yes)
                yes=1
                shift
                ;;
            *)
                echo "usage: ${settings[PREFIX]}-backup restore [--target 'YYYY-MM-DD HH:MM:SS+00'] [--repo N] --yes" >&2
                exit 2
                ;;
        esac
    done
    [[ " ${REPOS[*]} " == *" $repo "* ]] || {
        echo "restore: --repo must be one of ${REPOS[*]}" >&2
        exit 2
    }
    local target_epoch="" window start end
    if [[ -n $target ]]; then
        [[ $target =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(\+00|Z|\ UTC|[+-][0-9]{2}(:?[0-9]{2})?)$ ]] || {
            echo "restore: --target must be a time with its zone, such as '2026-11-30 12:00:00+00' (got '$target')" >&2
            exit 2
        }
        target_epoch=$(date -u -d "${target/+00/ UTC}" +%s 2>/dev/null) || {
            echo "restore: --target '$target' is not a valid time" >&2
            exit 2
        }
    fi
    # The WAL of the last seconds is still in the server's current segment: switch and
    # archive it first, so the window reaches up to now.
    if postgres_pgbr check >/dev/null 2>&1; then
        log "archived the server's current WAL segment: the window reaches up to now"
    else
        log "could not archive the current WAL segment (Postgres down, or a repository unreachable): the window ends at the last archived WAL"
    fi
    window=$(recoverable_window "$repo")
    read -r start end <<<"$window"
    log "repo$repo can restore to any time from $(fmt_time "$start") to $(fmt_time "$end") (the oldest backup's end to the last archived WAL)"
    if [[ -n $target_epoch ]] && ((target_epoch < start || target_epoch > end)); then
        refuse "target '$target' is outside the recoverable window of repo$repo: from $(fmt_time "$start") to $(fmt_time "$end"); nothing was changed"
    fi
    ((yes)) || refuse "restore replaces the live database (the current one is kept aside); run again with --yes"

    local stamp aside services=() svc
    stamp=$(date -u +%Y%m%d%H%M%S)
    aside=before-restore-$stamp
    # The containers (an app has one per release), resolved once: the same ones start again.
    for svc in ${settings[SERVICES]} ${settings[SCHEDULER_CONTAINER]}; do
        mapfile -t -O "${#services[@]}" services < <(service_containers "$svc")
    done
    RESTORE_SERVICES=("${services[@]}")
    log "1/4 stopping the services that use the database: ${services[*]}, then Postgres"
    for svc in "${services[@]}"; do docker stop --time 30 "$svc" >/dev/null 2>&1 || true; done
    docker stop --time 120 "${settings[POSTGRES_CONTAINER]}" >/dev/null
    # From here on a failure puts the data that was there back and starts everything again.
    RESTORE_ASIDE=$aside
    trap restore_rollback EXIT
    log "2/4 keeping the current data aside as $aside in volume ${settings[PGDATA_VOLUME]} (nothing is deleted)"
    oneoff bash -c "set -e; if [ -d '$PGDATA' ]; then mv '$PGDATA' '$PGDATA_MOUNT/$aside'; fi; install -d -m 0700 '$PGDATA'"
    log "3/4 restoring from repo$repo ${target:+to $target}${target:-to the end of the archive} (progress below)"
    local type_args=(--type=default)
    [[ -z $target ]] || type_args=(--type=time "--target=$target" --target-action=promote)
    oneoff pgbackrest --config="$CONF" --stanza="$STANZA" --repo="$repo" --log-level-console=detail "${type_args[@]}" restore 2>&1 | progress >&2
    docker start "${settings[POSTGRES_CONTAINER]}" >/dev/null
    wait_live_ready
    trap - EXIT
    log "4/4 Postgres is up on the restored data; starting ${services[*]}"
    for svc in "${services[@]}"; do docker start "$svc" >/dev/null 2>&1 || log "could not start $svc: start it with docker start $svc"; done
    # A restore starts a new timeline (or, on a new host, a new local repository): the stanza
    # and a fresh full backup make the next restore independent of the old one.
    cmd_stanza_quiet
    docker exec -d "${settings[SCHEDULER_CONTAINER]}" bash "$(readlink -f "${BASH_SOURCE[0]}")" job backup full <"$CONF_DIR/settings" >/dev/null 2>&1 ||
        log "could not start the full backup after the restore: run ${settings[PREFIX]}-backup backup full"
    log "restore done. The data from before is kept as $aside: ${settings[PREFIX]}-backup aside discard $aside --yes deletes it once you are sure."
}

cmd_stanza_quiet() { cmd_stanza || log "the stanza check after the restore failed (above); run ${settings[PREFIX]}-backup stanza after fixing it"; }

restore_rollback() {
    local status=$? svc
    trap - EXIT
    log "restore FAILED (exit $status): putting the data from before back"
    docker stop --time 30 "${settings[POSTGRES_CONTAINER]}" >/dev/null 2>&1 || true
    local failed
    failed=failed-restore-$(date -u +%Y%m%d%H%M%S)
    if oneoff bash -c "set -e; test -d '$PGDATA_MOUNT/$RESTORE_ASIDE'; if [ -d '$PGDATA' ]; then mv '$PGDATA' '$PGDATA_MOUNT/$failed'; fi; mv '$PGDATA_MOUNT/$RESTORE_ASIDE' '$PGDATA'"; then
        log "the data from before is back in place (the failed attempt is kept as $failed); starting everything again"
    else
        log "could not put the data back automatically: it is in volume ${settings[PGDATA_VOLUME]} as $RESTORE_ASIDE (INFRASTRUCTURE.md, Restore)"
    fi
    docker start "${settings[POSTGRES_CONTAINER]}" >/dev/null 2>&1 || true
    for svc in "${RESTORE_SERVICES[@]}"; do docker start "$svc" >/dev/null 2>&1 || true; done
    exit 1
}

cmd_aside() {
    require_host
    case "${1-}" in
        list) oneoff bash -c "cd '$PGDATA_MOUNT' && for d in before-restore-* failed-restore-*; do [ -d \"\$d\" ] && du -sh \"\$d\"; done; true" ;;
        discard)
            local name=${2-}
            [[ $name =~ ^(before|failed)-restore-[0-9]{14}$ ]] || {
                echo "aside discard: name one of: ${settings[PREFIX]}-backup aside list" >&2
                exit 2
            }
            [[ ${3-} == --yes ]] || refuse "discard deletes $name for good; run again with --yes"
            oneoff bash -c "test -d '$PGDATA_MOUNT/$name' && rm -rf '$PGDATA_MOUNT/$name'" || die "no $name in volume ${settings[PGDATA_VOLUME]}"
            log "deleted $name"
            ;;
        *)
            echo "usage: ${settings[PREFIX]}-backup aside list | aside discard NAME --yes" >&2
            exit 2
            ;;
    esac
}

case $mode in
    configure) cmd_configure ;;
    print-conf) print_conf "${1-}" ;;
    stanza) cmd_stanza ;;
    scheduler) cmd_scheduler ;;
    job) cmd_job "$@" ;;
    backup)
        [[ ${1-} == full || ${1-} == diff ]] || {
            echo "usage: ${settings[PREFIX]}-backup backup full|diff" >&2
            exit 2
        }
        if in_container; then cmd_job backup "$1"; else cmd_in_scheduler job backup "$1"; fi
        ;;
    drill) if in_container; then cmd_job drill; else cmd_in_scheduler job drill; fi ;;
    info) cmd_info ;;
    restore) cmd_restore "$@" ;;
    aside) cmd_aside "$@" ;;
    *)
        echo "backup.sh: unknown mode '$mode'" >&2
        exit 2
        ;;
esac
