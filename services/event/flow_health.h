#pragma once

// Flow health, the headline metric: among chains whose 48-hour window has
// ended (or that were archived earlier), the share archived within 48 hours
// of TRIGGERED. Chains still inside their window and not archived are
// pending, never failures.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace perfflow::event {

inline constexpr absl::Duration kFlowWindow = absl::Hours(48);

enum class ChainOutcome { kWithin, kOutside, kPending };

ChainOutcome ClassifyChain(absl::Time triggered_at, std::optional<absl::Time> archived_at, absl::Time now,
                           absl::Duration window = kFlowWindow);

struct HealthCounts {
  int64_t within = 0;
  int64_t outside = 0;
  int64_t pending = 0;

  bool decided() const { return within + outside > 0; }
  double ratio() const { return decided() ? static_cast<double>(within) / static_cast<double>(within + outside) : 0.0; }
  void Add(const HealthCounts& other) {
    within += other.within;
    outside += other.outside;
    pending += other.pending;
  }
};

// One aggregated row from the store: chains of one department and event type
// triggered on one UTC day (days since the Unix epoch).
struct HealthBucket {
  std::string department_id;
  std::string event_type;
  int64_t day = 0;
  HealthCounts counts;
};

enum class HealthPeriod { kNone, kDay, kWeek, kMonth };

struct HealthReport {
  HealthCounts overall;
  std::map<std::string, HealthCounts> by_department;
  std::map<std::string, HealthCounts> by_event_type;
  // Period start as YYYY-MM-DD (weeks start on Monday).
  std::map<std::string, HealthCounts> by_period;
};

HealthReport AggregateHealth(const std::vector<HealthBucket>& buckets, HealthPeriod period);

// The UTC day number of `t` (days since 1970-01-01).
int64_t DayNumber(absl::Time t);

}  // namespace perfflow::event
