#include "services/event/flow_health.h"

#include <set>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/event/event_metrics.h"

namespace perfflow::event {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1772442000);  // Monday 2026-03-02 09:00 UTC

TEST(ClassifyChainTest, ArchivedWithinWindowIsWithinEvenBeforeWindowEnds) {
  EXPECT_EQ(ClassifyChain(kT0, kT0 + absl::Hours(10), kT0 + absl::Hours(11)), ChainOutcome::kWithin);
}

TEST(ClassifyChainTest, ArchivedExactlyAtDeadlineIsWithin) {
  EXPECT_EQ(ClassifyChain(kT0, kT0 + absl::Hours(48), kT0 + absl::Hours(100)), ChainOutcome::kWithin);
}

TEST(ClassifyChainTest, ArchivedLateIsOutside) {
  EXPECT_EQ(ClassifyChain(kT0, kT0 + absl::Hours(48) + absl::Seconds(1), kT0 + absl::Hours(100)),
            ChainOutcome::kOutside);
}

TEST(ClassifyChainTest, OpenInsideWindowIsPendingNotFailure) {
  EXPECT_EQ(ClassifyChain(kT0, std::nullopt, kT0 + absl::Hours(47)), ChainOutcome::kPending);
}

TEST(ClassifyChainTest, OpenAfterWindowIsOutside) {
  EXPECT_EQ(ClassifyChain(kT0, std::nullopt, kT0 + absl::Hours(48)), ChainOutcome::kOutside);
}

TEST(HealthCountsTest, RatioIgnoresPending) {
  HealthCounts c{3, 1, 10};
  EXPECT_TRUE(c.decided());
  EXPECT_DOUBLE_EQ(c.ratio(), 0.75);
  HealthCounts none{0, 0, 5};
  EXPECT_FALSE(none.decided());
  EXPECT_DOUBLE_EQ(none.ratio(), 0.0);
}

TEST(AggregateHealthTest, GroupsByDepartmentTypeAndPeriod) {
  const int64_t monday = DayNumber(kT0);
  std::vector<HealthBucket> buckets = {
      {"sales", "crm.contract_signed", monday, {4, 1, 0}},
      {"sales", "crm.contract_signed", monday + 2, {2, 2, 1}},
      {"quality", "qms.major_complaint_closed", monday + 7, {1, 0, 3}},
      {"quality", "crm.contract_signed", monday + 31, {0, 1, 0}},
  };
  HealthReport week = AggregateHealth(buckets, HealthPeriod::kWeek);
  EXPECT_EQ(week.overall.within, 7);
  EXPECT_EQ(week.overall.outside, 4);
  EXPECT_EQ(week.overall.pending, 4);
  EXPECT_DOUBLE_EQ(week.overall.ratio(), 7.0 / 11.0);
  EXPECT_EQ(week.by_department.at("sales").within, 6);
  EXPECT_EQ(week.by_event_type.at("crm.contract_signed").outside, 4);
  ASSERT_EQ(week.by_period.size(), 3u);
  EXPECT_EQ(week.by_period.at("2026-03-02").within, 6);  // Monday and Wednesday
  EXPECT_EQ(week.by_period.at("2026-03-09").within, 1);
  EXPECT_EQ(week.by_period.at("2026-03-30").outside, 1);  // 2 Apr belongs to the week of 30 Mar

  HealthReport month = AggregateHealth(buckets, HealthPeriod::kMonth);
  ASSERT_EQ(month.by_period.size(), 2u);
  EXPECT_EQ(month.by_period.at("2026-03-01").within, 7);
  EXPECT_EQ(month.by_period.at("2026-04-01").outside, 1);
  EXPECT_TRUE(AggregateHealth(buckets, HealthPeriod::kNone).by_period.empty());
}

TEST(DayNumberTest, CountsUtcDays) {
  EXPECT_EQ(DayNumber(absl::UnixEpoch()), 0);
  EXPECT_EQ(DayNumber(absl::UnixEpoch() + absl::Hours(23)), 0);
  EXPECT_EQ(DayNumber(absl::UnixEpoch() + absl::Hours(24)), 1);
  EXPECT_EQ(DayNumber(absl::UnixEpoch() - absl::Hours(1)), -1);
}

TEST(EventMetricsTest, ClosedChainCountersStartAtZeroForKnownPairs) {
  prometheus::Registry registry;
  EventMetrics metrics(registry);
  HealthReport report;
  std::map<std::pair<std::string, std::string>, HealthCounts> pairs;
  pairs[{"sales", "crm.contract_signed"}].pending = 2;
  metrics.SetHealth("acme", report, pairs);
  int zeros = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "perfflow_flow_chains_closed_total") continue;
    for (const auto& metric : family.metric) {
      EXPECT_EQ(metric.counter.value, 0.0);
      ++zeros;
    }
  }
  EXPECT_EQ(zeros, 2);                                                // within_sla true and false
  metrics.ChainClosed("acme", "sales", "crm.contract_signed", true);  // the same series, now 1
  double total = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "perfflow_flow_chains_closed_total") continue;
    EXPECT_EQ(family.metric.size(), 2u);
    for (const auto& metric : family.metric) total += metric.counter.value;
  }
  EXPECT_EQ(total, 1.0);
}

TEST(EventMetricsTest, IngestionCountersStartAtZeroForKnownTypes) {
  prometheus::Registry registry;
  EventMetrics metrics(registry);
  metrics.KnowEventType("crm", "crm.contract_signed");
  std::set<std::string> results;
  for (const auto& family : registry.Collect()) {
    if (family.name != "perfflow_events_ingested_total") continue;
    for (const auto& metric : family.metric) {
      EXPECT_EQ(metric.counter.value, 0.0);
      for (const auto& label : metric.label) {
        if (label.name == "result") results.insert(label.value);
      }
    }
  }
  EXPECT_EQ(results, (std::set<std::string>{"accepted", "duplicate", "rejected", "conflict", "error"}));
}

}  // namespace
}  // namespace perfflow::event
