package main

import (
	command "byte-runner-infra/toolchain/substitutes/command"

	"github.com/pulumi/pulumi/pkg/v3/resource/provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func main() {
	err := provider.Main("command", func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return command.NewProvider(), nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}
