// libFuzzer harness: JSON text to google.protobuf.Struct and back
// (common/struct_json). Any text must parse or fail with INVALID_ARGUMENT; a
// parsed Struct must be written (it holds no NaN, nesting within the limit),
// and reading what was written must give the same Struct and the same text.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/struct_json.h"
#include "google/protobuf/util/message_differencer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  google::protobuf::Struct parsed;
  absl::Status read = perfflow::JsonToStruct(text, &parsed);
  if (!read.ok()) {
    if (read.code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  auto written = perfflow::StructToJson(parsed);
  if (!written.ok()) __builtin_trap();
  google::protobuf::Struct again;
  if (!perfflow::JsonToStruct(*written, &again).ok()) __builtin_trap();
  if (!google::protobuf::util::MessageDifferencer::Equals(parsed, again)) __builtin_trap();
  auto rewritten = perfflow::StructToJson(again);
  if (!rewritten.ok() || *rewritten != *written) __builtin_trap();
  return 0;
}
