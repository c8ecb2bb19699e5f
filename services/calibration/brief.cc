#include "services/calibration/brief.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/stats.h"
#include "common/timestamps.h"
#include "google/protobuf/util/time_util.h"

namespace perfflow::calibration {
namespace {

namespace t = perfflow::type::v1;
using google::protobuf::util::TimeUtil;

// How many chains a flagged comparison names; the measures that name them,
// in the order of BriefBuilder::ChainsKept.
constexpr size_t kMaxChainsBehind = 10;
constexpr const char* kYesNoMeasures[] = {"on_time_rate", "evidence_completeness", "verdict_meets", "verdict_redo"};
constexpr const char* kDurations[] = {"median_response_hours", "median_closure_hours"};

double Ratio(int64_t part, int64_t whole) { return whole == 0 ? 0 : static_cast<double>(part) / whole; }

double Mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double StdDev(const std::vector<double>& v) {
  if (v.size() < 2) return 0;
  const double m = Mean(v);
  double sum = 0;
  for (double x : v) sum += (x - m) * (x - m);
  return std::sqrt(sum / static_cast<double>(v.size()));
}

// One comparable measure: how to read it from Measures, how many
// observations it rests on, and which way is good.
struct MeasureSpec {
  const char* name;
  double (*get)(const v1::Measures&);
  int64_t (*count)(const v1::Measures&);
  // en reads after "has" ("an on-time rate"); zh is the measure's name.
  // +1: higher is better; -1: lower is better; 0: neither (never flagged).
  int good;
  bool rate;  // a share: compared in percentage points
  const char* en;
  const char* zh;
};

const std::vector<MeasureSpec>& Specs() {
  static const std::vector<MeasureSpec> kSpecs = {
      {"chains", [](const v1::Measures& m) { return static_cast<double>(m.chains()); },
       [](const v1::Measures& m) { return m.chains(); }, 0, false, "chains", "事件链数"},
      {"on_time_rate", [](const v1::Measures& m) { return m.on_time_rate(); },
       [](const v1::Measures& m) { return m.decided(); }, +1, true, "an on-time rate", "准时闭环率"},
      {"evidence_completeness", [](const v1::Measures& m) { return m.evidence_completeness(); },
       [](const v1::Measures& m) { return m.chains(); }, +1, true, "evidence completeness", "证据完整率"},
      {"verdict_meets", [](const v1::Measures& m) { return m.verdict_meets(); },
       [](const v1::Measures& m) { return m.verdicts(); }, +1, true, "a share of 'meets' verdicts", "达标评价占比"},
      {"verdict_redo", [](const v1::Measures& m) { return m.verdict_redo(); },
       [](const v1::Measures& m) { return m.verdicts(); }, -1, true, "a redo share", "返工占比"},
      {"median_response_hours", [](const v1::Measures& m) { return m.median_response_hours(); },
       [](const v1::Measures& m) { return m.responses(); }, -1, false, "response time", "响应时间"},
      {"median_closure_hours", [](const v1::Measures& m) { return m.median_closure_hours(); },
       [](const v1::Measures& m) { return m.closures(); }, -1, false, "closure time", "闭环时间"},
  };
  return kSpecs;
}

bool Defined(const v1::Measures& m, const std::string& name) {
  return name == "chains" || std::find(m.defined().begin(), m.defined().end(), name) != m.defined().end();
}

// What one figure is, for Compare.
struct Figure {
  std::string measure;
  double value = 0;
  int64_t n = 0;      // observations behind it
  int64_t min_n = 0;  // fewer: never flagged
  int good = 0;
  bool rate = false;
};

// Compares the person's figure with the cohort (`all`, including them) and
// the peers (`peers`, excluding them). Flags only with enough observations
// and at least three peers: rates by percentage points, the rest by relative
// difference, or any by a robust z-score (median and MAD of the peers).
// Durations are skewed (one person with a 25-day median pulls the mean past
// almost everyone), so they differ from the peers' median; rates and KPIs
// from the peers' mean.
v1::Comparison Compare(const Figure& f, const std::vector<double>& all, const std::vector<double>& peers,
                       const BriefOptions& options) {
  v1::Comparison c;
  c.set_measure(f.measure);
  c.set_value(f.value);
  c.set_n(f.n);
  c.set_min_n(f.min_n);
  c.set_too_few(f.n < f.min_n);
  c.set_is_rate(f.rate);
  c.set_cohort_mean(Mean(all));
  c.set_cohort_median(Median(all));
  const double peer_mean = Mean(peers);
  const double peer_median = Median(peers);
  const double centre = f.measure.rfind("median_", 0) == 0 ? peer_median : peer_mean;
  c.set_peer_mean(peer_mean);
  c.set_difference(f.value - centre);
  c.set_relative_difference(centre == 0 ? 0 : (f.value - centre) / std::fabs(centre));
  const double sd = StdDev(peers);
  c.set_z_defined(sd > 1e-12);
  c.set_z_score(sd > 1e-12 ? (f.value - peer_mean) / sd : 0);
  std::vector<double> deviations;
  for (double x : peers) deviations.push_back(std::fabs(x - peer_median));
  const double mad = 1.4826 * Median(deviations);
  c.set_peer_median(peer_median);
  c.set_robust_z_defined(mad > 1e-12);
  c.set_robust_z(mad > 1e-12 ? (f.value - peer_median) / mad : 0);
  const bool far = f.rate ? std::fabs(c.difference()) >= options.points_threshold - 1e-12
                          : std::fabs(c.relative_difference()) >= options.relative_threshold - 1e-12;
  const bool beyond = far || (c.robust_z_defined() && std::fabs(c.robust_z()) >= options.z_threshold);
  c.set_flagged(f.good != 0 && !c.too_few() && peers.size() >= 3 && c.difference() != 0 && beyond);
  c.set_favourable(c.flagged() && (c.difference() > 0) == (f.good > 0));
  return c;
}

// The size of a deviation, comparable across measures (for ordering).
double Size(const v1::Comparison& c) {
  return c.robust_z_defined() ? std::fabs(c.robust_z()) : std::fabs(c.relative_difference()) / 0.15;
}

// One flagged comparison as a verb phrase after the person's name, e.g.
// "closes chains 2.1 days faster than their peers' median" / "闭环比同级中位数快 2.1 天",
// "has an on-time rate 14 points lower than their peers'" / "准时闭环率比同级平均低 14 个百分点".
v1::LocalizedText Phrase(const v1::Comparison& c, const std::string& en_label, const std::string& zh_label) {
  v1::LocalizedText out;
  const bool more = c.difference() > 0;
  if (c.measure() == "median_closure_hours" || c.measure() == "median_response_hours") {
    const double hours = std::fabs(c.difference());
    const bool closure = c.measure() == "median_closure_hours";
    const std::string amount_en =
        hours >= 24 ? absl::StrFormat("%.1f days", hours / 24) : absl::StrFormat("%.0f h", hours);
    const std::string amount_zh =
        hours >= 24 ? absl::StrFormat("%.1f 天", hours / 24) : absl::StrFormat("%.0f 小时", hours);
    out.set_en(absl::StrCat(closure ? "closes chains " : "responds ", amount_en, more ? " slower" : " faster",
                            " than their peers' median"));
    out.set_zh(absl::StrCat(closure ? "闭环" : "响应", "比同级中位数", more ? "慢 " : "快 ", amount_zh));
    return out;
  }
  if (c.is_rate()) {
    const std::string points = absl::StrFormat("%.0f", std::fabs(c.difference()) * 100);
    out.set_en(absl::StrCat("has ", en_label, " ", points, points == "1" ? " point " : " points ",
                            more ? "higher" : "lower", " than their peers'"));
    out.set_zh(absl::StrCat(zh_label, "比同级平均", more ? "高 " : "低 ", points, " 个百分点"));
    return out;
  }
  out.set_en(absl::StrCat("has ", en_label, " ", absl::StrFormat("%.0f%%", std::fabs(c.relative_difference()) * 100),
                          more ? " above" : " below", " their peers' average"));
  out.set_zh(absl::StrCat(zh_label, "比同级平均", more ? "高 " : "低 ",
                          absl::StrFormat("%.0f%%", std::fabs(c.relative_difference()) * 100)));
  return out;
}

// The question a calibration meeting asks of one strength and one weakness.
v1::LocalizedText Question(const std::string& strong, const std::string& weak) {
  auto is = [](const std::string& m, std::initializer_list<const char*> names) {
    for (const char* n : names) {
      if (m == n) return true;
    }
    return false;
  };
  const auto speed = {"on_time_rate", "median_closure_hours", "median_response_hours"};
  v1::LocalizedText q;
  if (is(strong, speed) && weak == "evidence_completeness") {
    q.set_en("are chains closed before their evidence is complete?");
    q.set_zh("是否在证据完整之前就闭环了？");
  } else if (strong == "evidence_completeness" && is(weak, speed)) {
    q.set_en("does gathering the evidence slow the chain down, or is the template too heavy?");
    q.set_zh("是收集证据拖慢了闭环，还是证据模板太重？");
  } else if (is(strong, speed) && is(weak, {"verdict_meets", "verdict_redo"})) {
    q.set_en("is speed costing the quality of the work?");
    q.set_zh("是否为求快牺牲了工作质量？");
  } else if (is(strong, {"verdict_meets", "verdict_redo"}) && is(weak, speed)) {
    q.set_en("does good work take longer than the deadline allows, or does it wait on others?");
    q.set_zh("做得好但耗时更长：是时限不合理，还是在等别人？");
  } else if (strong.rfind("kpi:", 0) == 0 || weak.rfind("kpi:", 0) == 0) {
    q.set_en("do the process figures explain the business result?");
    q.set_zh("过程指标能解释业务结果吗？");
  } else {
    q.set_en("what explains the difference?");
    q.set_zh("差异的原因是什么？");
  }
  return q;
}

struct Labelled {
  const v1::Comparison* c;
  std::string en, zh;
};

// A KPI's name: its goal's, else its key in words ("renewal_rate" -> "renewal rate").
v1::LocalizedText KpiName(const ev1::Goal* goal, const std::string& key) {
  std::string words = key;
  std::replace_if(
      words.begin(), words.end(), [](char c) { return c == '_' || c == '.'; }, ' ');
  v1::LocalizedText name;
  name.set_en(goal != nullptr && !goal->name().en().empty() ? goal->name().en() : words);
  name.set_zh(goal != nullptr && !goal->name().zh().empty() ? goal->name().zh() : name.en());
  return name;
}

}  // namespace

double HoursBetween(const google::protobuf::Timestamp& from, const google::protobuf::Timestamp& to) {
  return absl::ToDoubleHours(FromTimestamp(to) - FromTimestamp(from));
}

std::pair<absl::Time, absl::Time> BriefWindow(absl::Time end, absl::TimeZone zone) {
  const absl::CivilMonth month(absl::ToCivilSecond(end, zone));
  return {absl::FromCivil(month - 2, zone), end};
}

std::string MonthOf(absl::Time t, absl::TimeZone zone) {
  return absl::FormatCivilTime(absl::CivilMonth(absl::ToCivilSecond(t, zone)));
}

void HourHistogram::Add(double hours) {
  ++tenths_[std::llround(hours * 10)];
  ++count_;
}

double HourHistogram::Median() const {
  if (count_ == 0) return 0;
  // The values at ranks (n-1)/2 and n/2 (equal when n is odd).
  const int64_t lo_rank = (count_ - 1) / 2, hi_rank = count_ / 2;
  int64_t seen = 0;
  std::optional<int64_t> lo;
  for (const auto& [tenth, n] : tenths_) {
    if (!lo && seen + n > lo_rank) lo = tenth;
    if (seen + n > hi_rank) return (static_cast<double>(*lo) + static_cast<double>(tenth)) / 20.0;
    seen += n;
  }
  return 0;
}

void MeasureAccumulator::Add(const ev1::FlowFact& fact) {
  ++chains_;
  if (fact.decided()) {
    ++decided_;
    within_ += fact.within_sla() ? 1 : 0;
  }
  const auto& times = fact.flow().times();
  evidence_ += times.has_evidence_complete_at() ? 1 : 0;
  switch (fact.flow().verdict()) {
    case t::VERDICT_MEETS:
      ++meets_;
      break;
    case t::VERDICT_NEEDS_IMPROVEMENT:
      ++needs_improvement_;
      break;
    case t::VERDICT_REDO:
      ++redo_;
      break;
    default:
      break;
  }
  if (times.has_owner_action_at()) response_hours_.Add(HoursBetween(times.triggered_at(), times.owner_action_at()));
  if (times.has_archived_at()) closure_hours_.Add(HoursBetween(times.triggered_at(), times.archived_at()));
}

v1::Measures MeasureAccumulator::Finish() const {
  v1::Measures m;
  m.set_chains(chains_);
  m.set_decided(decided_);
  m.set_verdicts(meets_ + needs_improvement_ + redo_);
  m.set_responses(response_hours_.count());
  m.set_closures(closure_hours_.count());
  if (decided_ > 0) {
    m.set_on_time_rate(Ratio(within_, decided_));
    m.add_defined("on_time_rate");
  }
  if (chains_ > 0) {
    m.set_evidence_completeness(Ratio(evidence_, chains_));
    m.add_defined("evidence_completeness");
  }
  const int64_t verdicts = meets_ + needs_improvement_ + redo_;
  if (verdicts > 0) {
    m.set_verdict_meets(Ratio(meets_, verdicts));
    m.set_verdict_needs_improvement(Ratio(needs_improvement_, verdicts));
    m.set_verdict_redo(Ratio(redo_, verdicts));
    for (const char* name : {"verdict_meets", "verdict_needs_improvement", "verdict_redo"}) m.add_defined(name);
  }
  if (response_hours_.count() > 0) {
    m.set_median_response_hours(response_hours_.Median());
    m.add_defined("median_response_hours");
  }
  if (closure_hours_.count() > 0) {
    m.set_median_closure_hours(closure_hours_.Median());
    m.add_defined("median_closure_hours");
  }
  return m;
}

BriefBuilder::BriefBuilder(std::vector<ev1::Employee> members, std::vector<KpiValue> kpis, ev1::Registry registry,
                           absl::Time window_start, absl::Time window_end, BriefOptions options)
    : kpis_(std::move(kpis)),
      registry_(std::move(registry)),
      start_(window_start),
      end_(window_end),
      zone_(ZoneOrUtc(registry_.settings().time_zone())),
      options_(options) {
  for (ev1::Employee& e : members) {
    if (index_.count(e.id())) continue;
    index_[e.id()] = people_.size();
    people_.push_back(Person{std::move(e), {}, {}, {}, {}});
  }
}

void BriefBuilder::Add(const ev1::FlowFact& fact) {
  auto it = index_.find(fact.subject_id());
  if (it == index_.end()) return;
  const absl::Time at = FromTimestamp(fact.flow().times().triggered_at());
  if (at < start_ || at >= end_) return;
  Person& p = people_[it->second];
  p.total.Add(fact);
  p.months[MonthOf(at, zone_)].Add(fact);
  ++p.event_types[fact.event_type()];
  const auto& times = fact.flow().times();
  ChainsKept& kept = p.chains;
  static_assert(std::tuple_size_v<decltype(kept.first)> == 2 * std::size(kYesNoMeasures));
  static_assert(std::tuple_size_v<decltype(kept.timed)> == 2 * std::size(kDurations));
  const int verdict = fact.flow().verdict();
  for (bool against : {false, true}) {
    // Whether the chain is one of each yes/no measure's in this direction
    // (a higher redo share is that measure's bad direction).
    const bool counts[std::size(kYesNoMeasures)] = {fact.decided() && fact.within_sla() != against,
                                                    times.has_evidence_complete_at() != against,
                                                    verdict != 0 && (verdict == t::VERDICT_MEETS) != against,
                                                    verdict != 0 && (verdict == t::VERDICT_REDO) == against};
    for (size_t m = 0; m < std::size(counts); ++m) {
      std::vector<std::string>& first = kept.first[2 * m + against];
      if (counts[m] && first.size() < kMaxChainsBehind) first.push_back(fact.event());
    }
  }
  std::optional<double> hours[std::size(kDurations)];
  if (times.has_owner_action_at()) hours[0] = HoursBetween(times.triggered_at(), times.owner_action_at());
  if (times.has_archived_at()) hours[1] = HoursBetween(times.triggered_at(), times.archived_at());
  for (size_t d = 0; d < std::size(hours); ++d) {
    if (!hours[d]) continue;
    for (bool against : {false, true}) {
      KeepTimed(kept.timed[2 * d + against], *hours[d], fact.event(), against);
    }
  }
}

void BriefBuilder::KeepTimed(std::vector<TimedChain>& top, double hours, const std::string& event, bool against) {
  // The chain arrives after every one kept: it goes after those of equal hours.
  auto at = std::find_if(top.begin(), top.end(),
                         [&](const TimedChain& kept) { return against ? hours > kept.hours : hours < kept.hours; });
  if (static_cast<size_t>(at - top.begin()) >= kMaxChainsBehind) return;  // the event name is copied only if kept
  top.insert(at, TimedChain{hours, event});
  if (top.size() > kMaxChainsBehind) top.pop_back();
}

std::vector<std::string> BriefBuilder::ChainsBehind(const Person& p, const v1::Comparison& c) {
  // `against`: the flagged direction is the measure's bad one (unfavourable);
  // slower is a duration's bad direction, so its slowest come first then.
  const bool against = !c.favourable();
  for (size_t m = 0; m < std::size(kYesNoMeasures); ++m) {
    if (c.measure() == kYesNoMeasures[m]) return p.chains.first[2 * m + against];
  }
  std::vector<std::string> out;
  for (size_t d = 0; d < std::size(kDurations); ++d) {
    if (c.measure() != kDurations[d]) continue;
    for (const TimedChain& chain : p.chains.timed[2 * d + against]) out.push_back(chain.event);
  }
  return out;
}

std::vector<std::string> GoalsOfEventType(const ev1::Registry& registry, const std::string& event_type) {
  std::set<std::string> out;
  for (const auto& type : registry.event_types()) {
    if (type.key() == event_type) out.insert(type.goals().begin(), type.goals().end());
  }
  for (const auto& goal : registry.goals()) {
    if (std::find(goal.event_types().begin(), goal.event_types().end(), event_type) != goal.event_types().end()) {
      out.insert(goal.key());
    }
  }
  return {out.begin(), out.end()};
}

v1::GoalLink GoalStatusOf(const ev1::Registry& registry, const std::string& goal, const std::vector<KpiValue>& kpis,
                          const std::string& period, int depth) {
  v1::GoalLink link;
  link.set_goal(goal);
  const ev1::Goal* g = nullptr;
  for (const auto& candidate : registry.goals()) {
    if (candidate.key() == goal) g = &candidate;
  }
  if (g == nullptr) return link;
  link.mutable_name()->set_zh(g->name().zh());
  link.mutable_name()->set_en(g->name().en());
  link.set_target(g->target());
  link.set_unit(g->unit());
  // Org-level observation of the period (or the latest one).
  const KpiValue* best = nullptr;
  for (const KpiValue& k : kpis) {
    if (k.kpi != goal || !k.subject_id.empty()) continue;
    if (!period.empty() ? k.period == period : (best == nullptr || k.period > best->period)) best = &k;
  }
  if (best != nullptr) {
    link.set_actual(best->value);
    link.set_has_actual(true);
    const bool lower_is_better = g->unit() == "days" || g->unit() == "hours";
    link.set_met(lower_is_better ? best->value <= g->target() : best->value >= g->target());
  }
  if (depth > 0) {
    for (const std::string& up : g->depends_on()) {
      *link.add_upstream() = GoalStatusOf(registry, up, kpis, period, depth - 1);
    }
  }
  return link;
}

v1::Brief BriefBuilder::Finish() const {
  v1::Brief brief;
  brief.set_cohort_size(static_cast<int>(people_.size()));
  brief.set_relative_threshold(options_.relative_threshold);
  brief.set_z_threshold(options_.z_threshold);
  brief.set_points_threshold(options_.points_threshold);
  brief.set_min_n(options_.min_n);
  brief.set_min_kpi_observations(options_.min_kpi_observations);
  brief.set_time_zone(registry_.settings().time_zone().empty() ? "UTC" : registry_.settings().time_zone());
  const bool peers = static_cast<int>(people_.size()) >= options_.min_cohort_for_peers;
  brief.set_peers_withheld(!peers);

  std::vector<v1::Measures> totals;
  for (const Person& p : people_) totals.push_back(p.total.Finish());

  // Mean KPI value per person and kpi over the window's months.
  const std::string first_month = MonthOf(start_, zone_), last_month = MonthOf(end_ - absl::Nanoseconds(1), zone_);
  std::map<std::string, std::map<std::string, std::pair<double, int>>> kpi_sums;  // kpi -> subject -> (sum, n)
  for (const KpiValue& k : kpis_) {
    if (k.subject_id.empty() || !index_.count(k.subject_id) || k.period < first_month || k.period > last_month) {
      continue;
    }
    auto& [sum, n] = kpi_sums[k.kpi][k.subject_id];
    sum += k.value;
    ++n;
  }
  auto goal_of = [&](const std::string& key) -> const ev1::Goal* {
    for (const auto& g : registry_.goals()) {
      if (g.key() == key) return &g;
    }
    return nullptr;
  };

  for (size_t i = 0; i < people_.size(); ++i) {
    const Person& p = people_[i];
    v1::PersonBrief* out = brief.add_people();
    out->set_employee_id(p.employee.id());
    out->set_display_name(p.employee.display_name());
    out->set_department_id(p.employee.department_id());
    out->set_grade(p.employee.grade());
    out->set_manager_id(p.employee.manager_id());
    *out->mutable_totals() = totals[i];
    for (const auto& [month, acc] : p.months) {
      auto* m = out->add_months();
      m->set_month(month);
      *m->mutable_measures() = acc.Finish();
    }
    // Goals served by the person's event types, with their upstream goals.
    std::set<std::string> goals;
    for (const auto& [type, n] : p.event_types) {
      for (const std::string& g : GoalsOfEventType(registry_, type)) goals.insert(g);
    }
    for (const std::string& g : goals) *out->add_goals() = GoalStatusOf(registry_, g, kpis_, "", 2);
    if (!peers) continue;

    std::vector<Labelled> flagged;
    for (const MeasureSpec& spec : Specs()) {
      if (!Defined(totals[i], spec.name)) continue;
      std::vector<double> all, others;
      for (size_t j = 0; j < people_.size(); ++j) {
        if (!Defined(totals[j], spec.name)) continue;
        all.push_back(spec.get(totals[j]));
        if (j != i) others.push_back(spec.get(totals[j]));
      }
      const Figure figure{spec.name, spec.get(totals[i]), spec.count(totals[i]), options_.min_n, spec.good, spec.rate};
      *out->add_comparisons() = Compare(figure, all, others, options_);
    }
    for (const auto& [kpi, by_subject] : kpi_sums) {
      auto mine = by_subject.find(p.employee.id());
      if (mine == by_subject.end()) continue;
      std::vector<double> all, others;
      for (const auto& [subject, sum_n] : by_subject) {
        const double v = sum_n.first / sum_n.second;
        all.push_back(v);
        if (subject != p.employee.id()) others.push_back(v);
      }
      const ev1::Goal* g = goal_of(kpi);
      const int good = g != nullptr && (g->unit() == "days" || g->unit() == "hours") ? -1 : +1;
      const Figure figure{"kpi:" + kpi,
                          mine->second.first / mine->second.second,
                          mine->second.second,
                          options_.min_kpi_observations,
                          good,
                          false};
      *out->add_business() = Compare(figure, all, others, options_);
    }
    for (auto& c : *out->mutable_comparisons()) {
      if (!c.flagged()) continue;
      for (const std::string& event : ChainsBehind(p, c)) c.add_events(event);
    }
    for (const auto& c : out->comparisons()) {
      for (const MeasureSpec& spec : Specs()) {
        if (c.flagged() && c.measure() == spec.name) flagged.push_back({&c, spec.en, spec.zh});
      }
    }
    for (auto& c : *out->mutable_business()) {
      const ev1::Goal* goal = goal_of(c.measure().substr(4));
      *c.mutable_name() = KpiName(goal, c.measure().substr(4));
      if (goal != nullptr) c.set_unit(goal->unit());
      if (c.flagged()) flagged.push_back({&c, c.name().en(), c.name().zh()});
    }
    out->set_flagged_count(static_cast<int>(flagged.size()));
    // Pairs pulling in opposite directions, largest deviations first.
    std::stable_sort(flagged.begin(), flagged.end(),
                     [](const Labelled& a, const Labelled& b) { return Size(*a.c) > Size(*b.c); });
    std::vector<const Labelled*> good, bad;
    for (const Labelled& l : flagged) (l.c->favourable() ? good : bad).push_back(&l);
    const std::string name = p.employee.display_name().empty() ? p.employee.id() : p.employee.display_name();
    for (size_t k = 0; k < std::min<size_t>({good.size(), bad.size(), 2}); ++k) {
      const v1::LocalizedText up = Phrase(*good[k]->c, good[k]->en, good[k]->zh);
      const v1::LocalizedText down = Phrase(*bad[k]->c, bad[k]->en, bad[k]->zh);
      const v1::LocalizedText question = Question(good[k]->c->measure(), bad[k]->c->measure());
      v1::LocalizedText* prompt = out->add_prompts();
      prompt->set_en(absl::StrCat(name, " ", up.en(), " but ", down.en(), ": ", question.en()));
      prompt->set_zh(absl::StrCat(name, up.zh(), "，但", down.zh(), "：", question.zh()));
    }
  }
  // The most flagged people first.
  std::stable_sort(brief.mutable_people()->begin(), brief.mutable_people()->end(),
                   [](const v1::PersonBrief& a, const v1::PersonBrief& b) {
                     if (a.flagged_count() != b.flagged_count()) return a.flagged_count() > b.flagged_count();
                     return a.employee_id() < b.employee_id();
                   });
  return brief;
}

}  // namespace perfflow::calibration
