#pragma once

// JSON lines on stdout: {"ts":..., "level":..., "msg":..., <fields>}.
// Thread-safe; secrets must never be passed as fields.

#include <string>
#include <utility>
#include <vector>
#include "absl/strings/string_view.h"

namespace perfflow {

using LogFields = std::vector<std::pair<std::string, std::string>>;

void LogInfo(absl::string_view msg, const LogFields& fields = {});
void LogWarn(absl::string_view msg, const LogFields& fields = {});
void LogError(absl::string_view msg, const LogFields& fields = {});

// Set once at startup: the "service" field of every line.
void SetLogService(std::string service);

}  // namespace perfflow
