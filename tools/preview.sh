#!/usr/bin/env bash
# `pulumi preview` of a committed stack (staging, prod) with the real engine and every
# real provider, offline, with placeholder credentials: the committed stack file is
# copied to .state/preview/ and the placeholders are set there as secrets, so the
# committed file stays untouched. The policy pack (policy/) runs with it: a mandatory rule
# broken fails the preview. Fails on any error diagnostic.
#   bash tools/preview.sh staging|prod [extra pulumi preview flags...]
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
stack=${1:?usage: preview.sh STACK [pulumi preview flags]}
shift
[[ -f Pulumi.$stack.yaml ]] || {
    printf '[preview] error: no Pulumi.%s.yaml\n' "$stack" >&2
    exit 2
}
# shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
source tools/pulumi-env.sh

work=$repo/.state/preview
mkdir -p "$work"
chmod 700 "$repo/.state" "$work"
config=$work/Pulumi.$stack.yaml
# `pulumi stack init` writes the new stack's encryption salt into the committed file:
# keep that file byte for byte as it was, and give the salt to the copy instead.
previous_salt=$(grep '^encryptionsalt:' "$config" 2>/dev/null || true)
cp "Pulumi.$stack.yaml" "$work/committed.yaml"
trap 'cp "$work/committed.yaml" "$repo/Pulumi.$stack.yaml"' EXIT
pulumi stack select "$stack" >/dev/null 2>&1 || pulumi stack init "$stack" --secrets-provider passphrase >/dev/null
new_salt=$(grep '^encryptionsalt:' "Pulumi.$stack.yaml" || true)
cp "$work/committed.yaml" "Pulumi.$stack.yaml"
salt=${new_salt:-$previous_salt}
{
    grep -v '^encryptionsalt:' "$work/committed.yaml"
    if [[ -n $salt ]]; then printf '%s\n' "$salt"; fi
} >"$config"
# Placeholders only: a throwaway key made here, and a token of the right shape.
if [[ ! -f $work/placeholder_ed25519 ]]; then
    ssh-keygen -q -t ed25519 -N '' -C placeholder -f "$work/placeholder_ed25519"
fi
pulumi config set --stack "$stack" --config-file "$config" --secret hostSshPrivateKey <"$work/placeholder_ed25519"
printf 'placeholder%s' "$(printf '0%.0s' $(seq 1 32))" |
    pulumi config set --stack "$stack" --config-file "$config" --secret cloudflare:apiToken
# The secrets the stack's settings call for (an offsite store's keys, an SMTP password): the
# offline graph's list (tools/graph.ts secretsToFill).
placeholders=$(node --import tsx tools/graph-cli.ts --secrets-to-fill "$stack")
for key in $placeholders; do
    printf 'placeholder-%s' "$key" | pulumi config set --stack "$stack" --config-file "$config" --secret "$key"
done

log=$work/preview-$stack.log
status=0
[[ -d policy/node_modules/@pulumi/policy ]] || {
    printf '[preview] error: the policy pack has no dependencies: bash tools/install-deps.sh npm (npm ci in policy/)\n' >&2
    exit 2
}
pulumi preview --stack "$stack" --config-file "$config" --non-interactive --diff --policy-pack "$repo/policy" "$@" 2>&1 | tee "$log" || status=$?
if grep -Eq '^ *error: ' "$log"; then
    printf '[preview] error diagnostics in the preview of %s (see above)\n' "$stack" >&2
    status=1
fi
exit "$status"
