#pragma once

// Outbound HTTP through libcurl: one POST, TLS peer and host verified, bounded
// by a timeout. Thread-safe; each call uses its own easy handle.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace perfflow {

struct HttpResponse {
  long status = 0;
  std::string body;
};

// UNAVAILABLE for connection failures, DEADLINE_EXCEEDED for timeouts; any
// HTTP status (including 5xx) is a response, not an error.
absl::StatusOr<HttpResponse> HttpPost(const std::string& url,
                                      const std::vector<std::pair<std::string, std::string>>& headers,
                                      const std::string& body, absl::Duration timeout);

}  // namespace perfflow
