#include "services/calibration/insight.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace perfflow::calibration {
namespace {

double Ratio(int64_t part, int64_t whole) { return whole == 0 ? 0 : static_cast<double>(part) / whole; }

std::string Name(const std::map<std::string, std::string>& names, const std::string& id) {
  auto it = names.find(id);
  return it == names.end() || it->second.empty() ? id : it->second;
}

}  // namespace

void HeatmapBuilder::Add(const ev1::FlowFact& fact) {
  Cell& cell = cells_[{fact.department_id(), fact.event_type()}];
  ++cell.chains;
  const auto& times = fact.flow().times();
  if (times.has_owner_action_at()) cell.owner_hours.Add(HoursBetween(times.triggered_at(), times.owner_action_at()));
  if (times.has_manager_feedback_at()) {
    cell.feedback_hours.Add(HoursBetween(times.triggered_at(), times.manager_feedback_at()));
  }
}

v1::Heatmap HeatmapBuilder::Finish() const {
  v1::Heatmap out;
  std::set<std::string> departments, types;
  for (const auto& [key, cell] : cells_) {
    departments.insert(key.first);
    types.insert(key.second);
    v1::HeatmapCell* c = out.add_cells();
    c->set_department_id(key.first);
    c->set_event_type(key.second);
    c->set_chains(cell.chains);
    c->set_owner_count(cell.owner_hours.count());
    c->set_median_owner_hours(cell.owner_hours.Median());
    c->set_feedback_count(cell.feedback_hours.count());
    c->set_median_feedback_hours(cell.feedback_hours.Median());
  }
  out.mutable_departments()->Assign(departments.begin(), departments.end());
  out.mutable_event_types()->Assign(types.begin(), types.end());
  return out;
}

std::vector<v1::Insight> Insights(const v1::Heatmap& heatmap, const std::map<std::string, v1::Measures>& people,
                                  const std::vector<KpiValue>& kpis,
                                  const std::map<std::string, std::string>& department_names,
                                  const ev1::Registry& registry, double min_gap_hours) {
  std::vector<v1::Insight> out;
  constexpr int64_t kMinChains = 3;
  for (const std::string& type : heatmap.event_types()) {
    const v1::HeatmapCell* slow = nullptr;
    const v1::HeatmapCell* fast = nullptr;
    for (const v1::HeatmapCell& c : heatmap.cells()) {
      if (c.event_type() != type || c.owner_count() < kMinChains) continue;
      if (slow == nullptr || c.median_owner_hours() > slow->median_owner_hours()) slow = &c;
      if (fast == nullptr || c.median_owner_hours() < fast->median_owner_hours()) fast = &c;
    }
    if (slow == nullptr || slow == fast) continue;
    const double gap = slow->median_owner_hours() - fast->median_owner_hours();
    if (gap < min_gap_hours) continue;
    std::string type_en = type, type_zh = type;
    for (const auto& t : registry.event_types()) {
      if (t.key() != type) continue;
      if (!t.display_name().en().empty()) type_en = t.display_name().en();
      if (!t.display_name().zh().empty()) type_zh = t.display_name().zh();
    }
    const std::string slow_name = Name(department_names, slow->department_id());
    const std::string fast_name = Name(department_names, fast->department_id());
    v1::Insight insight;
    insight.set_kind("department_gap");
    insight.mutable_text()->set_en(absl::StrFormat("%s answers %s %.0f h slower than %s (median %.0f h vs %.0f h)",
                                                   slow_name, type_en, gap, fast_name, slow->median_owner_hours(),
                                                   fast->median_owner_hours()));
    insight.mutable_text()->set_zh(absl::StrFormat("%s 处理「%s」比 %s 慢 %.0f 小时（中位数 %.0f 小时 vs %.0f 小时）",
                                                   slow_name, type_zh, fast_name, gap, slow->median_owner_hours(),
                                                   fast->median_owner_hours()));
    (*insight.mutable_figures())["gap_hours"] = gap;
    (*insight.mutable_figures())["slow_median_hours"] = slow->median_owner_hours();
    (*insight.mutable_figures())["fast_median_hours"] = fast->median_owner_hours();
    out.push_back(std::move(insight));
  }
  std::stable_sort(out.begin(), out.end(), [](const v1::Insight& a, const v1::Insight& b) {
    return a.figures().at("gap_hours") > b.figures().at("gap_hours");
  });

  // Behaviour/outcome: top people by a KPI against the share of them on time.
  std::map<std::string, std::map<std::string, std::pair<double, int>>> by_kpi;
  for (const KpiValue& k : kpis) {
    if (k.subject_id.empty() || !people.count(k.subject_id)) continue;
    auto& [sum, n] = by_kpi[k.kpi][k.subject_id];
    sum += k.value;
    ++n;
  }
  for (const auto& [kpi, subjects] : by_kpi) {
    if (subjects.size() < 4) continue;
    std::vector<std::pair<double, std::string>> ranked;
    for (const auto& [subject, sum_n] : subjects) ranked.push_back({sum_n.first / sum_n.second, subject});
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    const size_t top = std::min<size_t>(20, ranked.size() / 2);
    auto on_time = [&](const std::string& who) {
      const v1::Measures& m = people.at(who);
      return std::find(m.defined().begin(), m.defined().end(), "on_time_rate") != m.defined().end() &&
             m.on_time_rate() > 0.95;
    };
    int top_on_time = 0, rest_on_time = 0;
    for (size_t i = 0; i < ranked.size(); ++i) (i < top ? top_on_time : rest_on_time) += on_time(ranked[i].second);
    const size_t rest = ranked.size() - top;
    v1::Insight insight;
    insight.set_kind("behaviour_outcome");
    insight.mutable_text()->set_en(
        absl::StrFormat("%d of the top-%d by %s close their chains on time > 95%% (vs %d of the other %d)", top_on_time,
                        top, kpi, rest_on_time, rest));
    insight.mutable_text()->set_zh(
        absl::StrFormat("按 %s 排名前 %d 的人中有 %d 人准时闭环率 > 95%%（其余 %d 人中有 %d 人）", kpi, top,
                        top_on_time, rest, rest_on_time));
    (*insight.mutable_figures())["top"] = static_cast<double>(top);
    (*insight.mutable_figures())["top_on_time"] = top_on_time;
    (*insight.mutable_figures())["rest"] = static_cast<double>(rest);
    (*insight.mutable_figures())["rest_on_time"] = rest_on_time;
    out.push_back(std::move(insight));
  }
  return out;
}

void FlowBriefBuilder::Add(const ev1::FlowFact& fact) {
  auto aligned = type_aligned_.find(fact.event_type());
  if (aligned == type_aligned_.end()) {
    aligned = type_aligned_.emplace(fact.event_type(), !GoalsOfEventType(registry_, fact.event_type()).empty()).first;
  }
  aligned_ += aligned->second ? 1 : 0;
  for (Row* row : {&total_, &by_type_[fact.event_type()], &by_department_[fact.department_id()]}) {
    ++row->events;
    if (fact.decided()) {
      ++row->decided;
      row->within += fact.within_sla() ? 1 : 0;
    }
    const auto& times = fact.flow().times();
    row->evidence += times.has_evidence_complete_at() ? 1 : 0;
    if (times.has_archived_at()) {
      ++row->archived;
      row->closure_hours += HoursBetween(times.triggered_at(), times.archived_at());
    }
  }
}

v1::FlowBriefRow FlowBriefBuilder::ToProto(const std::string& key, const Row& row) {
  v1::FlowBriefRow out;
  out.set_key(key);
  out.set_events(row.events);
  out.set_average_closure_hours(row.archived == 0 ? 0 : row.closure_hours / static_cast<double>(row.archived));
  out.set_evidence_completeness(Ratio(row.evidence, row.events));
  out.set_flow_health(Ratio(row.within, row.decided));
  out.set_decided(row.decided);
  return out;
}

v1::FlowBrief FlowBriefBuilder::Finish() const {
  v1::FlowBrief out;
  *out.mutable_total() = ToProto("all", total_);
  for (const auto& [k, row] : by_type_) *out.add_by_event_type() = ToProto(k, row);
  for (const auto& [k, row] : by_department_) *out.add_by_department() = ToProto(k, row);
  out.set_goal_alignment_rate(Ratio(aligned_, total_.events));
  return out;
}

}  // namespace perfflow::calibration
