package main

import (
	info "byte-runner-infra/toolchain/substitutes/docker"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
)

func main() { tfgen.MainWithMuxer("docker", info.Provider()) }
