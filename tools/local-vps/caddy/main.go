// Caddy as its release is built (cmd/caddy/main.go of the caddy module): the command and
// the standard modules, nothing else. tools/local-vps/caddy-build.sh builds it.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy modules here
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func main() {
	caddycmd.Main()
}
