#!/usr/bin/env bash
# End-to-end smoke check of the stand-in images on a user-defined bridge network:
#   postgres <- pgbouncer (transaction mode, hand-written ini) <- backend /health,
#   supertokens-standin /hello against postgres, caddy (tls internal) -> frontend.
# Containers and the network are removed at the end (and at the start, if left over).
# Secrets go to containers through 0600 env files and uploaded files, never argv.
set -euo pipefail

LOCAL_VPS_COMPONENT=smoke
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NETWORK=byte-runner-smoke
PREFIX=byte-runner-smoke
POSTGRES="${PREFIX}-postgres"
PGBOUNCER="${PREFIX}-pgbouncer"
BACKEND="${PREFIX}-backend"
SUPERTOKENS="${PREFIX}-supertokens"
FRONTEND="${PREFIX}-frontend"
CADDY="${PREFIX}-caddy"
ALL_CONTAINERS=("${CADDY}" "${FRONTEND}" "${SUPERTOKENS}" "${BACKEND}" "${PGBOUNCER}" "${POSTGRES}")
# The stack's own healthcheck for the backend, run inside its container.
NODE_HEALTHCHECK="fetch('http://127.0.0.1:4000/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"

SMOKE_DIR=""

cleanup() {
  docker rm -f "${ALL_CONTAINERS[@]}" >/dev/null 2>&1 || true
  docker network rm "${NETWORK}" >/dev/null 2>&1 || true
  if [[ -n "${SMOKE_DIR}" ]]; then rm -rf "${SMOKE_DIR}"; fi
}

on_exit() {
  local status=$?
  if ((status != 0)); then
    local container
    for container in "${ALL_CONTAINERS[@]}"; do
      if docker inspect "${container}" >/dev/null 2>&1; then
        printf -- '--- last log lines of %s ---\n' "${container}" >&2
        docker logs --tail 15 "${container}" 2>&1 | sed 's/^/    /' >&2 || true
      fi
    done
  fi
  if [[ "${LOCAL_VPS_SMOKE_KEEP:-0}" != 1 ]]; then cleanup; fi
  exit "${status}"
}

# wait_for WHAT SECONDS COMMAND...: retries COMMAND every 0.5 s.
wait_for() {
  local what="$1" seconds="$2"
  shift 2
  local attempt
  for ((attempt = 0; attempt < seconds * 2; attempt++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  die "timed out after ${seconds} s waiting for ${what}"
}

random_secret() { od -An -tx1 -N18 /dev/urandom | tr -d ' \n'; }

# upload DIR CONTAINER:PATH OWNER: copies DIR's files into a created container, owned by OWNER
# (uid:gid) with mode 0640, the way a deploy would ship config files.
upload() {
  local dir="$1" target="$2" owner="$3"
  tar -C "${dir}" --owner="${owner%%:*}" --group="${owner##*:}" --mode=0640 -cf - . | docker cp - "${target}"
}

phase() {
  local started=${SECONDS}
  "$@"
  log "  ok ($((SECONDS - started)) s)"
}

start_postgres() {
  log "postgres: initdb + start (byte-runner-local/postgres:15)"
  docker run -d --name "${POSTGRES}" --network "${NETWORK}" --env-file "${SMOKE_DIR}/postgres.env" \
    byte-runner-local/postgres:15 postgres -c shared_buffers=128MB -c max_connections=50 >/dev/null
  # TCP on 127.0.0.1 only answers once the real server (not the init-time one) runs.
  wait_for "postgres to accept TCP connections" 90 \
    docker exec "${POSTGRES}" pg_isready -h 127.0.0.1 -p 5432 -U postgres
  docker exec "${POSTGRES}" psql -U postgres -Atc "show listen_addresses" | grep -qx '\*' ||
    die "postgres: listen_addresses is not '*'"
  docker exec "${POSTGRES}" grep -qx 'host all all all scram-sha-256' /var/lib/postgresql/data/pg_hba.conf ||
    die "postgres: no scram-sha-256 rule for host connections"
  [[ "$(docker exec "${POSTGRES}" psql -U postgres -Atc "show shared_buffers")" == 128MB ]] ||
    die "postgres: the container command's -c options were not applied"
  [[ "$(docker exec "${POSTGRES}" stat -c %U /proc/1)" == postgres ]] || die "postgres: server does not run as postgres"
  local tool
  for tool in pg_dump pg_restore psql pg_isready; do
    docker exec "${POSTGRES}" sh -c "command -v ${tool}" >/dev/null || die "postgres: ${tool} missing"
  done
}

restart_postgres() {
  log "postgres: restart keeps the data directory (no second initdb)"
  docker restart "${POSTGRES}" >/dev/null
  wait_for "postgres after restart" 60 docker exec "${POSTGRES}" pg_isready -h 127.0.0.1 -p 5432 -U postgres
  docker logs "${POSTGRES}" 2>&1 | grep 'Skipping initialization' >/dev/null || die "postgres: re-initialised on restart"
}

start_pgbouncer() {
  log "pgbouncer: transaction pooling in front of postgres (byte-runner-local/pgbouncer:1.18)"
  mkdir -p "${SMOKE_DIR}/pgbouncer"
  cat >"${SMOKE_DIR}/pgbouncer/pgbouncer.ini" <<EOF
[databases]
postgres = host=${POSTGRES} port=5432 dbname=postgres

[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = /etc/pgbouncer/userlist.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 5
admin_users = postgres
ignore_startup_parameters = extra_float_digits
EOF
  printf '"postgres" "%s"\n' "${DATABASE_PASSWORD}" >"${SMOKE_DIR}/pgbouncer/userlist.txt"
  docker create --name "${PGBOUNCER}" --network "${NETWORK}" \
    byte-runner-local/pgbouncer:1.18 pgbouncer /etc/pgbouncer/pgbouncer.ini >/dev/null
  upload "${SMOKE_DIR}/pgbouncer" "${PGBOUNCER}:/etc/pgbouncer" 70:70
  docker start "${PGBOUNCER}" >/dev/null
  wait_for "pgbouncer to listen" 30 docker exec "${PGBOUNCER}" pg_isready -h 127.0.0.1 -p 6432
  [[ "$(docker exec "${PGBOUNCER}" id -u)" != 0 ]] || die "pgbouncer runs as root"
}

check_backend() {
  log "backend: /health reads postgres through pgbouncer (byte-runner-local/backend:standin)"
  docker run -d --name "${BACKEND}" --network "${NETWORK}" --env-file "${SMOKE_DIR}/backend.env" \
    -p 127.0.0.1::4000 byte-runner-local/backend:standin >/dev/null
  local host_port body
  host_port="$(docker port "${BACKEND}" 4000/tcp | head -n 1)"
  wait_for "backend /health" 30 curl -fsS "http://${host_port}/health"
  body="$(curl -fsS "http://${host_port}/health")"
  log "  GET /health -> ${body}"
  [[ "${body}" == *'"note":"hello from postgres"'* ]] || die "backend: /health did not return the row from postgres"
  docker exec "${BACKEND}" node -e "${NODE_HEALTHCHECK}" || die "backend: the stack's node healthcheck failed"
  if docker logs "${BACKEND}" 2>&1 | grep -F -f <(printf '%s\n' "${DATABASE_PASSWORD}") >/dev/null; then die "backend: logs contain the password"; fi

  # The backend really goes through pgbouncer: without it, 503; with it back, 200 again.
  docker stop "${PGBOUNCER}" >/dev/null
  local status
  status="$(curl -s -o /dev/null -w '%{http_code}' "http://${host_port}/health")"
  [[ "${status}" == 503 ]] || die "backend: /health answered ${status} with pgbouncer stopped (want 503)"
  log "  pgbouncer stopped -> /health ${status}"
  docker start "${PGBOUNCER}" >/dev/null
  wait_for "backend /health after pgbouncer restart" 30 curl -fsS "http://${host_port}/health"
  log "  pgbouncer started -> /health 200"
}

check_supertokens() {
  log "supertokens-standin: /hello against postgres (byte-runner-local/supertokens-standin:1)"
  if docker run --rm -e POSTGRESQL_CONNECTION_URI=postgres://nobody@nowhere/db \
    byte-runner-local/supertokens-standin:1 >/dev/null 2>&1; then
    die "supertokens-standin: started with a postgres:// URI (must refuse)"
  fi
  docker run -d --name "${SUPERTOKENS}" --network "${NETWORK}" --env-file "${SMOKE_DIR}/supertokens.env" \
    byte-runner-local/supertokens-standin:1 >/dev/null
  wait_for "supertokens-standin /hello" 30 docker exec "${SUPERTOKENS}" curl -fsS http://127.0.0.1:3567/hello
  [[ "$(docker exec "${SUPERTOKENS}" curl -fsS http://127.0.0.1:3567/hello)" == Hello ]] ||
    die "supertokens-standin: /hello did not say Hello"
}

check_frontend_and_caddy() {
  log "frontend + caddy: https://localhost with Caddy's internal CA (frontend:standin, caddy:2.6)"
  docker run -d --name "${FRONTEND}" --network "${NETWORK}" byte-runner-local/frontend:standin >/dev/null
  mkdir -p "${SMOKE_DIR}/caddy"
  cat >"${SMOKE_DIR}/caddy/Caddyfile" <<EOF
{
	skip_install_trust
}
localhost {
	tls internal
	reverse_proxy ${FRONTEND}:3000
}
EOF
  docker create --name "${CADDY}" --network "${NETWORK}" byte-runner-local/caddy:2.6 \
    caddy run --config /etc/caddy/Caddyfile --adapter caddyfile >/dev/null
  upload "${SMOKE_DIR}/caddy" "${CADDY}:/etc/caddy" 0:0
  docker start "${CADDY}" >/dev/null
  wait_for "caddy's internal CA root" 30 docker exec "${CADDY}" test -s /data/caddy/pki/authorities/local/root.crt
  wait_for "https://localhost through caddy" 30 docker exec "${CADDY}" \
    curl -fsS --cacert /data/caddy/pki/authorities/local/root.crt https://localhost/
  docker exec "${CADDY}" curl -fsS --cacert /data/caddy/pki/authorities/local/root.crt https://localhost/ |
    grep 'frontend stand-in' >/dev/null || die "caddy: https://localhost did not serve the frontend"
}

main() {
  require_root
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no Docker engine answers; run scripts/local-vps/dockerd.sh start first"
  cleanup
  trap on_exit EXIT
  SMOKE_DIR="$(ensure_state_dir smoke)"
  DATABASE_PASSWORD="$(random_secret)"
  (
    umask 077
    printf 'POSTGRES_PASSWORD=%s\n' "${DATABASE_PASSWORD}" >"${SMOKE_DIR}/postgres.env"
    printf 'DATABASE_URL=postgresql://postgres:%s@%s:6432/postgres\n' "${DATABASE_PASSWORD}" "${PGBOUNCER}" \
      >"${SMOKE_DIR}/backend.env"
    printf 'POSTGRESQL_CONNECTION_URI=postgresql://postgres:%s@%s:5432/postgres\nAPI_KEYS=%s\n' \
      "${DATABASE_PASSWORD}" "${POSTGRES}" "$(random_secret)" >"${SMOKE_DIR}/supertokens.env"
  )
  docker network create "${NETWORK}" >/dev/null
  log "network ${NETWORK} created"
  phase start_postgres
  phase restart_postgres
  phase start_pgbouncer
  phase check_backend
  phase check_supertokens
  phase check_frontend_and_caddy
  log "all smoke checks passed"
}

main "$@"
