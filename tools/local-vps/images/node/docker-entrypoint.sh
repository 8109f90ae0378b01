#!/usr/bin/env bash
# As the upstream node image's entrypoint: a first argument that is a flag, not a command, or
# a file that is not executable is given to node (`docker run IMAGE script.js` runs node).
set -euo pipefail
if (($# == 0)) || [[ "$1" == -* ]] || ! command -v "$1" >/dev/null 2>&1 || [[ -f "$1" && ! -x "$1" ]]; then
    set -- node "$@"
fi
exec "$@"
