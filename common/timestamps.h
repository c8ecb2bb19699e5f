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

// Within 0001-01-01..9999-12-31 with nanos in range (the protobuf rules).
inline bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800 && ts.seconds() <= 253402300799 && ts.nanos() >= 0 && ts.nanos() <= 999999999;
}

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace perfflow
