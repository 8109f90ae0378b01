#!/usr/bin/env bash
# Host firewall for the byte-runner VPS. Runs on the VPS as root; settings arrive as
# KEY=VALUE lines on stdin so the Pulumi component passes them without a command line.
#
# Why nftables in its own table, not ufw:
# - Atomic: the whole ruleset is replaced in one `nft -f` transaction, so there is never
#   a moment with the SSH rule missing, and a failed load changes nothing.
# - Docker cannot bypass it: Docker publishes ports with DNAT, so that traffic goes
#   through FORWARD, never INPUT, and ufw's INPUT rules do not see it. A packet dropped
#   by any base chain is dropped for good, so our forward chain's drop wins over Docker's
#   own iptables-nft accepts, whatever order the chains run in and whenever dockerd
#   rewrites its chains (DOCKER-USER only exists while dockerd has created it).
# - It touches no other table: Docker's, and anything else's, stay as they are.
#
# Usage: firewall.sh [--apply | --check | --print | --remove | --check-settings] < settings
#   --apply   (default) validate, then replace table inet byte_runner_firewall atomically
#   --check   exit 0 if the live table is exactly what these settings produce, 3 if not
#   --print   print the ruleset these settings produce; change nothing
#   --remove  delete the table and its boot-time copy (undo)
#   --check-settings  only read and check the settings; change and inspect nothing
# Settings (KEY=VALUE lines on stdin, all required; components/shared/settings.sh):
#   SSH_PORT           TCP port of sshd (hostSshPort)
#   ADMIN_CIDRS        IPv4/IPv6 CIDRs allowed to SSH, e.g. 198.51.100.0/24 (firewallAdminCidrs);
#                      empty = everyone (warns). A single address is written as /32 or /128.
#   PUBLIC_PORTS       TCP ports open to the web (host services and Docker-published), e.g. 80 443
#   CLOUDFLARE_ONLY    1 = PUBLIC_PORTS only from CLOUDFLARE_RANGES, 0 = from everywhere
#   CLOUDFLARE_RANGES  CIDRs (components/firewall/cloudflare-ips.txt); required when CLOUDFLARE_ONLY=1
#   PERSIST_DIR        where the ruleset is saved to be loaded at boot, e.g. /etc/byte-runner; empty = don't
#   ALLOW_LOCKOUT      1 = apply even if the SSH session running this would be shut out; 0 = refuse
# Lists are separated by spaces or commas. SSH_CONNECTION (the session's own, from the
# environment) is what the lockout guard checks; it is no setting.
# Exit status: 0 done (or, with --check, up to date), 1 failure, 2 bad settings,
# 3 (--check) the live rules are missing, came from other settings or were edited by hand.
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"

readonly TABLE_NAME=byte_runner_firewall
readonly SCRIPT_NAME=firewall.sh
readonly EXIT_FAILURE=1 EXIT_BAD_SETTINGS=2 EXIT_NOT_APPLIED=3
# Interfaces of Docker's bridge networks: traffic they forward comes from our own
# containers (outbound or container to container), not from the internet. A bridge
# network given another name (com.docker.network.bridge.name) must be added here.
# Containers reaching the host's own ports go through input like anyone else.
readonly CONTAINER_INTERFACES=("docker0" "br-*")

fail() {
    echo "$SCRIPT_NAME: error: $*" >&2
    exit "$EXIT_FAILURE"
}

usage_error() {
    echo "$SCRIPT_NAME: $*" >&2
    exit "$EXIT_BAD_SETTINGS"
}

warn() {
    echo "$SCRIPT_NAME: warning: $*" >&2
}

# ---------------------------------------------------------------- settings

readonly SETTING_KEYS=(SSH_PORT ADMIN_CIDRS PUBLIC_PORTS CLOUDFLARE_ONLY CLOUDFLARE_RANGES PERSIST_DIR ALLOW_LOCKOUT)

# Splits a list on spaces, tabs and commas into the named array.
split_list() {
    local -n split_into=$1
    local text=${2//,/ }
    # shellcheck disable=SC2034 # written through the nameref
    read -r -a split_into <<<"$text" || true
}

# ---------------------------------------------------------------- validation

valid_port() {
    [[ $1 =~ ^[1-9][0-9]{0,4}$ ]] && (($1 <= 65535))
}

# Checks an IPv4 address or CIDR (a bare address is a /32). Prints nothing; fails with
# the reason in $cidr_problem.
cidr_problem=""
check_ipv4_cidr() {
    local text=$1 prefix=32 address octet value=0 mask
    cidr_problem=""
    if [[ ! $text =~ ^([0-9]{1,3}(\.[0-9]{1,3}){3})(/([0-9]{1,2}))?$ ]]; then
        cidr_problem="not an IPv4 address or CIDR"
        return 1
    fi
    address=${BASH_REMATCH[1]}
    [[ -n ${BASH_REMATCH[4]} ]] && prefix=$((10#${BASH_REMATCH[4]}))
    if ((prefix > 32)); then
        cidr_problem="prefix length above 32"
        return 1
    fi
    local -a octets
    IFS=. read -r -a octets <<<"$address"
    for octet in "${octets[@]}"; do
        if [[ $octet =~ ^0[0-9] ]] || ((10#$octet > 255)); then
            cidr_problem="octet '$octet' is not 0-255 without leading zeros"
            return 1
        fi
        value=$(((value << 8) | 10#$octet))
    done
    mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    if (((value & ~mask & 0xFFFFFFFF) != 0)); then
        cidr_problem="host bits set after /$prefix (a typo? the network would be wider than written)"
        return 1
    fi
}

# Expands an IPv6 address into 8 groups of 16-bit numbers, into the named array.
expand_ipv6() {
    local -n groups_out=$1
    local address=${2,,} head tail group
    local -a head_groups=() tail_groups=()
    groups_out=()
    [[ $address =~ ^[0-9a-f:]+$ ]] || return 1
    [[ $address == *:::* ]] && return 1
    if [[ $address == *::* ]]; then
        head=${address%%::*}
        tail=${address#*::}
        [[ $tail == *::* ]] && return 1
        [[ -n $head ]] && IFS=: read -r -a head_groups <<<"$head"
        [[ -n $tail ]] && IFS=: read -r -a tail_groups <<<"$tail"
        ((${#head_groups[@]} + ${#tail_groups[@]} <= 7)) || return 1
        groups_out=("${head_groups[@]}")
        while ((${#groups_out[@]} + ${#tail_groups[@]} < 8)); do
            groups_out+=(0)
        done
        groups_out+=("${tail_groups[@]}")
    else
        [[ $address == :* || $address == *: ]] && return 1
        IFS=: read -r -a groups_out <<<"$address"
        ((${#groups_out[@]} == 8)) || return 1
    fi
    for group in "${groups_out[@]}"; do
        [[ $group =~ ^[0-9a-f]{1,4}$ ]] || return 1
    done
    local index
    for index in "${!groups_out[@]}"; do
        groups_out[index]=$((16#${groups_out[index]}))
    done
}

check_ipv6_cidr() {
    local text=$1 address prefix=128 index bits_left group_mask
    local -a groups
    cidr_problem=""
    if [[ ! $text =~ ^([0-9A-Fa-f:]+)(/([0-9]{1,3}))?$ ]]; then
        cidr_problem="not an IPv6 address or CIDR"
        return 1
    fi
    address=${BASH_REMATCH[1]}
    [[ -n ${BASH_REMATCH[3]} ]] && prefix=$((10#${BASH_REMATCH[3]}))
    if ! expand_ipv6 groups "$address"; then
        cidr_problem="not an IPv6 address or CIDR"
        return 1
    fi
    if ((prefix > 128)); then
        cidr_problem="prefix length above 128"
        return 1
    fi
    for index in "${!groups[@]}"; do
        bits_left=$((prefix - index * 16))
        if ((bits_left >= 16)); then continue; fi
        if ((bits_left <= 0)); then group_mask=0; else group_mask=$(((0xFFFF << (16 - bits_left)) & 0xFFFF)); fi
        if (((groups[index] & ~group_mask & 0xFFFF) != 0)); then
            cidr_problem="host bits set after /$prefix (a typo? the network would be wider than written)"
            return 1
        fi
    done
}

# Validates the CIDR list of a key and sorts it into two named arrays by family.
parse_cidrs() {
    local key=$1 text=$2
    local -n ipv4_out=$3 ipv6_out=$4
    local -a items
    local item
    ipv4_out=()
    ipv6_out=()
    split_list items "$text"
    for item in "${items[@]}"; do
        # Always with its length, as config's firewallAdminCidrs: a bare address is refused, not guessed at.
        [[ $item == */* ]] || settings_fail "$key" "'$item': no prefix length (a single address is $item/32, or /128 for IPv6)"
        if [[ $item == *:* ]]; then
            check_ipv6_cidr "$item" || settings_fail "$key" "'$item': $cidr_problem"
            ipv6_out+=("${item,,}")
        else
            check_ipv4_cidr "$item" || settings_fail "$key" "'$item': $cidr_problem"
            ipv4_out+=("$item")
        fi
    done
}

ssh_port=""
public_ports=()
cloudflare_only=""
admin_ipv4=() admin_ipv6=()
web_ipv4=() web_ipv6=()
persist_dir=""
allow_lockout=""

validate_settings() {
    local item
    local -a items
    settings_int SSH_PORT 1 65535
    ssh_port=${settings[SSH_PORT]}

    split_list items "${settings[PUBLIC_PORTS]}"
    public_ports=()
    for item in "${items[@]}"; do
        valid_port "$item" || settings_fail PUBLIC_PORTS "'$item' is not a TCP port (1-65535)"
        [[ $item == "$ssh_port" ]] && settings_fail PUBLIC_PORTS "$item is SSH_PORT; SSH is opened only to ADMIN_CIDRS"
        public_ports+=("$item")
    done
    # Sorted and unique, so the same ports in another order give the same ruleset.
    if ((${#public_ports[@]} > 0)); then
        mapfile -t public_ports < <(printf '%s\n' "${public_ports[@]}" | sort -n -u)
    fi

    settings_flag CLOUDFLARE_ONLY
    cloudflare_only=${settings[CLOUDFLARE_ONLY]}
    settings_flag ALLOW_LOCKOUT
    allow_lockout=${settings[ALLOW_LOCKOUT]}

    # shellcheck disable=SC2034 # filled through namerefs
    parse_cidrs ADMIN_CIDRS "${settings[ADMIN_CIDRS]}" admin_ipv4 admin_ipv6
    # shellcheck disable=SC2034
    parse_cidrs CLOUDFLARE_RANGES "${settings[CLOUDFLARE_RANGES]}" web_ipv4 web_ipv6
    if [[ $cloudflare_only == 1 ]] && ((${#web_ipv4[@]} + ${#web_ipv6[@]} == 0)); then
        settings_fail CLOUDFLARE_RANGES "empty while CLOUDFLARE_ONLY=1 would close PUBLIC_PORTS to everyone"
    fi

    persist_dir=${settings[PERSIST_DIR]}
    if [[ -n $persist_dir && $persist_dir != /* ]]; then
        settings_fail PERSIST_DIR "'$persist_dir' is not an absolute path"
    fi
}

# ---------------------------------------------------------------- the ruleset

# Prints "set NAME { ... }" for a non-empty list of CIDRs of one family.
render_address_set() {
    local name=$1 type=$2
    shift 2
    (($# > 0)) || return 0
    local elements
    elements=$(printf '%s, ' "$@")
    printf '\tset %s {\n\t\ttype %s\n\t\tflags interval\n\t\tauto-merge\n\t\telements = { %s }\n\t}\n\n' \
        "$name" "$type" "${elements%, }"
}

# Rules accepting new connections to one port or port set from the allowed sources.
# The port is `ct original proto-dst`: the port the client dialled, before any DNAT,
# so the same rules judge host services (input) and Docker-published ports (forward).
render_port_rules() {
    local port_match=$1 v4_set=$2 v4_count=$3 v6_set=$4 v6_count=$5 open_to_all=$6
    local match="meta l4proto tcp ct original proto-dst $port_match"
    if [[ $open_to_all == 1 ]]; then
        printf '\t\t%s accept\n' "$match"
        return
    fi
    ((v4_count > 0)) && printf '\t\t%s ip saddr @%s accept\n' "$match" "$v4_set"
    ((v6_count > 0)) && printf '\t\t%s ip6 saddr @%s accept\n' "$match" "$v6_set"
    return 0
}

render_ruleset_body() {
    local ssh_open_to_all=0 web_open_to_all=1 interface ports
    ((${#admin_ipv4[@]} + ${#admin_ipv6[@]} == 0)) && ssh_open_to_all=1
    [[ $cloudflare_only == 1 ]] && web_open_to_all=0

    render_address_set admin_ipv4 ipv4_addr "${admin_ipv4[@]}"
    render_address_set admin_ipv6 ipv6_addr "${admin_ipv6[@]}"
    if [[ $cloudflare_only == 1 ]]; then
        render_address_set web_ipv4 ipv4_addr "${web_ipv4[@]}"
        render_address_set web_ipv6 ipv6_addr "${web_ipv6[@]}"
    fi
    if ((${#public_ports[@]} > 0)); then
        ports=$(printf '%s, ' "${public_ports[@]}")
        printf '\tset public_ports {\n\t\ttype inet_service\n\t\telements = { %s }\n\t}\n\n' "${ports%, }"
    fi

    printf '\tchain allowed_services {\n'
    render_port_rules "$ssh_port" admin_ipv4 "${#admin_ipv4[@]}" admin_ipv6 "${#admin_ipv6[@]}" "$ssh_open_to_all"
    if ((${#public_ports[@]} > 0)); then
        render_port_rules @public_ports web_ipv4 "${#web_ipv4[@]}" web_ipv6 "${#web_ipv6[@]}" "$web_open_to_all"
    fi
    printf '\t}\n\n'

    cat <<'EOF'
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		ct state invalid drop
		icmp type { echo-request, destination-unreachable, time-exceeded, parameter-problem } accept
		icmpv6 type { echo-request, destination-unreachable, packet-too-big, time-exceeded, parameter-problem } accept
		icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept
		icmpv6 type { mld-listener-query, mld-listener-report, mld-listener-done, mld2-listener-report } ip6 saddr fe80::/10 accept
		ip6 saddr fe80::/10 udp dport 546 accept
		jump allowed_services
	}

	chain forward {
		type filter hook forward priority filter - 10; policy drop;
		ct state established,related accept
EOF
    for interface in "${CONTAINER_INTERFACES[@]}"; do
        printf '\t\tiifname "%s" accept\n' "$interface"
    done
    cat <<'EOF'
		ct status dnat jump allowed_services
	}
EOF
}

render_ruleset() {
    local body settings_hash
    body=$(render_ruleset_body)
    settings_hash=$(printf '%s\n' "$body" | sha256sum)
    settings_hash=${settings_hash%% *}
    # Creating the table first makes the delete valid on a host without it; all three
    # statements are one transaction, so the old rules stay until the new ones are in.
    printf '#!/usr/sbin/nft -f\n# Written by %s; loads atomically, replacing only this table.\n' "$SCRIPT_NAME"
    printf 'table inet %s\ndelete table inet %s\n' "$TABLE_NAME" "$TABLE_NAME"
    printf 'table inet %s {\n\tcomment "byte-runner firewall sha256:%s"\n\n%s\n}\n' "$TABLE_NAME" "$settings_hash" "$body"
}

ruleset_hash() {
    [[ $1 =~ sha256:([0-9a-f]{64}) ]] && printf '%s' "${BASH_REMATCH[1]}"
}

# How nft lists the table this ruleset creates, worked out in a throwaway network
# namespace so that --check can compare rule by rule and notice hand edits too.
listing_of() {
    local ruleset=$1 listing
    if ! listing=$(printf '%s\n' "$ruleset" | unshare --net bash -c "nft -f - && nft list table inet $TABLE_NAME" 2>&1); then
        fail "could not work out the expected rules in a scratch namespace (unshare --net): $listing"
    fi
    printf '%s' "$listing"
}

live_hash() {
    local listing
    listing=$(nft list table inet "$TABLE_NAME" 2>/dev/null) || return 0
    ruleset_hash "$listing" || true
}

# ---------------------------------------------------------------- lockout guard

ipv4_in_cidr() {
    local address=$1 cidr=$2 network prefix=32 a n octet mask
    network=${cidr%/*}
    [[ $cidr == */* ]] && prefix=${cidr#*/}
    a=0 n=0
    local -a octets
    IFS=. read -r -a octets <<<"$address"
    for octet in "${octets[@]}"; do a=$(((a << 8) | 10#$octet)); done
    IFS=. read -r -a octets <<<"$network"
    for octet in "${octets[@]}"; do n=$(((n << 8) | 10#$octet)); done
    mask=$(((0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    (((a & mask) == (n & mask)))
}

ipv6_in_cidr() {
    local address=$1 cidr=$2 prefix=128 index bits_left group_mask
    local -a address_groups network_groups
    [[ $cidr == */* ]] && prefix=${cidr#*/}
    expand_ipv6 address_groups "$address" || return 1
    expand_ipv6 network_groups "${cidr%/*}" || return 1
    for index in 0 1 2 3 4 5 6 7; do
        bits_left=$((prefix - index * 16))
        ((bits_left <= 0)) && break
        if ((bits_left >= 16)); then group_mask=0xFFFF; else group_mask=$(((0xFFFF << (16 - bits_left)) & 0xFFFF)); fi
        (((address_groups[index] & group_mask) == (network_groups[index] & group_mask))) || return 1
    done
}

# Refuses to apply rules that would shut out the SSH session running this script:
# its client address must be in ADMIN_CIDRS and its server port must be SSH_PORT.
# The session itself survives either way (established connections are kept); the
# next login, and the next `pulumi up`, would not.
guard_against_lockout() {
    [[ -n ${SSH_CONNECTION:-} ]] || return 0
    [[ $allow_lockout == 1 ]] && return 0
    local client_address server_port cidr admitted=0
    read -r client_address _ _ server_port <<<"$SSH_CONNECTION"
    client_address=${client_address#::ffff:}
    if [[ $server_port != "$ssh_port" ]]; then
        settings_fail SSH_PORT "this session came in on port $server_port, not $ssh_port; the next login would be refused (ALLOW_LOCKOUT=1 to apply anyway)"
    fi
    ((${#admin_ipv4[@]} + ${#admin_ipv6[@]} == 0)) && return 0
    if [[ $client_address == *:* ]]; then
        for cidr in "${admin_ipv6[@]}"; do ipv6_in_cidr "$client_address" "$cidr" && admitted=1; done
    else
        for cidr in "${admin_ipv4[@]}"; do ipv4_in_cidr "$client_address" "$cidr" && admitted=1; done
    fi
    if ((admitted == 0)); then
        settings_fail ADMIN_CIDRS "this SSH session comes from $client_address, which is not in it; the next login would be refused (ALLOW_LOCKOUT=1 to apply anyway)"
    fi
}

# ---------------------------------------------------------------- boot persistence

readonly UNIT_NAME=byte-runner-firewall.service

# Saves the ruleset and, under systemd, a unit that loads it at boot before the network
# and Docker come up; without it a reboot would start with no firewall.
persist_ruleset() {
    local ruleset=$1
    [[ -n $persist_dir ]] || return 0
    mkdir -p "$persist_dir"
    printf '%s\n' "$ruleset" >"$persist_dir/firewall.nft.tmp"
    mv -f "$persist_dir/firewall.nft.tmp" "$persist_dir/firewall.nft"
    if [[ -d /run/systemd/system ]]; then
        cat >"/etc/systemd/system/$UNIT_NAME.tmp" <<EOF
[Unit]
Description=byte-runner host firewall (nftables table inet $TABLE_NAME)
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target docker.service
# After nftables.service: its "flush ruleset" at boot would otherwise wipe this table.
After=local-fs.target nftables.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=$(command -v nft) -f $persist_dir/firewall.nft

[Install]
WantedBy=sysinit.target
EOF
        mv -f "/etc/systemd/system/$UNIT_NAME.tmp" "/etc/systemd/system/$UNIT_NAME"
        systemctl daemon-reload
        systemctl enable --quiet "$UNIT_NAME"
    fi
}

unpersist_ruleset() {
    [[ -n $persist_dir ]] && rm -f "$persist_dir/firewall.nft"
    if [[ -d /run/systemd/system && -e /etc/systemd/system/$UNIT_NAME ]]; then
        systemctl disable --quiet "$UNIT_NAME" || true
        rm -f "/etc/systemd/system/$UNIT_NAME"
        systemctl daemon-reload
    fi
    return 0
}

# ---------------------------------------------------------------- first apply

readonly TRACKING_WARMUP_SECONDS=2

# The kernel runs connection tracking in a network namespace only once some rule needs
# it. Connections it never saw, like the SSH session running this on a host with no
# firewall and no Docker, would look new to the drop-by-default rules and be cut. So the
# first apply loads an accept-everything table that only turns tracking on, lets the
# session's packets (this message is one) be recorded as established, then the real
# rules replace it in one transaction.
start_connection_tracking() {
    local tracking_only nft_errors
    tracking_only=$(printf 'table inet %s {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tct state established accept\n\t}\n}\n' "$TABLE_NAME")
    if ! nft_errors=$(printf '%s\n' "$tracking_only" | nft -f - 2>&1); then
        fail "could not turn on connection tracking, nothing filtered yet: $nft_errors"
    fi
    echo "$SCRIPT_NAME: first apply: tracking open connections for ${TRACKING_WARMUP_SECONDS}s so they survive" >&2
    sleep "$TRACKING_WARMUP_SECONDS"
}

# ---------------------------------------------------------------- main

summary() {
    local ssh_from web_from ports="none"
    if ((${#admin_ipv4[@]} + ${#admin_ipv6[@]} == 0)); then
        ssh_from="everywhere"
    else
        ssh_from="$((${#admin_ipv4[@]} + ${#admin_ipv6[@]})) admin CIDR(s)"
    fi
    if [[ $cloudflare_only == 1 ]]; then
        web_from="$((${#web_ipv4[@]} + ${#web_ipv6[@]})) Cloudflare range(s)"
    else
        web_from="everywhere"
    fi
    ((${#public_ports[@]} > 0)) && ports=$(
        IFS=,
        echo "${public_ports[*]}"
    )
    printf 'SSH %s from %s; TCP %s from %s; Docker-published ports filtered alike; all other inbound dropped' \
        "$ssh_port" "$ssh_from" "$ports" "$web_from"
}

main() {
    local mode=apply
    case ${1:-} in
        "" | --apply) ;;
        --check) mode=check ;;
        --print) mode=print ;;
        --remove) mode=remove ;;
        --check-settings) SETTINGS_CHECK_ONLY=1 ;;
        *) usage_error "unknown argument '$1' (use --apply, --check, --print, --remove or --check-settings; settings come on stdin)" ;;
    esac
    (($# <= 1)) || usage_error "one argument at most; settings come on stdin"

    settings_read "$SCRIPT_NAME" "${SETTING_KEYS[@]}"
    validate_settings
    settings_done
    local ruleset wanted_hash previous_hash
    ruleset=$(render_ruleset)
    wanted_hash=$(ruleset_hash "$ruleset")

    if [[ $mode == print ]]; then
        printf '%s\n' "$ruleset"
        return 0
    fi
    [[ $EUID -eq 0 ]] || fail "must run as root to change the firewall"
    command -v nft >/dev/null || fail "nft not found; install it: apt-get install nftables"

    case $mode in
        check)
            local live_listing expected_listing
            if ! live_listing=$(nft list table inet "$TABLE_NAME" 2>/dev/null); then
                echo "firewall: not applied (table inet $TABLE_NAME is missing)"
                exit "$EXIT_NOT_APPLIED"
            fi
            expected_listing=$(listing_of "$ruleset")
            if [[ $live_listing != "$expected_listing" ]]; then
                local difference="came from other settings"
                previous_hash=$(ruleset_hash "$live_listing" || true)
                [[ $previous_hash == "$wanted_hash" ]] && difference="was edited by hand after it was applied"
                echo "firewall: not applied with these settings (table inet $TABLE_NAME $difference)"
                exit "$EXIT_NOT_APPLIED"
            fi
            echo "firewall: up to date (table inet $TABLE_NAME sha256:${wanted_hash:0:12})"
            return 0
            ;;
        remove)
            nft list table inet "$TABLE_NAME" >/dev/null 2>&1 && nft delete table inet "$TABLE_NAME"
            unpersist_ruleset
            echo "firewall: removed table inet $TABLE_NAME; inbound is no longer filtered by it"
            return 0
            ;;
    esac

    guard_against_lockout
    if ((${#admin_ipv4[@]} + ${#admin_ipv6[@]} == 0)); then
        warn "ADMIN_CIDRS is empty: SSH port $ssh_port is open to everyone"
    fi
    previous_hash=$(live_hash)
    local nft_errors
    # A dry run first, so a ruleset the kernel would refuse is reported before anything changes.
    if ! nft_errors=$(printf '%s\n' "$ruleset" | nft -c -f - 2>&1); then
        fail "nft rejected the ruleset, nothing changed: $nft_errors"
    fi
    nft list table inet "$TABLE_NAME" >/dev/null 2>&1 || start_connection_tracking
    if ! nft_errors=$(printf '%s\n' "$ruleset" | nft -f - 2>&1); then
        fail "nft could not load the ruleset, the previous rules stay: $nft_errors"
    fi
    persist_ruleset "$ruleset"
    local outcome="applied"
    [[ $previous_hash == "$wanted_hash" ]] && outcome="re-applied (unchanged)"
    echo "firewall: $outcome table inet $TABLE_NAME sha256:${wanted_hash:0:12}: $(summary)"
}

main "$@"
