#!/usr/bin/env bash
# The main job on a fresh machine: everything the local stack needs, then `pulumi up`
# against this machine as the VPS, then the URLs. Run as root:  bash tools/main.sh
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/tools/install-deps.sh"
bash "$repo/tools/local-stack.sh" setup
bash "$repo/tools/local-stack.sh" up
