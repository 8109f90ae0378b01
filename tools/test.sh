#!/usr/bin/env bash
# Every test of the project, from a fresh clone on a fresh Debian machine (as root):
# installs what it needs, then runs the fast suite, the integration suite and the
# end-to-end suite (real Pulumi engine against this machine as the VPS).
#   bash tools/test.sh            everything
#   bash tools/test.sh --fast     typecheck, lint and the fast suite only
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
phase() { printf '\n[test] == %s (%s)\n' "$*" "$(date -u +%H:%M:%S)"; }
export PATH="$repo/node_modules/.bin:$PATH"

phase "dependencies"
bash tools/install-deps.sh
phase "typecheck and lint"
npm run --silent typecheck
npm run --silent lint
phase "fast suite: config, graphs, docs, scripts (no network, no servers)"
npm test
[[ ${1:-} == --fast ]] && exit 0

phase "integration suite: real PostgreSQL 15, nftables in network namespaces, Docker"
npm run test:integration
phase "local VPS for the end-to-end suite: Docker engine, stand-in images, sshd"
bash tools/local-stack.sh vps
# The engine with every plugin it can provide; tests that need a missing plugin report
# themselves skipped with the reason (BYTE_RUNNER_PLUGINS_MISSING), the others run.
missing_report=$(mktemp)
if bash tools/local-stack.sh toolchain "$missing_report"; then
    # The end-to-end suite starts from nothing: step 1 creates every resource.
    bash tools/local-stack.sh reset
    bash tools/local-stack.sh config
    export BYTE_RUNNER_PULUMI=ready
    BYTE_RUNNER_PLUGINS_MISSING=$(tr '\n' ' ' <"$missing_report")
    export BYTE_RUNNER_PLUGINS_MISSING
    if [[ -n ${BYTE_RUNNER_PLUGINS_MISSING// /} ]]; then
        printf '[test] WARNING: plugins missing: %s; the tests that need them will be SKIPPED\n' "$BYTE_RUNNER_PLUGINS_MISSING" >&2
    fi
else
    # Said loudly, and the tests that need the engine report themselves skipped with this reason.
    printf '[test] WARNING: the Pulumi engine or a plugin the local stack needs could not be built (see above); the preview and pulumi up tests will be SKIPPED\n' >&2
    export BYTE_RUNNER_PULUMI=missing
fi
rm -f "$missing_report"
phase "end-to-end suite: VPS scripts on real containers, bootstrap, pulumi preview and up/destroy"
npm run test:e2e
