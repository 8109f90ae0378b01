// Package info is a stand-in for the pulumi-docker 5.2.0 plugin, built by
// `tools/pulumi-toolchain.sh --substitutes` because the Go proxy here does not serve
// github.com/pulumi/pulumi-docker/provider/v5 at its release commit. See ../random/info.go
// for how such a stand-in differs from a release and how to regenerate the schema.
//
// Upstream (kreuzwerker/terraform-provider-docker) muxes an SDKv2 and a framework provider;
// both are bridged. Resource tokens, inputs and all 78 input types shared with
// node_modules/@pulumi/docker match it. Missing: docker.Image (and its CacheFrom,
// DockerBuild, Registry types), which pulumi-docker implements natively, not in Terraform.
// Extra: resources upstream added since (Compose, getContainers, getRegistryImageTags).
package info

import (
	"context"
	_ "embed"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge/tokens"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

//go:embed bridge-metadata.json
var metadata []byte

// Version is the plugin version the npm package @pulumi/docker asks for.
const Version = "5.2.0"

func Provider() tfbridge.ProviderInfo {
	ctx := context.Background()
	info := tfbridge.ProviderInfo{
		P: pftfbridge.MuxShimWithPF(ctx,
			shimv2.NewProvider(shim.SDKv2Provider(Version)), shim.FrameworkProvider(Version)),
		Name:         "docker",
		Version:      Version,
		GitHubOrg:    "kreuzwerker",
		MetadataInfo: tfbridge.NewProviderMetadata(metadata),
		Config: map[string]*tfbridge.SchemaInfo{
			"registry_auth": {Name: "registryAuth"},
		},
		// Names the published SDK gives differently from the standard rule (its own
		// docker.Image, a native resource, took the name "Image").
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_image": {Tok: "docker:index/remoteImage:RemoteImage"},
			"docker_container": {
				Tok: "docker:index/container:Container",
				// Published names keep these lists singular.
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_config": {Tok: "docker:index/serviceConfig:ServiceConfig"},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
	}
	info.MustComputeTokens(tokens.SingleModule("docker_", "index", tokens.MakeStandard("docker")))
	return info
}
