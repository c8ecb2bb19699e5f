#include "services/event/flow_health.h"

namespace perfflow::event {
namespace {

std::string PeriodKey(int64_t day, HealthPeriod period) {
  absl::Time t = absl::UnixEpoch() + absl::Hours(24 * day);
  absl::CivilDay civil = absl::ToCivilDay(t, absl::UTCTimeZone());
  if (period == HealthPeriod::kWeek) {
    // Back to Monday.
    while (absl::GetWeekday(civil) != absl::Weekday::monday) civil -= 1;
  } else if (period == HealthPeriod::kMonth) {
    civil = absl::CivilDay(civil.year(), civil.month(), 1);
  }
  return absl::FormatCivilTime(civil);
}

}  // namespace

ChainOutcome ClassifyChain(absl::Time triggered_at, std::optional<absl::Time> archived_at, absl::Time now,
                           absl::Duration window) {
  const absl::Time deadline = triggered_at + window;
  if (archived_at && *archived_at <= deadline) return ChainOutcome::kWithin;
  if (now >= deadline) return ChainOutcome::kOutside;
  return ChainOutcome::kPending;
}

int64_t DayNumber(absl::Time t) {
  return absl::ToUnixSeconds(t) / 86400 - (absl::ToUnixSeconds(t) % 86400 < 0 ? 1 : 0);
}

HealthReport AggregateHealth(const std::vector<HealthBucket>& buckets, HealthPeriod period) {
  HealthReport report;
  for (const HealthBucket& b : buckets) {
    report.overall.Add(b.counts);
    report.by_department[b.department_id].Add(b.counts);
    report.by_event_type[b.event_type].Add(b.counts);
    if (period != HealthPeriod::kNone) report.by_period[PeriodKey(b.day, period)].Add(b.counts);
  }
  return report;
}

}  // namespace perfflow::event
