package main

import (
	info "byte-runner-infra/toolchain/substitutes/random"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
)

func main() { tfgen.Main("random", info.Provider()) }
