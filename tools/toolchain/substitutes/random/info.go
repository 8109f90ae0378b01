// Package info is a stand-in for the pulumi-random 4.21.2 plugin, built by
// `tools/pulumi-toolchain.sh --substitutes` because the Go proxy here does not serve
// github.com/pulumi/pulumi-random/provider/v4 at its release commit.
//
// It bridges the upstream Terraform provider (served at the pseudo-version in go.mod) with
// pulumi-terraform-bridge v3.120.0, the newest bridge served. Tokens follow the published
// SDK (random:index/randomPassword:RandomPassword); the generated schema's resources and
// property names match node_modules/@pulumi/random. It differs from the real release: the
// upstream commit may not be the one 4.21.2 used, terraform-plugin-framework/-go are
// replaced down to what the bridge's terraform-plugin-sdk fork implements, and none of the
// provider's own overrides (docs, aliases, defaults) are present.
//
// After changing a pin, regenerate the embedded schema from this folder:
//
//	go build -trimpath -o /tmp/tfgen ./cmd/tfgen && /tmp/tfgen schema --out /tmp/schema
//	cp /tmp/schema/schema.json cmd/pulumi-resource-random/ && cp /tmp/schema/bridge-metadata.json .
package info

import (
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	"github.com/terraform-providers/terraform-provider-random/shim"
)

//go:embed bridge-metadata.json
var metadata []byte

// Version is the plugin version the npm package @pulumi/random asks for.
const Version = "4.21.2"

func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         "random",
		Version:      Version,
		GitHubOrg:    "hashicorp",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
	}
	// Keep the "random_" prefix in names: random_password -> RandomPassword, as published.
	info.MustComputeTokens(tokens.SingleModule("", "index", tokens.MakeStandard("random")))
	return info
}
