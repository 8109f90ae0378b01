#!/usr/bin/env bash
# actionlint, the linter for GitHub Actions workflows, built from its Go module on first use
# (no release download is reachable here) and cached outside the clone; then run.
#   bash tools/actionlint.sh [ACTIONLINT ARGS...]   e.g. bash tools/actionlint.sh .github/workflows/*.yml
#   bash tools/actionlint.sh --build                only make sure it is built
# It checks the run: scripts with shellcheck when shellcheck is on PATH.
set -euo pipefail

ACTIONLINT_VERSION=1.7.12
cache_root=${BYTE_RUNNER_CACHE:-$HOME/.cache/byte-runner-infra}
bin_dir=$cache_root/go-tools/actionlint-v$ACTIONLINT_VERSION
bin=$bin_dir/actionlint

die() {
    printf '[actionlint] error: %s\n' "$*" >&2
    exit 1
}

if [[ ! -x $bin ]]; then
    command -v go >/dev/null 2>&1 || die "go not found: Go 1.22 or later is needed to build actionlint"
    printf '[actionlint] building github.com/rhysd/actionlint v%s (once; cached in %s)\n' "$ACTIONLINT_VERSION" "$bin_dir" >&2
    mkdir -p "$cache_root/go-tools"
    # Built aside and renamed into place: two runs at once must not see a half-written binary.
    partial=$(mktemp -d "$cache_root/go-tools/.actionlint.XXXXXX")
    trap 'rm -rf "$partial"' EXIT
    # The same compile cache as the Pulumi toolchain: one directory to keep or delete.
    GOBIN=$partial GOCACHE=$cache_root/go-build GOFLAGS=-buildvcs=false \
        go install -trimpath "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION" ||
        die "go install github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION failed"
    mkdir -p "$bin_dir"
    mv -f "$partial/actionlint" "$bin"
fi

if [[ ${1:-} == --build ]]; then
    "$bin" -version | head -n 1
    exit 0
fi
exec "$bin" "$@"
