#pragma once

// What every way in (HTTP routes, webhooks, the gRPC port) checks the same
// way: who the caller is, whether their roles allow the method, the per-
// caller rate limit, and the identity forwarded to the services.

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/token_bucket.h"
#include "gateway/auth.h"
#include "gateway/routes.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace httplib {
struct Response;
}

namespace perfflow::gateway {

class Door {
 public:
  // Refusals by the rate limit are counted in `registry` as
  // perfflow_gateway_rate_limited_total{door}.
  Door(std::unique_ptr<JwtVerifier> jwt, std::shared_ptr<ApiKeyStore> keys, v1::RateLimit limit,
       std::shared_ptr<const Clock> clock, prometheus::Registry& registry);

  // From "Authorization: Bearer <jwt>" or "X-Api-Key: <key>" (either one).
  absl::StatusOr<Principal> Authenticate(absl::string_view authorization, absl::string_view api_key);

  // PermissionDenied unless the principal holds one of the method's
  // (perfflow.type.v1.allowed_roles).
  static absl::Status Authorize(const Principal& principal, const google::protobuf::MethodDescriptor& method);

  // API keys with allowed_sources may ingest events of those sources only.
  static absl::Status CheckSources(const Principal& principal, const google::protobuf::Message& request);

  // OK when `credential` is within its rate; otherwise RESOURCE_EXHAUSTED
  // carrying how long until it may retry (see RefuseHttp), counted for
  // `door` ("http", "webhook" or "grpc").
  absl::Status Admit(const std::string& credential, absl::string_view door);

  // The outgoing call: identity, internal credential, a new span of
  // `trace_id`, the request id, and `deadline`.
  static std::unique_ptr<grpc::ClientContext> Forward(const Principal& principal, const std::string& trace_id,
                                                      const std::string& request_id, absl::Time deadline);

  const Clock& clock() const { return *clock_; }

 private:
  std::unique_ptr<JwtVerifier> jwt_;
  std::shared_ptr<ApiKeyStore> keys_;
  v1::RateLimit limit_;
  std::shared_ptr<const Clock> clock_;
  KeyedTokenBuckets buckets_;
  prometheus::Family<prometheus::Counter>& rate_limited_;
};

// Answers a refusal of the door over HTTP: sets Retry-After (whole seconds, at
// least 1) for a rate-limit refusal and WWW-Authenticate for a missing or bad
// credential, and returns the HTTP status for `refusal`.
int RefuseHttp(const absl::Status& refusal, httplib::Response& res);

// A request id: the caller's x-request-id when it is 1-128 printable ASCII
// characters, else a new random one.
std::string RequestIdFrom(absl::string_view given);
// The trace id of the caller's traceparent, or a new one.
std::string TraceIdFrom(absl::string_view traceparent);

}  // namespace perfflow::gateway
