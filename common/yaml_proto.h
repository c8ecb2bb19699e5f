#pragma once

// Reads YAML into protobuf messages by walking the message descriptor, so
// every configuration file gets the same precise errors: the YAML line, the
// field path and the reason. Enum values may be written short and in lower
// case ("number" for ATTRIBUTE_TYPE_NUMBER). Unknown fields are errors.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "yaml-cpp/yaml.h"

namespace perfflow {

// Fills `message` from `node`. Errors read "line N: path: reason".
absl::Status YamlToMessage(const YAML::Node& node, google::protobuf::Message* message,
                           const std::vector<std::string>& skip_fields = {});

// At most this many documents in one stream.
inline constexpr size_t kMaxYamlDocuments = 1000;

// Parses every document of a YAML stream ("line N: reason" on syntax errors).
absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(const std::string& content);

}  // namespace perfflow
