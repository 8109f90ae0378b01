#!/usr/bin/env bash
# Prepares a fresh Debian/Ubuntu VPS to run byte-runner's containers. Runs as root over
# SSH from the Host component; safe to run any number of times: every step checks
# before it changes anything, and the last line counts the changes it made.
#
# Usage: bootstrap-host.sh [--check | --check-settings] < settings
#   --check           change nothing; exit 3 and name each difference when the host is not
#                     what these settings make it (a file it writes, by sha256, edited or
#                     missing; a package, the engine or the swap gone), 0 when it is
#   --check-settings  only read and check the settings, change nothing (exit 0 or 2)
# Settings (KEY=VALUE lines on stdin, all required; components/shared/settings.sh):
#   SWAP_MB           swap file size in MiB, 0 to 65536; 0 for none (hostSwapMb)
#   LOG_MAX_SIZE_MB   docker json-file log size per file, 1 to 1024 (hostLogMaxSizeMb)
#   LOG_MAX_FILES     docker json-file files kept per container, 1 to 100 (hostLogMaxFiles)
# Exit status: 0 done (or, with --check, up to date), 1 failure, 2 bad settings, 3 (--check) drifted.
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"

changes=0
# --check: every step compares instead of changing, and names what differs here.
check_only=0
drifted=()

log() { printf 'bootstrap: %s\n' "$*"; }
die() {
    printf 'bootstrap: error: %s\n' "$*" >&2
    exit 1
}
changed() {
    changes=$((changes + 1))
    log "changed: $*"
}
drift() {
    drifted+=("$*")
    log "drift: $*"
}

if [[ $# -eq 1 && $1 == --check ]]; then
    check_only=1
else
    settings_mode bootstrap "$@"
fi
settings_read bootstrap SWAP_MB LOG_MAX_SIZE_MB LOG_MAX_FILES
settings_int SWAP_MB 0 65536
settings_int LOG_MAX_SIZE_MB 1 1024
settings_int LOG_MAX_FILES 1 100
SWAP_MB=${settings[SWAP_MB]}
LOG_MAX_SIZE_MB=${settings[LOG_MAX_SIZE_MB]}
LOG_MAX_FILES=${settings[LOG_MAX_FILES]}
settings_done

[[ $(id -u) -eq 0 ]] || die "must run as root (the Host component uses sudo -n for other users)"
command -v apt-get >/dev/null || die "only Debian/Ubuntu hosts are supported (no apt-get)"
# Caddy's container sets net.ipv4.tcp_migrate_req (components/proxy/proxy.ts): on an older
# kernel Docker would refuse to start it, after the old Caddy was already removed.
[[ -e /proc/sys/net/ipv4/tcp_migrate_req ]] ||
    die "the kernel $(uname -r) is older than 5.14 (no net.ipv4.tcp_migrate_req, which Caddy's container sets for reloads without resets): use Debian 12, Ubuntu 22.04 or later"

has_systemd() { [[ -d /run/systemd/system ]]; }

# Writes $2 to file $1 (mode $3) only when the content differs; returns 1 when unchanged.
# With --check it writes nothing: a difference is named with both checksums, and it returns 1.
write_if_changed() {
    local file=$1 content=$2 mode=$3
    if [[ -f $file ]] && [[ "$(cat "$file")" == "$content" ]]; then
        return 1
    fi
    if ((check_only)); then
        if [[ -f $file ]]; then
            local live wanted
            live=$(sha256sum <"$file")
            wanted=$(printf '%s\n' "$content" | sha256sum)
            drift "$file was edited (sha256 ${live:0:12}, bootstrap writes ${wanted:0:12})"
        else
            drift "$file is missing"
        fi
        return 1
    fi
    mkdir -p "$(dirname "$file")"
    local tmp
    tmp=$(mktemp "$file.XXXXXX")
    printf '%s\n' "$content" >"$tmp"
    chmod "$mode" "$tmp"
    mv "$tmp" "$file"
}

apt_updated=0
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if ((check_only)); then
        drift "package(s) ${missing[*]} not installed"
        return 0
    fi
    if [[ $apt_updated -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
        apt_updated=1
    fi
    # A fresh VPS often runs cloud-init or unattended-upgrades: wait for the dpkg lock.
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    changed "installed ${missing[*]}"
}

# 1. Docker Engine. A host that already runs a Docker engine (any packaging) is left as it is.
if command -v dockerd >/dev/null; then
    ((check_only)) || log "ok: docker engine present ($(dockerd --version 2>/dev/null | head -n1))"
else
    ensure_packages docker.io ca-certificates
fi

# 2. Log rotation and safe defaults for the engine.
daemon_json=$(
    cat <<JSON
{
  "log-driver": "json-file",
  "log-opts": { "max-size": "${LOG_MAX_SIZE_MB}m", "max-file": "${LOG_MAX_FILES}" },
  "live-restore": true,
  "no-new-privileges": true
}
JSON
)
if write_if_changed /etc/docker/daemon.json "$daemon_json" 0644; then
    changed "/etc/docker/daemon.json (log rotation ${LOG_MAX_SIZE_MB}m x ${LOG_MAX_FILES})"
    if has_systemd; then
        # live-restore keeps running containers up across this restart.
        systemctl restart docker
    else
        log "note: no systemd here; restart dockerd yourself to apply daemon.json"
    fi
fi
if has_systemd && ! systemctl is-active --quiet docker; then
    if ((check_only)); then
        drift "the docker service is not running"
    else
        systemctl enable --now docker
        changed "docker service enabled and started"
    fi
fi
if ! docker info >/dev/null 2>&1; then
    ((check_only)) || die "the docker engine does not answer (docker info failed); start it and run again"
    drift "the docker engine does not answer (docker info failed)"
fi
if ((!check_only)) && [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]] && ! id -nG "$SUDO_USER" | grep -qw docker; then
    usermod -aG docker "$SUDO_USER"
    changed "added $SUDO_USER to the docker group (Docker over SSH)"
fi

# 3. Unattended security upgrades.
ensure_packages unattended-upgrades
if write_if_changed /etc/apt/apt.conf.d/20auto-upgrades 'APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";' 0644; then
    changed "unattended security upgrades enabled"
fi

# 4. Swap.
swapfile=/swapfile
if ((check_only)) && [[ $SWAP_MB -gt 0 ]]; then
    if [[ ! -f $swapfile ]] || [[ $(stat -c %s "$swapfile") -ne $((SWAP_MB * 1024 * 1024)) ]]; then
        drift "$swapfile is missing or not ${SWAP_MB} MiB"
    fi
    grep -q "^$swapfile " /etc/fstab 2>/dev/null || drift "$swapfile is not in /etc/fstab"
elif [[ $SWAP_MB -gt 0 ]]; then
    # A file of another size, or one a cut-off run left unformatted, is made again.
    if [[ -f $swapfile ]] && { [[ $(stat -c %s "$swapfile") -ne $((SWAP_MB * 1024 * 1024)) ]] || ! swaplabel "$swapfile" >/dev/null 2>&1; }; then
        swapoff "$swapfile" 2>/dev/null || true
        rm -f "$swapfile"
        log "swap file had the wrong size or no swap signature; making it again"
    fi
    if [[ ! -f $swapfile ]]; then
        fallocate -l "${SWAP_MB}M" "$swapfile" 2>/dev/null || dd if=/dev/zero of="$swapfile" bs=1M count="$SWAP_MB" status=none
        chmod 600 "$swapfile"
        mkswap "$swapfile" >/dev/null
        changed "swap file of ${SWAP_MB} MiB"
    fi
    if ! grep -q "^$swapfile " /etc/fstab 2>/dev/null; then
        printf '%s none swap sw 0 0\n' "$swapfile" >>/etc/fstab
        changed "swap file added to /etc/fstab"
    fi
    if ! swapon --show=NAME --noheadings 2>/dev/null | grep -qx "$swapfile"; then
        if swapon "$swapfile" 2>/dev/null; then
            changed "swap on"
        else
            log "warning: swapon $swapfile failed (not allowed in this environment?); it is in fstab for the next boot"
        fi
    fi
fi

# 5. SSH: keys only.
if [[ -d /etc/ssh/sshd_config.d ]]; then
    if write_if_changed /etc/ssh/sshd_config.d/50-byte-runner.conf 'PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
X11Forwarding no' 0644; then
        changed "sshd: password logins off"
        if ! sshd -t; then
            rm -f /etc/ssh/sshd_config.d/50-byte-runner.conf
            die "sshd rejected the hardened configuration; removed it again, sshd is unchanged"
        fi
        if has_systemd; then
            systemctl reload ssh 2>/dev/null || systemctl reload sshd
        fi
    fi
fi

if ((check_only)); then
    if ((${#drifted[@]} > 0)); then
        log "not as bootstrapped: ${#drifted[@]} difference(s); npm run drift -- STACK --repair runs the bootstrap again (INFRASTRUCTURE.md, Drift)"
        exit 3
    fi
    log "up to date (daemon.json, auto-upgrades, sshd, swap and packages as bootstrapped)"
    exit 0
fi
log "done: ${changes} change(s)"
