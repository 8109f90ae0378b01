# shellcheck shell=bash
# shellcheck disable=SC2034 # sourced: the variables are used by the scripts that source it
# Versions of the Go-built Pulumi engine, shared by tools/pulumi-toolchain.sh and
# tools/pulumi-env.sh. Plugin versions are NOT here: they come from
# node_modules/@pulumi/<name>/package.json (field pulumi.version).

# The CLI. The project's SDK is @pulumi/pulumi 3.270.0, but the Go proxy this project can
# reach does not serve github.com/pulumi/pulumi/pkg/v3 v3.270.0; v3.274.1 is the closest
# served release at or above it (a newer engine runs an older SDK; an older one may not).
# Keep this equal to the versions required in tools/toolchain/cli/go.mod.
PULUMI_CLI_VERSION=3.274.1

# The Node.js language host. Since mid-2023 it lives in its own module
# (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3), which the proxy does
# not serve at any version. Before that it was a package of the sdk/v3 module, and v3.68.0
# is the newest sdk/v3 release served that still carries it. It speaks the same
# LanguageRuntime gRPC protocol and starts the project's own @pulumi/pulumi run script, so
# the SDK version in node_modules is what runs the program.
# Keep this equal to the version required in tools/toolchain/langhost/go.mod.
PULUMI_LANGHOST_VERSION=3.68.0

# Where builds and PULUMI_HOME live: outside the repo, reused by later runs.
PULUMI_TOOLCHAIN_CACHE="${BYTE_RUNNER_CACHE:-$HOME/.cache/byte-runner-infra}"
PULUMI_TOOLCHAIN_BIN="$PULUMI_TOOLCHAIN_CACHE/pulumi/$PULUMI_CLI_VERSION/bin"
