// Package info is a stand-in for the pulumi-tls 5.6.1 plugin, built by
// `tools/pulumi-toolchain.sh --substitutes` because the Go proxy here does not serve
// github.com/pulumi/pulumi-tls/provider/v5 at its release commit. See
// ../random/info.go for how such a stand-in differs from a release, and how to
// regenerate cmd/pulumi-resource-tls/schema.json after changing a pin.
package info

import (
	_ "embed"

	"github.com/hashicorp/terraform-provider-tls/shim"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
)

//go:embed bridge-metadata.json
var metadata []byte

// Version is the plugin version the npm package @pulumi/tls asks for.
const Version = "5.6.1"

func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider()),
		Name:         "tls",
		Version:      Version,
		GitHubOrg:    "hashicorp",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
	}
	// tls_private_key -> tls:index/privateKey:PrivateKey, as published.
	info.MustComputeTokens(tokens.SingleModule("tls_", "index", tokens.MakeStandard("tls")))
	return info
}
