#!/usr/bin/env bash
# /bin/node_exporter of the stand-in: Debian's node exporter with upstream's default of no
# systemd collector (Debian's build enables it; in a container it fails on every scrape).
# A flag may be given once only, so the default is added only when the caller names none.
set -euo pipefail
for argument in "$@"; do
    case "${argument}" in
        --collector.systemd | --no-collector.systemd) exec /usr/bin/prometheus-node-exporter "$@" ;;
    esac
done
exec /usr/bin/prometheus-node-exporter --no-collector.systemd "$@"
