#pragma once

// The event service's domain: applying the registry, loading the directory,
// ingesting events into chains, recording steps, and reading health. It
// depends on an EventStore and a Clock only, so unit tests need no network.
// Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/flow/registry.h"
#include "common/person_data.h"
#include "common/request_context.h"
#include "common/ttl_cache.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "services/event/event_metrics.h"
#include "services/event/event_store.h"
#include "services/event/ingest_combiner.h"

namespace perfflow::event {

inline constexpr size_t kMaxAttributesBytes = 64 * 1024;
inline constexpr int kMaxBatchIngest = 500;

struct ApplyResult {
  int64_t version = 0;
  v1::Registry applied;
};

// One page of a listing and the token of the next ("" after the last).
template <typename T>
struct ListPage {
  std::vector<T> items;
  std::string next_page_token;
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
  // `metrics` may be null (unit tests). With `ingest_transactions` > 0, a
  // store of one built event (IngestEvent; a batch or import with one valid
  // item) goes through an IngestCombiner of that many transactions at once;
  // 0: each in its own transaction.
  EventCore(std::shared_ptr<EventStore> store, std::shared_ptr<const Clock> clock, EventMetrics* metrics,
            int ingest_transactions = 0);

  // Every operation takes the caller's context and checks what the caller may
  // do (roles apply to verified calls, see common/request_context.h).

  absl::StatusOr<ApplyResult> ApplyEventTypes(const RequestContext& rc, const v1::ApplyEventTypesRequest& request);
  // Version 0 = latest; a negative version is refused.
  absl::StatusOr<std::shared_ptr<const RegistryView>> GetRegistry(const RequestContext& rc, int64_t version);
  // The tenant's registry for the service's own use (no caller). Version 0 =
  // latest. FAILED_PRECONDITION when the tenant has none, NOT_FOUND for an
  // unknown version.
  absl::StatusOr<std::shared_ptr<const RegistryView>> Registry(const std::string& tenant, int64_t version = 0);

  absl::Status UpsertDirectory(const RequestContext& rc, const v1::UpsertDirectoryRequest& request);
  absl::StatusOr<ListPage<v1::Employee>> ListEmployees(const RequestContext& rc,
                                                       const v1::ListEmployeesRequest& request);
  absl::StatusOr<v1::Employee> GetEmployee(const RequestContext& rc, const std::string& id);
  absl::StatusOr<std::vector<v1::Department>> ListDepartments(const RequestContext& rc);

  // Validates and stores each request; the valid ones in one transaction
  // (see EventStore::IngestBatch). One result per request, in order.
  std::vector<absl::StatusOr<IngestResult>> IngestBatch(const RequestContext& rc,
                                                        const std::vector<const v1::IngestEventRequest*>& requests);
  // IngestBatch of a BatchIngestEventsRequest (1 to kMaxBatchIngest events).
  absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> BatchIngest(const RequestContext& rc,
                                                                        const v1::BatchIngestEventsRequest& request);
  // IngestBatch of one request.
  absl::StatusOr<IngestResult> Ingest(const RequestContext& rc, const v1::IngestEventRequest& request);

  // Stores closed chains of the past with their step times, done tasks, no
  // timers and no notices; one result per item, in order (admins and systems).
  absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> ImportHistory(const RequestContext& rc,
                                                                          const v1::ImportHistoryRequest& request);

  // Events and tasks as the caller may see them: their own, their direct
  // reports' (managers), the tenant's (HR, admins, systems). A task the
  // caller may not see is NOT_FOUND.
  absl::StatusOr<EventRecord> GetEvent(const RequestContext& rc, const std::string& name);
  absl::StatusOr<ListPage<EventRecord>> ListEvents(const RequestContext& rc, const v1::ListEventsRequest& request);
  absl::StatusOr<ListPage<TaskRecord>> ListTasks(const RequestContext& rc, const v1::ListTasksRequest& request);
  absl::StatusOr<TaskRecord> GetTask(const RequestContext& rc, const std::string& name);
  // Calls `emit` for every chain the request selects until it returns false.
  absl::Status ForEachFlow(const RequestContext& rc, const v1::StreamFlowFactsRequest& request,
                           const std::function<bool(const EventRecord&)>& emit);

  // People's steps come from the services that own them; systems may report any.
  absl::StatusOr<StepResult> RecordStep(const RequestContext& rc, const v1::RecordFlowStepRequest& request);
  // A peer service's report; true the first time.
  absl::StatusOr<std::pair<EventRecord, bool>> MarkEvidenceComplete(const RequestContext& rc, const std::string& event);

  // Validates a peer service's notice (a known recipient, a topic of its own,
  // a key, a bounded payload) and queues it; false when its key was queued before.
  absl::StatusOr<bool> SendNotice(const RequestContext& rc, const v1::SendNoticeRequest& request);

  // The stored chains of a period replayed under today's settings and under the what-if (HR, admins).
  absl::StatusOr<v1::SimulateSettingsResponse> SimulateSettings(const RequestContext& rc,
                                                                const v1::SimulateSettingsRequest& request);

  absl::StatusOr<HealthReport> FlowHealth(const RequestContext& rc, const v1::GetFlowHealthRequest& request);
  absl::StatusOr<HealthReport> FlowHealth(const RequestContext& rc, const HealthQuery& query);

  // Recomputes the gauges (trailing `window`) for every tenant.
  absl::Status RefreshGauges(absl::Duration window);

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
  // Role rules for a verified principal (RequestContext::verified): HR,
  // admins and systems see the whole tenant, everyone sees their own rows,
  // a manager also their direct reports. PERMISSION_DENIED otherwise.
  absl::Status CheckCanSee(const RequestContext& rc, const std::string& employee_id);
  // An event: CheckCanSee of its subject, or a task of the event is the caller's
  // (the cross-department confirmer sees what they confirm).
  absl::Status CheckCanSeeEvent(const RequestContext& rc, const EventRecord& event);

  std::shared_ptr<EventStore> store_;
  std::shared_ptr<const Clock> clock_;
  EventMetrics* metrics_;
  std::unique_ptr<IngestCombiner> combiner_;  // null: no group commit

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
