#pragma once

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace perfflow {

// 128 random bits as 32 lower-case hex characters (OpenSSL RAND_bytes, drawn
// for 64 ids at a time per thread).
std::string RandomId();

// Lower-case hex SHA-256 of `data`.
std::string Sha256Hex(absl::string_view data);

// True for 64 lower-case hex characters (what Sha256Hex returns).
bool IsSha256Hex(absl::string_view s);

// "{collection}/{id}" with a 32-character hex id (RandomId) -> id;
// INVALID_ARGUMENT with a field violation on `field` otherwise.
absl::StatusOr<std::string> ParseResourceId(const std::string& name, const std::string& collection,
                                            const std::string& field);

// Web-safe base64 without padding, for opaque page tokens.
std::string EncodePageToken(absl::string_view raw);
// False when `token` is not one of ours.
bool DecodePageToken(absl::string_view token, std::string* raw);

}  // namespace perfflow
