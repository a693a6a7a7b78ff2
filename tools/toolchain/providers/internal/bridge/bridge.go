// Package bridge is what our three provider mains share: type tokens for every upstream resource and data
// source, and one entry point that either serves the provider or, at build time, generates its schema.
//
// The published providers (github.com/pulumi/pulumi-{docker,tls,random}/provider) are not served by the
// module proxy our machines reach, but their Terraform upstreams and pulumi-terraform-bridge are. Their
// mapping is small (tokens plus a few field names), so we state it here and bridge the upstreams ourselves.
package bridge

import (
	"context"
	"fmt"
	"os"
	"strings"
	"unicode"

	pfprovider "github.com/hashicorp/terraform-plugin-framework/provider"
	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	pftfgen "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfgen"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfgen"
	shim "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// Framework says which Terraform SDK the upstream is written with; the bridge has an entry point for each.
type Framework int

const (
	// SDKv2 is terraform-plugin-sdk/v2 (the Docker provider).
	SDKv2 Framework = iota
	// PluginFramework is terraform-plugin-framework (the TLS and Random providers).
	PluginFramework
)

// Token gives the Pulumi type name of a Terraform resource or data source, e.g. "docker_container" ->
// "Container" (prefix stripped) or "random_password" -> "RandomPassword" (prefix kept), as the published
// SDKs spell them.
type Token func(tfName string) string

// StripPrefix names a type after the Terraform name without the provider prefix (docker, tls).
func StripPrefix(prefix string) Token {
	return func(tfName string) string { return camel(strings.TrimPrefix(tfName, prefix+"_")) }
}

// KeepPrefix names a type after the whole Terraform name (random: RandomPassword).
func KeepPrefix(tfName string) string { return camel(tfName) }

func camel(snake string) string {
	var b strings.Builder
	for _, part := range strings.Split(snake, "_") {
		if part == "" {
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

func lowerFirst(s string) string {
	r := []rune(s)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// MapTokens gives every upstream resource and data source that `info` does not map yet the token the
// published SDK uses: `<pkg>:index/<type>:<Type>` for resources, `<pkg>:index/get<Type>:get<Type>` for data
// sources. Explicit entries in info win, so renames (docker_image -> RemoteImage) are stated once, there.
func MapTokens(info *tfbridge.ProviderInfo, name Token) {
	if info.Resources == nil {
		info.Resources = map[string]*tfbridge.ResourceInfo{}
	}
	if info.DataSources == nil {
		info.DataSources = map[string]*tfbridge.DataSourceInfo{}
	}
	info.P.ResourcesMap().Range(func(tfName string, _ shim.Resource) bool {
		r, ok := info.Resources[tfName]
		if !ok {
			r = &tfbridge.ResourceInfo{}
			info.Resources[tfName] = r
		}
		if r.Tok == "" {
			typ := name(tfName)
			r.Tok = tokens.Type(fmt.Sprintf("%s:index/%s:%s", info.Name, lowerFirst(typ), typ))
		}
		return true
	})
	info.P.DataSourcesMap().Range(func(tfName string, _ shim.Resource) bool {
		d, ok := info.DataSources[tfName]
		if !ok {
			d = &tfbridge.DataSourceInfo{}
			info.DataSources[tfName] = d
		}
		if d.Tok == "" {
			fn := "get" + name(tfName)
			d.Tok = tokens.ModuleMember(fmt.Sprintf("%s:index/%s:%s", info.Name, fn, fn))
		}
		return true
	})
}

// FrameworkInfo is the mapping of a HashiCorp terraform-plugin-framework upstream (tls, random): every
// resource and data source under `name` with the published SDK's type names.
func FrameworkInfo(
	name, version, description string, upstream pfprovider.Provider, typeName Token,
) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           pftfbridge.ShimProvider(upstream),
		Name:        name,
		Version:     version,
		Description: description + " (payment-platform toolchain build).",
		License:     "MPL-2.0",
		GitHubOrg:   "hashicorp",
		// The upstreams' schemas are unversioned; state written by the published providers has version 0.
		EnableZeroDefaultSchemaVersion: true,
	}
	MapTokens(&info, typeName)
	return info
}

// Main serves the provider, or with first argument `tfgen` runs the bridge's schema generator instead
// (`pulumi-resource-x tfgen schema --out DIR`), which the build uses to produce the schema it then embeds.
func Main(info tfbridge.ProviderInfo, framework Framework, schema []byte) {
	if info.Version == "" {
		fmt.Fprintln(os.Stderr, "provider built without a version: build with -ldflags -X main.version=X.Y.Z")
		os.Exit(1)
	}
	// The bridge requires metadata; ours records nothing from earlier releases (no renames to alias).
	if info.MetadataInfo == nil {
		info.MetadataInfo = tfbridge.NewProviderMetadata([]byte("{}"))
	}
	if len(os.Args) > 1 && os.Args[1] == "tfgen" {
		os.Args = append([]string{os.Args[0]}, os.Args[2:]...)
		if framework == PluginFramework {
			pftfgen.Main(info.Name, info)
		} else {
			tfgen.Main(info.Name, info.Version, info)
		}
		return
	}
	if len(schema) == 0 {
		fmt.Fprintln(os.Stderr, "provider built without its schema: build it with scripts/toolchain.sh")
		os.Exit(1)
	}
	if framework == PluginFramework {
		pftfbridge.Main(context.Background(), info.Name, info, pftfbridge.ProviderMetadata{PackageSchema: schema})
		return
	}
	tfbridge.Main(info.Name, info.Version, info, schema)
}
