#pragma once

// The event service's domain: applying the registry, loading the directory,
// ingesting events into chains, recording steps, and reading health. It
// depends on an EventStore and a Clock only, so unit tests need no network.
// Thread-safe.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/person_data.h"
#include "common/ttl_cache.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "services/event/event_store.h"
#include "services/event/flow_metrics.h"
#include "services/event/registry.h"

namespace perfflow::event {

inline constexpr size_t kMaxAttributesBytes = 64 * 1024;
inline constexpr int kMaxBatchIngest = 500;

struct ApplyResult {
  int64_t version = 0;
  v1::Registry applied;
};

struct HealthQuery {
  std::optional<absl::Time> from;
  std::optional<absl::Time> to;
  HealthPeriod period = HealthPeriod::kNone;
  std::string department_id;
  std::string event_type;
};

class EventCore {
 public:
  // `metrics` may be null (unit tests).
  EventCore(std::shared_ptr<EventStore> store, std::shared_ptr<const Clock> clock, FlowMetrics* metrics);

  absl::StatusOr<ApplyResult> ApplyEventTypes(const std::string& tenant, const v1::ApplyEventTypesRequest& request);
  // Version 0 = latest. NOT_FOUND when the tenant has none.
  absl::StatusOr<std::shared_ptr<const RegistryView>> Registry(const std::string& tenant, int64_t version = 0);

  absl::Status UpsertDirectory(const std::string& tenant, const v1::UpsertDirectoryRequest& request);

  // Validates and stores each request; the valid ones in one transaction
  // (see EventStore::IngestBatch). One result per request, in order.
  std::vector<absl::StatusOr<IngestResult>> IngestBatch(const std::string& tenant,
                                                        const std::vector<const v1::IngestEventRequest*>& requests);
  // IngestBatch of one request.
  absl::StatusOr<IngestResult> Ingest(const std::string& tenant, const v1::IngestEventRequest& request);

  // Stores closed chains of the past with their step times, done tasks, no
  // timers and no notices; one result per item, in order (see ImportHistory).
  std::vector<absl::StatusOr<IngestResult>> ImportHistory(const std::string& tenant,
                                                          const v1::ImportHistoryRequest& request);

  absl::StatusOr<StepResult> RecordStep(const std::string& tenant, const v1::RecordFlowStepRequest& request);

  // Validates a peer service's notice (a known recipient, a topic of its own,
  // a key, a bounded payload) and queues it; false when its key was queued before.
  absl::StatusOr<bool> SendNotice(const std::string& tenant, const v1::SendNoticeRequest& request);

  // The stored chains of a period replayed under today's settings and under the what-if.
  absl::StatusOr<v1::SimulateSettingsResponse> SimulateSettings(const std::string& tenant,
                                                                const v1::SimulateSettingsRequest& request);

  absl::StatusOr<HealthReport> FlowHealth(const std::string& tenant, const HealthQuery& query);

  // Recomputes the gauges (trailing `window`) for every tenant.
  absl::Status RefreshGauges(absl::Duration window);

  EventStore& store() { return *store_; }
  const Clock& clock() const { return *clock_; }

  // Data-subject rights: this service's part, for the gateway only.
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const RequestContext& rc,
                                                           const type::v1::ExportPersonDataRequest& req);
  absl::StatusOr<type::v1::ErasePersonResponse> ErasePerson(const RequestContext& rc,
                                                            const type::v1::ErasePersonRequest& req);

 private:
  // Builds each of `n` items with `build` (a failure is that item's result)
  // and stores the built ones with one IngestBatch; one result per item, in order.
  std::vector<absl::StatusOr<IngestResult>> BuildAndStore(
      const std::string& tenant, size_t n,
      const std::function<absl::StatusOr<NewEvent>(size_t, const RegistryView&)>& build);
  // BuildEvent for a past chain: its times, its tasks done when its steps were.
  absl::StatusOr<NewEvent> BuildHistorical(const std::string& tenant, const v1::HistoricalEvent& historical,
                                           const RegistryView& registry);
  absl::StatusOr<NewEvent> BuildEvent(const std::string& tenant, const v1::IngestEventRequest& request,
                                      const RegistryView& registry);
  // Forgets what the caches hold of `tenant`'s directory.
  void ForgetDirectory(const std::string& tenant);

  std::shared_ptr<EventStore> store_;
  std::shared_ptr<const Clock> clock_;
  FlowMetrics* metrics_;

  // The latest registry per tenant: replicas pick up another replica's apply
  // within its TTL.
  TtlCache<std::string, std::shared_ptr<const RegistryView>> registries_;
  // Employees and departments as ingestion last found them, by (tenant, id):
  // a change through this replica's UpsertDirectory applies to the next
  // event, one through another replica within the TTL.
  TtlCache<std::pair<std::string, std::string>, v1::Employee> employees_;
  TtlCache<std::pair<std::string, std::string>, v1::Department> departments_;
};

}  // namespace perfflow::event
