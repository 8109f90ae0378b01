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
phase "local VPS and toolchain for the end-to-end suite"
bash scripts/local-stack.sh setup
phase "end-to-end suite: pulumi preview of staging and prod, pulumi up/destroy of the local stack"
npm run test:e2e
