#include "gateway/door.h"

#include <algorithm>

#include <httplib.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/metrics.h"
#include "common/request_context.h"
#include "gateway/transcode.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/type/v1/access.pb.h"

namespace perfflow::gateway {

Door::Door(std::unique_ptr<JwtVerifier> jwt, std::shared_ptr<ApiKeyStore> keys, v1::RateLimit limit,
           std::shared_ptr<const Clock> clock, prometheus::Registry& registry)
    : jwt_(std::move(jwt)),
      keys_(std::move(keys)),
      limit_(std::move(limit)),
      clock_(std::move(clock)),
      rate_limited_(prometheus::BuildCounter()
                        .Name("perfflow_gateway_rate_limited_total")
                        .Help("Requests refused by the per-caller rate limit, by door (http, webhook, grpc)")
                        .Register(registry)) {
  if (limit_.requests_per_second() <= 0) limit_.set_requests_per_second(50);
  if (limit_.burst() <= 0) limit_.set_burst(100);
  // Present from the start, so a rate() over them has a zero to begin from.
  for (const char* door : {"http", "webhook", "grpc"}) rate_limited_.Add({{"door", door}});
}

namespace {
// The payload of a rate-limit refusal: seconds until the caller may retry.
constexpr char kRetryAfterPayload[] = "perfflow.dev/retry-after-seconds";
}  // namespace

absl::StatusOr<Principal> Door::Authenticate(absl::string_view authorization, absl::string_view api_key) {
  if (!authorization.empty() && !api_key.empty()) {
    return absl::UnauthenticatedError("send either a bearer token or an API key, not both");
  }
  if (!api_key.empty()) return keys_->Authenticate(api_key, clock_->Now());
  if (absl::StartsWithIgnoreCase(authorization, "Bearer ")) {
    return jwt_->Verify(absl::StripAsciiWhitespace(authorization.substr(7)), clock_->Now());
  }
  if (!authorization.empty()) return absl::UnauthenticatedError("unsupported Authorization scheme (use Bearer)");
  return absl::UnauthenticatedError("missing credentials: Authorization: Bearer <token> or X-Api-Key");
}

absl::Status Door::Authorize(const Principal& principal, const google::protobuf::MethodDescriptor& method) {
  if (method.options().GetExtension(perfflow::type::v1::internal_only)) {
    return absl::PermissionDeniedError(method.full_name() + " is internal to perfflow; call " +
                                       "perfflow.gateway.v1.PersonDataService/" + method.name());
  }
  std::vector<std::string> allowed = AllowedRoles(method);
  if (allowed.empty()) return absl::OkStatus();
  for (const std::string& role : principal.roles) {
    if (std::find(allowed.begin(), allowed.end(), role) != allowed.end()) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(method.name() + " needs one of the roles: " + absl::StrJoin(allowed, ", "));
}

absl::Status Door::CheckSources(const Principal& principal, const google::protobuf::Message& request) {
  if (principal.allowed_sources.empty()) return absl::OkStatus();
  auto allowed = [&](const std::string& source) {
    return std::find(principal.allowed_sources.begin(), principal.allowed_sources.end(), source) !=
           principal.allowed_sources.end();
  };
  auto denied = [](const std::string& source) {
    return absl::PermissionDeniedError("this API key may not ingest events of source \"" + source + "\"");
  };
  if (const auto* one = dynamic_cast<const event::v1::IngestEventRequest*>(&request)) {
    if (!allowed(one->source())) return denied(one->source());
  }
  if (const auto* batch = dynamic_cast<const event::v1::BatchIngestEventsRequest*>(&request)) {
    for (const auto& item : batch->requests()) {
      if (!allowed(item.source())) return denied(item.source());
    }
  }
  return absl::OkStatus();
}

absl::Status Door::Admit(const std::string& credential, absl::string_view door) {
  std::optional<absl::Duration> wait =
      buckets_.Take(credential, limit_.requests_per_second(), limit_.burst(), clock_->Now());
  if (!wait) return absl::OkStatus();
  rate_limited_.Add({{"door", std::string(door)}}).Increment();
  absl::Status refused = absl::ResourceExhaustedError("rate limit exceeded");
  const int64_t seconds = std::max<int64_t>(1, absl::ToInt64Seconds(absl::Ceil(*wait, absl::Seconds(1))));
  refused.SetPayload(kRetryAfterPayload, absl::Cord(std::to_string(seconds)));
  return refused;
}

int RefuseHttp(const absl::Status& refusal, httplib::Response& res) {
  if (auto seconds = refusal.GetPayload(kRetryAfterPayload)) {
    res.set_header("Retry-After", std::string(*seconds));
  }
  if (absl::IsUnauthenticated(refusal)) res.set_header("WWW-Authenticate", "Bearer");
  // absl and gRPC number their codes alike.
  return HttpStatusFor(static_cast<grpc::StatusCode>(refusal.code()));
}

std::unique_ptr<grpc::ClientContext> Door::Forward(const Principal& principal, const std::string& trace_id,
                                                   const std::string& request_id, absl::Time deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  RequestContext rc;
  rc.tenant = principal.tenant;
  rc.principal = principal.subject;
  rc.roles = principal.roles;
  rc.trace_id = trace_id;
  AttachIdentity(rc, ctx.get());
  ctx->AddMetadata("x-request-id", request_id);
  ctx->set_deadline(absl::ToChronoTime(deadline));
  return ctx;
}

std::string RequestIdFrom(absl::string_view given) {
  bool ok = !given.empty() && given.size() <= 128;
  for (char c : given) ok = ok && c > 32 && c < 127;
  return ok ? std::string(given) : RandomId();
}

std::string TraceIdFrom(absl::string_view traceparent) {
  std::string id = TraceIdFromTraceparent(traceparent);
  return id.empty() ? RandomId() : id;
}

}  // namespace perfflow::gateway
