// libFuzzer harness: webhook payload mapping (gateway/webhooks). Any body
// must map to a request or fail with INVALID_ARGUMENT; a mapped request must
// serialise.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "gateway/webhooks.h"

namespace {

const perfflow::gateway::WebhookSource& Source() {
  static const perfflow::gateway::WebhookSource* source = [] {
    auto* s = new perfflow::gateway::WebhookSource;
    s->config.set_name("crm");
    s->config.set_tenant("t1");
    s->config.set_scheme(perfflow::gateway::v1::WEBHOOK_SCHEME_STANDARD);
    auto* mapping = s->config.mutable_mapping();
    mapping->set_external_id("/deal/id");
    mapping->set_event_type("/type");
    mapping->set_subject_id("/deal/owner");
    mapping->set_occurred_at("/at");
    (*mapping->mutable_attributes())["value"] = "/deal/amount";
    (*mapping->mutable_attributes())["tags"] = "/deal/tags";
    (*mapping->mutable_attributes())["nested"] = "/deal/a~1b/0";
    s->secrets = {"secret"};
    return s;
  }();
  return *source;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto request = perfflow::gateway::MapWebhookPayload(Source(), body, "delivery-1");
  if (!request.ok()) {
    if (request.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  std::string wire;
  if (!request->SerializeToString(&wire)) __builtin_trap();
  return 0;
}
