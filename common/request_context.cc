#include "common/request_context.h"

#include "absl/strings/str_split.h"
#include "common/metrics.h"

namespace perfflow {
namespace {

std::string Header(const grpc::ServerContext& ctx, const char* name) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(name);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

bool IsValidTenant(absl::string_view tenant) {
  if (tenant.empty() || tenant.size() > 64) return false;
  for (char c : tenant) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

absl::StatusOr<RequestContext> ContextFromServer(const grpc::ServerContext& ctx, const IdentityOptions& options) {
  RequestContext rc;
  rc.tenant = Header(ctx, kTenantHeader);
  if (rc.tenant.empty()) {
    if (!options.dev_mode) return absl::UnauthenticatedError("missing tenant (x-perfflow-tenant metadata)");
    rc.tenant = kDemoTenant;
  }
  if (!IsValidTenant(rc.tenant)) {
    return absl::UnauthenticatedError("malformed tenant: expected 1-64 characters of [a-z0-9_-]");
  }
  rc.principal = Header(ctx, kPrincipalHeader);
  for (absl::string_view role : absl::StrSplit(Header(ctx, kRolesHeader), ',', absl::SkipEmpty())) {
    rc.roles.emplace_back(role);
  }
  rc.trace_id = TraceIdFromTraceparent(Header(ctx, "traceparent"));
  return rc;
}

}  // namespace perfflow
