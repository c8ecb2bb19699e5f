#pragma once

// Who is calling and for which tenant, read once per RPC from metadata.
// The gateway (and peer services) set x-perfflow-tenant, x-perfflow-principal
// and x-perfflow-roles; in development mode a missing tenant means "demo".
//
// The internal credential: when PERFFLOW_INTERNAL_TOKEN is set (production:
// from a Kubernetes Secret shared by the gateway and the services), a service
// accepts identity metadata only with x-perfflow-internal-token equal to it
// (compared in constant time) and enforces role rules on what each principal
// sees. Without it, identity metadata is trusted as sent (development, tests).

#include <initializer_list>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"
#include "common/status.h"
#include "grpcpp/client_context.h"
#include "grpcpp/server_context.h"

namespace perfflow {

inline constexpr char kTenantHeader[] = "x-perfflow-tenant";
inline constexpr char kPrincipalHeader[] = "x-perfflow-principal";
inline constexpr char kRolesHeader[] = "x-perfflow-roles";
inline constexpr char kInternalTokenHeader[] = "x-perfflow-internal-token";
// Set by a service calling a peer on a person's behalf (its name): the peer
// trusts it only with the internal credential, and the gateway never
// forwards a caller's x-perfflow-* metadata.
inline constexpr char kPeerHeader[] = "x-perfflow-peer";
inline constexpr char kDemoTenant[] = "demo";

struct RequestContext {
  std::string tenant;
  // Employee id or system name (any printable UTF-8, e.g. 张伟; percent-encoded
  // in metadata); empty when unknown.
  std::string principal;
  std::vector<std::string> roles;
  std::string trace_id;
  // True when the metadata carried the internal credential: the identity was
  // verified by the gateway (or comes from a peer service) and role rules apply.
  bool verified = false;
  // The service that made this call on the principal's behalf ("evidence",
  // "feedback", ...); empty for calls from the gateway.
  std::string peer{};
};

struct IdentityOptions {
  // Accept a missing tenant as the demo tenant.
  bool dev_mode = false;
};

// Request metadata accepted in total (keys and values); the gRPC servers
// take up to kMaxGrpcMetadataBytes so that anything between answers a precise
// INVALID_ARGUMENT instead of the transport's RESOURCE_EXHAUSTED (which
// clients read as "retry").
inline constexpr size_t kMaxMetadataBytes = 8 * 1024;
inline constexpr int kMaxGrpcMetadataBytes = 64 * 1024;
absl::Status CheckMetadataSize(const grpc::ServerContextBase& ctx);

// Unauthenticated when the tenant is missing (outside dev mode) or malformed,
// or when an internal credential is configured and the call lacks it.
absl::StatusOr<RequestContext> ContextFromServer(const grpc::ServerContext& ctx, const IdentityOptions& options);

// The process's internal credential (PERFFLOW_INTERNAL_TOKEN; "" when unset).
const std::string& InternalToken();

inline constexpr size_t kMinInternalTokenBytes = 32;
// FailedPrecondition when the internal credential is set but shorter than
// kMinInternalTokenBytes (a guessable token is no fence).
absl::Status CheckInternalToken();

// Adds the identity, a new span of the caller's trace and the internal
// credential to an outgoing call. `peer` names the calling service when a
// service calls another on rc's behalf (empty from the gateway).
void AttachIdentity(const RequestContext& rc, grpc::ClientContext* ctx, const std::string& peer = "");

bool HasRole(const RequestContext& rc, absl::string_view role);

// A call made inside a service on a tenant's behalf (the catalogue loader,
// the demo seeder, background work, unit tests): trusted like a call without
// the internal credential, as the role system.
RequestContext InProcessCall(const std::string& tenant);

// The trace id of a W3C traceparent header ("" when malformed).
std::string TraceIdFromTraceparent(absl::string_view traceparent);

// The identity of a service's own background work for one tenant
// (schedulers, retention): `worker` as principal, the system role.
RequestContext WorkerContext(const std::string& tenant, const std::string& worker);

// PERMISSION_DENIED ("<what> needs one of the roles: ...") unless rc holds one of `roles`.
absl::Status RequireRole(const RequestContext& rc, std::initializer_list<const char*> roles, const std::string& what);

// True for 1-64 characters of [a-z0-9_-].
bool IsValidTenant(absl::string_view tenant);

// In a gRPC method: declares `rc` (the RequestContext) or returns the mapped
// error status. `identity` is the service's IdentityOptions.
#define PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity)                   \
  auto rc##_or = ::perfflow::ContextFromServer(*(ctx), identity);       \
  if (!rc##_or.ok()) return ::perfflow::ToGrpcStatus(rc##_or.status()); \
  const ::perfflow::RequestContext& rc = *rc##_or

}  // namespace perfflow
