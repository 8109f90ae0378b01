#!/usr/bin/env bash
# Every test of the project, from a fresh clone on a fresh Debian machine (as root):
# installs what it needs, then runs the fast suite, the integration suite, the workflow
# suite and the end-to-end suite (real Pulumi engine against this machine as the VPS).
#   bash tools/test.sh            everything
#   bash tools/test.sh --fast     typecheck, lint and the fast suite only
#
# A cold run is mostly the Go build of the Pulumi toolchain (CPU) and waits on the network
# and the disk (Debian packages, Go modules, npm, the stand-in images), so these overlap:
# the Go module downloads and the Debian packages start at once, the toolchain build as
# soon as npm's packages are there (it reads their versions), the images as soon as the
# Debian packages are; the suites that need neither run meanwhile, and so do the end-to-end
# files that do not need the engine. Background phases log to .local/phases/; a failed one
# ends the run with its name and the end of its log. A table of phase times closes every run.
#
# Nothing is skipped silently: a toolchain, plugin or tool that cannot be had fails the run
# and names it, unless BYTE_RUNNER_ALLOW_SKIP=1 is set; then the tests that need it report
# themselves skipped, and the output says so loudly.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
export PATH="$repo/node_modules/.bin:$PATH"
# shellcheck source-path=SCRIPTDIR source=phases.sh
source tools/phases.sh
phases_init test "$repo/.local/phases"
fast=0
if [[ ${1:-} == --fast ]]; then fast=1; fi

if ((!fast)); then
    phase_bg --skippable "Go modules of the Pulumi toolchain" bash tools/pulumi-toolchain.sh --download
    phase_bg --skippable "actionlint" bash tools/actionlint.sh --build
    phase_bg --skippable "local S3 server build" bash tools/local-vps/s3.sh build
fi
phase_bg "Debian packages" bash tools/install-deps.sh debian
# The fast suite checks the Caddyfile and alertmanager.yml with the releases the stacks pin,
# built from their Go modules (nothing reachable here has them); so do the stand-in images.
phase_bg "Go builds: Caddy, Alertmanager" bash -c 'bash tools/local-vps/go-build.sh caddy && bash tools/local-vps/go-build.sh alertmanager'
phase "npm dependencies"
bash tools/install-deps.sh npm
phases_check

if ((!fast)); then
    # Every plugin, stand-ins included, or the run fails (exit 2 names the missing ones).
    toolchain_args=(--substitutes)
    missing_report=$repo/.local/phases/missing-plugins.txt
    rm -f "$missing_report"
    if skip_allowed; then toolchain_args+=(--allow-missing-plugins --missing-report "$missing_report"); fi
    phase_bg --skippable "Pulumi toolchain" bash tools/pulumi-toolchain.sh "${toolchain_args[@]}"
fi

phase "typecheck and lint"
npm run --silent typecheck
npm run --silent lint
phase_wait "Debian packages"
if ((!fast)); then
    phase_bg "local VPS: Docker engine and stand-in images" bash tools/local-stack.sh images
fi

phase_wait "Go builds: Caddy, Alertmanager"
phase "fast suite: config, graphs, docs, scripts, rules (no network; Caddy and promtool on loopback)"
npm test
if ((fast)); then exit 0; fi
phases_check

phase "integration suite: real PostgreSQL 15, nftables in network namespaces, Docker"
npm run test:integration
phases_check

phase "workflow suite: actionlint, the pull-request workflow's run: steps in a fresh clone"
phase_wait "actionlint"
npm run --silent test:workflow
phases_check

# End-to-end files that call needsPlugins() need the engine; the others (VPS scripts on
# real containers, the host bootstrap) need only the local VPS and run while it builds.
mapfile -t e2e_engine < <(grep -l 'needsPlugins(' tests/e2e/*.test.ts)
mapfile -t e2e_vps < <(grep -L 'needsPlugins(' tests/e2e/*.test.ts)
if ((${#e2e_engine[@]} == 0)); then
    echo "[test] error: no file in tests/e2e/ calls needsPlugins(): where did the pulumi preview and up tests go?" >&2
    exit 1
fi

phase "local VPS: waiting for the images; sshd on 127.0.0.1"
phase_wait "local VPS: Docker engine and stand-in images"
bash tools/local-stack.sh sshd
bash tools/local-stack.sh s3

if ((${#e2e_vps[@]})); then
    phase "end-to-end suite, without the engine: ${e2e_vps[*]#tests/e2e/}"
    node --import tsx --test --test-concurrency=1 "${e2e_vps[@]}"
fi

phase "waiting for the Pulumi toolchain"
phase_wait "Go modules of the Pulumi toolchain" "Pulumi toolchain"
if phase_ok "Pulumi toolchain"; then
    if [[ -s $missing_report ]]; then
        BYTE_RUNNER_PLUGINS_MISSING=$(tr '\n' ' ' <"$missing_report")
        export BYTE_RUNNER_PLUGINS_MISSING
        say_skipped "the end-to-end tests that need the plugins $BYTE_RUNNER_PLUGINS_MISSING(they could not be built)"
    fi
    # The end-to-end suite starts from nothing: step 1 creates every resource.
    bash tools/local-stack.sh reset
    bash tools/local-stack.sh config
else
    export BYTE_RUNNER_PULUMI=missing
fi

phase "end-to-end suite, with the engine: pulumi preview and up/destroy (${e2e_engine[*]#tests/e2e/})"
node --import tsx --test --test-concurrency=1 "${e2e_engine[@]}"
