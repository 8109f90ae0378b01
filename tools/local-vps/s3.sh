#!/usr/bin/env bash
# An S3-compatible server on this machine, standing in for the offsite backup store
# (Cloudflare R2 in prod) in the tests and the local stack: versitygw serving a directory
# (its posix gateway) over TLS.
#   s3.sh build           build versitygw from its Go module (once; cached outside the clone)
#   s3.sh start           build if needed, make the CA, certificate and keys (once), start
#                         it on port 9443 of every address, create the bucket; idempotent
#   s3.sh stop            stop the server this script started (by its recorded pid)
#   s3.sh status          exit 0 when it runs
#   s3.sh wipe PREFIX     remove every object under PREFIX in the bucket (tests' fresh start)
#   s3.sh env [--secrets] print S3_* lines (eval-able): how to reach it; the keys themselves
#                         only with --secrets, otherwise the files that hold them
#
# Why versitygw v1.8.0: Apache-2.0, one Go binary built from the Go module proxy (the only
# way to get a server here: no release download, no image registry), TLS built in
# (pgBackRest's S3 client speaks HTTPS only and checks the certificate's name). The others:
# MinIO is AGPL and not served by the proxy; Ceph's radosgw (in Debian) needs a monitor and
# an OSD beside it; SeaweedFS needs a wrapper module repeating its go.mod's replace lines;
# gofakes3 is a library without TLS, untried with pgBackRest.
#
# Clients reach it as https://s3.byte-runner.test:9443 with path-style URLs, region "auto"
# (as R2). The name resolves nowhere by itself: a client maps it to S3_ADDRESS (a container
# through a hosts entry, curl with --resolve) and checks the certificate against the name
# with S3_CA_FILE. pgBackRest's repo-storage-host=<address> does not work: it checks the
# certificate against that address (see write_certificates).
# State (CA, certificate, keys, pid, log, the data directory) lives in
# ${BYTE_RUNNER_S3_STATE:-<repo>/.state/s3} (gitignored); the binary in
# ${BYTE_RUNNER_CACHE:-~/.cache/byte-runner-infra}/s3/bin, shared by every clone.
set -euo pipefail

LOCAL_VPS_COMPONENT=s3
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

VERSITYGW_VERSION=v1.8.0
VERSITYGW_MODULE=github.com/versity/versitygw
S3_HOSTNAME=s3.byte-runner.test
S3_PORT=9443
S3_REGION=auto
S3_BUCKET=byte-runner-local-backups

cache_root=${BYTE_RUNNER_CACHE:-$HOME/.cache/byte-runner-infra}
bin_dir=$cache_root/s3/bin
bin=$bin_dir/versitygw
state=${BYTE_RUNNER_S3_STATE:-$LOCAL_VPS_REPO_DIR/.state/s3}
ca_key=$state/ca.key
ca_cert=$state/ca.crt
server_key=$state/server.key
server_cert=$state/server.crt
server_names=$state/server.names
access_key_file=$state/access-key
secret_key_file=$state/secret-key
data_dir=$state/data
pidfile=$state/versitygw.pid
logfile=$state/versitygw.log

# The version the binary says it is (set at build time by -X main.Version), or nothing.
built_version() {
    [[ -x $bin ]] || return 0
    "$bin" --version 2>/dev/null | awk '$1 == "Version" { print $3 }'
}

build() {
    [[ $(built_version) != "$VERSITYGW_VERSION" ]] || return 0
    mkdir -p "$cache_root/s3"
    # A build already running (tools/test.sh starts one early) is waited for, not repeated.
    exec 8>"$cache_root/s3/build.lock"
    if ! flock -n 8; then
        log "waiting for the versitygw build already running"
        flock -w 1800 8 || die "the versitygw build running elsewhere did not end within 30 min"
    fi
    [[ $(built_version) != "$VERSITYGW_VERSION" ]] || return 0
    command -v go >/dev/null 2>&1 || die "go not found: Go 1.22 or later is needed to build versitygw"
    log "building $VERSITYGW_MODULE $VERSITYGW_VERSION (once; cached in $bin_dir)"
    # Built aside and renamed into place: two runs at once must not see a half-written binary.
    local partial
    partial=$(mktemp -d "$cache_root/s3/.versitygw.XXXXXX")
    # shellcheck disable=SC2064 # the directory is known now; expand it now
    trap "rm -rf '$partial'" EXIT
    # The same compile cache as the Pulumi toolchain and actionlint: one directory to keep or delete.
    GOBIN=$partial GOCACHE=$cache_root/go-build GOFLAGS=-buildvcs=false \
        go install -trimpath -ldflags "-X main.Version=$VERSITYGW_VERSION" \
        "$VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION" ||
        die "go install $VERSITYGW_MODULE/cmd/versitygw@$VERSITYGW_VERSION failed"
    mkdir -p "$bin_dir"
    mv -f "$partial/versitygw" "$bin"
    rm -rf "$partial"
    trap - EXIT
    [[ $(built_version) == "$VERSITYGW_VERSION" ]] || die "$bin does not report version $VERSITYGW_VERSION"
}

# random_key LENGTH: letters and digits only (safe in any config file or header).
random_key() {
    local key=
    while ((${#key} < $1)); do
        key+=$(openssl rand -base64 48 | tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${key:0:$1}"
}

write_key_file() {
    local file=$1 length=$2
    [[ -s $file ]] && return 0
    (
        umask 077
        random_key "$length" >"$file.tmp"
    )
    mv "$file.tmp" "$file"
}

# A private CA (10 years) and a server certificate it signs, renewed when it has less than
# 30 days left or its names changed; clients trust the CA, never the server certificate.
# Its one name is S3_HOSTNAME, which clients must resolve to S3_ADDRESS (a container's hosts
# entry): pgBackRest 2.45 checks the certificate against the name it connects to
# (repo-storage-host when set, else the endpoint) and only against DNS names, never IP
# addresses, so connecting to the address itself cannot pass its check.
# Sets certificate_changed=1 when it wrote a new server certificate.
certificate_changed=0
write_certificates() {
    command -v openssl >/dev/null 2>&1 || die "openssl not found: apt-get install openssl"
    if [[ ! -s $ca_key || ! -s $ca_cert ]]; then
        log "making a private CA for $S3_HOSTNAME"
        (umask 077 && openssl genrsa -out "$ca_key" 3072 2>/dev/null)
        openssl req -x509 -new -key "$ca_key" -sha256 -days 3650 -subj "/CN=byte-runner local S3 CA" \
            -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
            -out "$ca_cert" 2>/dev/null || die "openssl could not make the CA certificate"
        rm -f "$server_cert"
    fi
    local names="DNS:$S3_HOSTNAME"
    if [[ -s $server_key && -s $server_cert && $(cat "$server_names" 2>/dev/null) == "$names" ]] &&
        openssl x509 -in "$server_cert" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
        openssl verify -CAfile "$ca_cert" "$server_cert" >/dev/null 2>&1; then
        return 0
    fi
    log "making the server certificate for $names"
    [[ -s $server_key ]] || (umask 077 && openssl genrsa -out "$server_key" 2048 2>/dev/null)
    local extensions=$state/server.ext
    printf '%s\n' "subjectAltName=$names" "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$extensions"
    openssl req -new -key "$server_key" -subj "/CN=$S3_HOSTNAME" 2>/dev/null |
        openssl x509 -req -CA "$ca_cert" -CAkey "$ca_key" -CAcreateserial -sha256 -days 397 \
            -extfile "$extensions" -out "$server_cert" 2>/dev/null ||
        die "openssl could not make the server certificate"
    rm -f "$extensions"
    printf '%s\n' "$names" >"$server_names"
    certificate_changed=1
}

# s3_curl ARGS...: curl against the server as the root user, the keys read from a config
# on stdin (never on a command line), the name pinned to this machine, the CA checked.
s3_curl() {
    printf 'user = "%s:%s"\n' "$(<"$access_key_file")" "$(<"$secret_key_file")" |
        curl --config - --silent --show-error --max-time 10 \
            --cacert "$ca_cert" --resolve "$S3_HOSTNAME:$S3_PORT:127.0.0.1" \
            --aws-sigv4 "aws:amz:$S3_REGION:s3" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
            "$@"
}

# http_status METHOD PATH: the status code of an authenticated request ("000" when nothing answers).
http_status() {
    s3_curl -o /dev/null -w '%{http_code}' -X "$1" "https://$S3_HOSTNAME:$S3_PORT$2" 2>/dev/null || true
}

ensure_bucket() {
    local status
    status=$(http_status HEAD "/$S3_BUCKET")
    case $status in
        200) ;;
        404)
            log "creating bucket $S3_BUCKET"
            status=$(http_status PUT "/$S3_BUCKET")
            [[ $status == 200 ]] || die "creating bucket $S3_BUCKET answered HTTP $status (see $logfile)"
            ;;
        *) die "checking bucket $S3_BUCKET answered HTTP $status (see $logfile)" ;;
    esac
}

# One start or stop at a time per state directory: two at once would start two servers
# (one fails on the port) and leave the pid file naming the wrong one.
lock_state() {
    mkdir -p "$state"
    chmod 700 "$state"
    exec 9>"$state/lock"
    flock -w 60 9 || die "another s3.sh start or stop holds $state/lock"
}

# wipe PREFIX: removes every object under PREFIX in the bucket (a stack's offsite
# repository), for a test that starts from nothing. Files of the posix gateway, directly.
wipe() {
    local prefix=${1:-}
    [[ $prefix =~ ^[a-z0-9][a-z0-9-]*$ ]] || die "usage: $0 wipe <prefix such as byte-runner-local>"
    lock_state
    rm -rf -- "${data_dir:?}/$S3_BUCKET/$prefix"
    log "removed $S3_BUCKET/$prefix"
}

start() {
    command -v curl >/dev/null 2>&1 || die "curl not found: apt-get install curl"
    build
    lock_state
    mkdir -p "$data_dir"
    write_certificates
    write_key_file "$access_key_file" 20
    write_key_file "$secret_key_file" 40
    chmod 600 "$ca_key" "$server_key" "$access_key_file" "$secret_key_file"
    if pid_alive "$pidfile" versitygw && ((certificate_changed)); then
        log "restarting: it has read the old certificate"
        stop_pid "$pidfile" versitygw versitygw
    fi
    if pid_alive "$pidfile" versitygw; then
        log "already running (pid $(<"$pidfile"))"
    else
        if (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null; then
            take_over_port 127.0.0.1 "$S3_PORT" "$bin posix */.state/s3/data*" "S3 server"
        fi
        log "starting versitygw on :$S3_PORT (log: $logfile)"
        # One line per request: the previous run's log is kept once it passes 10 MB, no more.
        if [[ -f $logfile ]] && (($(stat -c %s "$logfile") > 10 * 1024 * 1024)); then
            mv -f "$logfile" "$logfile.1"
        fi
        # The keys reach it through its environment, not its command line. setsid: its own
        # session, so that it outlives the shell that started it and its process group.
        (
            ROOT_ACCESS_KEY_ID=$(<"$access_key_file")
            ROOT_SECRET_ACCESS_KEY=$(<"$secret_key_file")
            VGW_REGION=$S3_REGION VGW_PORT=":$S3_PORT" VGW_CERT=$server_cert VGW_KEY=$server_key
            export ROOT_ACCESS_KEY_ID ROOT_SECRET_ACCESS_KEY VGW_REGION VGW_PORT VGW_CERT VGW_KEY
            # Without the lock files' descriptors (its own and a caller's): a server holding them
            # would lock out every later start.
            without_inherited_fds
            exec setsid "$bin" posix "$data_dir" </dev/null >>"$logfile" 2>&1
        ) &
        printf '%s\n' "$!" >"$pidfile"
    fi
    local status=
    for _ in $(seq 1 100); do
        pid_alive "$pidfile" versitygw || {
            tail -n 20 "$logfile" >&2
            die "versitygw exited; the end of $logfile is above"
        }
        status=$(http_status GET /)
        [[ $status == 200 ]] && break
        sleep 0.1
    done
    [[ $status == 200 ]] || die "versitygw does not answer on https://$S3_HOSTNAME:$S3_PORT (last HTTP status $status; see $logfile)"
    ensure_bucket
    log "https://$S3_HOSTNAME:$S3_PORT (at $(host_address):$S3_PORT), bucket $S3_BUCKET"
}

stop() {
    if [[ ! -d $state ]]; then
        log "versitygw not running (nothing started by this script)"
        return 0
    fi
    lock_state
    stop_pid "$pidfile" versitygw versitygw
}

status() {
    if pid_alive "$pidfile" versitygw; then
        log "running (pid $(<"$pidfile")) on :$S3_PORT"
    else
        log "not running"
        return 1
    fi
}

# The IPv4 address this machine's default route leaves from: containers on any Docker
# bridge network reach the host there (a bridge's own gateway address is per network).
# `ip route get` only looks the route up; it sends nothing.
host_address() {
    local address
    address=$(ip -4 route get 1.1.1.1 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "src") { print $(i + 1); exit } }')
    [[ -n $address ]] || die "no IPv4 default route: cannot tell which address containers reach this machine at"
    printf '%s\n' "$address"
}

print_env() {
    local secrets=0
    case ${1:-} in
        '') ;;
        --secrets) secrets=1 ;;
        *) die "usage: $0 env [--secrets]" ;;
    esac
    [[ -s $ca_cert && -s $access_key_file && -s $secret_key_file ]] || die "no state in $state yet; run: $0 start"
    local name value address
    address=$(host_address)
    while read -r name value; do
        printf '%s=%s\n' "$name" "$(shell_quote "$value")"
    done <<EOF
S3_ENDPOINT $S3_HOSTNAME
S3_PORT $S3_PORT
S3_ADDRESS $address
S3_BUCKET $S3_BUCKET
S3_REGION $S3_REGION
S3_CA_FILE $ca_cert
S3_ACCESS_KEY_FILE $access_key_file
S3_SECRET_KEY_FILE $secret_key_file
EOF
    if ((secrets)); then
        printf 'S3_ACCESS_KEY=%s\n' "$(shell_quote "$(<"$access_key_file")")"
        printf 'S3_SECRET_KEY=%s\n' "$(shell_quote "$(<"$secret_key_file")")"
    fi
}

case ${1:-} in
    build)
        build
        log "$bin: $(built_version)"
        ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) print_env "${2:-}" ;;
    wipe) wipe "${2:-}" ;;
    *) die "usage: $0 build|start|stop|status|env [--secrets]|wipe PREFIX" ;;
esac
