#include "common/request_context.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/crypto.h"
#include "common/url_encoding.h"
#include "common/ids.h"
#include "common/metrics.h"
#include "common/utf8.h"

namespace perfflow {
namespace {

std::string Header(const grpc::ServerContext& ctx, const char* name) {
  const auto& md = ctx.client_metadata();
  auto it = md.find(name);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

}  // namespace

bool HasRole(const RequestContext& rc, absl::string_view role) {
  return std::find(rc.roles.begin(), rc.roles.end(), role) != rc.roles.end();
}

RequestContext InProcessCall(const std::string& tenant) {
  RequestContext rc;
  rc.tenant = tenant;
  rc.principal = "perfflow";
  rc.roles = {"system"};
  return rc;
}

absl::Status RequireRole(const RequestContext& rc, std::initializer_list<const char*> roles, const std::string& what) {
  for (const char* role : roles) {
    if (HasRole(rc, role)) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(what, " needs one of the roles: ", absl::StrJoin(roles, ", ")));
}

bool IsValidTenant(absl::string_view tenant) {
  if (tenant.empty() || tenant.size() > 64) return false;
  for (char c : tenant) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const std::string& InternalToken() {
  static const std::string* token = [] {
    const char* value = std::getenv("PERFFLOW_INTERNAL_TOKEN");
    return new std::string(value != nullptr ? value : "");
  }();
  return *token;
}

absl::Status CheckInternalToken() {
  const size_t size = InternalToken().size();
  if (size == 0 || size >= kMinInternalTokenBytes) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat("PERFFLOW_INTERNAL_TOKEN is ", size, " bytes; use at least ",
                                                    kMinInternalTokenBytes, " random bytes (openssl rand -hex 32)"));
}

void AttachIdentity(const RequestContext& rc, grpc::ClientContext* ctx, const std::string& peer) {
  ctx->AddMetadata(kTenantHeader, rc.tenant);
  // gRPC metadata values are printable ASCII: a principal such as 张伟 travels
  // percent-encoded (a raw one aborts the process in validate_metadata).
  if (!rc.principal.empty()) ctx->AddMetadata(kPrincipalHeader, UrlEncode(rc.principal));
  if (!peer.empty()) ctx->AddMetadata(kPeerHeader, peer);
  if (!rc.roles.empty()) ctx->AddMetadata(kRolesHeader, absl::StrJoin(rc.roles, ","));
  if (!rc.trace_id.empty()) {
    ctx->AddMetadata("traceparent", "00-" + rc.trace_id + "-" + RandomId().substr(0, 16) + "-01");
  }
  if (!InternalToken().empty()) ctx->AddMetadata(kInternalTokenHeader, InternalToken());
}

absl::Status CheckMetadataSize(const grpc::ServerContextBase& ctx) {
  size_t total = 0;
  for (const auto& [key, value] : ctx.client_metadata()) total += key.size() + value.size();
  if (total <= kMaxMetadataBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("request metadata is ", total, " bytes; at most ", kMaxMetadataBytes, " are accepted"));
}

absl::StatusOr<RequestContext> ContextFromServer(const grpc::ServerContext& ctx, const IdentityOptions& options) {
  if (absl::Status s = CheckMetadataSize(ctx); !s.ok()) return s;
  RequestContext rc;
  if (!InternalToken().empty()) {
    if (!ConstantTimeEquals(Header(ctx, kInternalTokenHeader), InternalToken())) {
      return absl::UnauthenticatedError(
          "identity metadata without the internal credential: call through perfflow-gateway");
    }
    rc.verified = true;
  }
  rc.tenant = Header(ctx, kTenantHeader);
  if (rc.tenant.empty()) {
    if (!options.dev_mode) return absl::UnauthenticatedError("missing tenant (x-perfflow-tenant metadata)");
    rc.tenant = kDemoTenant;
  }
  if (!IsValidTenant(rc.tenant)) {
    return absl::UnauthenticatedError("malformed tenant: expected 1-64 characters of [a-z0-9_-]");
  }
  auto principal = PercentDecode(Header(ctx, kPrincipalHeader));
  if (!principal.ok() || !IsPrintableUtf8(*principal)) {
    return absl::UnauthenticatedError("malformed principal: expected percent-encoded printable UTF-8");
  }
  rc.principal = *std::move(principal);
  rc.peer = Header(ctx, kPeerHeader);
  for (absl::string_view role : absl::StrSplit(Header(ctx, kRolesHeader), ',', absl::SkipEmpty())) {
    rc.roles.emplace_back(role);
  }
  rc.trace_id = TraceIdFromTraceparent(Header(ctx, "traceparent"));
  return rc;
}

RequestContext WorkerContext(const std::string& tenant, const std::string& worker) {
  RequestContext rc;
  rc.tenant = tenant;
  rc.principal = worker;
  rc.roles = {"system"};
  return rc;
}

std::string TraceIdFromTraceparent(absl::string_view traceparent) {
  std::vector<absl::string_view> parts = absl::StrSplit(traceparent, '-');
  if (parts.size() < 4 || parts[1].size() != 32) return "";
  for (char c : parts[1]) {
    if (!absl::ascii_isxdigit(c)) return "";
  }
  if (parts[1] == std::string(32, '0')) return "";
  return std::string(parts[1]);
}

}  // namespace perfflow
