#pragma once

// absl::Time <-> google.protobuf.Timestamp, in one place.

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"

namespace perfflow {

// Exact over google.protobuf.Timestamp's whole range (0001..9999), not only
// the ±292 years that int64 nanoseconds hold; times outside that range are
// clamped to its ends (they cannot come from a validated input).
inline void ToTimestamp(absl::Time t, google::protobuf::Timestamp* ts) {
  constexpr int64_t kMinSeconds = -62135596800, kMaxSeconds = 253402300799;
  int64_t seconds = absl::ToUnixSeconds(t);  // rounds toward the past
  int64_t nanos = absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds));
  if (seconds < kMinSeconds) {
    seconds = kMinSeconds;
    nanos = 0;
  } else if (seconds > kMaxSeconds) {
    seconds = kMaxSeconds;
    nanos = 999999999;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(nanos));
}

// Within 0001-01-01..9999-12-31 with nanos in range (the protobuf rules).
inline bool ValidTimestamp(const google::protobuf::Timestamp& ts) {
  return ts.seconds() >= -62135596800 && ts.seconds() <= 253402300799 && ts.nanos() >= 0 && ts.nanos() <= 999999999;
}

// INVALID_ARGUMENT naming every google.protobuf.Timestamp field of `request`
// (at any depth) that is outside ValidTimestamp: the check at each entry point.
absl::Status RequireValidTimestamps(const google::protobuf::Message& request);

// A tenant's IANA zone (Settings.time_zone, validated when applied); UTC when
// unset or unknown to this machine's zone database.
inline absl::TimeZone ZoneOrUtc(const std::string& name) {
  absl::TimeZone zone = absl::UTCTimeZone();
  if (!name.empty() && !absl::LoadTimeZone(name, &zone)) zone = absl::UTCTimeZone();
  return zone;
}

inline absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace perfflow
