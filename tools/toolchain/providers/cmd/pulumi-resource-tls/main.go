// Command pulumi-resource-tls is the Pulumi TLS provider, bridged from hashicorp/terraform-provider-tls
// (terraform-plugin-framework) with the published provider's tokens (`tls:index/privateKey:PrivateKey`, ...).
package main

import (
	_ "embed"

	"github.com/hashicorp/terraform-provider-tls/shim"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	"payment-platform/toolchain/providers/internal/bridge"
)

// version is set at build time (-ldflags "-X main.version=5.6.2"): the version the Python SDK requests.
var version string

//go:embed schema.json
var schema []byte

func main() {
	info := tfbridge.ProviderInfo{
		P:           pftfbridge.ShimProvider(shim.NewProvider()),
		Name:        "tls",
		Version:     version,
		Description: "TLS keys and certificates, bridged from the Terraform TLS provider (payment-platform toolchain build).",
		License:     "MPL-2.0",
		GitHubOrg:   "hashicorp",
		// The upstream's schemas are unversioned; state written by the published provider has version 0.
		EnableZeroDefaultSchemaVersion: true,
	}
	bridge.MapTokens(&info, bridge.StripPrefix("tls"))
	bridge.Main(info, bridge.PluginFramework, schema)
}
