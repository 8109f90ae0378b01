// Package shim exposes the upstream provider, whose package is internal: this module's
// path sits under the upstream's, so Go's internal rule lets it import it.
package shim

import (
	fwprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-sdk/v2/helper/schema"
	upstream "github.com/terraform-providers/terraform-provider-docker/internal/provider"
)

// SDKv2Provider and FrameworkProvider are the two halves upstream muxes together.
func SDKv2Provider(version string) *schema.Provider { return upstream.New(version)() }

func FrameworkProvider(version string) fwprovider.Provider {
	return upstream.NewFrameworkProvider(version)()
}
