// Added by payment-platform's toolchain build (scripts/toolchain.sh) to its copy of Pulumi's fork of the
// Terraform plugin SDK. The fork is written against terraform-plugin-go v0.29; the upstream providers we
// bridge require v0.31, whose ProviderServer interface adds GenerateResourceConfig (Terraform's config
// generation for `terraform import`). The bridge never calls it, so it only has to exist.
package schema

import (
	"context"

	"github.com/hashicorp/terraform-plugin-go/tfprotov5"
)

// GenerateResourceConfig is not supported: Pulumi does not generate Terraform configuration.
func (s *GRPCProviderServer) GenerateResourceConfig(
	_ context.Context, req *tfprotov5.GenerateResourceConfigRequest,
) (*tfprotov5.GenerateResourceConfigResponse, error) {
	return &tfprotov5.GenerateResourceConfigResponse{Diagnostics: []*tfprotov5.Diagnostic{{
		Severity: tfprotov5.DiagnosticSeverityError,
		Summary:  "GenerateResourceConfig is not supported for " + req.TypeName,
	}}}, nil
}
