// Command pulumi-resource-random is the Pulumi Random provider, bridged from
// hashicorp/terraform-provider-random (terraform-plugin-framework). Its types keep the `Random` prefix, as
// the published SDK spells them (`random:index/randomPassword:RandomPassword`).
package main

import (
	_ "embed"

	"github.com/terraform-providers/terraform-provider-random/shim"

	"payment-platform/toolchain/providers/internal/bridge"
)

// version is set at build time (-ldflags "-X main.version=4.21.4"): the version the Python SDK requests.
var version string

//go:embed schema.json
var schema []byte

func main() {
	info := bridge.FrameworkInfo("random", version, "Random values, bridged from the Terraform Random provider",
		shim.NewProvider(), bridge.KeepPrefix)
	bridge.Main(info, bridge.PluginFramework, schema)
}
