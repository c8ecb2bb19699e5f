#pragma once

#include <algorithm>
#include <memory>

#include "common/db/database.h"
#include "common/db/migrations.h"
#include "services/event/event_store.h"

namespace perfflow::event {

// The event service's schema, numbered.
const std::vector<db::Migration>& EventMigrations();

// The tasks table's columns in the order ReadTask reads them.
extern const char kTaskColumns[];
TaskRecord ReadTask(const db::Row& r);

// One outbox row inside `txn`: a notice the relay delivers.
// ALREADY_EXISTS when the tenant already has its idempotency key.
absl::Status InsertNotice(db::Transaction& txn, const std::string& tenant, const Notice& notice, absl::Time now);

// The tenant's messages in `state`, in both places a message lives: outbox
// rows and tasks' "task.assigned" notices. Index ranges on the state, never a
// scan of the delivered history (tasks_notice_due holds the state, not the
// tenant: it reads every tenant's notices in that state, a short range for
// pending and dead-lettered ones).
absl::StatusOr<int64_t> CountMessages(db::Database& db, const std::string& tenant, DeliveryState state);

// EventStore over the common SQL layer (MySQL or SQLite).
class SqlEventStore : public EventStore {
 public:
  // Applies the migrations, then returns the store.
  static absl::StatusOr<std::unique_ptr<SqlEventStore>> Open(std::shared_ptr<db::Database> db);

  absl::StatusOr<std::optional<std::string>> LoadRegistry(const std::string& tenant, int64_t version) override;
  absl::StatusOr<int64_t> LatestRegistryVersion(const std::string& tenant) override;
  absl::StatusOr<int64_t> AppendRegistry(const std::string& tenant, const v1::Registry& snapshot,
                                         absl::Time applied_at) override;
  absl::StatusOr<DirectorySnapshot> LoadDirectorySnapshot(const std::string& tenant) override;
  absl::Status UpsertDirectory(const std::string& tenant, const v1::UpsertDirectoryRequest& batch,
                               absl::Time now) override;
  absl::StatusOr<std::optional<v1::Employee>> GetEmployee(const std::string& tenant, const std::string& id) override;
  absl::StatusOr<std::vector<v1::Employee>> GetEmployees(const std::string& tenant,
                                                         const std::vector<std::string>& ids) override;
  absl::StatusOr<std::optional<v1::Department>> GetDepartment(const std::string& tenant,
                                                              const std::string& id) override;
  absl::StatusOr<Page<v1::Employee>> ListEmployees(const std::string& tenant, const EmployeeFilter& filter,
                                                   int page_size, const std::string& cursor) override;
  absl::StatusOr<std::vector<v1::Department>> ListDepartments(const std::string& tenant) override;
  absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> IngestBatch(const std::string& tenant,
                                                                        const std::vector<NewEvent>& batch) override;
  absl::StatusOr<std::optional<EventRecord>> GetEvent(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<Page<EventRecord>> ListEvents(const std::string& tenant, const EventFilter& filter, int page_size,
                                               const std::string& cursor) override;
  absl::StatusOr<std::optional<TaskRecord>> GetTask(const std::string& tenant, const std::string& task_id) override;
  absl::StatusOr<Page<TaskRecord>> ListTasks(const std::string& tenant, const std::string& assignee_id, TaskState state,
                                             int page_size, const std::string& cursor) override;
  absl::StatusOr<StepResult> RecordStep(const std::string& tenant, const StepRecord& step,
                                        const StepDecider& decide) override;
  absl::StatusOr<std::pair<EventRecord, bool>> MarkEvidenceComplete(const std::string& tenant,
                                                                    const std::string& event_id,
                                                                    absl::Time at) override;
  absl::StatusOr<ReplayRows> ReplayRowsOf(const std::string& tenant, absl::Time from, absl::Time to) override;
  absl::StatusOr<bool> EnqueueNotice(const std::string& tenant, const std::string& recipient_id,
                                     const std::string& topic, const std::string& idempotency_key,
                                     const std::string& payload_json, absl::Time now) override;
  absl::StatusOr<std::vector<HealthBucket>> HealthBuckets(const std::string& tenant, absl::Time from, absl::Time to,
                                                          absl::Time now, const EventFilter& filter) override;
  absl::Status ForEachFlow(const std::string& tenant, const EventFilter& filter,
                           const std::function<bool(const EventRecord&)>& emit) override;
  absl::StatusOr<std::vector<std::string>> Tenants() override;
  absl::StatusOr<std::map<FlowStep, int64_t>> OpenChainsByStep(const std::string& tenant) override;
  absl::StatusOr<int64_t> OverdueTasks(const std::string& tenant, absl::Time now) override;
  absl::StatusOr<int64_t> OutboxBacklog(const std::string& tenant) override;
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                           const std::string& person) override;
  absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                           const db::Erasure& erasure) override;
  absl::Status Ping() override { return db_->Ping(); }

  // ForEachFlow reads pages of this many rows (default 5,000); tests use
  // small pages to cross page boundaries with few rows.
  void set_flow_page_rows(int rows) { flow_page_rows_ = rows; }
  // HealthBuckets scans runs of days on this many connections at once
  // (default 1: one query). The event host sets --health_scan_threads on
  // MySQL, where one query uses one core; SQLite's one connection would take
  // the runs in turn.
  void set_health_scan_threads(int threads) { health_scan_threads_ = std::max(1, threads); }

 private:
  explicit SqlEventStore(std::shared_ptr<db::Database> db) : db_(std::move(db)) {}
  // One query of HealthBuckets: the chains triggered on days first..last.
  absl::StatusOr<std::vector<HealthBucket>> ScanHealthDays(const std::string& tenant, int64_t first_day,
                                                           int64_t last_day, absl::Time from, absl::Time to,
                                                           absl::Time now, const EventFilter& filter);

  std::shared_ptr<db::Database> db_;
  int flow_page_rows_ = 5000;
  int health_scan_threads_ = 1;
};

}  // namespace perfflow::event
