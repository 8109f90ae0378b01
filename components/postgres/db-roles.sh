#!/usr/bin/env bash
# Makes sure each application role exists with its password and owns exactly its own
# database, inside the Postgres container CONTAINER, and sets the superuser's password:
# the image takes POSTGRES_PASSWORD only when it initialises an empty volume, and a kept
# volume outlives the stack's generated passwords. Idempotent: run it any number of
# times. psql uses the container's local socket (trusted, as in the official image).
#
# Usage: db-roles.sh [--check-settings] < settings
#   --check-settings  only read and check the settings; touch no container (exit 0 or 2)
# Settings (KEY=VALUE lines on stdin, all required; components/shared/settings.sh):
#   CONTAINER           the Postgres container, e.g. byte-runner-prod-postgres
#   SUPERUSER_PASSWORD  the postgres role's password (secret)
#   ROLES               role:database:password items separated by spaces, one per
#                       application, e.g. app:app:<password> (passwords are secrets)
#   MONITOR             role:password of the monitoring role (postgres_exporter): member
#                       of pg_monitor, may connect to the postgres database, where the
#                       pg_stat_statements extension is made (the exporter reads it there)
# Names are lower-case identifiers; passwords 16 or more letters and digits (the stack
# generates them so), which keeps them out of any quoting trouble in SQL. No password
# is ever on a command line or in the server log.
# Exit status: 0 done, 1 failure, 2 bad settings.
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"

die() {
    printf 'db-roles: error: %s\n' "$*" >&2
    exit 1
}

settings_mode db-roles "$@"
settings_read db-roles CONTAINER SUPERUSER_PASSWORD ROLES MONITOR
readonly NAME='^[a-z_][a-z0-9_]{0,62}$' PASSWORD='^[A-Za-z0-9]{16,}$'
container=${settings[CONTAINER]}
[[ $container =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || settings_fail CONTAINER "'$container' is not a container name"
[[ ${settings[SUPERUSER_PASSWORD]} =~ $PASSWORD ]] || settings_fail SUPERUSER_PASSWORD "must be 16+ letters and digits (value not shown)"
read -r -a roles <<<"${settings[ROLES]}" || true
((${#roles[@]} > 0)) || settings_fail ROLES "empty: give at least one role:database:password"
declare -A seen=()
for item in "${roles[@]}"; do
    IFS=: read -r role database password extra <<<"$item"
    [[ ${role-} =~ $NAME && ${database-} =~ $NAME && -z ${extra-} ]] ||
        settings_fail ROLES "item $((${#seen[@]} + 1)) is not role:database:password with lower-case names (value not shown)"
    [[ $role != postgres ]] || settings_fail ROLES "role postgres is the superuser: its password is SUPERUSER_PASSWORD"
    [[ ${password-} =~ $PASSWORD ]] || settings_fail ROLES "the password of role $role must be 16+ letters and digits"
    [[ ! -v "seen[$role]" ]] || settings_fail ROLES "role $role is given twice"
    seen[$role]=1
done
IFS=: read -r monitor_role monitor_password extra <<<"${settings[MONITOR]}"
[[ ${monitor_role-} =~ $NAME && -z ${extra-} ]] || settings_fail MONITOR "is not role:password with a lower-case role name (value not shown)"
[[ ${monitor_password-} =~ $PASSWORD ]] || settings_fail MONITOR "the password of role $monitor_role must be 16+ letters and digits"
[[ $monitor_role != postgres && ! -v "seen[$monitor_role]" ]] || settings_fail MONITOR "role $monitor_role is already the superuser or an application's role"
settings_done

# Wait for the server: the container may have just been (re)created.
for _ in $(seq 1 90); do
    if docker exec "$container" pg_isready -q -U postgres -h 127.0.0.1 2>/dev/null; then
        break
    fi
    sleep 2
done
docker exec "$container" pg_isready -q -U postgres -h 127.0.0.1 || die "postgres in container $container is not ready after 180 s"

# Nothing below may reach the server log: it carries passwords.
sql="SET log_statement = 'none'; SET log_min_duration_statement = -1; SET log_min_error_statement = panic;"$'\n'
sql+="ALTER ROLE postgres PASSWORD '${settings[SUPERUSER_PASSWORD]}';"$'\n'
for item in "${roles[@]}"; do
    IFS=: read -r role database password <<<"$item"
    sql+="SELECT format('CREATE ROLE %I LOGIN', '$role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$role')
\\gexec
ALTER ROLE \"$role\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '$password';
SELECT format('CREATE DATABASE %I OWNER %I', '$database', '$role') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$database')
\\gexec
ALTER DATABASE \"$database\" OWNER TO \"$role\";
REVOKE ALL ON DATABASE \"$database\" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE \"$database\" TO \"$role\";
"
done
sql+="REVOKE ALL ON DATABASE postgres FROM PUBLIC;"$'\n'
# Read-only statistics, no data: pg_monitor reads every pg_stat_* view and setting.
sql+="SELECT format('CREATE ROLE %I LOGIN', '$monitor_role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$monitor_role')
\\gexec
ALTER ROLE \"$monitor_role\" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT 3 PASSWORD '$monitor_password';
GRANT pg_monitor TO \"$monitor_role\";
GRANT CONNECT ON DATABASE postgres TO \"$monitor_role\";
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
"

printf '%s' "$sql" | docker exec -i "$container" psql -q -v ON_ERROR_STOP=1 -U postgres -d postgres >/dev/null ||
    die "applying roles failed in container $container"
printf 'db-roles: superuser, %d role(s) each owning only its database, and monitoring role %s in place\n' "${#roles[@]}" "$monitor_role"
