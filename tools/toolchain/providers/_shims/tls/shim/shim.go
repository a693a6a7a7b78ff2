// Package shim re-exports the upstream's internal provider so our bridge main (another module) can use it.
// scripts/toolchain.sh copies this file into the build's copy of the upstream module (Go forbids importing
// an `internal` package from outside its module); the leading underscore keeps Go tools out of _shims/.
package shim

import (
	"github.com/hashicorp/terraform-plugin-framework/provider"

	upstream "github.com/hashicorp/terraform-provider-tls/internal/provider"
)

// NewProvider is the upstream's terraform-plugin-framework provider.
func NewProvider() provider.Provider { return upstream.New() }
