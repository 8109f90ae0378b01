#!/usr/bin/env bash
# The `local` stack: this machine as the VPS. One command per phase, each idempotent.
#   bash tools/local-stack.sh setup     toolchain, Docker engine, images, sshd, S3 server, stack config
#   bash tools/local-stack.sh vps       Docker engine, images, sshd, S3 server only (no Pulumi needed)
#   bash tools/local-stack.sh images    Docker engine and images only
#   bash tools/local-stack.sh sshd      sshd only
#   bash tools/local-stack.sh s3        the S3 server (offsite backup store) only
#   bash tools/local-stack.sh toolchain the Pulumi toolchain with the plugins the local stack needs
#   bash tools/local-stack.sh config    the stack's config (Pulumi.local.yaml) only
#   bash tools/local-stack.sh up        pulumi up --stack local, then print the URLs
#   bash tools/local-stack.sh urls      the URLs and how to reach them with curl
#   bash tools/local-stack.sh destroy   pulumi destroy (the data volume stays)
#   bash tools/local-stack.sh reset     destroy, then remove what is left of the local VPS's
#                                         containers, networks and data volume (test start)
# Run as root after tools/install-deps.sh.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
phase() { printf '\n[local-stack] == %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
die() {
    printf '[local-stack] error: %s\n' "$*" >&2
    exit 1
}

STACK=local
# Port on this machine where the local stack's Alertmanager delivers (nothing listens but a test).
LOCAL_ALERT_PORT=9466

pulumi_env() {
    # shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
    source "$repo/tools/pulumi-env.sh"
    command -v pulumi >/dev/null || die "no pulumi: run bash tools/pulumi-toolchain.sh"
}

# Copies the template and pins this machine's host key and client key into the stack.
write_stack_config() {
    eval "$(bash tools/local-vps/sshd.sh env)"
    : "${LOCAL_VPS_SSH_HOST_KEY:?}" "${LOCAL_VPS_SSH_PRIVATE_KEY_FILE:?}"
    pulumi stack select "$STACK" >/dev/null 2>&1 || pulumi stack init "$STACK" --secrets-provider passphrase >/dev/null
    local tmp
    tmp=$(mktemp Pulumi.local.yaml.XXXXXX)
    # Keep the encryption salt of an existing file: it belongs to the stack's secrets.
    if [[ -f Pulumi.local.yaml ]] && grep -q '^encryptionsalt:' Pulumi.local.yaml; then
        grep '^encryptionsalt:' Pulumi.local.yaml >"$tmp"
    fi
    cat tools/local-vps/Pulumi.local.template.yaml >>"$tmp"
    mv "$tmp" Pulumi.local.yaml
    pulumi config set --stack "$STACK" hostSshHostKey "$LOCAL_VPS_SSH_HOST_KEY"
    # Through stdin: never on a command line.
    pulumi config set --stack "$STACK" --secret hostSshPrivateKey <"$LOCAL_VPS_SSH_PRIVATE_KEY_FILE"
    # The offsite backup repository: the S3 server on this machine (tools/local-vps/s3.sh).
    eval "$(bash tools/local-vps/s3.sh env)"
    : "${S3_ENDPOINT:?}" "${S3_ADDRESS:?}" "${S3_CA_FILE:?}" "${S3_ACCESS_KEY_FILE:?}" "${S3_SECRET_KEY_FILE:?}"
    pulumi config set --stack "$STACK" backupOffsiteEndpoint "$S3_ENDPOINT"
    pulumi config set --stack "$STACK" backupOffsitePort "$S3_PORT"
    pulumi config set --stack "$STACK" backupOffsiteBucket "$S3_BUCKET"
    pulumi config set --stack "$STACK" backupOffsiteRegion "$S3_REGION"
    pulumi config set --stack "$STACK" backupOffsiteAddress "$S3_ADDRESS"
    pulumi config set --stack "$STACK" backupOffsiteCaCert <"$S3_CA_FILE"
    pulumi config set --stack "$STACK" --secret backupOffsiteAccessKeyId <"$S3_ACCESS_KEY_FILE"
    pulumi config set --stack "$STACK" --secret backupOffsiteSecretAccessKey <"$S3_SECRET_KEY_FILE"
    # Alerts and the Watchdog's heartbeats go to this machine, where containers reach it
    # (S3_ADDRESS); the end-to-end suite listens there. Each URL carries a token, as real
    # ones do, so the suite can prove it is kept secret.
    printf 'http://%s:%s/alerts/%s' "$S3_ADDRESS" "$LOCAL_ALERT_PORT" "$(openssl rand -hex 16)" |
        pulumi config set --stack "$STACK" --secret alertWebhookUrl
    printf 'http://%s:%s/deadman/%s' "$S3_ADDRESS" "$LOCAL_ALERT_PORT" "$(openssl rand -hex 16)" |
        pulumi config set --stack "$STACK" --secret alertDeadmanUrl
}

# toolchain: the Pulumi toolchain with every plugin it can provide; fails only when a plugin
# the local stack needs is missing (command, docker, random: internal TLS, no DNS).
toolchain() {
    phase "Pulumi toolchain (built from Go modules on first use; cached afterwards)"
    local report
    report=$(mktemp)
    bash tools/pulumi-toolchain.sh --substitutes --allow-missing-plugins --missing-report "$report"
    if grep -qxE 'command|docker|random' "$report"; then
        die "the local stack needs the plugins command, docker and random; missing: $(tr '\n' ' ' <"$report")"
    fi
    rm -f "$report"
}

start_images() {
    phase "Docker engine"
    bash tools/local-vps/dockerd.sh start
    phase "stand-in images (debootstrap base on first use)"
    bash tools/local-vps/images.sh
}

start_sshd() {
    phase "sshd on 127.0.0.1"
    bash tools/local-vps/sshd.sh start
}

start_s3() {
    phase "S3 server (the offsite backup store)"
    bash tools/local-vps/s3.sh start
}

config() {
    phase "stack config"
    pulumi_env
    write_stack_config
}

urls() {
    pulumi_env
    local frontend api
    frontend=$(pulumi stack output --stack "$STACK" frontendUrl)
    api=$(pulumi stack output --stack "$STACK" apiUrl)
    cat <<TXT

byte-runner (local stack) is up:
  frontend  $frontend
  api       $api/health
Caddy serves them with its internal CA on 127.0.0.1:443; to try them:
  docker exec byte-runner-local-caddy cat /data/caddy/pki/authorities/local/root.crt > /tmp/byte-runner-local-ca.crt
  curl --cacert /tmp/byte-runner-local-ca.crt --resolve ${frontend#https://}:443:127.0.0.1 $frontend
  curl --cacert /tmp/byte-runner-local-ca.crt --resolve ${api#https://}:443:127.0.0.1 $api/health
TXT
}

case ${1:-} in
    setup)
        toolchain
        start_images
        start_sshd
        start_s3
        config
        ;;
    toolchain) toolchain ;;
    vps)
        start_images
        start_sshd
        start_s3
        ;;
    images) start_images ;;
    sshd) start_sshd ;;
    s3) start_s3 ;;
    config) config ;;
    up)
        pulumi_env
        phase "pulumi up --stack $STACK"
        pulumi up --stack "$STACK" --yes --skip-preview --non-interactive
        urls
        ;;
    urls) urls ;;
    destroy)
        pulumi_env
        phase "pulumi destroy --stack $STACK (the data volume is kept)"
        pulumi destroy --stack "$STACK" --yes --non-interactive
        ;;
    reset)
        # For tests: everything of the local VPS goes, the data volume included, whether
        # or not this clone's state knows it (a clone before this one may have made it).
        pulumi_env
        # Only this clone's own file backend: never a team backend's `local` stack.
        [[ $PULUMI_BACKEND_URL == "file://$repo/.state/backend" ]] ||
            die "reset works on this clone's file backend only (PULUMI_BACKEND_URL is $PULUMI_BACKEND_URL)"
        phase "reset: destroy the local stack and what an earlier clone left"
        if pulumi stack select "$STACK" >/dev/null 2>&1; then
            log=.local/reset-destroy.log
            mkdir -p .local
            if ! pulumi destroy --stack "$STACK" --yes --non-interactive --skip-preview >"$log" 2>&1; then
                tail -n 20 "$log" >&2
                echo "[local-stack] destroy failed (above, full log $log); forgetting the local stack's state and removing its resources directly" >&2
                pulumi stack rm "$STACK" --force --yes --preserve-config >/dev/null
            fi
        fi
        docker_local() { docker -H unix:///var/run/docker.sock "$@"; }
        # remove_all <listing command...> -- <removal command...>: a failed listing stops the script.
        remove_all() {
            local listing=() out ids
            while [[ $1 != -- ]]; do
                listing+=("$1")
                shift
            done
            shift
            out=$(docker_local "${listing[@]}")
            [[ -n $out ]] || return 0
            mapfile -t ids <<<"$out"
            docker_local "$@" "${ids[@]}" >/dev/null
        }
        prefix=byte-runner-local-
        remove_all ps -aq --filter "name=^${prefix}" -- rm -f
        networks=$(docker_local network ls -q --filter "name=^${prefix}")
        for network in $networks; do
            # Anything still attached (a migration step killed mid-run) would block the removal.
            remove_all ps -aq --filter "network=$network" -- rm -f
            docker_local network rm "$network" >/dev/null
        done
        remove_all volume ls -q --filter "name=^${prefix}" -- volume rm
        # The local stack runs without the host firewall; a test that turned it on for a while
        # (tests/e2e/local.test.ts, drift) and was cut off may have left its table behind.
        if command -v nft >/dev/null && nft list table inet byte_runner_firewall >/dev/null 2>&1; then
            nft delete table inet byte_runner_firewall
            rm -f /etc/byte-runner/firewall.nft
        fi
        # The offsite repository of the local stack, in the S3 server on this machine.
        if bash tools/local-vps/s3.sh status >/dev/null 2>&1; then bash tools/local-vps/s3.sh wipe "${prefix%-}"; fi
        echo "[local-stack] the local VPS has no byte-runner container, network, volume, offsite backup or firewall table left"
        ;;
    *) die "usage: local-stack.sh setup|vps|images|sshd|s3|toolchain|config|up|urls|destroy|reset" ;;
esac
