#pragma once

// Signed webhooks from business systems: per-source secrets (two while
// rotating), the Standard Webhooks and GitHub signature schemes checked in
// constant time, and a configured mapping (JSON pointers) from the payload to
// an IngestEvent request.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/auth.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/gateway/v1/gateway_config.pb.h"

namespace perfflow::gateway {

struct WebhookSource {
  v1::WebhookSource config;
  std::vector<std::string> secrets;  // raw key bytes
};

// Case-insensitive request header lookup ("" when absent).
using HeaderLookup = std::function<std::string(const std::string& name)>;

class WebhookSources {
 public:
  // InvalidArgument naming the source when its configuration is incomplete.
  static absl::StatusOr<WebhookSources> Create(const std::vector<v1::WebhookSource>& sources, const EnvLookup& env);

  const WebhookSource* Find(const std::string& name) const;

 private:
  std::map<std::string, WebhookSource> sources_;
};

// Unauthenticated with the reason (bad signature, stale timestamp, missing
// header) unless the request is signed by one of the source's secrets.
// Returns the delivery id (webhook-id, or the GitHub delivery header).
absl::StatusOr<std::string> VerifyWebhook(const WebhookSource& source, const HeaderLookup& header,
                                          absl::string_view body, absl::Time now);

// The IngestEvent request for a verified payload. InvalidArgument naming the
// JSON pointer that is missing or of the wrong type. Without an external_id
// pointer the delivery id is the idempotency key.
absl::StatusOr<event::v1::IngestEventRequest> MapWebhookPayload(const WebhookSource& source, absl::string_view body,
                                                                const std::string& delivery_id);

}  // namespace perfflow::gateway
