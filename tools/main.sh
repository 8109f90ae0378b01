#!/usr/bin/env bash
# The main job on a fresh machine: everything the local stack needs, then `pulumi up`
# against this machine as the VPS, then the URLs. Run as root:  bash tools/main.sh
# As in tools/test.sh, the Go module downloads, the Debian packages, the toolchain build
# and the stand-in images overlap (logs in .local/phases/), and a table of phase times
# closes the run.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
# shellcheck source-path=SCRIPTDIR source=phases.sh
source tools/phases.sh
phases_init main "$repo/.local/phases"

phase_bg "Go modules of the Pulumi toolchain" bash tools/pulumi-toolchain.sh --download
phase_bg "Debian packages" bash tools/install-deps.sh debian
phase "npm dependencies"
bash tools/install-deps.sh npm
phases_check
phase_bg "Pulumi toolchain" bash tools/local-stack.sh toolchain
phase "waiting for the Debian packages"
phase_wait "Debian packages"
phase_bg "local VPS: Docker engine and stand-in images" bash tools/local-stack.sh images
phase "waiting for the toolchain and the images"
phase_wait "Go modules of the Pulumi toolchain" "local VPS: Docker engine and stand-in images" "Pulumi toolchain"
phase "sshd and the stack's config"
bash tools/local-stack.sh sshd
bash tools/local-stack.sh config
phase "pulumi up --stack local"
bash tools/local-stack.sh up
