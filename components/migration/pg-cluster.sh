#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for pg-migrate's tests and benchmark.
#   pg-cluster.sh start DIR   initdb into DIR (if new) and start it on a free loopback
#                             port; prints the port. Superuser "postgres" with password
#                             $PGCLUSTER_PASSWORD (scram over TCP). PGCLUSTER_FAST=1
#                             turns fsync off (tests only: nothing there must survive).
#   pg-cluster.sh stop DIR    stop it (fast shutdown); no error when it is not running.
# PostgreSQL refuses to run as root, so the server runs as the postgres OS user.
# PGCLUSTER_BINDIR picks the server binaries (default: PostgreSQL 15 from Debian).
set -euo pipefail

bindir=${PGCLUSTER_BINDIR:-/usr/lib/postgresql/15/bin}
command=${1-}
dir=${2-}
[[ -n $command && -n $dir ]] || {
    echo "usage: pg-cluster.sh start|stop DIR" >&2
    exit 2
}
[[ -x $bindir/initdb ]] || {
    echo "pg-cluster.sh: $bindir/initdb not found: apt-get install postgresql-15" >&2
    exit 2
}

as_postgres() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

port_is_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

case $command in
    start)
        [[ -n ${PGCLUSTER_PASSWORD-} ]] || {
            echo "pg-cluster.sh: PGCLUSTER_PASSWORD is not set" >&2
            exit 2
        }
        mkdir -p "$dir"
        if [[ ! -f $dir/data/PG_VERSION ]]; then
            [[ $(id -u) == 0 ]] && chown postgres: "$dir"
            pwfile=$(mktemp)
            printf '%s\n' "$PGCLUSTER_PASSWORD" >"$pwfile"
            [[ $(id -u) == 0 ]] && chown postgres: "$pwfile"
            as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
                --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
                {
                    rm -f "$pwfile"
                    cat "$dir/initdb.log" >&2
                    exit 1
                }
            rm -f "$pwfile"
            {
                echo "listen_addresses = '127.0.0.1'"
                echo "unix_socket_directories = '$dir'"
                echo "shared_buffers = 256MB"
                echo "max_wal_size = 4GB"
                echo "max_connections = 50"
                echo "logging_collector = off"
                if [[ ${PGCLUSTER_FAST-0} == 1 ]]; then
                    echo "fsync = off"
                    echo "full_page_writes = off"
                fi
            } | as_postgres tee -a "$dir/data/postgresql.conf" >/dev/null
        fi
        for _ in 1 2 3 4 5 6 7 8 9 10; do
            port=$((20000 + RANDOM % 30000))
            port_is_free "$port" || continue
            if as_postgres "$bindir/pg_ctl" -D "$dir/data" -o "-p $port" -l "$dir/server.log" -w -t 60 start >/dev/null; then
                echo "$port"
                exit 0
            fi
        done
        echo "pg-cluster.sh: could not start PostgreSQL in $dir (see $dir/server.log)" >&2
        tail -n 20 "$dir/server.log" >&2 || true
        exit 1
        ;;
    stop)
        [[ -f $dir/data/postmaster.pid ]] || exit 0
        as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
        ;;
    *)
        echo "usage: pg-cluster.sh start|stop DIR" >&2
        exit 2
        ;;
esac
