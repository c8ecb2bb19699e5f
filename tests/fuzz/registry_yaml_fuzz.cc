// libFuzzer harness: the YAML event-type loader (common/flow/registry),
// the path ApplyEventTypes and the catalogue loader take: parse the documents,
// then check keys and consistency. Any input must end in a status, never a
// crash, and errors must be INVALID_ARGUMENT.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/flow/registry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  perfflow::event::v1::ConfigFile file;
  file.set_name("fuzz.yaml");
  file.set_content(std::string(reinterpret_cast<const char*>(data), size));
  auto registry = perfflow::event::ParseRegistryFiles({file});
  if (!registry.ok()) {
    if (registry.status().code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  perfflow::event::DuplicateKeys(*registry);
  perfflow::event::ValidateRegistry(*registry);
  return 0;
}
