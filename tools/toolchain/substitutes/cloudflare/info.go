// Package info is a stand-in for the pulumi-cloudflare 6.22.1 plugin, built by
// `tools/pulumi-toolchain.sh --substitutes` because the Go proxy here does not serve
// github.com/pulumi/pulumi-cloudflare/provider/v6 at its release commit. See
// ../random/info.go for how such a stand-in differs from a release and how to regenerate
// the schema. Unlike the release it serves only the three resources this program uses
// (DnsRecord, OriginCaCertificate, ZoneSetting; see shim/shim.go): the whole upstream
// provider takes about an hour and ~25 GB of build cache to compile on two cores, too
// long for a CI run that builds its toolchain. Using another Cloudflare resource in the
// program means adding it to shim/shim.go and regenerating the schema. Upstream needs
// terraform-plugin-framework >= v1.17.0 (v1.16.1 lacks UseNonNullStateForUnknown);
// v1.17.0 is the newest that still speaks plugin-go v0.29.0, which the bridge uses.
package info

import (
	_ "embed"

	"github.com/cloudflare/terraform-provider-cloudflare/shim"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
)

//go:embed bridge-metadata.json
var metadata []byte

// Version is the plugin version the npm package @pulumi/cloudflare asks for.
const Version = "6.22.1"

func Provider() tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:            pftfbridge.ShimProvider(shim.NewProvider(Version)),
		Name:         "cloudflare",
		Version:      Version,
		GitHubOrg:    "cloudflare",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
	}
	info.MustComputeTokens(tokens.SingleModule("cloudflare_", "index", tokens.MakeStandard("cloudflare")))
	return info
}
