# shellcheck shell=bash
# Finds a service's containers on the host. The apps run one container per release, named
# <service>-<hash> and labelled org.byte-runner.service=<service> (components/shared/container.ts,
# SERVICE_LABEL); the other services have one container named <service>. Scripts name
# services, never the apps' containers.
#
#   service_containers SERVICE   prints the names of its containers, one a line: those labelled
#                                with it (running ones first, each group newest first: a failed
#                                release is stopped), then the one named SERVICE if there is
#                                one (a fixed-name service, or an app's container from before
#                                releases had their own names); nothing when it has none

# shellcheck disable=SC2034 # read by the scripts that source this file
readonly SERVICE_LABEL=org.byte-runner.service

service_containers() {
    local service=$1
    # One listing, running ones moved first (a stable sort keeps docker's newest-first order):
    # no state (restarting, paused) can fall between two listings.
    docker ps -a --filter "label=${SERVICE_LABEL}=${service}" --format '{{if eq .State "running"}}0{{else}}1{{end}} {{.Names}}' |
        sort -s -k1,1 | cut -d ' ' -f 2- | grep -vx -e "$service" || true
    if docker container inspect "$service" >/dev/null 2>&1; then
        printf '%s\n' "$service"
    fi
}
