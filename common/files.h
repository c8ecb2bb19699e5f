#pragma once

// Reading configuration and input files whole.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace perfflow {

// The file's bytes; NotFound "cannot read <path>" when it cannot be opened.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

// `name` safe as a file name anywhere (a download's name, a path part):
// letters, digits, '.', '-' and '_' kept, anything else '_'.
std::string SafeFileName(absl::string_view name);

}  // namespace perfflow
