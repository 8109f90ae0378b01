#!/usr/bin/env bash
# The main job on a fresh machine: everything the local stack needs, then `pulumi up`
# against this machine as the VPS, then the URLs. Run as root:  bash scripts/main.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/install-deps.sh"
bash "$repo/scripts/local-stack.sh" setup
bash "$repo/scripts/local-stack.sh" up
