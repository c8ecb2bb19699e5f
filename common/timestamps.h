#pragma once

// absl::Time <-> google.protobuf.Timestamp, in one place.

#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace perfflow {

inline void ToTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  const int64_t nanos = absl::ToUnixNanos(t);
  ts->set_seconds(nanos / 1000000000);
  ts->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace perfflow
