#!/usr/bin/env bash
# One release of an app (backend or frontend) on the VPS, after Pulumi has created its new
# container beside the old one (components/app/app.ts). In order:
#   1. gate:    wait (at most HEALTH_TIMEOUT_SECONDS) for the new container's Docker health
#               check to pass; if it never does, fail with its last health output and stop it
#               (kept for its logs). Nothing has been switched then: the old container keeps
#               serving.
#   2. switch:  write the service's upstream file (`reverse_proxy CONTAINER:PORT`, imported by
#               the Caddyfile) and `caddy reload` (graceful: the old config finishes its
#               requests, no connection is refused). A failed reload puts the old file back.
#   3. drain:   poll Caddy's admin API (/reverse_proxy/upstreams) until the old upstream has
#               no request in flight, at most DRAIN_TIMEOUT_SECONDS.
#   4. retire:  stop (SIGTERM, STOP_TIMEOUT_SECONDS to finish) and remove the service's other
#               containers: the old release, and any failed one left from before.
# Without a running Caddy (the stack's first `pulumi up`) steps 2-3 only write the file: Caddy
# reads it when it starts. Running it again is safe: a healthy, switched release passes
# through every step without a change.
#
# Usage: release.sh deploy|remove [--check-settings] < settings
#   deploy   the steps above
#   remove   the service is gone from the stack (or the stack destroyed): its containers and
#            its upstream file are removed
# Settings (KEY=VALUE lines on stdin, all required; components/shared/settings.sh):
#   SERVICE                 the service, e.g. byte-runner-prod-backend (its containers' label)
#   CONTAINER               the new release's container, e.g. byte-runner-prod-backend-0123456789
#   UPSTREAM                what Caddy proxies to, e.g. byte-runner-prod-backend-0123456789:4000
#   UPSTREAM_FILE           the upstream file on the host
#   CADDY_CONTAINER         the Caddy container
#   CADDY_CONFIG            the Caddyfile inside it
#   CADDY_ADMIN             Caddy's admin address inside it, e.g. 127.0.0.1:2019
#   HEALTH_TIMEOUT_SECONDS  how long the gate waits for a healthy container
#   DRAIN_TIMEOUT_SECONDS   how long the drain waits for the old upstream's requests
#   STOP_TIMEOUT_SECONDS    how long a retired container gets between SIGTERM and SIGKILL
# Exit status: 0 done, 1 failure (the gate's shows the health output), 2 bad settings.
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"
# shellcheck source=../shared/service-containers.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/service-containers.sh"

readonly DOCKER_NAME='^[A-Za-z0-9][A-Za-z0-9_.-]*$'

mode=${1-}
[[ $mode == deploy || $mode == remove ]] || {
    echo "release: usage: release.sh deploy|remove [--check-settings] < settings" >&2
    exit 2
}
shift
settings_mode release "$@"
settings_read release SERVICE CONTAINER UPSTREAM UPSTREAM_FILE CADDY_CONTAINER CADDY_CONFIG CADDY_ADMIN HEALTH_TIMEOUT_SECONDS DRAIN_TIMEOUT_SECONDS STOP_TIMEOUT_SECONDS
for key in SERVICE CONTAINER CADDY_CONTAINER; do
    [[ ${settings[$key]} =~ $DOCKER_NAME ]] || settings_fail "$key" "'${settings[$key]}' is not a container name"
done
[[ ${settings[CONTAINER]} == "${settings[SERVICE]}"-* ]] || settings_fail CONTAINER "'${settings[CONTAINER]}' is not a container of ${settings[SERVICE]}"
[[ ${settings[UPSTREAM]} =~ ^[A-Za-z0-9_.-]+:[0-9]{1,5}$ ]] || settings_fail UPSTREAM "'${settings[UPSTREAM]}' is not host:port"
[[ ${settings[UPSTREAM_FILE]} =~ ^/[A-Za-z0-9_./-]+\.caddy$ && ${settings[UPSTREAM_FILE]} != *..* ]] || settings_fail UPSTREAM_FILE "'${settings[UPSTREAM_FILE]}' is not an absolute path to a .caddy file"
[[ ${settings[CADDY_CONFIG]} =~ ^/[A-Za-z0-9_./-]+$ ]] || settings_fail CADDY_CONFIG "'${settings[CADDY_CONFIG]}' is not an absolute path"
[[ ${settings[CADDY_ADMIN]} =~ ^[0-9.]+:[0-9]{1,5}$ ]] || settings_fail CADDY_ADMIN "'${settings[CADDY_ADMIN]}' is not address:port"
settings_int HEALTH_TIMEOUT_SECONDS 1 3600
settings_int DRAIN_TIMEOUT_SECONDS 0 3600
settings_int STOP_TIMEOUT_SECONDS 0 3600
settings_done

service=${settings[SERVICE]} container=${settings[CONTAINER]} upstream=${settings[UPSTREAM]}
file=${settings[UPSTREAM_FILE]} caddy=${settings[CADDY_CONTAINER]}

say() { printf 'release %s: %s\n' "$service" "$*"; }
fail() {
    printf 'release %s: error: %s\n' "$service" "$*" >&2
    exit 1
}

caddy_running() {
    [[ $(docker container inspect -f '{{.State.Running}}' "$caddy" 2>/dev/null) == true ]]
}

# GET on Caddy's admin API, from inside its container (the API listens on its loopback only).
# The official image has busybox wget; others have curl.
caddy_admin_get() {
    local url="http://${settings[CADDY_ADMIN]}$1"
    docker exec "$caddy" sh -c 'wget -q -O - "$1" 2>/dev/null || curl -fsS "$1"' sh "$url"
}

# The address in an upstream file (`reverse_proxy host:port`), or nothing.
upstream_in() {
    [[ -f $1 ]] || return 0
    sed -n 's/^reverse_proxy[[:space:]]\{1,\}\([^[:space:]]\{1,\}\)[[:space:]]*$/\1/p' "$1" | head -n 1
}

# Stops and removes the service's containers but KEEP (empty: all of them).
retire_all_but() {
    local keep=$1 old
    while IFS= read -r old; do
        [[ -n $old && $old != "$keep" ]] || continue
        say "retiring $old (stop: up to ${settings[STOP_TIMEOUT_SECONDS]} s for its requests)"
        docker stop --time "${settings[STOP_TIMEOUT_SECONDS]}" "$old" >/dev/null 2>&1 || true
        docker rm -f "$old" >/dev/null || fail "could not remove $old: docker rm -f $old"
    done < <(service_containers "$service")
}

if [[ $mode == remove ]]; then
    retire_all_but ""
    rm -f "$file"
    say "removed its containers and $file"
    exit 0
fi

# 1. The gate.
docker container inspect "$container" >/dev/null 2>&1 || fail "the new container $container does not exist (was it removed by hand? pulumi up --refresh makes it again)"
deadline=$((SECONDS + settings[HEALTH_TIMEOUT_SECONDS]))
say "waiting for $container to be healthy (at most ${settings[HEALTH_TIMEOUT_SECONDS]} s)"
while :; do
    health=$(docker container inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.State.Status}}' "$container")
    case $health in
        healthy\ running) break ;;
        unhealthy\ *) deadline=$SECONDS ;; # its retries are spent: Docker has given up on it
        none\ running) fail "$container has no health check: a release is switched to only once it answers its health check" ;;
    esac
    if ((SECONDS >= deadline)) || [[ $health == *\ exited || $health == *\ dead ]]; then
        current=$(upstream_in "$file")
        {
            printf 'release %s: error: %s never became healthy (state: %s after %s s).\n' "$service" "$container" "$health" "${settings[HEALTH_TIMEOUT_SECONDS]}"
            printf 'Its last health check output:\n'
            docker container inspect -f '{{range .State.Health.Log}}  exit {{.ExitCode}} at {{.End}}: {{printf "%q" .Output}}{{"\n"}}{{end}}' "$container" 2>/dev/null | tail -n 3 || true
            printf 'Its last log lines:\n'
            docker logs --tail 10 "$container" 2>&1 | sed 's/^/  /'
            printf 'Nothing was switched: %s keeps serving. %s is stopped and left for inspection (docker logs %s); the next release removes it.\n' "${current:-the old release}" "$container" "$container"
            printf 'Roll back by setting the previous image again (INFRASTRUCTURE.md, Deploys and rollbacks).\n'
        } >&2
        # Stopped, so that nothing takes it for the service (scripts, logs, the exporter prefer
        # a running container) and it holds no connections; its logs stay.
        docker stop --time 10 "$container" >/dev/null 2>&1 || true
        exit 1
    fi
    sleep 1
done
say "$container is healthy"

# 2. The switch.
old=$(upstream_in "$file")
install -d -m 0755 "${file%/*}"
if [[ $old == "$upstream" ]]; then
    say "Caddy already proxies to $upstream"
else
    aside=$(mktemp "${file%/*}/.upstream.XXXXXX")
    printf 'reverse_proxy %s\n' "$upstream" >"$aside"
    chmod 0644 "$aside"
    [[ ! -f $file ]] || cp -p "$file" "$file.previous"
    mv -f "$aside" "$file"
    if caddy_running; then
        if ! reload=$(docker exec "$caddy" caddy reload --config "${settings[CADDY_CONFIG]}" --adapter caddyfile --address "${settings[CADDY_ADMIN]}" --force 2>&1); then
            if [[ -f $file.previous ]]; then mv -f "$file.previous" "$file"; else rm -f "$file"; fi
            printf '%s\n' "$reload" | tail -n 5 >&2
            fail "caddy reload failed (above); the upstream file was put back: ${old:-none} keeps serving"
        fi
        say "switched Caddy from ${old:-nothing} to $upstream (caddy reload)"
    else
        say "wrote $file ($upstream); Caddy is not running yet and reads it when it starts"
    fi
    rm -f "$file.previous"
fi

# 3. The drain: the old upstream's requests in flight, as Caddy counts them. Once the old
#    config has let go of it, Caddy no longer lists it: nothing is in flight.
if [[ -n $old && $old != "$upstream" ]] && caddy_running; then
    deadline=$((SECONDS + settings[DRAIN_TIMEOUT_SECONDS]))
    while :; do
        in_flight=$(caddy_admin_get /reverse_proxy/upstreams | tr -d ' \n' | grep -o "\"address\":\"${old//./\\.}\",\"num_requests\":[0-9]*" | grep -o '[0-9]*$' || true)
        if [[ -z $in_flight || $in_flight == 0 ]]; then
            say "drained $old"
            break
        fi
        if ((SECONDS >= deadline)); then
            say "$old still has $in_flight request(s) in flight after ${settings[DRAIN_TIMEOUT_SECONDS]} s; its stop gives them ${settings[STOP_TIMEOUT_SECONDS]} s more"
            break
        fi
        sleep 0.2
    done
fi

# 4. Retire the others.
retire_all_but "$container"
say "done: $container serves"
