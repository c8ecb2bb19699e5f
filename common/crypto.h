#pragma once

// Small cryptographic helpers over OpenSSL: HMAC-SHA256 signatures for
// webhooks and bots, Base64, and a constant-time comparison for checking them.

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace perfflow {

// Raw 32-byte HMAC-SHA256 of `message` under `key`.
std::string HmacSha256(absl::string_view key, absl::string_view message);

// Standard Base64 with padding.
std::string Base64Encode(absl::string_view bytes);
// nullopt when `text` is not valid padded Base64.
std::optional<std::string> Base64Decode(absl::string_view text);
// Base64url without padding (JWT segments, signed links).
std::string Base64UrlEncode(absl::string_view bytes);
std::optional<std::string> Base64UrlDecode(absl::string_view text);

// Compares in time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace perfflow
