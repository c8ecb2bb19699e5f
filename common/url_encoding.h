#pragma once

// Percent-encoding (RFC 3986) for URLs, form bodies and metadata values.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace perfflow {

// Percent-encodes for a URL query value (every byte but [A-Za-z0-9._~-]).
std::string UrlEncode(const std::string& value);

// Percent-decoding; InvalidArgument on a malformed escape.
absl::StatusOr<std::string> PercentDecode(absl::string_view text);

}  // namespace perfflow
