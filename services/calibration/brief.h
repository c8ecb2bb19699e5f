#pragma once

// The calibration brief as plain values: flow facts stream in one at a time
// and are aggregated per person and month (memory grows with the cohort's
// chains in the window, never with what the event service stores), then
// compared with the cohort, flagged and turned into discussion prompts.

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::calibration {

namespace ev1 = ::perfflow::event::v1;

struct KpiValue {
  std::string kpi;
  std::string subject_id;
  // "2026-03"
  std::string period;
  double value = 0;
};

struct BriefOptions {
  // Durations and KPIs: flagged at this relative difference from the peers' mean.
  double relative_threshold = 0.15;
  // Rates: flagged at this many percentage points (0.10 = 10 points).
  double points_threshold = 0.10;
  // Or at this robust z-score (median / MAD of the peers).
  double z_threshold = 1.5;
  // Nothing is flagged on fewer observations than this (decided chains,
  // verdicts, owner actions, archived chains; KPI observations).
  int min_n = 5;
  int min_kpi_observations = 3;
  // Peer figures need at least this many people in the cohort.
  int min_cohort_for_peers = 4;
};

// [start of the month two months before `end`'s month, end): three calendar
// months of `zone` (the tenant's).
std::pair<absl::Time, absl::Time> BriefWindow(absl::Time end, absl::TimeZone zone = absl::UTCTimeZone());

// Hours from `from` to `to`.
double HoursBetween(const google::protobuf::Timestamp& from, const google::protobuf::Timestamp& to);

// "2026-03": the calendar month of `t` in `zone`.
std::string MonthOf(absl::Time t, absl::TimeZone zone = absl::UTCTimeZone());

// Durations in hours, kept as counts per 0.1 h (6 minutes): memory follows
// the number of distinct values, never the number of chains; the median
// (common/stats.h's definition) is exact to 0.1 h.
class HourHistogram {
 public:
  void Add(double hours);
  int64_t count() const { return count_; }
  // 0 when empty.
  double Median() const;

 private:
  std::map<int64_t, int64_t> tenths_;
  int64_t count_ = 0;
};

// Accumulates the measures of one person or one cell.
class MeasureAccumulator {
 public:
  void Add(const ev1::FlowFact& fact);
  v1::Measures Finish() const;
  int64_t chains() const { return chains_; }

 private:
  int64_t chains_ = 0, decided_ = 0, within_ = 0, evidence_ = 0;
  int64_t meets_ = 0, needs_improvement_ = 0, redo_ = 0;
  HourHistogram response_hours_, closure_hours_;
};

class BriefBuilder {
 public:
  BriefBuilder(std::vector<ev1::Employee> members, std::vector<KpiValue> kpis, ev1::Registry registry,
               absl::Time window_start, absl::Time window_end, BriefOptions options);

  // Facts of people outside the cohort or the window are ignored.
  void Add(const ev1::FlowFact& fact);

  // The brief's people, comparisons, flags and prompts (name, version and
  // times are the caller's).
  v1::Brief Finish() const;

 private:
  // A chain a flagged duration may name, with its hours.
  struct TimedChain {
    double hours = 0;
    std::string event;
  };
  // The chains a flagged comparison can name, kept as the facts stream (a
  // bounded sample, not every chain of the window): for each yes/no measure
  // and direction the first ten in arrival order; for each duration the ten
  // slowest and the ten fastest, equal hours in arrival order. Indexed
  // 2 * measure + against, `against` being the measure's bad direction.
  struct ChainsKept {
    std::array<std::vector<std::string>, 8> first;  // on time, evidence, meets, redo
    std::array<std::vector<TimedChain>, 4> timed;   // response, closure
  };
  struct Person {
    ev1::Employee employee;
    MeasureAccumulator total;
    std::map<std::string, MeasureAccumulator> months;
    std::map<std::string, int64_t> event_types;
    ChainsKept chains;
  };
  // Keeps the chain if it is among the ten first of `top` (the slowest first
  // when `against`, else the fastest); it arrived after every chain kept.
  static void KeepTimed(std::vector<TimedChain>& top, double hours, const std::string& event, bool against);
  // The chains behind `c` (a flagged comparison of `p`), in the flagged direction first.
  static std::vector<std::string> ChainsBehind(const Person& p, const v1::Comparison& c);

  std::vector<Person> people_;
  std::map<std::string, size_t> index_;
  std::vector<KpiValue> kpis_;
  ev1::Registry registry_;
  absl::Time start_, end_;
  // The tenant's zone: months are its calendar months.
  absl::TimeZone zone_;
  BriefOptions options_;
};

// The goal with its status from org-level KPI observations (subject "") of
// `period` (or the latest), and its upstream goals `depth` levels deep.
v1::GoalLink GoalStatusOf(const ev1::Registry& registry, const std::string& goal, const std::vector<KpiValue>& kpis,
                          const std::string& period, int depth);

// Goals served by an event type: its own list plus goals naming it.
std::vector<std::string> GoalsOfEventType(const ev1::Registry& registry, const std::string& event_type);

}  // namespace perfflow::calibration
