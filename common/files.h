#pragma once

// Reading configuration and input files whole.

#include <string>

#include "absl/status/statusor.h"

namespace perfflow {

// The file's bytes; NotFound "cannot read <path>" when it cannot be opened.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

}  // namespace perfflow
