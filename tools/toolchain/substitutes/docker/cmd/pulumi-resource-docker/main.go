package main

import (
	"context"
	_ "embed"

	info "byte-runner-infra/toolchain/substitutes/docker"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

//go:embed schema.json
var schema []byte

func main() {
	pftfbridge.MainWithMuxer(context.Background(), "docker", info.Provider(), schema)
}
