#!/usr/bin/env bash
# Builds the Postgres image with pgBackRest on the VPS: the pinned Postgres image plus
# Debian bookworm's pgbackrest (the version this project tests with) and cron, tagged
# IMAGE. The Postgres container runs it (archive_command is pgbackrest archive-push)
# and so does the backup scheduler. Built on the VPS from the pinned base, so no
# registry of our own is needed; the tag carries the hash of this script and the base,
# so a new base or a new recipe is a new tag and an unchanged one is never rebuilt.
#
# Usage: backup-image.sh [--check-settings] < settings
# Settings (KEY=VALUE lines on stdin, all required; components/shared/settings.sh):
#   BASE_IMAGE  the pinned Postgres image (postgresImage), already on the host
#   IMAGE       the tag to build, e.g. byte-runner-prod/postgres-pgbackrest:<hash>
# Exit status: 0 built (or already there), 1 failure, 2 bad settings.
set -euo pipefail

# shellcheck source=../shared/settings.sh
source "$(dirname "${BASH_SOURCE[0]}")/../shared/settings.sh"

# Debian bookworm's pgBackRest. The official postgres images also carry the PGDG archive,
# which has newer releases; naming the version keeps the one the tests ran.
readonly PGBACKREST_VERSION=2.45-1
readonly IMAGE_REF='^[a-z0-9]+([._/:-][A-Za-z0-9]+)*(@sha256:[a-f0-9]{64})?$'

settings_mode backup-image "$@"
settings_read backup-image BASE_IMAGE IMAGE
[[ ${settings[BASE_IMAGE]} =~ $IMAGE_REF ]] || settings_fail BASE_IMAGE "'${settings[BASE_IMAGE]}' is not an image reference"
[[ ${settings[IMAGE]} =~ $IMAGE_REF ]] || settings_fail IMAGE "'${settings[IMAGE]}' is not an image reference"
settings_done

if docker image inspect "${settings[IMAGE]}" >/dev/null 2>&1; then
    echo "backup-image: ${settings[IMAGE]} is already on this host"
    exit 0
fi
echo "backup-image: building ${settings[IMAGE]} from ${settings[BASE_IMAGE]} (pgbackrest ${PGBACKREST_VERSION}, cron)"
# No build context: the recipe is all there is. The legacy builder and BuildKit both read it.
docker build --pull=false --tag "${settings[IMAGE]}" - <<DOCKERFILE
FROM ${settings[BASE_IMAGE]}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        pgbackrest=${PGBACKREST_VERSION} cron ca-certificates jq; \
    rm -rf /var/lib/apt/lists/*; \
    pgbackrest version; \
    install -d -o postgres -g postgres -m 0750 /var/lib/pgbackrest /var/lib/pgbackrest-drill
LABEL org.byte-runner.pgbackrest="${PGBACKREST_VERSION}"
DOCKERFILE
echo "backup-image: built ${settings[IMAGE]}"
