// Package command is a stand-in for the pulumi-command 1.2.1 plugin, built by
// `tools/pulumi-toolchain.sh --substitutes` because the Go proxy here does not serve
// github.com/pulumi/pulumi-command/provider (nor pulumi-go-provider). It implements
// command:remote:Command (over SSH, golang.org/x/crypto/ssh) and command:local:Command
// directly against the pulumirpc ResourceProvider interface; see provider.go.
package command

// Version is the plugin version the npm package @pulumi/command asks for.
const Version = "1.2.1"
