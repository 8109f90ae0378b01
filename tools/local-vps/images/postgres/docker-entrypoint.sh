#!/usr/bin/env bash
# Stand-in for the official postgres image's docker-entrypoint.sh, same contract:
# - first argument starting with "-" means "postgres <those flags>";
# - as root: fix ownership of $PGDATA and re-run itself as the postgres user;
# - empty $PGDATA: initdb with superuser $POSTGRES_USER (default postgres) and password
#   $POSTGRES_PASSWORD (or the file named by POSTGRES_PASSWORD_FILE; required), local
#   connections trusted, "host all all all scram-sha-256" for the network, listen_addresses='*'
#   (set in postgresql.conf.sample), create $POSTGRES_DB, run /docker-entrypoint-initdb.d/*;
# - then exec the command (normally `postgres -c ...`).
set -Eeuo pipefail

error() {
    printf 'docker-entrypoint: error: %s\n' "$*" >&2
    exit 1
}

# file_env VAR [DEFAULT]: VAR or the contents of the file named by VAR_FILE.
file_env() {
    local var="$1" file_var="${1}_FILE" default="${2:-}" value
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        error "both ${var} and ${file_var} are set (but are exclusive)"
    fi
    value="${default}"
    if [[ -n "${!var:-}" ]]; then
        value="${!var}"
    elif [[ -n "${!file_var:-}" ]]; then
        value="$(<"${!file_var}")"
    fi
    export "${var}=${value}"
    unset "${file_var}"
}

run_initdb_scripts() {
    local script
    local -a scripts=()
    shopt -s nullglob
    scripts=(/docker-entrypoint-initdb.d/*)
    shopt -u nullglob
    for script in "${scripts[@]}"; do
        case "${script}" in
            *.sh)
                if [[ -x "${script}" ]]; then
                    printf 'docker-entrypoint: running %s\n' "${script}"
                    "${script}"
                else
                    printf 'docker-entrypoint: sourcing %s\n' "${script}"
                    # shellcheck disable=SC1090
                    . "${script}"
                fi
                ;;
            *.sql)
                printf 'docker-entrypoint: running %s\n' "${script}"
                psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}" -f "${script}"
                ;;
            *.sql.gz)
                printf 'docker-entrypoint: running %s\n' "${script}"
                gunzip -c "${script}" | psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER}" --dbname "${POSTGRES_DB}"
                ;;
            *) printf 'docker-entrypoint: ignoring %s\n' "${script}" ;;
        esac
    done
}

init_database() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "${POSTGRES_USER}"
    file_env POSTGRES_INITDB_ARGS
    local host_auth_method="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [[ -z "${POSTGRES_PASSWORD}" && "${host_auth_method}" != trust ]]; then
        error "Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser."
    fi

    local -a extra_initdb_args=()
    read -r -a extra_initdb_args <<<"${POSTGRES_INITDB_ARGS}"
    # Our defaults first so POSTGRES_INITDB_ARGS can override them.
    initdb --username="${POSTGRES_USER}" --pwfile=<(printf '%s\n' "${POSTGRES_PASSWORD}") \
        --encoding=UTF8 --locale=C.UTF-8 "${extra_initdb_args[@]}"
    printf '\nhost all all all %s\n' "${host_auth_method}" >>"${PGDATA}/pg_hba.conf"

    # Temporary server on the unix socket only, for database creation and init scripts.
    pg_ctl -D "${PGDATA}" -o "-c listen_addresses='' -p ${PGPORT:-5432}" -w start
    export PGPASSWORD="${POSTGRES_PASSWORD}"
    if [[ "${POSTGRES_DB}" != postgres ]]; then
        psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER}" --dbname postgres \
            --set db="${POSTGRES_DB}" <<<'CREATE DATABASE :"db";'
    fi
    run_initdb_scripts
    pg_ctl -D "${PGDATA}" -m fast -w stop
    unset PGPASSWORD
    printf '\nPostgreSQL init process complete; ready for start up.\n\n'
}

if [[ "${1:0:1}" == '-' ]]; then
    set -- postgres "$@"
fi

if [[ "$1" == postgres && "$(id -u)" == 0 ]]; then
    mkdir -p "${PGDATA}"
    find "${PGDATA}" \! -user postgres -exec chown postgres:postgres '{}' +
    chmod 700 "${PGDATA}"
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    chmod 3777 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [[ "$1" == postgres ]]; then
    if [[ -s "${PGDATA}/PG_VERSION" ]]; then
        printf '\nPostgreSQL Database directory appears to contain a database; Skipping initialization\n\n'
    else
        init_database
    fi
fi

exec "$@"
