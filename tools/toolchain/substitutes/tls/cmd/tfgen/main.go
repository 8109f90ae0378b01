package main

import (
	info "byte-runner-infra/toolchain/substitutes/tls"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
)

func main() { tfgen.Main("tls", info.Provider()) }
