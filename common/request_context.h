#pragma once

// Who is calling and for which tenant, read once per RPC from metadata.
// The gateway (and peer services) set x-perfflow-tenant, x-perfflow-principal
// and x-perfflow-roles; in development mode a missing tenant means "demo".

#include "absl/strings/string_view.h"
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/status.h"
#include "grpcpp/server_context.h"

namespace perfflow {

inline constexpr char kTenantHeader[] = "x-perfflow-tenant";
inline constexpr char kPrincipalHeader[] = "x-perfflow-principal";
inline constexpr char kRolesHeader[] = "x-perfflow-roles";
inline constexpr char kDemoTenant[] = "demo";

struct RequestContext {
  std::string tenant;
  // Employee id or system name; empty when unknown.
  std::string principal;
  std::vector<std::string> roles;
  std::string trace_id;
};

struct IdentityOptions {
  // Accept a missing tenant as the demo tenant.
  bool dev_mode = false;
};

// Unauthenticated when the tenant is missing (outside dev mode) or malformed.
absl::StatusOr<RequestContext> ContextFromServer(const grpc::ServerContext& ctx, const IdentityOptions& options);

// True for 1-64 characters of [a-z0-9_-].
bool IsValidTenant(absl::string_view tenant);

// In a gRPC method: declares `rc` (the RequestContext) or returns the mapped
// error status. `identity` is the service's IdentityOptions.
#define PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity)                         \
  auto rc##_or = ::perfflow::ContextFromServer(*(ctx), identity);             \
  if (!rc##_or.ok()) return ::perfflow::ToGrpcStatus(rc##_or.status());       \
  const ::perfflow::RequestContext& rc = *rc##_or

}  // namespace perfflow
