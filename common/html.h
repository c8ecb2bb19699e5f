#pragma once

// HTML escaping for server-rendered pages (briefs, people's pages).

#include <string>

#include "absl/strings/string_view.h"

namespace perfflow {

// Escapes text for HTML element content and attribute values.
std::string HtmlEscape(absl::string_view text);

}  // namespace perfflow
