// Command pulumi-resource-docker is the Pulumi Docker provider, bridged from the Terraform provider
// kreuzwerker/terraform-provider-docker (its terraform-plugin-sdk/v2 half: containers, images, networks,
// volumes, Swarm services, secrets and configs). The mapping is the published provider's: same tokens,
// `docker_image` is RemoteImage and `docker_config` ServiceConfig, containers are deleted before they are
// replaced (fixed names), `command` and `networks_advanced` keep their names. Not bridged: the published
// provider's native `docker.Image` (Buildx builds) and the upstream's plugin-framework resources (compose).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"
	"github.com/terraform-providers/terraform-provider-docker/shim"

	"payment-platform/toolchain/providers/internal/bridge"
)

// version is set at build time (-ldflags "-X main.version=5.2.0"): the version the Python SDK requests.
var version string

//go:embed schema.json
var schema []byte

func main() {
	info := tfbridge.ProviderInfo{
		P:           shimv2.NewProvider(shim.NewProvider(version)),
		Name:        "docker",
		Version:     version,
		Description: "Docker resources, bridged from the Terraform Docker provider (payment-platform toolchain build).",
		License:     "Apache-2.0",
		GitHubOrg:   "kreuzwerker",
		Config: map[string]*tfbridge.SchemaInfo{
			"host": {Default: &tfbridge.DefaultInfo{Value: "unix:///var/run/docker.sock", EnvVars: []string{"DOCKER_HOST"}}},
			// A list in Terraform, but the published SDK names it in the singular.
			"registry_auth": {Name: "registryAuth", MaxItemsOne: tfbridge.False()},
		},
		Resources: map[string]*tfbridge.ResourceInfo{
			"docker_container": {
				// Containers carry fixed names, so the old one must go before its replacement starts.
				DeleteBeforeReplace: true,
				Fields: map[string]*tfbridge.SchemaInfo{
					"command":           {Name: "command"},
					"networks_advanced": {Name: "networksAdvanced"},
				},
			},
			"docker_image": {
				Tok:    "docker:index/remoteImage:RemoteImage",
				Fields: map[string]*tfbridge.SchemaInfo{"name": {Name: "name"}},
			},
			"docker_config": {Tok: "docker:index/serviceConfig:ServiceConfig"},
		},
		DataSources: map[string]*tfbridge.DataSourceInfo{
			"docker_image": {Tok: "docker:index/getRemoteImage:getRemoteImage"},
		},
	}
	bridge.MapTokens(&info, bridge.StripPrefix("docker"))
	info.SetAutonaming(255, "-")
	bridge.Main(info, bridge.SDKv2, schema)
}
