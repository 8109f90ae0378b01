#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (run as root): the Debian
# packages its tests and local "VPS" use, then the npm dependencies (which bring Node 24
# through the npm package `node`). Idempotent and quick when everything is there.
#   bash tools/install-deps.sh           both
#   bash tools/install-deps.sh debian    the Debian packages only
#   bash tools/install-deps.sh npm       the npm dependencies only (tools/test.sh runs the two at once)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
say() { printf '[install-deps] %s\n' "$*"; }
die() {
    printf '[install-deps] error: %s\n' "$*" >&2
    exit 1
}

part=${1:-all}
case $part in
    all | debian | npm) ;;
    *) die "usage: install-deps.sh [debian|npm]" ;;
esac

debian_packages() {
    [[ $(id -u) -eq 0 ]] || die "run as root: it installs Debian packages"

    # What each package is for: shellcheck and shfmt (shell lint and format), caddy
    # (Caddyfile check), postgresql-15 and postgresql-client-15 (migration tests),
    # nftables/iproute2/iptables/busybox-static (firewall tests in network namespaces),
    # docker.io (the local VPS's engine), openssh-server/openssh-client (the local VPS's
    # sshd), debootstrap (base image for the stand-in images), curl/ca-certificates
    # (end-to-end checks; the local S3 server's requests), util-linux (unshare, flock), git
    # (the workflow test's fresh clone), pgbackrest (backup tests against the local S3
    # server), openssl (that server's CA and certificate, tools/local-vps/s3.sh), prometheus
    # (promtool checks the monitoring's configuration and unit-tests its alert rules; amtool is
    # built with Alertmanager by tools/local-vps/go-build.sh), pgbouncer (the monitoring
    # exporter's tests).
    local packages=(
        shellcheck shfmt caddy postgresql-15 postgresql-client-15 nftables iproute2 iptables busybox-static
        docker.io openssh-server openssh-client debootstrap curl ca-certificates util-linux git
        pgbackrest openssl prometheus pgbouncer
    )
    local missing=() pkg
    for pkg in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        # No init system on these machines: keep package scripts from starting services.
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            trap 'rm -f /usr/sbin/policy-rc.d' EXIT
        fi
        apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        say "Debian packages present"
    fi
}

# npm_ci DIR WHAT: `npm ci` in DIR unless its node_modules were installed from the same lock file.
npm_ci() {
    local dir="$1" what="$2" lock_hash
    lock_hash=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    if [[ -f $dir/node_modules/.install-hash && $(cat "$dir/node_modules/.install-hash") == "$lock_hash" ]]; then
        say "$what up to date"
    else
        say "npm ci in $dir: $what"
        npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
        printf '%s\n' "$lock_hash" >"$dir/node_modules/.install-hash"
    fi
}

npm_dependencies() {
    cd "$repo"
    if [[ ! -x node_modules/.bin/node ]]; then rm -f node_modules/.install-hash; fi
    npm_ci . "npm dependencies (Node 24 comes with them, from the npm package node)"
    say "node $(node_modules/.bin/node --version)"
    # The policy pack is its own npm package: the engine runs it from policy/node_modules.
    npm_ci policy "the policy pack's npm dependencies"
}

if [[ $part != npm ]]; then debian_packages; fi
if [[ $part != debian ]]; then npm_dependencies; fi
