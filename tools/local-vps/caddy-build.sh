#!/usr/bin/env bash
# Builds Caddy 2.10.2 from its Go module, the way its release is built, for the stand-in image
# byte-runner-local/caddy:2.10.2 and for tests that run a real Caddy (e.g. `caddy validate`).
#   caddy-build.sh          build if needed, then print the binary's path (the only stdout line)
#   caddy-build.sh --path   print the binary's path without building (exit 1 when not built)
#
# No Caddy 2.10 anywhere else here: Debian has 2.6, the image registry and GitHub releases are
# out of reach; the Go module proxy serves github.com/caddyserver/caddy/v2. caddy/ holds a
# module whose main.go is the release's cmd/caddy/main.go; its go.sum is committed, so every
# run compiles exactly the same dependencies. Release flags (caddy's .goreleaser.yml):
# CGO_ENABLED=0, -trimpath, -mod=readonly, -ldflags "-s -w", tags nobadger,nomysql,nopgx.
#
# The binary is ${BYTE_RUNNER_CACHE:-~/.cache/byte-runner-infra}/caddy/2.10.2/caddy, shared
# by every clone. A stamp beside it records what it was built from (go.mod, go.sum, main.go,
# the flags and `go version`); when that matches, nothing is built (a warm run takes
# milliseconds). Compiled packages go to the shared compile cache $BYTE_RUNNER_CACHE/go-build
# (as the Pulumi toolchain and the S3 server), downloaded modules to the default GOMODCACHE.
# A cold build (modules downloaded, empty compile cache) took 100 s on 2 cores; relinking with
# a warm compile cache 1 s.
set -euo pipefail

LOCAL_VPS_COMPONENT=caddy
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CADDY_VERSION=2.10.2
CADDY_MODULE=github.com/caddyserver/caddy/v2
MODULE_DIR="${LOCAL_VPS_SCRIPT_DIR}/caddy"
BUILD_TAGS=nobadger,nomysql,nopgx
BUILD_LDFLAGS="-s -w"

cache_root="${BYTE_RUNNER_CACHE:-${HOME}/.cache/byte-runner-infra}"
bin_dir="${cache_root}/caddy/${CADDY_VERSION}"
bin="${bin_dir}/caddy"
stamp="${bin_dir}/.caddy.stamp"

# The stdout of this script is the binary's path alone (callers capture it); everything else,
# including go's output, goes to stderr.
exec 3>&1 1>&2

# build_key: one line naming everything the binary is built from.
build_key() {
    local sources
    sources="$(cd "${MODULE_DIR}" && cat go.mod go.sum main.go | sha256sum | cut -d' ' -f1)"
    printf '%s v%s sources %s tags %s ldflags %s cgo 0 %s\n' \
        "${CADDY_MODULE}" "${CADDY_VERSION}" "${sources}" "${BUILD_TAGS}" "${BUILD_LDFLAGS}" "$(go version)"
}

up_to_date() {
    [[ -x "${bin}" && -f "${stamp}" && "$(<"${stamp}")" == "$1" ]]
}

build() {
    command -v go >/dev/null 2>&1 || die "go not found: Go 1.25 or later is needed to build Caddy ${CADDY_VERSION}"
    grep -qE "^require ${CADDY_MODULE} v${CADDY_VERSION}\$" "${MODULE_DIR}/go.mod" ||
        die "${MODULE_DIR}/go.mod does not require ${CADDY_MODULE} v${CADDY_VERSION} (keep it in step with CADDY_VERSION)"
    local key
    key="$(build_key)"
    up_to_date "${key}" && return 0

    mkdir -p "${bin_dir}"
    # Two clones (or tools/test.sh starting it early) build once: the second one waits.
    exec 8>"${bin_dir}/build.lock"
    if ! flock -n 8; then
        log "waiting for the Caddy build already running"
        flock -w 1800 8 || die "the Caddy build running elsewhere did not end within 30 min"
    fi
    up_to_date "${key}" && return 0

    local logfile="${bin_dir}/build.log" partial started=${SECONDS}
    log "building ${CADDY_MODULE} v${CADDY_VERSION} (about 2 min cold; log: ${logfile})"
    # Built aside and renamed into place: nobody may run a half-written binary.
    partial="$(mktemp "${bin_dir}/.caddy.XXXXXX")"
    # shellcheck disable=SC2064 # the file is known now; expand it now
    trap "rm -f '${partial}'" EXIT
    if ! (
        cd "${MODULE_DIR}" &&
            CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false GOCACHE="${cache_root}/go-build" \
                go build -trimpath -mod=readonly -tags "${BUILD_TAGS}" -ldflags "${BUILD_LDFLAGS}" \
                -o "${partial}" .
    ) >"${logfile}" 2>&1; then
        tail -n 30 "${logfile}" >&2
        die "building Caddy ${CADDY_VERSION} failed after $((SECONDS - started)) s; see ${logfile}"
    fi
    chmod 755 "${partial}"
    # `caddy version` reads the caddy module's version from the build info.
    [[ "$("${partial}" version)" == "v${CADDY_VERSION} "* ]] ||
        die "the binary built reports '$("${partial}" version)', not v${CADDY_VERSION}"
    mv -f "${partial}" "${bin}"
    trap - EXIT
    printf '%s\n' "${key}" >"${stamp}"
    log "built Caddy ${CADDY_VERSION} in $((SECONDS - started)) s: ${bin}"
}

main() {
    case "${1:-}" in
        "") build ;;
        --path) [[ -x "${bin}" ]] || die "${bin} is not built yet; run $0" ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
            return 0
            ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    printf '%s\n' "${bin}" >&3
}

main "$@"
