package main

import (
	"context"
	_ "embed"

	info "byte-runner-infra/toolchain/substitutes/cloudflare"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema.json
var schema []byte

func main() {
	pftfbridge.Main(context.Background(), "cloudflare", info.Provider(), pftfbridge.ProviderMetadata{PackageSchema: schema})
}
