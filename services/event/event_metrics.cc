#include "services/event/event_metrics.h"

#include "absl/strings/ascii.h"

namespace perfflow::event {
namespace {

const prometheus::Histogram::BucketBoundaries& StepBuckets() {
  // Seconds: 5 min .. 1 week, dense around the 48 h window.
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 12 * 3600, 24 * 3600, 36 * 3600, 48 * 3600, 72 * 3600, 168 * 3600};
  return kBuckets;
}

}  // namespace

std::string StepLabel(FlowStep step) {
  std::string name = perfflow::type::v1::FlowStep_Name(step);
  const std::string prefix = "FLOW_STEP_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return absl::AsciiStrToLower(name);
}

EventMetrics::EventMetrics(prometheus::Registry& registry)
    : ingested_(prometheus::BuildCounter()
                    .Name("perfflow_events_ingested_total")
                    .Help("Business events received, by source, event type and result.")
                    .Register(registry)),
      closed_(prometheus::BuildCounter()
                  .Name("perfflow_flow_chains_closed_total")
                  .Help("Chains archived, by department, event type and whether within 48 hours of TRIGGERED.")
                  .Register(registry)),
      ingest_transaction_events_(
          prometheus::BuildHistogram()
              .Name("perfflow_ingest_transaction_events")
              .Help("Events stored per transaction of IngestEvent calls (calls in flight together share one).")
              .Register(registry)
              .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64})),
      step_latency_(prometheus::BuildHistogram()
                        .Name("perfflow_flow_step_latency_seconds")
                        .Help("Time from TRIGGERED to each recorded step.")
                        .Register(registry)),
      health_ratio_(prometheus::BuildGauge()
                        .Name("perfflow_flow_health_ratio")
                        .Help("Flow health over the trailing window: share of decided chains archived within 48 h.")
                        .Register(registry)),
      health_chains_(prometheus::BuildGauge()
                         .Name("perfflow_flow_health_chains")
                         .Help("Chains of the trailing window by outcome (within, outside, pending).")
                         .Register(registry)),
      open_chains_(prometheus::BuildGauge()
                       .Name("perfflow_flow_open_chains")
                       .Help("Chains not yet archived, by their last step.")
                       .Register(registry)),
      overdue_(prometheus::BuildGauge()
                   .Name("perfflow_tasks_overdue")
                   .Help("Open tasks past their due time.")
                   .Register(registry)),
      outbox_(prometheus::BuildGauge()
                  .Name("perfflow_outbox_backlog")
                  .Help("Notifications waiting for delivery: outbox rows and tasks' task.assigned notices.")
                  .Register(registry)) {}

void EventMetrics::IngestTransaction(size_t events) { ingest_transaction_events_.Observe(static_cast<double>(events)); }

void EventMetrics::EventIngested(const std::string& source, const std::string& event_type, const std::string& result) {
  ingested_.Add({{"source", source}, {"event_type", event_type}, {"result", result}}).Increment();
}

void EventMetrics::KnowEventType(const std::string& source, const std::string& event_type) {
  for (const char* result : {"accepted", "duplicate", "rejected", "conflict", "error"}) {
    ingested_.Add({{"source", source}, {"event_type", event_type}, {"result", result}});
  }
}

void EventMetrics::StepRecorded(const std::string& department, const std::string& event_type, FlowStep step,
                                absl::Duration since_trigger) {
  step_latency_.Add({{"department", department}, {"event_type", event_type}, {"step", StepLabel(step)}}, StepBuckets())
      .Observe(absl::ToDoubleSeconds(since_trigger));
}

void EventMetrics::ChainClosed(const std::string& tenant, const std::string& department, const std::string& event_type,
                               bool within_sla) {
  closed_
      .Add({{"tenant", tenant},
            {"department", department},
            {"event_type", event_type},
            {"within_sla", within_sla ? "true" : "false"}})
      .Increment();
}

void EventMetrics::SetHealth(const std::string& tenant, const HealthReport& report,
                             const std::map<std::pair<std::string, std::string>, HealthCounts>& by_pair) {
  auto set = [&](const std::string& department, const std::string& event_type, const HealthCounts& c) {
    if (c.decided()) {
      health_ratio_.Add({{"tenant", tenant}, {"department", department}, {"event_type", event_type}}).Set(c.ratio());
    }
    const std::pair<const char*, int64_t> outcomes[] = {
        {"within", c.within}, {"outside", c.outside}, {"pending", c.pending}};
    for (const auto& [outcome, n] : outcomes) {
      health_chains_
          .Add({{"tenant", tenant}, {"department", department}, {"event_type", event_type}, {"outcome", outcome}})
          .Set(static_cast<double>(n));
    }
  };
  set("all", "all", report.overall);
  for (const auto& [dept, c] : report.by_department) set(dept, "all", c);
  for (const auto& [type, c] : report.by_event_type) set("all", type, c);
  for (const auto& [key, c] : by_pair) {
    set(key.first, key.second, c);
    // The label sets chains are closed under start at 0, so increase() sees
    // the first closure after a restart.
    for (const char* within : {"true", "false"}) {
      closed_.Add({{"tenant", tenant}, {"department", key.first}, {"event_type", key.second}, {"within_sla", within}});
    }
  }
}

void EventMetrics::SetOpenChains(const std::string& tenant, FlowStep step, int64_t count) {
  open_chains_.Add({{"tenant", tenant}, {"step", StepLabel(step)}}).Set(static_cast<double>(count));
}

void EventMetrics::SetOverdueTasks(const std::string& tenant, int64_t count) {
  overdue_.Add({{"tenant", tenant}}).Set(static_cast<double>(count));
}

void EventMetrics::SetOutboxBacklog(const std::string& tenant, int64_t count) {
  outbox_.Add({{"tenant", tenant}}).Set(static_cast<double>(count));
}

}  // namespace perfflow::event
