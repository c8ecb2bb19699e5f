#pragma once

// google.protobuf.Struct to and from JSON text through RapidJSON.
//
// protobuf's JsonStringToMessage / MessageToJsonString go through a type
// resolver and a binary round trip: tens of microseconds for an event's few
// attributes, on every ingestion, every delivered notice and every response.
// These read and write the same JSON (numbers are doubles, as Struct holds
// them) directly. Keys are written in sorted order, so equal Structs give
// equal text.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace perfflow {

// Deeper nesting than protobuf's own parser accepts is refused both ways.
inline constexpr int kMaxJsonDepth = 100;

// InvalidArgument for a number JSON cannot hold (NaN, infinity) or nesting
// deeper than kMaxJsonDepth.
absl::StatusOr<std::string> StructToJson(const google::protobuf::Struct& s);

// InvalidArgument unless `json` is one JSON object of valid UTF-8 (after
// unescaping too) with numbers a double holds, nested at most kMaxJsonDepth
// deep; `out` is replaced only on success. A key given
// twice keeps its last value.
absl::Status JsonToStruct(absl::string_view json, google::protobuf::Struct* out);

}  // namespace perfflow
