#pragma once

// Content-type sniffing from magic bytes, and whether a declared media type
// is consistent with what the bytes are.

#include <string>

#include "absl/strings/string_view.h"

namespace perfflow::evidence {

// How many leading bytes SniffFamily wants to see.
inline constexpr size_t kSniffBytes = 512;

// "pdf", "png", "jpeg", "gif", "zip" (also docx/xlsx), "text" (UTF-8 without
// NUL: csv, json, e-mail, plain) or "binary".
std::string SniffFamily(absl::string_view head);

// A PDF ends with %%EOF within its last kPdfTrailerBytes bytes (what readers
// look for): with the leading magic, a file that only starts like a PDF
// (e.g. "%PDF-" glued to an executable) is refused.
inline constexpr size_t kPdfTrailerBytes = 1024;
bool HasPdfTrailer(absl::string_view tail);

// The family a declared media type must sniff as ("" when unknown).
std::string FamilyOf(const std::string& content_type);

}  // namespace perfflow::evidence
