#!/usr/bin/env bash
# Benchmark of the backups (issue 11) with pgBackRest and exactly the project's options
# (components/backup/backup.sh print-conf; only the paths differ), on a throwaway
# PostgreSQL 15 cluster on this machine (the Supabase-shaped fixture grown to the asked
# size) archiving into a local repository (repo1, a directory) and the offsite one (repo2,
# the S3 server of tools/local-vps/s3.sh, under a prefix of its own). In one run it measures:
#   dump       pg_dump app | gzip: time and size (the yardstick of the targets)
#   backup     a full backup into repo1 and one into repo2, as the scheduler takes them
#              (one repository after the other): time, stored size, MB/s of the cluster
#   WAL lag    a bounded writer (BENCH_WRITE_ROWS rows committed every second for
#              BENCH_WRITE_SECONDS s) with archive_timeout as the project sets it; for
#              every commit: the time until its WAL segment is listed in repo2, split into
#              the wait for the segment switch and archive-push to both repositories
#   restore    from repo2 and from repo1 into a new data directory, started until it
#              accepts read-write connections (end of the archive replayed): the RTO
# and prints the figures and whether each target is met (exit 0 either way; non-zero on
# errors). pgBackRest and the clusters run in a mount namespace of their own where
# /etc/hosts maps the S3 endpoint's name to S3_ADDRESS, as a backup container's hosts
# entry does (components/backup/offsite-store.integration.ts); the machine's own
# /etc/hosts is not touched. The S3 server runs on this machine: "offsite" here crosses
# no network, so repo2's figures are what pgBackRest itself costs, not a WAN.
# Environment: BENCH_SIZE_MB (default 1024) size of the database to build,
# BENCH_ARCHIVE_TIMEOUT (default 60, the project's backupArchiveTimeoutSeconds),
# BENCH_WRITE_SECONDS (default 180), BENCH_WRITE_ROWS (rows per second, default 20),
# BENCH_DIR (default: a new temporary directory, removed at the end unless BENCH_KEEP=1;
# repo2's prefix is deleted from the S3 server in any case). Runs as root (mount
# namespaces; PostgreSQL and pgBackRest as the postgres OS user). Needs postgresql-15,
# pgbackrest, jq, util-linux, and the S3 server running (bash tools/local-vps/s3.sh start).
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cluster="$repo/components/migration/pg-cluster.sh"
fixture="$repo/components/migration/fixture"
s3_script="$repo/tools/local-vps/s3.sh"
readonly STANZA=main # backup.sh's stanza; print-conf names its section after it

fail_usage() {
    echo "bench-backup: $*" >&2
    exit 2
}
# whole NAME VALUE MIN MAX: VALUE is a whole number from MIN to MAX, or the bench stops.
whole() {
    if [[ ! $2 =~ ^[1-9][0-9]{0,6}$ ]] || (($2 < $3 || $2 > $4)); then
        fail_usage "$1 must be a whole number from $3 to $4 (got '$2')"
    fi
}
size_mb=${BENCH_SIZE_MB:-1024}
archive_timeout=${BENCH_ARCHIVE_TIMEOUT:-60}
write_seconds=${BENCH_WRITE_SECONDS:-180}
write_rows=${BENCH_WRITE_ROWS:-20}
whole BENCH_SIZE_MB "$size_mb" 1 1000000
whole BENCH_ARCHIVE_TIMEOUT "$archive_timeout" 10 3600 # as backupArchiveTimeoutSeconds
whole BENCH_WRITE_SECONDS "$write_seconds" 1 86400
whole BENCH_WRITE_ROWS "$write_rows" 1 10000 # a modest writer
# The RPO target: every commit's segment in repo2 within archive_timeout plus this margin.
# 1 s: the checkpointer tests archive_timeout in whole seconds, so the switch may come up
# to a second late; 2 s: archive-push compresses, encrypts and uploads the segment to both
# repositories before the archiver moves on (the table shows what it took); 2 s: this
# bench sees repo2 by listing it about twice a second, and a listing takes its own time.
readonly RPO_MARGIN=5
[[ $(id -u) == 0 ]] || fail_usage "runs as root (a mount namespace per command; PostgreSQL and pgBackRest as the postgres user)"
for program in pgbackrest jq unshare runuser pg_dump psql gzip; do
    command -v "$program" >/dev/null || fail_usage "$program not found (tools/install-deps.sh installs pgbackrest, postgresql-15, jq, util-linux)"
done

bench_dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-backup.XXXXXX")}
# The paths go into pgbackrest.conf and archive_command, which cannot quote.
[[ $bench_dir =~ ^/[A-Za-z0-9_./-]+$ ]] || fail_usage "BENCH_DIR must be an absolute path of letters, digits and _./- (got '$bench_dir')"
mkdir -p "$bench_dir"
chmod 755 "$bench_dir"
work=$bench_dir/work # logs and measurements, root's
mkdir -p "$work"
conf=$bench_dir/pgbackrest.conf
hosts_file=$bench_dir/hosts
repo2_path=/bench-backup-$$
PGCLUSTER_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
export PGCLUSTER_PASSWORD PGPASSWORD=$PGCLUSTER_PASSWORD PGUSER=postgres PGHOST=127.0.0.1

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
export LC_NUMERIC=C # EPOCHREALTIME and awk: a decimal point

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
now() { printf '%s\n' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ns CMD...: CMD in a mount namespace of its own whose /etc/hosts is $hosts_file.
# shellcheck disable=SC2016 # $0 and $@ are the inner shell's
ns() { unshare --mount bash -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$hosts_file" "$@"; }
# pgbr ARGS...: pgBackRest as postgres with the bench's config; pgbr_db for the commands
# that reach the source (its port changes with every start: pg-cluster.sh picks a free one).
pgbr() { ns runuser -u postgres -- pgbackrest --config="$conf" --stanza="$STANZA" "$@"; }
pgbr_db() { pgbr --pg1-port="$source_port" "$@"; }
# sql PORT DB ARGS...: psql over TCP as the bench clusters' superuser.
sql() { psql -X -q -v ON_ERROR_STOP=1 -At -p "$1" -d "$2" "${@:3}"; }
# step NAME CMD...: CMD with its output in $work/NAME.log, shown when it fails.
step() {
    local name=$1
    shift
    "$@" >"$work/$name.log" 2>&1 || {
        tail -n 40 "$work/$name.log" >&2
        die "$name failed (above; $work/$name.log)"
    }
}
start_cluster() { ns bash "$cluster" start "$1"; } # started in the namespace: archive_command resolves the endpoint

source_port=0
stanza_made=0
writer_pid=""
poller_pid=""
cleanup() {
    local status=$?
    [[ -z $writer_pid ]] || kill "$writer_pid" 2>/dev/null || true
    if [[ -n $poller_pid ]]; then
        : >"$work/poll.stop"
        kill "$poller_pid" 2>/dev/null || true
    fi
    for dir in "$bench_dir"/restore-repo*; do
        [[ ! -d $dir ]] || "$cluster" stop "$dir" || true
    done
    "$cluster" stop "$bench_dir/source" || true
    # repo2 lives in the shared S3 server: its prefix goes, whatever happened.
    if ((stanza_made)); then
        pgbr stop >/dev/null 2>&1 || true
        pgbr_db --repo=2 stanza-delete --force >"$work/stanza-delete.log" 2>&1 || true
        local left entry
        if left=$(pgbr --repo=2 repo-ls 2>/dev/null); then # what stanza-delete left, if anything
            while read -r entry; do
                [[ -z $entry ]] || pgbr --repo=2 repo-rm --recurse "$entry" >/dev/null 2>&1 || true
            done <<<"$left"
        fi
        left=$(pgbr --repo=2 repo-ls 2>/dev/null) || left="(cannot list)"
        [[ -z $left ]] || log "warning: the S3 bucket still holds $repo2_path: $left"
    fi
    ((status == 0)) || log "bench-backup failed (exit $status); the clusters are stopped and repo2's prefix deleted"
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $bench_dir (BENCH_KEEP=1)"
    else
        rm -rf -- "$bench_dir"
    fi
    exit "$status"
}
trap cleanup EXIT

# --- the S3 server and its coordinates. Not started here: it is shared, and a test may
# have stopped it on purpose (an offsite outage); the bench measures nothing without it.
bash "$s3_script" status >/dev/null 2>&1 || die "the S3 server is not running: start it with bash tools/local-vps/s3.sh start"
declare -A s3=()
while IFS= read -r line; do
    [[ $line =~ ^(S3_[A-Z_]+)=\'([^\']*)\'$ ]] || die "s3.sh env printed an unexpected line: $line"
    s3[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done < <(bash "$s3_script" env)
for key in S3_ENDPOINT S3_PORT S3_ADDRESS S3_BUCKET S3_REGION S3_CA_FILE S3_ACCESS_KEY_FILE S3_SECRET_KEY_FILE; do
    [[ -n ${s3[$key]-} ]] || die "s3.sh env did not print $key"
done
# What a backup container gets as a hosts entry; the rest of the machine's file kept.
{
    cat /etc/hosts
    printf '%s %s\n' "${s3[S3_ADDRESS]}" "${s3[S3_ENDPOINT]}"
} >"$hosts_file"
chmod 644 "$hosts_file"
# The CA lives in s3.sh's root-only state directory; pgBackRest runs as postgres.
install -m 0644 "${s3[S3_CA_FILE]}" "$bench_dir/offsite-ca.pem"
install -d -o postgres -g postgres -m 0750 "$bench_dir/repo1" "$bench_dir/lock"

# --- pgbackrest.conf: backup.sh print-conf with the project's options; the paths become the bench's.
# Every setting print-conf needs: the offsite ones from s3.sh, the secrets from its key
# files and a fresh passphrase (through pipes only, never a command line), the others
# valid names print-conf does not use. Retention: the project's defaults.
# Replaced on the way: the four paths; added: lock-path (pgBackRest's default,
# /tmp/pgbackrest, is the machine's; the VPS's is its container's own). Nothing else changes.
set_paths='
    /^#/ { next }
    /^\[global\]$/ { print; print "lock-path=" lock; next }
    /^repo1-path=/ { print "repo1-path=" repo1; n++; next }
    /^repo2-path=/ { print "repo2-path=" repo2; n++; next }
    /^pg1-path=/ { print "pg1-path=" pgdata; n++; next }
    /^pg1-socket-path=/ { print "pg1-socket-path=" socket; n++; next }
    /-path=/ { exit 3 }
    { print }
    END { if (n != 4) exit 3 }'
cipher_pass=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)
umask_before=$(umask)
umask 077 # the config holds the secrets: 0600 from the start
{
    printf '%s\n' PREFIX=bench-backup CONF_DIR=/nonexistent/bench-backup/conf METRICS_DIR=/nonexistent/bench-backup/metrics \
        POSTGRES_CONTAINER=bench-postgres SCHEDULER_CONTAINER=bench-scheduler IMAGE=bench/none:1 \
        PGDATA_VOLUME=bench-pgdata REPO_VOLUME=bench-repo SOCKET_VOLUME=bench-socket NETWORK=bench-net SERVICES= \
        DATABASES=app PG_MIGRATE=/nonexistent/pg-migrate 'FULL_SCHEDULE=17 3 * * 0' DIFF_SCHEDULE= 'DRILL_SCHEDULE=47 4 * * 3' \
        LOCAL_RETENTION_FULL=2 OFFSITE=1 OFFSITE_RETENTION_FULL=4 \
        "OFFSITE_ENDPOINT=${s3[S3_ENDPOINT]}" "OFFSITE_PORT=${s3[S3_PORT]}" "OFFSITE_BUCKET=${s3[S3_BUCKET]}" \
        "OFFSITE_REGION=${s3[S3_REGION]}" "OFFSITE_ADDRESS=${s3[S3_ADDRESS]}" \
        "OFFSITE_CA_BASE64=$(base64 -w0 "${s3[S3_CA_FILE]}")" \
        "CIPHER_PASS=$cipher_pass" "OFFSITE_KEY=$(<"${s3[S3_ACCESS_KEY_FILE]}")" "OFFSITE_KEY_SECRET=$(<"${s3[S3_SECRET_KEY_FILE]}")"
} | bash "$repo/components/backup/backup.sh" print-conf "$bench_dir/offsite-ca.pem" 2>"$work/print-conf.err" |
    awk -v repo1="$bench_dir/repo1" -v repo2="$repo2_path" -v pgdata="$bench_dir/source/data" \
        -v socket="$bench_dir/source" -v lock="$bench_dir/lock" "$set_paths" >"$conf" || {
    rm -f "$conf"
    cat "$work/print-conf.err" >&2
    die "backup.sh print-conf failed (above), or its output no longer has exactly repo1-path, repo2-path, pg1-path and pg1-socket-path as paths (update this bench)"
}
unset cipher_pass
umask "$umask_before"
chown postgres:postgres "$conf"
grep -qx "\\[$STANZA\\]" "$conf" || die "print-conf no longer names its stanza $STANZA"
# For the table: the options that shape the figures (no secret among them).
options=$(grep -E '^(compress-type|process-max|start-fast|repo1-cipher-type)=' "$conf" | tr '\n' ' ')

# --- the source cluster, grown to the asked size with archiving off (its WAL is no backup's)
log "starting the source cluster in $bench_dir/source"
source_port=$(start_cluster "$bench_dir/source")
log "building a database 'app' of about ${size_mb} MB (fixture: Supabase-shaped schema, events grown by events.sql)"
sql "$source_port" postgres -c 'CREATE DATABASE app'
sql "$source_port" app -f "$fixture/supabase-source.sql" >/dev/null
next_id=1
while :; do
    app_mb=$(sql "$source_port" app -c "SELECT pg_database_size('app') / 1048576")
    ((app_mb < size_mb)) || break
    # events.sql: about 230 bytes a row with its indexes; what is missing, in batches of at most 1M rows.
    rows=$(((size_mb - app_mb) * 1048576 / 230))
    rows=$((rows < 20000 ? 20000 : rows > 1000000 ? 1000000 : rows))
    sql "$source_port" app -v first="$next_id" -v rows="$rows" -f "$fixture/events.sql" >/dev/null
    next_id=$((next_id + rows))
    log "  app is $(sql "$source_port" app -c "SELECT pg_database_size('app') / 1048576") MB ($((next_id - 1)) event rows)"
done
sql "$source_port" app -c 'VACUUM ANALYZE' >/dev/null

log "archiving on, as the project sets it: archive_command pgbackrest archive-push, archive_timeout=${archive_timeout}s (restart)"
sql "$source_port" postgres -c "ALTER SYSTEM SET archive_mode = 'on'" \
    -c "ALTER SYSTEM SET archive_command = 'pgbackrest --config=$conf --stanza=$STANZA archive-push %p'" \
    -c "ALTER SYSTEM SET archive_timeout = '${archive_timeout}s'" -c "ALTER SYSTEM SET wal_level = 'replica'"
"$cluster" stop "$bench_dir/source"
source_port=$(start_cluster "$bench_dir/source")
sql "$source_port" postgres -c CHECKPOINT
app_mb=$(sql "$source_port" app -c "SELECT pg_database_size('app') / 1048576")
event_rows=$(sql "$source_port" app -c "SELECT count(*) FROM public.events")

log "stanza-create in repo1 and repo2 ($repo2_path in bucket ${s3[S3_BUCKET]}), then check"
stanza_made=1
step stanza-create pgbr_db stanza-create
step check pgbr_db check

# --- the yardstick: pg_dump | gzip of the same database
log "pg_dump app | gzip"
start=$(now)
pg_dump -p "$source_port" -d app | gzip >"$work/app.sql.gz"
dump_s=$(elapsed "$start" "$(now)")
dump_mb=$(awk -v b="$(stat -c %s "$work/app.sql.gz")" 'BEGIN { printf "%.1f", b / 1048576 }')
rm -f "$work/app.sql.gz"

# --- full backups, one repository after the other (backup.sh job backup full)
declare -A backup_s=()
for r in 1 2; do
    log "full backup into repo$r"
    sql "$source_port" postgres -c CHECKPOINT
    start=$(now)
    step "backup-repo$r" pgbr_db --repo="$r" --type=full backup
    backup_s[$r]=$(elapsed "$start" "$(now)")
done
pgbr --output=json info >"$work/info.json" 2>"$work/info.err" || {
    cat "$work/info.err" >&2
    die "pgbackrest info failed"
}
backup_field() { jq -r --argjson r "$1" "[.[0].backup[] | select(.database.\"repo-key\" == \$r and .type == \"full\")] | last | $2" "$work/info.json"; }
declare -A cluster_bytes=() stored_bytes=()
for r in 1 2; do
    cluster_bytes[$r]=$(backup_field "$r" .info.size)
    stored_bytes[$r]=$(backup_field "$r" .info.repository.size)
    [[ ${cluster_bytes[$r]} =~ ^[0-9]+$ && ${stored_bytes[$r]} =~ ^[0-9]+$ ]] || die "pgbackrest info shows no full backup in repo$r"
done
archive_id=$(jq -r '[.[0].archive[] | select(.database."repo-key" == 2) | .id] | last // empty' "$work/info.json")
[[ $archive_id =~ ^[0-9]+-[0-9]+$ ]] || die "pgbackrest info shows no archive in repo2"

# --- WAL archive lag under a bounded writer
# One transaction a second (write_rows rows); after each COMMIT (durable: synchronous_commit
# is on) the procedure reports the time and the segment holding the commit record's end.
sql "$source_port" app >/dev/null <<SQL
CREATE TABLE public.bench_writes (id bigserial PRIMARY KEY, tick int NOT NULL, payload text NOT NULL);
CREATE PROCEDURE public.bench_write(rows_per_tick int, ticks int) LANGUAGE plpgsql AS \$\$
DECLARE
    started timestamptz := clock_timestamp();
BEGIN
    FOR i IN 1..ticks LOOP
        INSERT INTO public.bench_writes (tick, payload)
        SELECT i, repeat(md5(random()::text), 3) FROM generate_series(1, rows_per_tick);
        COMMIT;
        RAISE NOTICE 'bench-commit % % %', i, extract(epoch FROM clock_timestamp()), pg_walfile_name(pg_current_wal_insert_lsn());
        PERFORM pg_sleep_until(started + i * interval '1 second');
    END LOOP;
END
\$\$;
SQL

# The poller, about twice a second: repo2's archive listing (a segment's first sighting,
# taken when the listing returned: never earlier than the truth), pg_stat_archiver (the
# last segment archive-push returned for, pushed to both repositories, and when; a
# .backup file counts as its segment, a .history file as none), and
# archive_status (a .ready file is made when the segment is complete: its mtime is the
# switch, and the rename to .done keeps it).
observations=$work/observations
poll() {
    local listing t seg file archived=""
    declare -A seen=() switched=()
    while [[ ! -e $work/poll.stop ]]; do
        if listing=$(pgbr --repo=2 repo-ls --recurse "archive/$STANZA/$archive_id" 2>>"$work/poll.err"); then
            t=$(now)
            while read -r seg; do
                [[ -n ${seen[$seg]-} ]] || {
                    seen[$seg]=1
                    echo "repo2 $seg $t"
                }
            done < <(grep -oE '^[0-9A-F]{16}/[0-9A-F]{24}-' <<<"$listing" | cut -c18-41)
        fi
        if t=$(sql "$source_port" postgres -c "SELECT coalesce(substring(last_archived_wal FROM '^[0-9A-F]{24}'), '-') || ' ' || coalesce(extract(epoch FROM last_archived_time)::text, '0') || ' ' || failed_count FROM pg_stat_archiver" 2>>"$work/poll.err") &&
            [[ $t != "$archived" ]]; then
            archived=$t
            echo "archiver $t"
        fi
        for file in "$bench_dir/source/data/pg_wal/archive_status/"*; do
            seg=${file##*/}
            seg=${seg%.*}
            [[ $seg =~ ^[0-9A-F]{24}$ && -z ${switched[$seg]-} ]] || continue
            t=$(stat -c %.9Y "$file" 2>/dev/null) || continue
            switched[$seg]=1
            echo "switch $seg $t"
        done
        sleep 0.5
    done
}
poll >"$observations" &
poller_pid=$!
log "bounded writer: $write_rows rows committed every second for $write_seconds s (archive_timeout ${archive_timeout}s)"
sql "$source_port" app -c "CALL public.bench_write($write_rows, $write_seconds)" 2>"$work/writer.out" &
writer_pid=$!
wait "$writer_pid" || {
    writer_pid=""
    cat "$work/writer.out" >&2
    die "the writer failed"
}
writer_pid=""
awk '$1 ~ /NOTICE:$/ && $2 == "bench-commit" { print $3, $4, $5 }' "$work/writer.out" >"$work/commits"
commits=$(wc -l <"$work/commits")
((commits == write_seconds)) || die "the writer reported $commits commits instead of $write_seconds ($work/writer.out)"
last_segment=$(awk '{ print $3 }' "$work/commits" | sort | tail -n 1)
log "writer done; waiting until segment $last_segment (the last commit's) is in repo2 and archived"
deadline=$((SECONDS + 2 * archive_timeout + 120))
until awk -v s="$last_segment" '$1 == "repo2" && $2 == s { r = 1 } $1 == "archiver" && $2 != "-" && ($2 "") >= (s "") { a = 1 } END { exit !(r && a) }' "$observations"; do
    ((SECONDS < deadline)) || {
        tail -n 5 "$observations" "$work/poll.err" >&2 || true
        die "segment $last_segment did not reach repo2 and the archiver within $((2 * archive_timeout + 120)) s"
    }
    sleep 1
done
: >"$work/poll.stop"
wait "$poller_pid" || true
poller_pid=""
archive_failed=$(awk '$1 == "archiver" { f = $4 } END { print f + 0 }' "$observations")
written_rows=$(sql "$source_port" app -c "SELECT count(*) FROM public.bench_writes")

# Per commit: wait for the switch, archive-push (switch -> archiver returned), and the lag
# to repo2; then median and max of each.
awk '
    FILENAME != ARGV[ARGC - 1] {
        if ($1 == "repo2") repo2[$2] = $3
        else if ($1 == "switch") switched[$2] = $3
        else if ($1 == "archiver" && $2 != "-") { n++; wal[n] = $2; at[n] = $3 }
        next
    }
    {
        # The first archiver sighting at or past the segment: archive_command returned by then.
        # Segment names compare as strings (as numbers they lose digits).
        archived = ""
        for (i = 1; i <= n; i++) if ((wal[i] "") >= ($3 "")) { archived = at[i]; break }
        if (!($3 in repo2) || archived == "") { print "missing", $3 > "/dev/stderr"; exit 1 }
        printf "%s %.3f %.3f %.3f %.3f\n", $3, ($3 in switched ? switched[$3] - $2 : -1), ($3 in switched ? archived - switched[$3] : -1), archived - $2, repo2[$3] - $2
    }' "$observations" "$work/commits" >"$work/lags" || die "a commit's segment is missing from the observations ($work/observations)"
# stat COLUMN: "median max" of a column of $work/lags (negative: not observed, left out).
stat_col() {
    awk -v c="$1" '$c >= 0 { print $c }' "$work/lags" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a n/a"; exit } m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f %.1f\n", m, v[NR] }'
}
read -r wait_med wait_max <<<"$(stat_col 2)"
read -r push_med push_max <<<"$(stat_col 3)"
read -r arch_med arch_max <<<"$(stat_col 4)"
read -r lag_med lag_max <<<"$(stat_col 5)"
segments=$(awk '{ print $1 }' "$work/lags" | sort -u | wc -l)
log "lag to repo2 over $commits commits in $segments segments: median $lag_med s, max $lag_max s"

# --- restores (the RTO): into a new data directory, started until read-write
declare -A restore_s=() files_s=() ready_s=() restore_command=()
for r in 2 1; do
    dir=$bench_dir/restore-repo$r
    install -d -o postgres -g postgres -m 0755 "$dir"
    install -d -o postgres -g postgres -m 0700 "$dir/data"
    log "restore from repo$r into $dir/data and start"
    start=$(now)
    # archive-mode off: the copy must not push its own WAL into the source's repositories.
    step "restore-repo$r" pgbr --repo="$r" --pg1-path="$dir/data" --archive-mode=off restore
    files_done=$(now)
    port=$(start_cluster "$dir") # pg_ctl -w: until it accepts connections
    until [[ $(sql "$port" postgres -c 'SELECT pg_is_in_recovery()' 2>/dev/null) == f ]]; do
        [[ -f $dir/data/postmaster.pid ]] || die "the copy restored from repo$r stopped (see $dir/server.log)"
        sleep 0.1
    done
    end=$(now)
    restore_s[$r]=$(elapsed "$start" "$end")
    files_s[$r]=$(elapsed "$start" "$files_done")
    ready_s[$r]=$(elapsed "$files_done" "$end")
    restore_command[$r]=$(grep -h '^restore_command' "$dir/data/postgresql.auto.conf" | tail -n 1)
    # Every committed row is there: the archived WAL up to the writer's last commit was replayed.
    got=$(sql "$port" app -c "SELECT count(*) FROM public.bench_writes")
    [[ $got == "$written_rows" ]] || die "the copy restored from repo$r has $got rows of bench_writes, the source $written_rows"
    log "  repo$r: ${restore_s[$r]} s (files ${files_s[$r]} s, start and recovery ${ready_s[$r]} s); $got of $written_rows rows written during the lag test are there"
    "$cluster" stop "$dir"
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf -- "$dir"
done
log "the copies' restore_command: from repo2: ${restore_command[2]}; from repo1: ${restore_command[1]}"

load_end=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v cpus="$(nproc)" -v app_mb="$app_mb" -v events="$event_rows" -v cluster1="${cluster_bytes[1]}" \
    -v options="$options" -v version="$(pgbackrest version)" -v load_start="$load_start" -v load_end="$load_end" \
    -v dump="$dump_s" -v dump_mb="$dump_mb" \
    -v b1="${backup_s[1]}" -v b2="${backup_s[2]}" -v st1="${stored_bytes[1]}" -v st2="${stored_bytes[2]}" \
    -v r1="${restore_s[1]}" -v r2="${restore_s[2]}" -v f1="${files_s[1]}" -v f2="${files_s[2]}" -v s1="${ready_s[1]}" -v s2="${ready_s[2]}" \
    -v timeout="$archive_timeout" -v margin="$RPO_MARGIN" -v commits="$commits" -v rows="$write_rows" -v secs="$write_seconds" -v segs="$segments" \
    -v failed="$archive_failed" -v wait_med="$wait_med" -v wait_max="$wait_max" -v push_med="$push_med" -v push_max="$push_max" \
    -v arch_med="$arch_med" -v arch_max="$arch_max" -v lag_med="$lag_med" -v lag_max="$lag_max" '
function mb(b) { return b / 1048576 }
function verdict(ok) { return ok ? "met" : "NOT met" }
function row(name, t, bytes) { printf "  %-50s %8.1f s  %6.1f MB  %7.1f\n", name, t, mb(bytes), mb(cluster1) / t }
function lag(name, m, x) { printf "  %-50s %8s s  %8s s\n", name, m, x }
function target(name, value, ok) { printf "  %-62s %9s  %s\n", name, value, verdict(ok) }
BEGIN {
    printf "\nbackup benchmark: database app %d MB (%d event rows), cluster %.0f MB, %d CPUs, PostgreSQL 15, %s\n", app_mb, events, mb(cluster1), cpus, version
    printf "pgBackRest options from backup.sh print-conf: %s(repo2 on the S3 server on this machine)\n", options
    printf "load average (1, 5, 15 min): %s at start, %s at end (other work shares this machine)\n\n", load_start, load_end
    printf "  %-50s %10s  %9s  %7s\n", "", "time", "size", "MB/s"
    printf "  %-50s %8.1f s  %6.1f MB  %7.1f\n", "pg_dump app | gzip", dump, dump_mb, app_mb / dump
    row("full backup into repo1 (local)", b1, st1)
    row("full backup into repo2 (offsite S3)", b2, st2)
    printf "  %-50s %8.1f s\n", "(the scheduled full backup: repo1, then repo2)", b1 + b2
    printf "  %-50s %8.1f s   (restore %.1f s, start and recovery %.1f s)\n", "restore from repo2 until read-write", r2, f2, s2
    printf "  %-50s %8.1f s   (restore %.1f s, start and recovery %.1f s)\n", "restore from repo1 until read-write", r1, f1, s1
    printf "  (MB/s: the database dumped, or the whole cluster backed up, over the time; size: the\n   dump, or what the repository stores: compressed and encrypted)\n"
    printf "\n  WAL archive lag: %d commits of %d rows, one a second for %d s, in %d segments; archive_timeout=%ds\n", commits, rows, secs, segs, timeout
    printf "  %-50s %10s  %10s\n", "", "median", "max"
    lag("commit -> its segment switched (.ready)", wait_med, wait_max)
    lag("switch -> archive-push returned (both repos)", push_med, push_max)
    lag("commit -> archive-push returned (pg_stat_archiver)", arch_med, arch_max)
    lag("commit -> segment listed in repo2 (polled ~2/s)", lag_med, lag_max)
    printf "  archive_command failures during the run: %d\n", failed
    printf "\n  targets\n"
    target(sprintf("RPO: max lag to repo2 <= archive_timeout + %d s = %d s", margin, timeout + margin), sprintf("%.1f s", lag_max), lag_max <= timeout + margin)
    target(sprintf("full backup into repo1 <= pg_dump | gzip (%.1f s)", dump), sprintf("%.1f s", b1), b1 <= dump)
    target(sprintf("full backup into repo2 <= pg_dump | gzip (%.1f s)", dump), sprintf("%.1f s", b2), b2 <= dump)
    target(sprintf("restore from repo2 <= 2 x pg_dump | gzip (%.1f s)", 2 * dump), sprintf("%.1f s", r2), r2 <= 2 * dump)
    target(sprintf("restore from repo1 <= 2 x pg_dump | gzip (%.1f s)", 2 * dump), sprintf("%.1f s", r1), r1 <= 2 * dump)
    printf "\n  RPO rule: archive_timeout, plus %d s: 1 s the checkpointer may test the timeout late (whole\n", margin
    printf "  seconds), 2 s archive-push to both repositories, 2 s this bench polling repo2\n"
}'
