#!/usr/bin/env bash
# Shows or searches one service's logs on a stack's VPS, from the operator's machine:
#   npm run logs -- STACK SERVICE [--since 1h] [--grep REGEX] [--tail N] [--follow] [--own-key]
#   npm run logs -- STACK --list
# SERVICE is a container name without its byte-runner-<stack>- prefix (postgres, pooler,
# backend, caddy, ...; --list shows them). What `docker logs` keeps (the json-file driver,
# hostLogMaxSizeMb x hostLogMaxFiles per container) is read on the VPS, stdout and stderr
# together; with --grep only the matching lines (grep -E, an extended regular expression)
# cross the network. Without --since, --tail or --grep: the last 200 lines.
#   --since    what docker logs takes: a duration (30m, 1h, 2h30m) or a time (2026-11-30T08:00)
#   --follow   keep printing new lines (Ctrl-C stops)
#   --own-key  log in with your own SSH setup (agent, ~/.ssh/config) instead of the stack's
#              hostSshPrivateKey
# The connection comes from the stack's config, its key only in a 0600 file removed on exit
# (tools/vps-ssh.sh, shared with npm run drift). A non-root user runs docker through
# `sudo -n`, as the stack's own commands do.
# Exit status: 0 done (also when nothing matched), 2 bad arguments, other: ssh or docker failed.
set -euo pipefail

usage() {
    echo "usage: npm run logs -- STACK SERVICE [--since 1h] [--grep REGEX] [--tail N] [--follow] [--own-key]" >&2
    echo "       npm run logs -- STACK --list [--own-key]" >&2
    exit 2
}
fail() {
    printf 'logs: %s\n' "$1" >&2
    exit 2
}

stack=${1-}
[[ -n $stack && $stack != -* ]] || usage
shift
[[ $stack =~ ^[a-z0-9-]+$ ]] || fail "stack '$stack' is not a stack name (a-z, 0-9, -)"
service="" since="" pattern="" tail="" follow=0 list=0 own_key=0
while (($# > 0)); do
    case $1 in
        --list) list=1 ;;
        --follow | -f) follow=1 ;;
        --own-key) own_key=1 ;;
        --since | --grep | --tail)
            (($# >= 2)) || fail "$1 needs a value"
            case $1 in
                --since) since=$2 ;;
                --grep) pattern=$2 ;;
                --tail) tail=$2 ;;
            esac
            shift
            ;;
        -*) fail "unknown option $1" ;;
        *)
            [[ -z $service ]] || fail "one service at a time (got $service and $1)"
            service=$1
            ;;
    esac
    shift
done
if ((list)); then
    [[ -z $service ]] || fail "--list takes no service"
else
    [[ -n $service ]] || usage
    [[ $service =~ ^[a-z0-9-]+$ ]] || fail "service '$service' is not a service name (a-z, 0-9, -); --list shows them"
fi
[[ -z $since || $since =~ ^[0-9A-Za-z:.+-]+$ ]] || fail "--since '$since' is neither a duration (1h, 30m) nor a time (2026-11-30T08:00)"
[[ -z $tail || $tail =~ ^([0-9]+|all)$ ]] || fail "--tail '$tail' is not a number of lines"
[[ -n $since || -n $pattern || -n $tail ]] || tail=200

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
source tools/pulumi-env.sh

# shellcheck source-path=SCRIPTDIR source=vps-ssh.sh
source tools/vps-ssh.sh
vps_ssh_prepare "$stack" "$own_key" logs

# Run on the VPS by sh: $1 sudo (1 or 0), $2 container prefix, $3 service or "" (list),
# $4 since, $5 tail, $6 follow, $7 pattern. Quoted whole, its arguments one by one.
# shellcheck disable=SC2016 # expanded by the remote shell
remote_script='
as_root() { if [ "$1" = 1 ]; then shift; sudo -n "$@"; else shift; "$@"; fi; }
root=$1 prefix=$2 service=$3 since=$4 tail=$5 follow=$6 pattern=$7
if [ -z "$service" ]; then
    as_root "$root" docker ps -a --filter "name=^$prefix" --format "{{.Label \"org.byte-runner.service\"}}	{{.Names}}	{{.Status}}" |
        awk -F "	" -v OFS="	" '"'"'{ print ($1 != "" ? $1 : $2), $3 }'"'"' | sed "s/^$prefix//" | sort
    exit
fi
# An app runs one container per release, labelled with its service: the newest running one
# is the one (a failed release is stopped), else the newest.
container=$(as_root "$root" docker ps --filter "label=org.byte-runner.service=$prefix$service" --format "{{.Names}}" | head -n 1)
[ -n "$container" ] || container=$(as_root "$root" docker ps -a --filter "label=org.byte-runner.service=$prefix$service" --format "{{.Names}}" | head -n 1)
[ -n "$container" ] || container=$prefix$service
as_root "$root" docker container inspect --format "{{.Name}}" "$container" >/dev/null || exit 3
set -- "$root" docker logs
[ -z "$since" ] || set -- "$@" --since "$since"
[ -z "$tail" ] || set -- "$@" --tail "$tail"
[ "$follow" = 0 ] || set -- "$@" --follow
set -- "$@" "$container"
if [ -z "$pattern" ]; then
    as_root "$@" 2>&1
    exit
fi
as_root "$@" 2>&1 | grep --line-buffered -E -e "$pattern" && exit 0
status=$?
[ "$status" = 1 ] || exit "$status"
echo "logs: no line matched" >&2
'
remote="sh -c $(vps_quote "$remote_script") logs"
for argument in "$vps_ssh_sudo" "byte-runner-$stack-" "$service" "$since" "$tail" "$follow" "$pattern"; do
    remote+=" $(vps_quote "$argument")"
done
# Not exec: the EXIT trap removes the key file when ssh ends (Ctrl-C with --follow included).
# shellcheck disable=SC2029 # built above to expand on the VPS, every argument quoted
ssh "${vps_ssh_options[@]}" "$vps_ssh_target" "$remote"
