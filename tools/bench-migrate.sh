#!/usr/bin/env bash
# Benchmark of pg-migrate against the naive way and a lower bound, on two throwaway
# PostgreSQL 15 clusters on this machine (source: the Supabase-shaped fixture grown to
# the asked size; target: vanilla). In one run it times:
#   naive        pg_dump (plain) | psql
#   pipeline     pg-migrate dump + pg-migrate restore; verify timed separately
#   lower bound  COPY out of every table to files + COPY into bare tables (no indexes,
#                no keys: the pre-data schema); the time of indexes and constraints
#                afterwards is printed for information
# and prints the times and the ratios against the issue's targets. It also counts the CPU
# time the whole machine was busy in each phase (/proc/stat: run it on a quiet machine):
# the pipeline cannot finish faster than its CPU work divided by the CPUs there are, so
# that quotient says which ratio against the naive pipe this machine allows at best.
# Environment: BENCH_SIZE_MB (default 1024) database size to build, JOBS (default: CPU
# count, at most 16), BENCH_DIR (default: a new temporary directory, removed at the end unless
# BENCH_KEEP=1). Needs postgresql-15 (server and client) and runs the server as the
# postgres OS user when started as root.
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
cluster="$repo/components/migration/pg-cluster.sh"
fixture="$repo/components/migration/fixture"
size_mb=${BENCH_SIZE_MB:-1024}
[[ $size_mb =~ ^[1-9][0-9]*$ ]] || {
    echo "bench-migrate: BENCH_SIZE_MB must be a positive integer" >&2
    exit 2
}
# pg-migrate takes 1 to 16 jobs.
jobs=${JOBS:-$(($(nproc) > 16 ? 16 : $(nproc)))}
[[ $jobs =~ ^([1-9]|1[0-6])$ ]] || {
    echo "bench-migrate: JOBS must be a whole number from 1 to 16" >&2
    exit 2
}
bench_dir=${BENCH_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/bench-migrate.XXXXXX")}
mkdir -p "$bench_dir"
chmod 755 "$bench_dir"
PGCLUSTER_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr '+/' 'xy')
export PGCLUSTER_PASSWORD

cleanup() {
    "$cluster" stop "$bench_dir/source" || true
    "$cluster" stop "$bench_dir/target" || true
    [[ ${BENCH_KEEP:-0} == 1 ]] || rm -rf -- "$bench_dir"
}
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# busy: CPU seconds the machine has spent busy since boot (user, nice, system, irq, softirq).
ticks_per_s=$(getconf CLK_TCK)
busy() { awk -v hz="$ticks_per_s" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz; exit }' /proc/stat; }

log "starting source and target clusters in $bench_dir"
source_port=$("$cluster" start "$bench_dir/source")
target_port=$("$cluster" start "$bench_dir/target")
# The bench's own psql calls take the password from the environment, never argv.
export PGPASSWORD=$PGCLUSTER_PASSWORD PGUSER=postgres PGHOST=127.0.0.1
src() { psql -X -q -v ON_ERROR_STOP=1 -At -p "$source_port" -d "${1:-app}" "${@:2}"; }
tgt() { psql -X -q -v ON_ERROR_STOP=1 -At -p "$target_port" -d "$1" "${@:2}"; }

# No autovacuum: a vacuum of one method's freshly loaded table would run during the
# next method's measurement and take its CPU.
for port in "$source_port" "$target_port"; do
    psql -X -q -p "$port" -d postgres -c 'ALTER SYSTEM SET autovacuum = off' -c 'SELECT pg_reload_conf()' >/dev/null
done
log "building a source of about ${size_mb} MB"
src postgres -c 'CREATE DATABASE app'
src app -f "$fixture/supabase-source.sql" >/dev/null
first=1
batch=500000
while :; do
    src app -v first="$first" -v rows="$batch" -f "$fixture/events.sql" >/dev/null
    first=$((first + batch))
    size=$(src app -c "SELECT pg_database_size('app') / 1048576")
    log "  source is ${size} MB ($((first - 1)) event rows)"
    ((size < size_mb)) || break
done
src app -c 'VACUUM ANALYZE' >/dev/null
src app -c 'CHECKPOINT' >/dev/null
tgt postgres -c 'CREATE ROLE app_user LOGIN'
encoded_password=$PGCLUSTER_PASSWORD # base64 with +/ replaced: URL-safe as is
export SOURCE_DATABASE_URL="postgresql://postgres:$encoded_password@127.0.0.1:$source_port/app"
export APP_ROLE=app_user JOBS=$jobs

# Every method loads into a fresh database that already has the extensions the app
# schema uses (so the naive way and the lower bound do the same work as the pipeline),
# and its time includes a final CHECKPOINT: a load is done when it is on disk, and a
# write-back deferred past the stopwatch would flatter whoever defers it.
fresh_target() {
    tgt postgres -c "CREATE DATABASE $1"
    if [[ $1 != pipeline ]]; then
        tgt "$1" -c 'CREATE SCHEMA extensions' -c 'CREATE EXTENSION "uuid-ossp" WITH SCHEMA extensions' -c 'CREATE EXTENSION pgcrypto WITH SCHEMA extensions'
    fi
    tgt postgres -c 'CHECKPOINT'
}
checkpoint_target() { tgt postgres -c 'CHECKPOINT'; }

# --- naive: one plain-format pipe; psql goes on past the Supabase-only errors, as people run it.
fresh_target naive
log "naive: pg_dump | psql"
start=$(now) cpu_start=$(busy)
pg_dump -p "$source_port" -d app --schema=public --no-owner --no-privileges --no-publications --no-subscriptions |
    psql -X -q -p "$target_port" -d naive >/dev/null 2>"$bench_dir/naive.err" || true
checkpoint_target
naive_s=$(elapsed "$start" "$(now)") naive_cpu=$(elapsed "$cpu_start" "$(busy)")
naive_errors=$(grep -c 'ERROR:' "$bench_dir/naive.err" || true)

# --- pipeline
fresh_target pipeline
export TARGET_DATABASE_URL="postgresql://postgres:$encoded_password@127.0.0.1:$target_port/pipeline" DUMP_DIR="$bench_dir/dump"
log "pipeline: pg-migrate dump"
start=$(now) cpu_start=$(busy)
"$repo/components/migration/pg-migrate" dump >/dev/null
dump_s=$(elapsed "$start" "$(now)") dump_cpu=$(elapsed "$cpu_start" "$(busy)")
log "pipeline: pg-migrate restore"
start=$(now) cpu_start=$(busy)
"$repo/components/migration/pg-migrate" restore >/dev/null
checkpoint_target
restore_s=$(elapsed "$start" "$(now)") restore_cpu=$(elapsed "$cpu_start" "$(busy)")
log "pipeline: pg-migrate verify"
start=$(now) cpu_start=$(busy)
"$repo/components/migration/pg-migrate" verify >"$bench_dir/verify.out" || {
    cat "$bench_dir/verify.out" >&2
    echo "bench-migrate: verify failed" >&2
    exit 1
}
verify_s=$(elapsed "$start" "$(now)") verify_cpu=$(elapsed "$cpu_start" "$(busy)")

# --- lower bound: raw COPY out of every table, then COPY into bare tables.
fresh_target lower
pg_dump -p "$source_port" -d app --schema=public --no-owner --no-privileges --section=pre-data |
    psql -X -q -p "$target_port" -d lower >/dev/null 2>&1 || true
mapfile -t tables < <(src app -c "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = 'public' ORDER BY pg_relation_size(format('%I.%I', schemaname, tablename)::regclass) DESC")
mkdir -p "$bench_dir/copy"
copy_out() { psql -X -q -v ON_ERROR_STOP=1 -p "$source_port" -d app -c "\\copy $1 TO '$bench_dir/copy/$1.copy'"; }
copy_in() { psql -X -q -v ON_ERROR_STOP=1 -p "$target_port" -d lower -c "\\copy $1 FROM '$bench_dir/copy/$1.copy'"; }
# run_pool <function> <table...>: at most $jobs at a time; any failure stops the bench.
run_pool() {
    local fn=$1 table running=0
    shift
    for table in "$@"; do
        "$fn" "$table" &
        running=$((running + 1))
        if ((running >= jobs)); then
            wait -n
            running=$((running - 1))
        fi
    done
    while ((running > 0)); do
        wait -n
        running=$((running - 1))
    done
}
log "lower bound: COPY out of ${#tables[@]} tables ($jobs at a time)"
start=$(now) cpu_start=$(busy)
run_pool copy_out "${tables[@]}"
copy_out_s=$(elapsed "$start" "$(now)") copy_out_cpu=$(elapsed "$cpu_start" "$(busy)")
log "lower bound: COPY into bare tables"
start=$(now) cpu_start=$(busy)
run_pool copy_in "${tables[@]}"
checkpoint_target
copy_in_s=$(elapsed "$start" "$(now)") copy_in_cpu=$(elapsed "$cpu_start" "$(busy)")
log "information: indexes and constraints afterwards"
start=$(now) cpu_start=$(busy)
pg_dump -p "$source_port" -d app --schema=public --no-owner --no-privileges --section=post-data |
    psql -X -q -p "$target_port" -d lower >/dev/null 2>&1 || true
checkpoint_target
post_data_s=$(elapsed "$start" "$(now)") post_data_cpu=$(elapsed "$cpu_start" "$(busy)")

source_mb=$(src app -c "SELECT pg_database_size('app') / 1048576")
dump_mb=$(du -sm "$DUMP_DIR" | cut -f1)
awk -v naive="$naive_s" -v dump="$dump_s" -v restore="$restore_s" -v verify="$verify_s" \
    -v out="$copy_out_s" -v in_="$copy_in_s" -v post="$post_data_s" -v mb="$source_mb" -v dmb="$dump_mb" \
    -v naive_cpu="$naive_cpu" -v dump_cpu="$dump_cpu" -v restore_cpu="$restore_cpu" -v verify_cpu="$verify_cpu" \
    -v out_cpu="$copy_out_cpu" -v in_cpu="$copy_in_cpu" -v post_cpu="$post_data_cpu" \
    -v rows="$((first - 1))" -v jobs="$jobs" -v errors="$naive_errors" -v cpus="$(nproc)" '
function row(name, wall, cpu) { printf "  %-44s %7.1f s  %7.1f s\n", name, wall, cpu }
BEGIN {
    pipeline = dump + restore; lower = out + in_; pipeline_cpu = dump_cpu + restore_cpu
    printf "\npg-migrate benchmark: source %d MB (%d event rows), dump %d MB, JOBS=%d, %d CPUs, PostgreSQL 15, fsync on\n\n", mb, rows, dmb, jobs, cpus
    printf "  %-44s %9s  %9s\n", "", "wall", "CPU busy"
    row("naive: pg_dump | psql", naive, naive_cpu)
    printf "  %-44s (%d statements failed and were skipped)\n", "", errors
    row("pipeline: dump", dump, dump_cpu)
    row("pipeline: restore", restore, restore_cpu)
    row("pipeline: dump + restore", pipeline, pipeline_cpu)
    row("pipeline: verify", verify, verify_cpu)
    row("lower bound: COPY out", out, out_cpu)
    row("lower bound: COPY into bare tables", in_, in_cpu)
    row("lower bound: total", lower, out_cpu + in_cpu)
    row("(information: indexes+constraints afterwards)", post, post_cpu)
    printf "\n  %-48s %8.2fx  target >= 1.5x  %s\n", "naive / (dump + restore)", naive / pipeline, (naive / pipeline >= 1.5 ? "met" : "NOT met")
    printf "  %-48s %8.2fx  target <= 1.5x  %s\n", "(dump + restore) / lower bound", pipeline / lower, (pipeline / lower <= 1.5 ? "met" : "NOT met")
    printf "  %-48s %8.2fx  target <= 0.5x  %s\n", "verify / restore", verify / restore, (verify / restore <= 0.5 ? "met" : "NOT met")
    # No schedule of the same work finishes before its CPU time spread over every CPU.
    floor = pipeline_cpu / cpus
    printf "\n  CPU time of dump + restore spread over %d CPUs: %.1f s, so on this machine\n", cpus, floor
    printf "  naive / (dump + restore) cannot exceed %.2fx with this work (CPU busy %.0f%% during\n", naive / floor, 100 * pipeline_cpu / (cpus * pipeline)
    printf "  dump + restore; the naive pipe used %.0f%%). CPU busy counts the whole machine.\n", 100 * naive_cpu / (cpus * naive)
}'
