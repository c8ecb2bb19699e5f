#pragma once

// UTF-8 hygiene for text that reaches callers and logs: messages quoting a
// caller's input must stay valid UTF-8 (protobuf string fields and JSON
// require it).

#include <string>

#include "absl/strings/string_view.h"

namespace perfflow {

// Length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), or 0
// when the bytes there are not one (RFC 3629: overlong forms, surrogates and
// code points past U+10FFFF are not).
size_t Utf8SequenceLength(absl::string_view s, size_t i);

// `text` with every byte that is not part of a valid sequence replaced by U+FFFD.
std::string ToValidUtf8(absl::string_view text);

bool IsValidUtf8(absl::string_view text);

// True for valid UTF-8 without control characters (C0, DEL, C1): text fit to
// name a person in metadata, logs and pages.
bool IsPrintableUtf8(absl::string_view text);

// At most `max_bytes` of `text`, cut at a character boundary.
std::string Utf8Prefix(absl::string_view text, size_t max_bytes);

}  // namespace perfflow
