#!/usr/bin/env bash
# Every test of the project, from a fresh clone on a fresh Debian machine (as root):
# installs what it needs, then runs the fast suite, the integration suite and the
# end-to-end suite (real Pulumi engine against this machine as the VPS).
#   bash scripts/test.sh            everything
#   bash scripts/test.sh --fast     typecheck, lint and the fast suite only
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
phase() { printf '\n[test] == %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
export PATH="$repo/node_modules/.bin:$PATH"

phase "dependencies"
bash scripts/install-deps.sh
phase "typecheck and lint"
npm run --silent typecheck
npm run --silent lint
phase "fast suite: config, graphs, docs, scripts (no network, no servers)"
npm test
[[ ${1:-} == --fast ]] && exit 0

phase "integration suite: real PostgreSQL 15, nftables in network namespaces, Docker"
npm run test:integration
phase "local VPS for the end-to-end suite: Docker engine, stand-in images, sshd"
bash scripts/local-stack.sh vps
phase "Pulumi toolchain (built from Go modules on first use; cached afterwards)"
if bash scripts/pulumi-toolchain.sh --substitutes; then
    bash scripts/local-stack.sh config
    export BYTE_RUNNER_PULUMI=ready
else
    # Said loudly, and the tests that need the engine report themselves skipped with this reason.
    printf '[test] WARNING: the Pulumi toolchain is incomplete (see above); the preview and pulumi up tests will be SKIPPED\n' >&2
    export BYTE_RUNNER_PULUMI=missing
fi
phase "end-to-end suite: VPS scripts on real containers, bootstrap, pulumi preview and up/destroy"
npm run test:e2e
