#pragma once

// Flow metrics exported to Prometheus. No employee or event ids in labels.

#include <map>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/event/flow_health.h"
#include "services/event/flow_machine.h"

namespace perfflow::event {

// Thread-safe (prometheus-cpp families are).
class EventMetrics {
 public:
  explicit EventMetrics(prometheus::Registry& registry);

  // result: accepted | duplicate | rejected | conflict | error
  void EventIngested(const std::string& source, const std::string& event_type, const std::string& result);
  void StepRecorded(const std::string& department, const std::string& event_type, FlowStep step,
                    absl::Duration since_trigger);
  void ChainClosed(const std::string& tenant, const std::string& department, const std::string& event_type,
                   bool within_sla);
  // A transaction of IngestEvent calls (group commit) with `events` events.
  void IngestTransaction(size_t events);
  // Creates an event type's ingestion counters at 0 (every result).
  void KnowEventType(const std::string& source, const std::string& event_type);

  // Gauges from the periodic refresh (trailing window); also creates the
  // closed-chain counters of each (department, event type) pair at 0.
  void SetHealth(const std::string& tenant, const HealthReport& report,
                 const std::map<std::pair<std::string, std::string>, HealthCounts>& by_pair);
  void SetOpenChains(const std::string& tenant, FlowStep step, int64_t count);
  void SetOverdueTasks(const std::string& tenant, int64_t count);
  void SetOutboxBacklog(const std::string& tenant, int64_t count);

 private:
  prometheus::Family<prometheus::Counter>& ingested_;
  prometheus::Family<prometheus::Counter>& closed_;
  prometheus::Histogram& ingest_transaction_events_;
  prometheus::Family<prometheus::Histogram>& step_latency_;
  prometheus::Family<prometheus::Gauge>& health_ratio_;
  prometheus::Family<prometheus::Gauge>& health_chains_;
  prometheus::Family<prometheus::Gauge>& open_chains_;
  prometheus::Family<prometheus::Gauge>& overdue_;
  prometheus::Family<prometheus::Gauge>& outbox_;
};

// Lower-case step name for labels ("owner_action").
std::string StepLabel(FlowStep step);

}  // namespace perfflow::event
