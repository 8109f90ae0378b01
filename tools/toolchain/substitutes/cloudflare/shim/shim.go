// Package shim is the upstream Cloudflare provider cut down to what this program uses:
// the provider's own configuration (same attributes, environment variables and client
// settings as upstream's internal/provider.go, copied here) with only the resources
// cloudflare_dns_record, cloudflare_origin_ca_certificate and cloudflare_zone_setting.
// Importing upstream's internal package would compile all of its ~500 services (about an
// hour on two cores, ~25 GB of build cache); these three compile in minutes. This module's
// path sits under the upstream's, so Go's internal rule lets it import their packages.
package shim

import (
	"context"
	"os"

	"github.com/cloudflare/cloudflare-go/v7"
	"github.com/cloudflare/cloudflare-go/v7/option"
	"github.com/cloudflare/terraform-provider-cloudflare/internal/services/dns_record"
	"github.com/cloudflare/terraform-provider-cloudflare/internal/services/origin_ca_certificate"
	"github.com/cloudflare/terraform-provider-cloudflare/internal/services/zone_setting"
	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type cloudflareProvider struct{ version string }

type providerModel struct {
	APIKey                  types.String `tfsdk:"api_key"`
	APIUserServiceKey       types.String `tfsdk:"api_user_service_key"`
	Email                   types.String `tfsdk:"email"`
	APIToken                types.String `tfsdk:"api_token"`
	UserAgentOperatorSuffix types.String `tfsdk:"user_agent_operator_suffix"`
	BaseURL                 types.String `tfsdk:"base_url"`
}

// NewProvider returns the cut-down provider at the given version.
func NewProvider(version string) provider.Provider { return &cloudflareProvider{version: version} }

func (p *cloudflareProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "cloudflare"
	resp.Version = p.version
}

func (p *cloudflareProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{Attributes: map[string]schema.Attribute{
		"email":                      schema.StringAttribute{Optional: true, Description: "A registered Cloudflare email address (or CLOUDFLARE_EMAIL). Required with api_key."},
		"api_key":                    schema.StringAttribute{Optional: true, Sensitive: true, Description: "Legacy API key (or CLOUDFLARE_API_KEY)."},
		"api_token":                  schema.StringAttribute{Optional: true, Sensitive: true, Description: "API token (or CLOUDFLARE_API_TOKEN)."},
		"api_user_service_key":       schema.StringAttribute{Optional: true, Sensitive: true, Description: "User service key (or CLOUDFLARE_API_USER_SERVICE_KEY)."},
		"user_agent_operator_suffix": schema.StringAttribute{Optional: true, Description: "Appended to the HTTP User-Agent."},
		"base_url":                   schema.StringAttribute{Optional: true, Description: "Overrides the API base URL (or CLOUDFLARE_BASE_URL)."},
	}}
}

// setting returns the attribute when it is known, else the environment variable.
func setting(v types.String, env string) (string, bool) {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueString(), true
	}
	return os.LookupEnv(env)
}

func (p *cloudflareProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var data providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &data)...)
	if resp.Diagnostics.HasError() {
		return
	}
	opts := []option.RequestOption{}
	if v, ok := setting(data.BaseURL, "CLOUDFLARE_BASE_URL"); ok {
		opts = append(opts, option.WithBaseURL(v))
	}
	if v, ok := setting(data.APIToken, "CLOUDFLARE_API_TOKEN"); ok {
		opts = append(opts, option.WithAPIToken(v))
	}
	if v, ok := setting(data.APIKey, "CLOUDFLARE_API_KEY"); ok {
		opts = append(opts, option.WithAPIKey(v))
	}
	if v, ok := setting(data.Email, "CLOUDFLARE_EMAIL"); ok {
		opts = append(opts, option.WithAPIEmail(v))
	}
	if v, ok := setting(data.APIUserServiceKey, "CLOUDFLARE_API_USER_SERVICE_KEY"); ok {
		opts = append(opts, option.WithUserServiceKey(v))
	}
	userAgent := "terraform-provider-cloudflare/" + p.version + " (byte-runner-infra stand-in)"
	if v, ok := setting(data.UserAgentOperatorSuffix, "CLOUDFLARE_USER_AGENT_OPERATOR_SUFFIX"); ok {
		userAgent += " " + v
	}
	opts = append(opts, option.WithHeader("user-agent", userAgent))
	client := cloudflare.NewClient(opts...)
	resp.DataSourceData = client
	resp.ResourceData = client
}

func (p *cloudflareProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{
		dns_record.NewResource,
		origin_ca_certificate.NewResource,
		zone_setting.NewResource,
	}
}

func (p *cloudflareProvider) DataSources(context.Context) []func() datasource.DataSource {
	return nil
}
