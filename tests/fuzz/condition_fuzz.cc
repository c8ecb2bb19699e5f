// libFuzzer harness: the rule-condition parser and evaluator (common/condition).
// Any text must parse or fail with INVALID_ARGUMENT; a parsed condition must
// evaluate against any attribute values without crashing.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/condition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto condition = perfflow::Condition::Parse(text);
  if (!condition.ok()) {
    if (condition.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  // Each path resolves to a value chosen by its length, so every type is met.
  condition->Evaluate([](const std::string& path) -> std::optional<perfflow::CondValue> {
    switch (path.size() % 5) {
      case 0:
        return std::nullopt;
      case 1:
        return perfflow::CondValue(true);
      case 2:
        return perfflow::CondValue(static_cast<double>(path.size()));
      case 3:
        return perfflow::CondValue(path);
      default:
        return perfflow::CondValue(std::monostate());
    }
  });
  return 0;
}
