// Package shim exposes the upstream provider, whose package is internal: this module's
// path sits under the upstream's, so Go's internal rule lets it import it.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"
	upstream "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

func NewProvider() provider.Provider { return upstream.New() }
