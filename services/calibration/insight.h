#pragma once

// Business insight from flow facts, as plain values: the department x event
// type heat map of response times, department response gaps and
// behaviour/outcome links, and the pilot flow brief. Each builder consumes a
// stream of facts and keeps per-cell aggregates only.

#include <map>
#include <string>
#include <vector>

#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "services/calibration/brief.h"

namespace perfflow::calibration {

class HeatmapBuilder {
 public:
  void Add(const ev1::FlowFact& fact);
  v1::Heatmap Finish() const;

 private:
  struct Cell {
    HourHistogram owner_hours, feedback_hours;
    int64_t chains = 0;
  };
  std::map<std::pair<std::string, std::string>, Cell> cells_;
};

// Department gaps: for each event type, the slowest and fastest departments
// by median hours to the owner's action (at least 3 chains each), reported
// when they differ by `min_gap_hours` or more. Behaviour/outcome links: for
// each person-level KPI, how many of the top 20 (or top half) people by it
// have an on-time rate above 95%, against the rest.
// `department_names` maps ids to names; event types are named by `registry`.
std::vector<v1::Insight> Insights(const v1::Heatmap& heatmap, const std::map<std::string, v1::Measures>& people,
                                  const std::vector<KpiValue>& kpis,
                                  const std::map<std::string, std::string>& department_names,
                                  const ev1::Registry& registry, double min_gap_hours);

class FlowBriefBuilder {
 public:
  explicit FlowBriefBuilder(ev1::Registry registry) : registry_(std::move(registry)) {}
  void Add(const ev1::FlowFact& fact);
  v1::FlowBrief Finish() const;

 private:
  struct Row {
    int64_t events = 0, decided = 0, within = 0, evidence = 0, archived = 0;
    double closure_hours = 0;
  };
  static v1::FlowBriefRow ToProto(const std::string& key, const Row& row);
  ev1::Registry registry_;
  Row total_;
  std::map<std::string, Row> by_type_, by_department_;
  int64_t aligned_ = 0;
  std::map<std::string, bool> type_aligned_;
};

}  // namespace perfflow::calibration
