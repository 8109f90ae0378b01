#!/usr/bin/env bash
# Provides the Pulumi engine (pulumi, pulumi-language-nodejs) and the provider plugins this
# project's npm packages ask for, on machines that reach only the Go module proxy, npm and
# Debian (no get.pulumi.com, no GitHub). The facts behind it are in the team's
# shared/reference/pulumi-offline-toolchain.md.
#
#   bash tools/pulumi-toolchain.sh [--substitutes] [--allow-missing-plugins] [--missing-report FILE]
#   bash tools/pulumi-toolchain.sh --download    only fetch the Go modules every build needs
#   source tools/pulumi-env.sh        # then: pulumi preview / up ...
#
# - Versions come from the project: node_modules/@pulumi/pulumi (SDK) and
#   node_modules/@pulumi/<name>/package.json field pulumi.version (plugins; each is
#   installed under exactly that version). Run `npm ci` first (not needed for --download).
# - A `pulumi` already on PATH is used as is when it is at least the SDK's version and
#   every plugin is already in its plugin cache.
# - Otherwise everything is built from Go modules into
#   ${BYTE_RUNNER_CACHE:-$HOME/.cache/byte-runner-infra}/pulumi/<cli version>/bin, one binary
#   at a time (go build already uses every core); a binary already built from the same
#   sources and flags is skipped, so a second run takes seconds. Every binary is compiled
#   with the same flags (GO_BUILD_FLAGS), so Go's compile cache builds a package shared by
#   several of them once. Plugin binaries are built into $BYTE_RUNNER_CACHE/pulumi/plugin-builds
#   (off PATH) and installed into PULUMI_HOME ($BYTE_RUNNER_CACHE/pulumi-home) with
#   `pulumi plugin install --file`.
# - Release builds: toolchain/providers.tsv pins each plugin's release module. The Go proxy
#   here answers 403 "This module version is not available" for all five at their release
#   commits, so none can be built from its release; each is then reported missing, or, with
#   --substitutes, replaced by its stand-in.
# - --substitutes: for a plugin whose release module cannot be had, build the stand-in in
#   toolchain/substitutes/<name>/ instead and install it under the version the npm package
#   asks for. random, tls, docker and cloudflare are the upstream Terraform providers bridged
#   with pulumi-terraform-bridge, tokens and names as the npm package has them (cloudflare
#   cut down to the three resources this program uses); they build in one Go workspace
#   (substitutes/go.work) so they share their dependencies. command is written here on
#   pulumirpc. None is the release: read each one's info.go.
# - Ends with a smoke check (pulumi version, pulumi plugin ls) and exits 2 when a plugin
#   is missing, unless --allow-missing-plugins is given (the engine alone is then enough,
#   e.g. for programs without provider resources or with dynamic providers).
#   --missing-report FILE: the names of the missing plugins, one per line, are written to
#   FILE (empty when none), so that a caller can run what needs only the others.
# - $BYTE_RUNNER_CACHE/go-build is Go's compile cache (GOCACHE; ~4.5 GB after a cold build of
#   everything). It only speeds up rebuilds after a version change; deleting it is safe.
#
# A cold build of everything takes about 10 min on 2 cores (2026-11-30, Go modules already
# downloaded; 13 min before the stand-ins shared their compiled packages): the CLI ~4 min,
# random ~1.5 min, docker ~1.5 min, cloudflare ~2.5 min, the language host, command and tls
# under 20 s each (tls finds all it needs compiled).
#
# The language host built here (sdk v3.68.0) reads its options from command-line flags,
# which current engines no longer pass: Pulumi.yaml's `runtime.options` (typescript: false,
# nodeargs: --import tsx, which a released engine and language host honour) are ignored
# here, and the SDK runs the .ts program through the project's typescript and its vendored
# ts-node (type-checking unless PULUMI_NODEJS_TRANSPILE_ONLY=true). Its RunPlugin, which
# current engines use to start Node.js policy packs, answered "not supported": it is built
# from a patched copy whose RunPlugin is toolchain/langhost/runplugin (patched_langhost).
set -euo pipefail
shopt -s inherit_errexit

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
TOOLCHAIN_DIR="$SCRIPT_DIR/toolchain"
# shellcheck source=SCRIPTDIR/toolchain/versions.sh
. "$TOOLCHAIN_DIR/versions.sh"

ALLOW_MISSING_PLUGINS=0
USE_SUBSTITUTES=0
DOWNLOAD_ONLY=0
MISSING_REPORT=""

log() { printf '[pulumi-toolchain] %s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

parse_args() {
    while (($# > 0)); do
        case "$1" in
            --allow-missing-plugins) ALLOW_MISSING_PLUGINS=1 ;;
            --substitutes) USE_SUBSTITUTES=1 ;;
            --download) DOWNLOAD_ONLY=1 ;;
            --missing-report)
                (($# >= 2)) || die "--missing-report needs a file"
                MISSING_REPORT="$2"
                shift
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            *) die "unknown argument: $1 (see --help)" ;;
        esac
        shift
    done
}

# node is needed to read package.json files; prefer the project's own (npm package `node`).
node_bin() {
    if [[ -x "$REPO_DIR/node_modules/.bin/node" ]]; then
        printf '%s\n' "$REPO_DIR/node_modules/.bin/node"
    elif command -v node >/dev/null 2>&1; then
        command -v node
    else
        die "node not found: run 'npm ci' in $REPO_DIR first"
    fi
}

# package_field FILE EXPR: prints a field of a package.json, e.g. `p.pulumi.version`.
package_field() {
    local file="$1" expr="$2"
    [[ -f "$file" ]] || die "$file not found: run 'npm ci' in $REPO_DIR first"
    "$(node_bin)" -e '
		const p = require(process.argv[1]);
		const v = (new Function("p", "return " + process.argv[2]))(p);
		if (typeof v !== "string" || v === "") process.exit(3);
		console.log(v);' "$file" "$expr" ||
        die "$file has no $expr"
}

# version_at_least A B: true when version A >= version B (both X.Y.Z, optional leading v).
version_at_least() {
    local a="${1#v}" b="${2#v}"
    [[ "$(printf '%s\n%s\n' "$a" "$b" | sort -V | head -n1)" == "$b" ]]
}

# Provider rows from toolchain/providers.tsv, comments dropped.
provider_rows() {
    grep -v '^#' "$TOOLCHAIN_DIR/providers.tsv" | grep -v '^[[:space:]]*$'
}

# wanted_plugins: prints "name version" for each provider plugin the npm packages ask for.
wanted_plugins() {
    local name version
    while IFS=$'\t' read -r name _; do
        version=$(package_field "$REPO_DIR/node_modules/@pulumi/$name/package.json" 'p.pulumi.version')
        printf '%s %s\n' "$name" "$version"
    done < <(provider_rows)
}

# installed_plugin_versions PULUMI: prints "name version" for each resource plugin in the
# plugin cache of the PULUMI_HOME in effect.
installed_plugin_versions() {
    "$1" plugin ls --json 2>/dev/null | "$(node_bin)" -e '
		let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
			for (const p of JSON.parse(s || "[]") || [])
				if (p.kind === "resource") console.log(p.name + " " + p.version);
		});'
}

missing_plugins() {
    local pulumi="$1" wanted="$2" installed
    installed=$(installed_plugin_versions "$pulumi" || true)
    grep -vxF -f <(printf '%s\n' "$installed") <<<"$wanted" || true
}

# An ambient `pulumi` (not ours) that is new enough and already has every plugin.
try_ambient_pulumi() {
    local sdk_version="$1" wanted="$2" ambient version missing
    ambient=$(command -v pulumi 2>/dev/null) || return 1
    [[ "$ambient" != "$PULUMI_TOOLCHAIN_BIN/pulumi" ]] || return 1
    version=$("$ambient" version 2>/dev/null) || return 1
    if ! version_at_least "$version" "$sdk_version"; then
        log "ignoring $ambient: $version is older than the SDK's $sdk_version"
        return 1
    fi
    missing=$(missing_plugins "$ambient" "$wanted")
    if [[ -n "$missing" ]]; then
        log "ignoring $ambient: its plugin cache lacks $(tr '\n' ' ' <<<"$missing")"
        return 1
    fi
    log "using $ambient ($version) and its plugins"
    AMBIENT_PULUMI="$ambient"
}

# One set of compile flags for every binary, as upstream's release builds use them. Go's
# compile cache reuses a package only when its flags and build tags match, so a binary
# built with other tags would compile every shared package (pulumi sdk, grpc ...) again.
GO_BUILD_TAGS=osusergo,grpcnotrace
GO_BUILD_FLAGS=(-trimpath -tags "$GO_BUILD_TAGS")

# build_binary OUT STAMP_KEY WORKDIR GO_BUILD_ARGS...: `go build GO_BUILD_FLAGS -o OUT` in
# WORKDIR, skipped when OUT exists and was built with the same STAMP_KEY (what was built and
# how). Prints a start line and the elapsed seconds; the output goes to a log file.
build_binary() {
    local out="$1" key="$2 tags=$GO_BUILD_TAGS" workdir="$3"
    shift 3
    local name stamp log_file started=$SECONDS
    name=$(basename "$out")
    stamp="$(dirname "$out")/.$name.stamp"
    log_file="$LOG_DIR/$name.log"
    if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$key" ]]; then
        log "skip  $name: already built ($key)"
        return 0
    fi
    log "build $name: $key (log: $log_file) ..."
    rm -f "$stamp"
    if ! (cd "$workdir" && go build "${GO_BUILD_FLAGS[@]}" -o "$out.tmp" "$@") >"$log_file" 2>&1; then
        tail -n 30 "$log_file" >&2
        die "building $name failed after $((SECONDS - started))s; full log: $log_file"
    fi
    mv -f "$out.tmp" "$out"
    printf '%s\n' "$key" >"$stamp"
    log "built $name in $((SECONDS - started))s"
}

# require_go_mod_version DIR MODULE VERSION: the wrapper's go.mod must pin what versions.sh says.
require_go_mod_version() {
    grep -qE "^[[:space:]]*(require[[:space:]]+)?$2 v$3([[:space:]]*//.*)?\$" "$1/go.mod" ||
        die "$1/go.mod does not require $2 v$3 (keep it in step with toolchain/versions.sh)"
}

build_engine() {
    local version_flag="-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version"
    require_go_mod_version "$TOOLCHAIN_DIR/cli" github.com/pulumi/pulumi/pkg/v3 "$PULUMI_CLI_VERSION"
    require_go_mod_version "$TOOLCHAIN_DIR/cli" github.com/pulumi/pulumi/sdk/v3 "$PULUMI_CLI_VERSION"
    require_go_mod_version "$TOOLCHAIN_DIR/langhost" github.com/pulumi/pulumi/sdk/v3 "$PULUMI_LANGHOST_VERSION"
    build_binary "$PULUMI_TOOLCHAIN_BIN/pulumi" "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_CLI_VERSION" \
        "$TOOLCHAIN_DIR/cli" -ldflags "$version_flag=v$PULUMI_CLI_VERSION" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    local langhost
    langhost=$(patched_langhost)
    build_binary "$PULUMI_TOOLCHAIN_BIN/pulumi-language-nodejs" \
        "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_LANGHOST_VERSION runplugin $(sha256sum "$langhost/$LANGHOST_MAIN" "$langhost"/runplugin/*.go | sha256sum | cut -c1-16)" \
        "$langhost" -ldflags "$version_flag=v$PULUMI_LANGHOST_VERSION" "./$(dirname "$LANGHOST_MAIN")"
}

# The language host's main package, copied from the module cache into a work copy of the
# wrapper module (toolchain/langhost) and patched so that its RunPlugin, which v3.68.0 answers
# with "not supported", calls toolchain/langhost/runplugin: current engines start Node.js
# policy packs (`pulumi preview --policy-pack`) through it. Prints the work copy's directory.
LANGHOST_MAIN=cmd/pulumi-language-nodejs/main.go
patched_langhost() {
    local work="$PULUMI_TOOLCHAIN_CACHE/pulumi/work/langhost" upstream file main
    upstream=$(cd "$TOOLCHAIN_DIR/langhost" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)/nodejs/cmd/pulumi-language-nodejs
    [[ -f $upstream/main.go ]] || die "no language host in $upstream"
    rm -rf "$work"
    mkdir -p "$work/$(dirname "$LANGHOST_MAIN")"
    cp "$TOOLCHAIN_DIR/langhost/go.mod" "$TOOLCHAIN_DIR/langhost/go.sum" "$work/"
    cp -R "$TOOLCHAIN_DIR/langhost/runplugin" "$work/"
    for file in "$upstream"/*.go; do
        [[ $file == *_test.go ]] || install -m 0644 "$file" "$work/$(dirname "$LANGHOST_MAIN")/"
    done
    main="$work/$LANGHOST_MAIN"
    awk '
        /^func \(host \*nodeLanguageHost\) RunPlugin\(/ { in_run_plugin = 1 }
        in_run_plugin && /return errors\.New\("not supported"\)/ { sub(/errors\.New\("not supported"\)/, "runplugin.Run(req, server)"); in_run_plugin = 0; patched++ }
        { print }
        /^\tpulumirpc "github.com\/pulumi\/pulumi\/sdk\/v3\/proto\/go"$/ { print "\t\"byte-runner-infra/toolchain/langhost/runplugin\""; imported++ }
        END { if (patched != 1 || imported != 1) exit 3 }
    ' "$upstream/main.go" >"$main" ||
        die "patching $upstream/main.go for RunPlugin failed: its RunPlugin or imports are not what toolchain/langhost/runplugin expects"
    printf '%s\n' "$work"
}

# Dynamic providers (pulumi.dynamic.Resource) run through pulumi-resource-pulumi-nodejs, a
# shell script that ships in the npm SDK and that upstream puts next to the pulumi binary.
install_dynamic_provider_host() {
    local name=pulumi-resource-pulumi-nodejs
    local source="$REPO_DIR/node_modules/@pulumi/pulumi/$name" target="$PULUMI_TOOLCHAIN_BIN/$name"
    [[ -f "$source" ]] || die "$source not found: run 'npm ci' in $REPO_DIR first"
    if ! cmp -s "$source" "$target"; then
        install -m 0755 "$source" "$target"
        log "installed $name from the npm SDK"
    fi
}

# module_served MODULE VERSION: asks the Go proxy for the module zip; prints why not on failure.
module_served() {
    local scratch served=0
    scratch=$(mktemp -d)
    (cd "$scratch" && go mod init probe && go mod download -json "$1@$2") >"$scratch/out" 2>&1 || served=1
    if ((served != 0)); then
        # Go's message, without the address it asked (the proxy is the machine's business).
        grep -m1 -E '"Error"|403|404|not available|invalid' "$scratch/out" |
            sed -E 's/^[[:space:]]*/  /; s#(reading )?https?://[^ ]*:? ?##g' >&2 ||
            tail -n 3 "$scratch/out" >&2
    fi
    rm -rf "$scratch"
    return "$served"
}

# build_provider NAME VERSION: builds pulumi-resource-NAME into PLUGIN_BUILD_DIR from the row of
# providers.tsv; returns 1 (after saying why) when it cannot be built here.
build_provider() {
    local name="$1" version="$2" row plugin_version module release kind main_package version_var
    row=$(provider_rows | awk -F '\t' -v n="$name" '$1 == n')
    IFS=$'\t' read -r _ plugin_version module release kind main_package version_var <<<"$row"
    if [[ "$plugin_version" != "$version" ]]; then
        log "no release build of $name $version: toolchain/providers.tsv pins release $plugin_version; find the release commit of $version and update the row"
        return 1
    fi
    if [[ "$release" == "-" ]]; then
        log "no release build of $name $version: release commit of $module unknown (its sdk tag is not served by the proxy)"
        return 1
    fi
    if ! module_served "$module" "$release"; then
        log "no release build of $name $version: the Go proxy does not serve $module@$release"
        return 1
    fi
    local flags="-X $version_var=v$version"
    case "$kind" in
        native)
            # No replace directives upstream: a throwaway module that requires it is enough.
            local work="$PULUMI_TOOLCHAIN_CACHE/pulumi/work/$name"
            mkdir -p "$work"
            if [[ ! -f "$work/go.mod" ]] || ! grep -q "$module $release" "$work/go.mod"; then
                rm -f "$work/go.mod" "$work/go.sum"
                (cd "$work" && go mod init "byte-runner-infra/toolchain/$name" && go get "$module@$release") \
                    >"$LOG_DIR/pulumi-resource-$name.get.log" 2>&1 ||
                    die "resolving $module@$release failed; log: $LOG_DIR/pulumi-resource-$name.get.log"
            fi
            build_binary "$PLUGIN_BUILD_DIR/pulumi-resource-$name" "$module@$release $flags" "$work" \
                -ldflags "$flags" "$main_package"
            ;;
        bridged)
            local wrapper="$TOOLCHAIN_DIR/providers/$name"
            if [[ ! -f "$wrapper/go.mod" ]]; then
                log "no release build of $name $version: $module@$release is served, but the wrapper module $wrapper (shim, upstream replace, main.go) is not written yet"
                return 1
            fi
            require_go_mod_version "$wrapper" "$module" "${release#v}"
            build_binary "$PLUGIN_BUILD_DIR/pulumi-resource-$name" "$module@$release $flags" "$wrapper" \
                -ldflags "$flags" .
            ;;
        *) die "toolchain/providers.tsv: unknown kind '$kind' for $name" ;;
    esac
}

# build_substitute NAME VERSION: builds pulumi-resource-NAME from toolchain/substitutes/NAME,
# whose info.go must declare the same Version and whose plugin package embeds the schema
# its cmd/tfgen generated. Returns 1 (after saying why) when there is none.
build_substitute() {
    local name="$1" version="$2"
    local dir="$TOOLCHAIN_DIR/substitutes/$name" declared key
    if [[ ! -f "$dir/go.mod" ]]; then
        log "no substitute for $name in $dir"
        return 1
    fi
    declared=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' "$dir/info.go")
    if [[ "$declared" != "$version" ]]; then
        log "substitute for $name is for $declared, the npm package asks for $version: update $dir"
        return 1
    fi
    # In the bridged stand-ins' workspace or on its own; rebuilt whenever any of its sources
    # (or the workspace's version choices) change.
    local -x GOWORK
    GOWORK=$(substitute_workspace "$name")
    key="substitute $name $version $(find "$dir" -type f | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)"
    if [[ $GOWORK != off ]]; then
        key+=" workspace $(cat "$GOWORK" "$GOWORK.sum" 2>/dev/null | sha256sum | cut -c1-16)"
    fi
    build_binary "$PLUGIN_BUILD_DIR/pulumi-resource-$name" "$key" "$dir" "./cmd/pulumi-resource-$name"
    log "SUBSTITUTE $name $version: a stand-in, not the release (how it differs: $dir/info.go)"
}

# A stand-in installed into the plugin cache is marked so, so that later runs (and the
# smoke check) can tell it from a release.
SUBSTITUTE_MARK=.byte-runner-substitute

# install_plugins PULUMI WANTED: every wanted plugin into PULUMI_HOME's plugin cache;
# counts in MISSING_PLUGINS those that could not be provided.
MISSING_PLUGINS=0
install_plugins() {
    local pulumi="$1" wanted="$2" name version installed bin substitute
    while read -r name version; do
        installed="$PULUMI_HOME/plugins/resource-$name-v$version/pulumi-resource-$name"
        bin="$PLUGIN_BUILD_DIR/pulumi-resource-$name"
        substitute=0
        if [[ -x "$installed" && ! -x "$bin" ]]; then
            log "skip  plugin $name $version: installed by other means"
            continue
        fi
        if ! build_provider "$name" "$version"; then
            if ((USE_SUBSTITUTES)) && build_substitute "$name" "$version"; then
                substitute=1
            else
                MISSING_PLUGINS=$((MISSING_PLUGINS + 1))
                continue
            fi
        fi
        if cmp -s "$bin" "$installed"; then
            log "skip  plugin $name $version: already installed"
        else
            "$pulumi" plugin install resource "$name" "$version" --file "$bin" --reinstall >&2
        fi
        if ((substitute)); then
            touch "$(dirname "$installed")/$SUBSTITUTE_MARK"
        else
            rm -f "$(dirname "$installed")/$SUBSTITUTE_MARK"
        fi
    done <<<"$wanted"
}

# installed_substitutes WANTED: prints "name version" of each wanted plugin whose copy in
# the plugin cache is a stand-in.
installed_substitutes() {
    local name version
    while read -r name version; do
        if [[ -f "${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-$name-v$version/$SUBSTITUTE_MARK" ]]; then
            printf '%s %s\n' "$name" "$version"
        fi
    done <<<"$1"
}

smoke_check() {
    local pulumi="$1" wanted="$2" missing substitutes
    log "smoke check: $pulumi version / plugin ls (PULUMI_HOME=${PULUMI_HOME:-default})"
    "$pulumi" version
    "$pulumi" plugin ls
    missing=$(missing_plugins "$pulumi" "$wanted")
    substitutes=$(installed_substitutes "$wanted")
    if [[ -n "$substitutes" ]]; then
        if ((USE_SUBSTITUTES)); then
            log "stand-ins in use, not releases: $(tr '\n' ' ' <<<"$substitutes")"
        else
            log "installed stand-ins count as missing without --substitutes: $(tr '\n' ' ' <<<"$substitutes")"
            missing=$(printf '%s\n%s\n' "$missing" "$substitutes" | grep -v '^$' || true)
        fi
    fi
    if [[ -n "$MISSING_REPORT" ]]; then
        { [[ -z "$missing" ]] || cut -d' ' -f1 <<<"$missing"; } >"$MISSING_REPORT"
    fi
    if [[ -n "$missing" ]]; then
        log "plugins NOT available (name version):"
        while read -r line; do log "  $line"; done <<<"$missing"
        if ((ALLOW_MISSING_PLUGINS)); then
            log "continuing anyway (--allow-missing-plugins): programs using these providers will fail"
            return 0
        fi
        log "toolchain incomplete (exit 2); --allow-missing-plugins accepts an engine without them"
        exit 2
    fi
    log "all $(wc -l <<<"$wanted") plugins present at the versions the npm packages ask for"
}

require_go() {
    command -v go >/dev/null 2>&1 || die "go not found: Go 1.22 or later is needed to build the Pulumi engine and its plugins"
}

# substitute_workspace NAME: the go.work the stand-in NAME builds in (substitutes/go.work,
# shared by the bridged ones), or "off" when it builds on its own module.
substitute_workspace() {
    local workspace="$TOOLCHAIN_DIR/substitutes/go.work"
    if [[ -f $workspace ]] && grep -Eq "^[[:space:]]*(use[[:space:]]+)?\./$1[[:space:]]*\$" "$workspace"; then
        printf '%s\n' "$workspace"
    else
        printf 'off\n'
    fi
}

# download_modules: the Go modules each build needs, into the module cache (the network
# part of a cold build; it needs no npm package, so it can start before `npm ci`). Listing
# a main package's dependencies fetches exactly the modules its build will read.
download_modules() {
    local started=$SECONDS dir name
    log "downloading the Go modules of the engine and the stand-ins"
    (cd "$TOOLCHAIN_DIR/cli" && GOWORK=off go list -deps -tags "$GO_BUILD_TAGS" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi >/dev/null) ||
        die "downloading the Go modules of the CLI failed"
    (cd "$TOOLCHAIN_DIR/langhost" && GOWORK=off go list -deps -tags "$GO_BUILD_TAGS" github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs >/dev/null) ||
        die "downloading the Go modules of the language host failed"
    for dir in "$TOOLCHAIN_DIR"/substitutes/*/; do
        name=$(basename "$dir")
        [[ -f "$dir/go.mod" ]] || continue
        (cd "$dir" && GOWORK=$(substitute_workspace "$name") go list -deps -tags "$GO_BUILD_TAGS" "./cmd/pulumi-resource-$name" >/dev/null) ||
            die "downloading the Go modules of the $name stand-in failed"
    done
    log "Go modules downloaded in $((SECONDS - started))s (module cache: $(go env GOMODCACHE))"
}

main() {
    parse_args "$@"
    # No VCS stamping (the wrappers sit in this repo); no workspace unless a build names one.
    export GOFLAGS="-buildvcs=false" GOWORK=off
    if ((DOWNLOAD_ONLY)); then
        require_go
        download_modules
        return 0
    fi
    local started=$SECONDS sdk_version wanted
    sdk_version=$(package_field "$REPO_DIR/node_modules/@pulumi/pulumi/package.json" 'p.version')
    wanted=$(wanted_plugins)
    log "SDK @pulumi/pulumi $sdk_version; plugins wanted: $(tr '\n' ' ' <<<"$wanted")"

    AMBIENT_PULUMI=""
    try_ambient_pulumi "$sdk_version" "$wanted" || true
    if [[ -n "$AMBIENT_PULUMI" ]]; then
        smoke_check "$AMBIENT_PULUMI" "$wanted"
        return 0
    fi

    version_at_least "$PULUMI_CLI_VERSION" "$sdk_version" ||
        die "CLI $PULUMI_CLI_VERSION is older than the SDK $sdk_version: raise PULUMI_CLI_VERSION in toolchain/versions.sh and toolchain/cli/go.mod"
    require_go

    LOG_DIR="$PULUMI_TOOLCHAIN_CACHE/pulumi/logs"
    # Plugin binaries stay off PATH: the engine would take a pulumi-resource-* on PATH
    # whatever its version, instead of the plugin cache's exact versions.
    PLUGIN_BUILD_DIR="$PULUMI_TOOLCHAIN_CACHE/pulumi/plugin-builds"
    mkdir -p "$PULUMI_TOOLCHAIN_BIN" "$LOG_DIR" "$PLUGIN_BUILD_DIR"
    # Compiled packages are cached beside the binaries (reused by later runs); downloaded
    # modules stay in the default GOMODCACHE.
    export GOCACHE="$PULUMI_TOOLCHAIN_CACHE/go-build"
    export PULUMI_HOME="${PULUMI_HOME:-$PULUMI_TOOLCHAIN_CACHE/pulumi-home}"
    export PULUMI_SKIP_UPDATE_CHECK=true
    export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
    mkdir -p "$PULUMI_HOME"

    build_engine
    install_dynamic_provider_host
    local pulumi="$PULUMI_TOOLCHAIN_BIN/pulumi"
    install_plugins "$pulumi" "$wanted"
    log "done in $((SECONDS - started))s ($MISSING_PLUGINS plugin(s) missing)"
    smoke_check "$pulumi" "$wanted"
}

main "$@"
