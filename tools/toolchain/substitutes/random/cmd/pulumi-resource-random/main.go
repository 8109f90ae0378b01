package main

import (
	"context"
	_ "embed"

	info "byte-runner-infra/toolchain/substitutes/random"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema.json
var schema []byte

func main() {
	pftfbridge.Main(context.Background(), "random", info.Provider(), pftfbridge.ProviderMetadata{PackageSchema: schema})
}
