#!/usr/bin/env bash
# Builds the local stand-in images (no registry is reachable from this machine).
#   images.sh             build the Debian base and every image under images/
#   images.sh NAME...     build the base and only the named images (folder names under images/)
# The base is `debootstrap --variant=minbase bookworm` from the machine's own apt mirror,
# imported as byte-runner-local/debian:bookworm; its tarball is cached in
# ~/.cache/byte-runner-infra/local-vps (BYTE_RUNNER_CACHE), shared by every clone.
# Every image carries a label with the hash of its build inputs (its folder, the shared
# files, the base image id and, for caddy and alertmanager, the binaries) and is skipped when that
# hash is unchanged.
# Legacy builder only (DOCKER_BUILDKIT=0): no BuildKit syntax in the Dockerfiles.
set -euo pipefail

LOCAL_VPS_COMPONENT=images
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMAGES_DIR="${LOCAL_VPS_SCRIPT_DIR}/images"
SHARED_DIR_NAME=_shared
BASE_IMAGE=byte-runner-local/debian:bookworm
HASH_LABEL=byte-runner.local.build-hash

# Image folder -> image reference. The folder is also the Dockerfile's location; the build
# context is images/ so Dockerfiles can COPY from _shared/.
declare -A IMAGE_REFS=(
    [postgres]=byte-runner-local/postgres:15
    [pgbouncer]=byte-runner-local/pgbouncer:1.18
    [caddy]=byte-runner-local/caddy:2.10.2
    [backend]=byte-runner-local/backend:1-standin
    [frontend]=byte-runner-local/frontend:1-standin
    # The next and a broken release of the apps, for the deploy tests (from the images above).
    ["backend-v2"]=byte-runner-local/backend:2-standin
    ["backend-broken"]=byte-runner-local/backend:3-broken-standin
    ["frontend-v2"]=byte-runner-local/frontend:2-standin
    ["supertokens-standin"]=byte-runner-local/supertokens-standin:1
    [prometheus]=byte-runner-local/prometheus:2.42
    [alertmanager]=byte-runner-local/alertmanager:0.35
    ["node-exporter"]=byte-runner-local/node-exporter:1.5
    ["postgres-exporter"]=byte-runner-local/postgres-exporter:0.11
    ["blackbox-exporter"]=byte-runner-local/blackbox-exporter:0.23
    [node]=byte-runner-local/node:18-standin
)
IMAGE_ORDER=(postgres pgbouncer caddy backend frontend backend-v2 backend-broken frontend-v2 supertokens-standin
    prometheus alertmanager node-exporter postgres-exporter blackbox-exporter node)

# Images whose binaries are built on this machine from their Go modules (the base has no Go, and
# no registry serves them): folder -> the program's name for go-build.sh, which builds it and
# prints the binaries' paths. They go into a temporary build context at <folder>/bin/<name>
# and into the image's build hash.
declare -A IMAGE_BINARIES=([caddy]=caddy [alertmanager]=alertmanager)

# Tags an image folder had before (with vfs each is a full copy on disk): removed once nothing
# uses them any more.
RETIRED_REFS=(byte-runner-local/caddy:2.6 byte-runner-local/alertmanager:0.25)

# The bookworm mirror this machine already uses (deb822 .sources first, then one-line lists);
# debootstrap's built-in default mirror is not reachable here.
debian_mirror() {
    if [[ -n "${LOCAL_VPS_DEBIAN_MIRROR:-}" ]]; then
        printf '%s\n' "${LOCAL_VPS_DEBIAN_MIRROR}"
        return 0
    fi
    local mirror="" file
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f "${file}" ]] || continue
        mirror="$(awk '
      function flush() {
        if (!found && is_deb && uris != "" && suites ~ /(^| )bookworm( |$)/) { print uris; found = 1 }
        is_deb = 0; uris = ""; suites = ""
      }
      /^[[:space:]]*$/ { flush(); next }
      /^Types:/ { is_deb = ($0 ~ /[: ]deb( |$)/) }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
      END { flush() }' "${file}")"
        [[ -n "${mirror}" ]] && break
    done
    if [[ -z "${mirror}" ]]; then
        mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '
      $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i + 1) == "bookworm") { print $i; exit } }')"
    fi
    [[ -n "${mirror}" ]] ||
        die "no bookworm mirror in /etc/apt/sources.list.d/ or /etc/apt/sources.list; set LOCAL_VPS_DEBIAN_MIRROR"
    printf '%s\n' "${mirror%/}"
}

image_label() {
    docker image inspect --format "{{ index .Config.Labels \"${HASH_LABEL}\" }}" "$1" 2>/dev/null || true
}

build_base() {
    local cache_dir tarball rootfs mirror tarball_hash
    # Outside the clone: a later clone (CI) reuses the same base, so the images built on it
    # stay up to date instead of being rebuilt from a new debootstrap.
    cache_dir="${BYTE_RUNNER_CACHE:-${HOME}/.cache/byte-runner-infra}/local-vps"
    mkdir -p "${cache_dir}"
    tarball="${cache_dir}/debian-bookworm-minbase.tar"
    rootfs="${LOCAL_VPS_STATE}/debootstrap/bookworm"

    if [[ ! -s "${tarball}" ]]; then
        command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
        mirror="$(debian_mirror)"
        log "debootstrap --variant=minbase bookworm from this machine's apt mirror (about 30 s)"
        rm -rf "${rootfs}"
        mkdir -p "$(dirname "${rootfs}")"
        debootstrap --variant=minbase bookworm "${rootfs}" "${mirror}" >"${cache_dir}/debootstrap.log" 2>&1 || {
            tail -n 20 "${cache_dir}/debootstrap.log" >&2
            die "debootstrap failed; see ${cache_dir}/debootstrap.log"
        }
        # What the official debian image also does: no services started by package scripts,
        # no recommends, the updates suite, and no package lists left in the image.
        printf '#!/bin/sh\nexit 101\n' >"${rootfs}/usr/sbin/policy-rc.d"
        chmod 755 "${rootfs}/usr/sbin/policy-rc.d"
        printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
            >"${rootfs}/etc/apt/apt.conf.d/99-no-recommends"
        printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "${mirror}" "${mirror}" \
            >"${rootfs}/etc/apt/sources.list"
        rm -rf "${rootfs}/var/lib/apt/lists/"* "${rootfs}/var/cache/apt/"*.bin "${rootfs}/var/cache/apt/archives/"*.deb
        # The cache is shared by clones: write aside, then rename into place.
        local partial
        partial="$(mktemp "${cache_dir}/debian-bookworm-minbase.tar.XXXXXX")"
        tar --numeric-owner -C "${rootfs}" -cf "${partial}" .
        mv "${partial}" "${tarball}"
    else
        log "debootstrap tarball cached: ${tarball}"
    fi

    tarball_hash="$(sha256sum "${tarball}" | cut -d' ' -f1)"
    if [[ "$(image_label "${BASE_IMAGE}")" == "${tarball_hash}" ]]; then
        log "${BASE_IMAGE} up to date"
        return 0
    fi
    log "importing ${BASE_IMAGE}"
    docker import \
        --change "LABEL ${HASH_LABEL}=${tarball_hash}" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        "${tarball}" "${BASE_IMAGE}" >/dev/null
}

# Hash of everything that goes into one image: its folder, the shared folder, the base image
# and the built binaries, if any (inputs_hash NAME [BINARY...]).
inputs_hash() {
    local name="$1" binary base_id
    shift
    base_id="$(docker image inspect --format '{{.Id}}' "${BASE_IMAGE}")"
    {
        printf 'base %s\n' "${base_id}"
        for binary in "$@"; do
            printf 'binary %s/bin/%s %s\n' "${name}" "$(basename "${binary}")" "$(sha256sum <"${binary}" | cut -d' ' -f1)"
        done
        cd "${IMAGES_DIR}"
        find "${name}" "${SHARED_DIR_NAME}" -type f -print0 | sort -z |
            while IFS= read -r -d '' file; do
                printf '%s %s\n' "$(stat -c '%a' "${file}")" "$(sha256sum "${file}")"
            done
    } | sha256sum | cut -d' ' -f1
}

# A build context made for one build (removed on exit): the image's folder and the shared
# folder, plus the binaries at <folder>/bin/. They stay out of images/ (and git).
STAGED_CONTEXT=""
remove_staged_context() {
    [[ -z "${STAGED_CONTEXT}" ]] || rm -rf "${STAGED_CONTEXT}"
    STAGED_CONTEXT=""
}
stage_context() {
    local name="$1"
    shift
    STAGED_CONTEXT="$(mktemp -d "$(ensure_state_dir images)/context.XXXXXX")"
    cp -a "${IMAGES_DIR}/${name}" "${IMAGES_DIR}/${SHARED_DIR_NAME}" "${STAGED_CONTEXT}/"
    mkdir -p "${STAGED_CONTEXT}/${name}/bin"
    cp "$@" "${STAGED_CONTEXT}/${name}/bin/"
}

build_image() {
    local name="$1" ref hash logfile started previous_id context="${IMAGES_DIR}"
    local -a binaries=()
    ref="${IMAGE_REFS[${name}]:-}"
    [[ -n "${ref}" ]] || die "unknown image '${name}'; known: ${IMAGE_ORDER[*]}"
    [[ -f "${IMAGES_DIR}/${name}/Dockerfile" ]] || die "missing ${IMAGES_DIR}/${name}/Dockerfile"
    if [[ -n "${IMAGE_BINARIES[${name}]:-}" ]]; then
        local built
        built="$(bash "${LOCAL_VPS_SCRIPT_DIR}/go-build.sh" "${IMAGE_BINARIES[${name}]}")" ||
            die "building the binaries of ${ref} failed (go-build.sh ${IMAGE_BINARIES[${name}]})"
        mapfile -t binaries <<<"${built}"
    fi
    hash="$(inputs_hash "${name}" "${binaries[@]}")"
    if [[ "$(image_label "${ref}")" == "${hash}" ]]; then
        log "${ref} up to date"
        return 0
    fi
    logfile="$(ensure_state_dir images)/build-${name}.log"
    previous_id="$(docker image inspect --format '{{.Id}}' "${ref}" 2>/dev/null || true)"
    started=${SECONDS}
    if ((${#binaries[@]})); then
        stage_context "${name}" "${binaries[@]}"
        context="${STAGED_CONTEXT}"
    fi
    log "building ${ref} (log: ${logfile})"
    # The hash label is appended as the Dockerfile's last instruction rather than passed with
    # --label: the legacy builder puts --label into every step's cache key, so a new hash
    # would rebuild every layer; as a last LABEL step only that step changes.
    if ! {
        cat "${IMAGES_DIR}/${name}/Dockerfile"
        printf '\nLABEL %s=%s\n' "${HASH_LABEL}" "${hash}"
    } | DOCKER_BUILDKIT=0 docker build --force-rm --file - --tag "${ref}" "${context}" >"${logfile}" 2>&1; then
        tail -n 30 "${logfile}" >&2
        die "building ${ref} failed; see ${logfile}"
    fi
    remove_staged_context
    log "built ${ref} in $((SECONDS - started)) s"
    # The replaced image is now untagged; with vfs every layer is a full copy, so drop it
    # (docker refuses while a container still uses it, which is fine).
    if [[ -n "${previous_id}" && "${previous_id}" != "$(docker image inspect --format '{{.Id}}' "${ref}")" ]]; then
        docker image rm "${previous_id}" >/dev/null 2>&1 || true
    fi
}

# Retired tags go once no container uses them (docker refuses until then; a later run retries).
remove_retired_images() {
    local ref
    for ref in "${RETIRED_REFS[@]}"; do
        docker image inspect "${ref}" >/dev/null 2>&1 || continue
        if docker image rm "${ref}" >/dev/null 2>&1; then
            log "removed the retired image ${ref}"
        else
            log "keeping the retired image ${ref} while a container uses it"
        fi
    done
}

main() {
    trap remove_staged_context EXIT
    require_root
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
        die "no Docker engine answers; run tools/local-vps/dockerd.sh start first"
    local -a names=("$@")
    ((${#names[@]})) || names=("${IMAGE_ORDER[@]}")
    local name
    for name in "${names[@]}"; do
        [[ -n "${IMAGE_REFS[${name}]:-}" ]] || die "unknown image '${name}'; known: ${IMAGE_ORDER[*]}"
    done
    build_base
    for name in "${names[@]}"; do
        build_image "${name}"
    done
    remove_retired_images
    log "done: ${BASE_IMAGE} $(for name in "${names[@]}"; do printf '%s ' "${IMAGE_REFS[${name}]}"; done)"
}

main "$@"
