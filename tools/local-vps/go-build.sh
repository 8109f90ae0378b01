#!/usr/bin/env bash
# Builds, from their Go modules and the way their releases are built, the programs whose
# pinned release nothing reachable here has (Debian's are older; the image registry and
# GitHub releases are out of reach; the Go module proxy serves their modules):
#   go-build.sh caddy               Caddy 2.10.2: the stand-in image byte-runner-local/caddy and
#                                   the fast suite's Caddyfile check (the prod pin caddy:2.10.2)
#   go-build.sh alertmanager        Alertmanager 0.35.0 and amtool: the stand-in image
#                                   byte-runner-local/alertmanager and the fast suite's
#                                   `amtool check-config` (the prod pin prom/alertmanager:v0.35.0)
#   go-build.sh NAME --path         print the paths without building (exit 1 when not built)
# stdout: the built binaries' paths, one per line, and nothing else (callers capture it).
#
# Where the source comes from:
# - caddy: tools/local-vps/caddy/, a module whose main.go is the release's cmd/caddy/main.go,
#   with its go.sum committed, so every run compiles exactly the same dependencies. Release
#   flags (caddy's .goreleaser.yml): CGO_ENABLED=0, -trimpath, -mod=readonly, -ldflags
#   "-s -w", tags nobadger,nomysql,nopgx.
# - alertmanager: the module itself, its content checked against the h1 hash below, copied
#   out of the module cache and built with its own go.sum (-mod=readonly). The web UI is
#   compiled by Elm in the release process and is not part of the module; the copy gets a page
#   saying so in its place (as Debian's package has no UI either). The API under /api/v2 and
#   amtool are whole. Release flags (its .promu.yml): CGO_ENABLED=0, tag netgo, the version
#   stamped into github.com/prometheus/common/version.
#
# The binaries go to ${BYTE_RUNNER_CACHE:-~/.cache/byte-runner-infra}/NAME/VERSION/, shared by
# every clone. A stamp beside them records what they were built from (sources, flags and
# `go version`); when it matches, nothing is built (a warm run takes milliseconds). Compiled
# packages go to the shared compile cache $BYTE_RUNNER_CACHE/go-build (as the Pulumi
# toolchain and the S3 server), downloaded modules to the default GOMODCACHE. Cold builds
# (modules downloaded, empty compile cache) on 2 cores: Caddy 100 s, Alertmanager 90 s;
# relinking with a warm compile cache takes about a second.
set -euo pipefail

LOCAL_VPS_COMPONENT=go-build
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# describe NAME: what one program is and how its release is built.
describe() {
    case "$1" in
        caddy)
            VERSION=2.10.2
            MODULE=github.com/caddyserver/caddy/v2
            MODULE_SUM="" # the committed go.sum of tools/local-vps/caddy pins it
            SOURCE_DIR="${LOCAL_VPS_SCRIPT_DIR}/caddy"
            PACKAGES=(.)
            BINARIES=(caddy)
            BUILD_TAGS=nobadger,nomysql,nopgx
            BUILD_LDFLAGS="-s -w"
            VERSION_COMMAND=(version)
            VERSION_PREFIX="v${VERSION} "
            ;;
        alertmanager)
            VERSION=0.35.0
            MODULE=github.com/prometheus/alertmanager
            MODULE_SUM="h1:nbXMjr+P2JaoFd7aHNDxKifEwTPN+TWxM0gNPonuH5w="
            SOURCE_DIR="" # the module itself, copied from the module cache
            PACKAGES=(./cmd/alertmanager ./cmd/amtool)
            BINARIES=(alertmanager amtool)
            BUILD_TAGS=netgo
            local stamp_pkg=github.com/prometheus/common/version
            BUILD_LDFLAGS="-s -w -X ${stamp_pkg}.Version=${VERSION} -X ${stamp_pkg}.Revision=v${VERSION} -X ${stamp_pkg}.Branch=v${VERSION} -X ${stamp_pkg}.BuildUser=byte-runner -X ${stamp_pkg}.BuildDate=module"
            VERSION_COMMAND=(--version)
            VERSION_PREFIX="alertmanager, version ${VERSION} "
            ;;
        *) die "unknown program '$1' (known: caddy, alertmanager)" ;;
    esac
    cache_root="${BYTE_RUNNER_CACHE:-${HOME}/.cache/byte-runner-infra}"
    bin_dir="${cache_root}/$1/${VERSION}"
    stamp="${bin_dir}/.build.stamp"
}

# The stdout of this script is the binaries' paths alone; everything else, including go's
# output, goes to stderr.
exec 3>&1 1>&2

# module_dir: downloads MODULE@VERSION (the go command checks it against the checksum
# database), checks it against MODULE_SUM and prints its directory in the module cache.
module_dir() {
    local info sum dir
    info="$(cd / && GOFLAGS=-mod=mod go mod download -json "${MODULE}@v${VERSION}")" ||
        die "go mod download ${MODULE}@v${VERSION} failed"
    sum="$(sed -n 's/^[[:space:]]*"Sum": "\(.*\)",\{0,1\}$/\1/p' <<<"${info}")"
    dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"${info}")"
    [[ "${sum}" == "${MODULE_SUM}" ]] ||
        die "${MODULE}@v${VERSION} has checksum '${sum}', not the pinned ${MODULE_SUM}"
    [[ -d "${dir}" ]] || die "go mod download printed no directory for ${MODULE}@v${VERSION}"
    printf '%s\n' "${dir}"
}

# build_key: one line naming everything the binaries are built from.
build_key() {
    local sources
    if [[ -n "${SOURCE_DIR}" ]]; then
        sources="$(cd "${SOURCE_DIR}" && cat go.mod go.sum ./*.go | sha256sum | cut -d' ' -f1)"
    else
        sources="${MODULE_SUM}"
    fi
    printf '%s v%s sources %s packages %s tags %s ldflags %s cgo 0 %s\n' "${MODULE}" "${VERSION}" \
        "${sources}" "${PACKAGES[*]}" "${BUILD_TAGS}" "${BUILD_LDFLAGS}" "$(go version)"
}

up_to_date() {
    local binary
    [[ -f "${stamp}" && "$(<"${stamp}")" == "$1" ]] || return 1
    for binary in "${BINARIES[@]}"; do [[ -x "${bin_dir}/${binary}" ]] || return 1; done
}

# prepare_source WORKDIR: the directory to build in (a copy of the module for alertmanager).
prepare_source() {
    local workdir="$1" src
    if [[ -n "${SOURCE_DIR}" ]]; then
        grep -qE "^require ${MODULE} v${VERSION}\$" "${SOURCE_DIR}/go.mod" ||
            die "${SOURCE_DIR}/go.mod does not require ${MODULE} v${VERSION} (keep it in step with VERSION)"
        printf '%s\n' "${SOURCE_DIR}"
        return 0
    fi
    src="${workdir}/src"
    cp -r "$(module_dir)" "${src}"
    chmod -R u+w "${src}"
    mkdir -p "${src}/ui/app/dist"
    printf '%s\n' '<!doctype html><title>Alertmanager</title><p>This build has no web UI (it is compiled outside the Go module). The API is under <a href="api/v2/status">/api/v2</a>; amtool reads it.</p>' \
        >"${src}/ui/app/dist/index.html"
    printf '%s\n' "${src}"
}

build() {
    command -v go >/dev/null 2>&1 || die "go not found: Go 1.26 or later is needed to build ${BINARIES[0]} ${VERSION}"
    local key
    key="$(build_key)"
    up_to_date "${key}" && return 0

    mkdir -p "${bin_dir}"
    # Two clones (or tools/test.sh starting it early) build once: the second one waits.
    exec 8>"${bin_dir}/build.lock"
    if ! flock -n 8; then
        log "waiting for the ${BINARIES[0]} build already running"
        flock -w 1800 8 || die "the ${BINARIES[0]} build running elsewhere did not end within 30 min"
    fi
    up_to_date "${key}" && return 0

    local logfile="${bin_dir}/build.log" workdir src started=${SECONDS} binary output
    log "building ${MODULE} v${VERSION} (about 2 min cold; log: ${logfile})"
    # Built aside and renamed into place: nobody may run a half-written binary.
    workdir="$(mktemp -d "${bin_dir}/.build.XXXXXX")"
    # shellcheck disable=SC2064 # the directory is known now; expand it now
    trap "rm -rf '${workdir}'" EXIT
    src="$(prepare_source "${workdir}")"
    mkdir "${workdir}/bin"
    if ! (
        cd "${src}" &&
            CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false GOCACHE="${cache_root}/go-build" \
                go build -trimpath -mod=readonly -tags "${BUILD_TAGS}" -ldflags "${BUILD_LDFLAGS}" \
                -o "${workdir}/bin/" "${PACKAGES[@]}"
    ) >"${logfile}" 2>&1; then
        tail -n 30 "${logfile}" >&2
        die "building ${BINARIES[0]} ${VERSION} failed after $((SECONDS - started)) s; see ${logfile}"
    fi
    # One package builds a binary named after its module's folder (caddy's is tools/local-vps/caddy).
    for binary in "${BINARIES[@]}"; do
        [[ -x "${workdir}/bin/${binary}" ]] || die "the build made no ${binary} (log: ${logfile})"
    done
    output="$("${workdir}/bin/${BINARIES[0]}" "${VERSION_COMMAND[@]}" 2>&1 | head -n 1)"
    [[ "${output}" == "${VERSION_PREFIX}"* ]] ||
        die "the ${BINARIES[0]} built reports '${output}', not version ${VERSION}"
    for binary in "${BINARIES[@]}"; do
        mv -f "${workdir}/bin/${binary}" "${bin_dir}/${binary}"
    done
    rm -rf "${workdir}"
    trap - EXIT
    printf '%s\n' "${key}" >"${stamp}"
    log "built ${BINARIES[*]} ${VERSION} in $((SECONDS - started)) s: ${bin_dir}"
}

print_paths() {
    local binary
    for binary in "${BINARIES[@]}"; do
        [[ -x "${bin_dir}/${binary}" ]] || die "${bin_dir}/${binary} is not built yet; run $0 $1"
    done
    for binary in "${BINARIES[@]}"; do printf '%s\n' "${bin_dir}/${binary}" >&3; done
}

main() {
    case "${1:-}" in
        -h | --help | "")
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
            [[ -n "${1:-}" ]]
            return
            ;;
    esac
    describe "$1"
    case "${2:-}" in
        "") build ;;
        --path) ;;
        *) die "unknown argument: $2 (see --help)" ;;
    esac
    print_paths "$1"
}

main "$@"
