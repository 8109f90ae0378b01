#!/usr/bin/env bash
# How every operator tool reaches a stack's VPS over SSH, in one place (tools/logs.sh,
# tools/drift.ts). Two uses:
#   source tools/vps-ssh.sh; vps_ssh_prepare STACK OWN_KEY TOOL
#       sets vps_ssh_options (ssh's options), vps_ssh_target (user@address) and
#       vps_ssh_sudo (1 when the user is not root: docker and scripts go through sudo -n)
#   bash tools/vps-ssh.sh STACK [--own-key] -- COMMAND
#       runs COMMAND (one string, for the VPS's shell) on the VPS; stdin is passed through
# The address, port, user and pinned host key come from the stack's config (`pulumi config
# get`, run through tools/pulumi-env.sh as every tool here); host key checking is never off.
# Without OWN_KEY (1: your own agent and ~/.ssh/config) the stack's hostSshPrivateKey is
# written to a 0600 file in a private temporary directory, removed on exit; no secret is
# ever on a command line.
set -euo pipefail

# vps_ssh_prepare STACK OWN_KEY TOOL: TOOL names the caller in error messages.
vps_ssh_prepare() {
    local stack=$1 own_key=$2 tool=$3
    local address port user host_key
    vps_ssh_config() {
        pulumi config get --stack "$stack" "$1" || {
            printf '%s: cannot read %s of stack %s (pulumi config get)\n' "$tool" "$1" "$stack" >&2
            exit 1
        }
    }
    address=$(vps_ssh_config hostAddress)
    port=$(vps_ssh_config hostSshPort)
    user=$(vps_ssh_config hostSshUser)
    host_key=$(vps_ssh_config hostSshHostKey)

    vps_ssh_work=$(mktemp -d)
    # shellcheck disable=SC2064 # the directory is known now
    trap "rm -rf '$vps_ssh_work'" EXIT
    # The pinned host key under an alias, so the known_hosts line needs no address or port.
    printf 'byte-runner-%s %s\n' "$stack" "$host_key" >"$vps_ssh_work/known_hosts"
    vps_ssh_options=(-p "$port" -o BatchMode=yes -o StrictHostKeyChecking=yes -o "UserKnownHostsFile=$vps_ssh_work/known_hosts"
        -o GlobalKnownHostsFile=/dev/null -o "HostKeyAlias=byte-runner-$stack")
    if ((!own_key)); then
        (
            umask 077
            vps_ssh_config hostSshPrivateKey >"$vps_ssh_work/key"
        )
        vps_ssh_options+=(-o IdentitiesOnly=yes -i "$vps_ssh_work/key")
    fi
    # shellcheck disable=SC2034 # read by the tools that source this file
    vps_ssh_target="$user@$address"
    # shellcheck disable=SC2034
    if [[ $user == root ]]; then vps_ssh_sudo=0; else vps_ssh_sudo=1; fi
}

# Single-quoted for the remote shell, quotes inside included.
vps_quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    usage() {
        echo "usage: bash tools/vps-ssh.sh STACK [--own-key] -- COMMAND" >&2
        exit 2
    }
    stack=${1-}
    [[ $stack =~ ^[a-z0-9-]+$ ]] || usage
    shift
    own_key=0
    if [[ ${1-} == --own-key ]]; then
        own_key=1
        shift
    fi
    [[ ${1-} == -- && $# -eq 2 ]] || usage
    cd "$(dirname "${BASH_SOURCE[0]}")/.."
    # shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
    source tools/pulumi-env.sh
    vps_ssh_prepare "$stack" "$own_key" vps-ssh
    # Not exec: the EXIT trap removes the key file when ssh ends.
    # shellcheck disable=SC2029 # the command is meant for the VPS's shell
    ssh "${vps_ssh_options[@]}" "$vps_ssh_target" "$2"
fi
