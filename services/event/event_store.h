#pragma once

// Storage of the event service. The service owns these tables; no other
// service reads them. Every method is scoped to one tenant. Implementations
// are thread-safe.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/person_rows.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "services/event/deadlines.h"
#include "services/event/directory.h"
#include "services/event/flow_health.h"
#include "services/event/flow_machine.h"

namespace perfflow::event {

// Employees of one department and/or with one manager (empty: any).
struct EmployeeFilter {
  std::string department_id;
  std::string manager_id;
};

// Where a message stands: an outbox row's `state`, and a task row's
// `notice_state` (its "task.assigned" notice). kNone: the row has no notice
// to send (imported history; tasks written before migration 11, whose notice
// is an outbox row).
enum class DeliveryState { kPending = 0, kDelivered = 1, kDeadLetter = 2, kNone = 3 };

struct TaskRecord {
  std::string task_id;
  std::string event_id;
  std::string event_type;
  TaskKind kind = perfflow::type::v1::TASK_KIND_UNSPECIFIED;
  std::string assignee_id;
  TaskState state = perfflow::type::v1::TASK_STATE_OPEN;
  absl::Time due_at;
  absl::Time created_at;
  std::optional<absl::Time> completed_at;
  // The task's next timer (kNone when none is left) and its escalation policy.
  TimerLevel timer_level = TimerLevel::kNone;
  absl::Time timer_at = absl::InfiniteFuture();
  absl::Duration escalate_after = absl::Hours(24);
  v1::EscalationTarget escalate_to = v1::ESCALATION_TARGET_SKIP_LEVEL_MANAGER;
};

struct EventRecord {
  std::string event_id;
  std::string event_type;
  std::string source;
  std::string external_id;
  std::string subject_id;
  std::string department_id;
  absl::Time occurred_at;
  // google.protobuf.Struct as JSON.
  std::string attributes_json;
  int64_t registry_version = 0;
  FlowState flow;
  std::vector<TaskRecord> tasks;
  // Imported history (ImportHistory): its steps happened before perfflow.
  bool imported = false;
};

// An event to store; its tasks' "task.assigned" notices are the task rows.
struct NewEvent {
  EventRecord event;
  // SHA-256 of the canonical request; decides duplicate vs conflict.
  std::string payload_hash;
};

struct IngestResult {
  EventRecord event;
  bool duplicate = false;
};

struct StepRecord {
  std::string step_id;
  std::string event_id;
  FlowStep step = perfflow::type::v1::FLOW_STEP_UNSPECIFIED;
  Verdict verdict = perfflow::type::v1::VERDICT_UNSPECIFIED;
  std::string actor_id;
  std::string note;
  std::string payload_hash;
  absl::Time recorded_at;
};

struct StepResult {
  EventRecord event;
  bool duplicate = false;
  // Set when this call changed the chain.
  std::optional<Transition> transition;
};

struct EventFilter {
  std::string subject_id;
  std::string department_id;
  std::string event_type;
  std::optional<FlowStep> step;
  std::optional<absl::Time> from;
  std::optional<absl::Time> to;
};

template <typename T>
struct Page {
  std::vector<T> items;
  // Opaque position after the last item; empty at the end.
  std::string next_cursor;
};

// Decides a step from the chain's current state (the flow machine).
using StepDecider = std::function<absl::StatusOr<Transition>(const FlowState&)>;

struct ReplayChain {
  std::string event_type;
  absl::Time triggered_at;
  std::optional<absl::Time> archived_at;
};

struct ReplayTask {
  std::string event_type;
  perfflow::type::v1::TaskKind kind = perfflow::type::v1::TASK_KIND_UNSPECIFIED;
  absl::Time created_at;
  absl::Time due_at;
  std::optional<absl::Time> done_at;
};

struct ReplayRows {
  std::vector<ReplayChain> chains;
  std::vector<ReplayTask> tasks;
};

class EventStore {
 public:
  virtual ~EventStore() = default;

  // Registry snapshots (serialized v1::Registry), one per applied version.
  virtual absl::StatusOr<std::optional<std::string>> LoadRegistry(const std::string& tenant, int64_t version) = 0;
  virtual absl::StatusOr<int64_t> LatestRegistryVersion(const std::string& tenant) = 0;
  // Stores `snapshot` as version latest+1 and returns that version.
  virtual absl::StatusOr<int64_t> AppendRegistry(const std::string& tenant, const v1::Registry& snapshot,
                                                 absl::Time applied_at) = 0;

  virtual absl::StatusOr<DirectorySnapshot> LoadDirectorySnapshot(const std::string& tenant) = 0;
  // Writes the whole batch in one transaction.
  virtual absl::Status UpsertDirectory(const std::string& tenant, const v1::UpsertDirectoryRequest& batch,
                                       absl::Time now) = 0;
  virtual absl::StatusOr<std::optional<v1::Employee>> GetEmployee(const std::string& tenant, const std::string& id) = 0;
  // The employees among `ids` (unknown ids are left out; order unspecified).
  virtual absl::StatusOr<std::vector<v1::Employee>> GetEmployees(const std::string& tenant,
                                                                 const std::vector<std::string>& ids) = 0;
  virtual absl::StatusOr<std::optional<v1::Department>> GetDepartment(const std::string& tenant,
                                                                      const std::string& id) = 0;
  virtual absl::StatusOr<Page<v1::Employee>> ListEmployees(const std::string& tenant, const EmployeeFilter& filter,
                                                           int page_size, const std::string& cursor) = 0;
  virtual absl::StatusOr<std::vector<v1::Department>> ListDepartments(const std::string& tenant) = 0;

  // One transaction for the whole batch: the events (with their flows and
  // idempotency keys) and their tasks (each its own "task.assigned" notice),
  // written with multi-row INSERTs. Per item: a
  // (source, external_id) already stored, or given earlier in the batch, with
  // the same payload hash returns that event with duplicate=true; with
  // another hash, ALREADY_EXISTS. A database failure fails the whole batch
  // (nothing of it is written).
  virtual absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> IngestBatch(const std::string& tenant,
                                                                                const std::vector<NewEvent>& batch) = 0;
  // IngestBatch of one event.
  absl::StatusOr<IngestResult> Ingest(const std::string& tenant, const NewEvent& event) {
    auto results = IngestBatch(tenant, {event});
    if (!results.ok()) return results.status();
    return std::move(results->front());
  }

  virtual absl::StatusOr<std::optional<EventRecord>> GetEvent(const std::string& tenant,
                                                              const std::string& event_id) = 0;
  virtual absl::StatusOr<Page<EventRecord>> ListEvents(const std::string& tenant, const EventFilter& filter,
                                                       int page_size, const std::string& cursor) = 0;
  // Due-sorted; `state` unspecified means open.
  virtual absl::StatusOr<std::optional<TaskRecord>> GetTask(const std::string& tenant, const std::string& task_id) = 0;
  virtual absl::StatusOr<Page<TaskRecord>> ListTasks(const std::string& tenant, const std::string& assignee_id,
                                                     TaskState state, int page_size, const std::string& cursor) = 0;

  // Locks the chain, lets `decide` compute the transition, writes it with
  // the step row. A repeated step_id with the same payload hash returns the
  // chain with duplicate=true; with another hash, ALREADY_EXISTS.
  virtual absl::StatusOr<StepResult> RecordStep(const std::string& tenant, const StepRecord& step,
                                                const StepDecider& decide) = 0;

  // Sets evidence_complete_at once; the bool says whether this call set it.
  virtual absl::StatusOr<std::pair<EventRecord, bool>> MarkEvidenceComplete(const std::string& tenant,
                                                                            const std::string& event_id,
                                                                            absl::Time at) = 0;

  // What a settings replay needs of the chains TRIGGERED in [from, to): their
  // open and archive times, and each task's kind, creation, due and done time
  // (a task closed without completion is done when its chain was archived).
  virtual absl::StatusOr<ReplayRows> ReplayRowsOf(const std::string& tenant, absl::Time from, absl::Time to) = 0;

  // Queues a notice from a peer service in the outbox; false when the
  // tenant already has its idempotency key (nothing is queued again).
  virtual absl::StatusOr<bool> EnqueueNotice(const std::string& tenant, const std::string& recipient_id,
                                             const std::string& topic, const std::string& idempotency_key,
                                             const std::string& payload_json, absl::Time now) = 0;

  // Flow-health counts per department, event type and UTC day for chains
  // triggered in [from, to), judged at `now`.
  virtual absl::StatusOr<std::vector<HealthBucket>> HealthBuckets(const std::string& tenant, absl::Time from,
                                                                  absl::Time to, absl::Time now,
                                                                  const EventFilter& filter) = 0;

  // Calls `emit` for each chain triggered in the filter's range, in
  // triggered order, reading in bounded pages; stops early when emit is
  // false. The records carry no attributes ("{}") and no tasks.
  virtual absl::Status ForEachFlow(const std::string& tenant, const EventFilter& filter,
                                   const std::function<bool(const EventRecord&)>& emit) = 0;

  // Gauges for the metrics refresher.
  virtual absl::StatusOr<std::vector<std::string>> Tenants() = 0;
  virtual absl::StatusOr<std::map<FlowStep, int64_t>> OpenChainsByStep(const std::string& tenant) = 0;
  virtual absl::StatusOr<int64_t> OverdueTasks(const std::string& tenant, absl::Time now) = 0;
  virtual absl::StatusOr<int64_t> OutboxBacklog(const std::string& tenant) = 0;

  // Data-subject rights (common/db/person_rows.h): the person's rows as
  // JSON files, and their pseudonymisation.
  virtual absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                                   const std::string& person) = 0;
  virtual absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                                   const db::Erasure& erasure) = 0;

  virtual absl::Status Ping() = 0;
};

}  // namespace perfflow::event
