// Command pulumi-resource-tls is the Pulumi TLS provider, bridged from hashicorp/terraform-provider-tls
// (terraform-plugin-framework) with the published provider's tokens (`tls:index/privateKey:PrivateKey`, ...).
package main

import (
	_ "embed"

	"github.com/hashicorp/terraform-provider-tls/shim"

	"payment-platform/toolchain/providers/internal/bridge"
)

// version is set at build time (-ldflags "-X main.version=5.6.2"): the version the Python SDK requests.
var version string

//go:embed schema.json
var schema []byte

func main() {
	info := bridge.FrameworkInfo("tls", version, "TLS keys and certificates, bridged from the Terraform TLS provider",
		shim.NewProvider(), bridge.StripPrefix("tls"))
	bridge.Main(info, bridge.PluginFramework, schema)
}
