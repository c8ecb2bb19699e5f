#pragma once

// Times are stored as BIGINT milliseconds since the Unix epoch (UTC) on both
// backends; these helpers convert at the column boundary.

#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "common/db/database.h"

namespace perfflow::db {

inline int64_t Ms(absl::Time t) { return absl::ToUnixMillis(t); }
inline absl::Time FromMs(int64_t ms) { return absl::FromUnixMillis(ms); }

inline std::optional<absl::Time> OptTime(const Row& r, size_t i) {
  if (r.IsNull(i)) return std::nullopt;
  return FromMs(r.Int(i));
}

inline Param OptMs(const std::optional<absl::Time>& t) {
  if (!t) return nullptr;
  return Ms(*t);
}

// The database's own clock now, in milliseconds. Due work is judged by this
// clock so replicas with skewed clocks agree.
inline const char* NowMsSql(Dialect dialect) {
  return dialect == Dialect::kMysql ? "SELECT FLOOR(UNIX_TIMESTAMP(NOW(3)) * 1000)"
                                    : "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";
}

}  // namespace perfflow::db
