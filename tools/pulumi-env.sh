# shellcheck shell=bash
# Source this (bash) to run this project's Pulumi offline:
#
#   bash tools/pulumi-toolchain.sh     # once: builds or finds the engine and plugins
#   source tools/pulumi-env.sh
#   pulumi stack select dev && pulumi preview
#
# It sets, without touching anything that is already set:
# - PATH: the Go-built toolchain (when tools/pulumi-toolchain.sh built one) and the
#   project's node_modules/.bin, so the engine runs Node 24 from the npm package `node`.
# - PULUMI_HOME: $BYTE_RUNNER_CACHE/pulumi-home (plugin cache) for the built toolchain.
# - PULUMI_SKIP_UPDATE_CHECK / PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: never go online;
#   a missing plugin is an error instead of a download attempt.
# - PULUMI_BACKEND_URL: a local file backend in <repo>/.state/backend (gitignored), unless
#   already set, so a team can point at its real backend (s3://..., https://...).
# - Secrets provider passphrase: an existing PULUMI_CONFIG_PASSPHRASE or
#   PULUMI_CONFIG_PASSPHRASE_FILE wins; else <repo>/.state/passphrase is used when that file
#   exists (keep it 0600; losing it makes the stack's secrets unreadable); else the empty
#   passphrase, which is fine for throwaway local stacks only.

_pulumi_env_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=SCRIPTDIR/toolchain/versions.sh
. "$_pulumi_env_repo/tools/toolchain/versions.sh"

_pulumi_env_prepend_path() {
    case ":$PATH:" in
        *":$1:"*) ;;
        *) PATH="$1:$PATH" ;;
    esac
}

_pulumi_env_prepend_path "$_pulumi_env_repo/node_modules/.bin"
if [[ -x "$PULUMI_TOOLCHAIN_BIN/pulumi" ]]; then
    _pulumi_env_prepend_path "$PULUMI_TOOLCHAIN_BIN"
    export PULUMI_HOME="${PULUMI_HOME:-$PULUMI_TOOLCHAIN_CACHE/pulumi-home}"
elif ! command -v pulumi >/dev/null 2>&1; then
    echo "pulumi-env.sh: no pulumi yet; run: bash $_pulumi_env_repo/tools/pulumi-toolchain.sh" >&2
fi
export PATH

export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

if [[ -z "${PULUMI_BACKEND_URL:-}" ]]; then
    mkdir -p "$_pulumi_env_repo/.state/backend"
    export PULUMI_BACKEND_URL="file://$_pulumi_env_repo/.state/backend"
fi

if [[ -z "${PULUMI_CONFIG_PASSPHRASE+set}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    if [[ -f "$_pulumi_env_repo/.state/passphrase" ]]; then
        export PULUMI_CONFIG_PASSPHRASE_FILE="$_pulumi_env_repo/.state/passphrase"
    else
        export PULUMI_CONFIG_PASSPHRASE=""
    fi
fi

unset -f _pulumi_env_prepend_path
unset _pulumi_env_repo
unset PULUMI_CLI_VERSION PULUMI_LANGHOST_VERSION PULUMI_TOOLCHAIN_CACHE PULUMI_TOOLCHAIN_BIN
