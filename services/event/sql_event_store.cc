#include "services/event/sql_event_store.h"

#include <atomic>
#include <deque>
#include <iterator>
#include <map>
#include <thread>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/db/time_columns.h"
#include "common/ids.h"
#include "google/protobuf/util/json_util.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using db::Params;
using db::Row;
using db::Transaction;

using db::FromMs;
using db::Ms;
using db::OptMs;
using db::OptTime;

constexpr int kMaxPageSize = 500;
int ClampPage(int size, int fallback) { return size <= 0 ? fallback : std::min(size, kMaxPageSize); }

// Cursor "<int>|<id>" for keyset pagination.
bool ParseCursor(const std::string& cursor, int64_t* key, std::string* id) {
  std::vector<std::string> parts = absl::StrSplit(cursor, absl::MaxSplits('|', 1));
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], key)) return false;
  *id = parts[1];
  return true;
}

const char kEventColumns[] =
    "e.event_id, e.event_type, e.source, e.external_id, e.subject_id, e.department_id, e.occurred_at, "
    "e.attributes, e.registry_version, e.triggered_at, e.owner_action_at, e.manager_feedback_at, "
    "e.cross_confirm_at, e.archived_at, e.requires_cross_confirm, e.round, e.verdict, e.evidence_complete_at, "
    "e.imported";

EventRecord ReadEvent(const Row& r) {
  EventRecord e;
  e.event_id = r.Str(0);
  e.event_type = r.Str(1);
  e.source = r.Str(2);
  e.external_id = r.Str(3);
  e.subject_id = r.Str(4);
  e.department_id = r.Str(5);
  e.occurred_at = FromMs(r.Int(6));
  e.attributes_json = r.Str(7);
  e.registry_version = r.Int(8);
  e.flow.triggered_at = FromMs(r.Int(9));
  e.flow.owner_action_at = OptTime(r, 10);
  e.flow.manager_feedback_at = OptTime(r, 11);
  e.flow.cross_confirm_at = OptTime(r, 12);
  e.flow.archived_at = OptTime(r, 13);
  e.flow.requires_cross_confirm = r.Int(14) != 0;
  e.flow.round = static_cast<int>(r.Int(15));
  e.flow.verdict = static_cast<Verdict>(r.Int(16));
  e.flow.evidence_complete_at = OptTime(r, 17);
  e.imported = r.Int(18) != 0;
  return e;
}

// Loads tasks for `events` (one query) and attaches them.
absl::Status AttachTasks(Transaction& txn, const std::string& tenant, std::vector<EventRecord>& events) {
  if (events.empty()) return absl::OkStatus();
  Params params = {tenant};
  for (const EventRecord& e : events) params.push_back(e.event_id);
  auto rows = txn.Query(absl::StrCat("SELECT ", kTaskColumns, " FROM tasks WHERE tenant_id = ? AND event_id IN (",
                                     db::Placeholders(events.size()), ") ORDER BY kind, task_id"),
                        params);
  if (!rows.ok()) return rows.status();
  std::map<std::string, EventRecord*> by_id;
  for (EventRecord& e : events) by_id[e.event_id] = &e;
  for (const Row& r : *rows) {
    TaskRecord task = ReadTask(r);
    by_id[task.event_id]->tasks.push_back(std::move(task));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<EventRecord>> LoadEvent(Transaction& txn, const std::string& tenant,
                                                     const std::string& event_id, bool for_update) {
  auto rows = txn.Query(absl::StrCat("SELECT ", kEventColumns,
                                     " FROM events e"
                                     " WHERE e.tenant_id = ? AND e.event_id = ?",
                                     for_update ? txn.ForUpdate() : ""),
                        {tenant, event_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  std::vector<EventRecord> events = {ReadEvent(rows->front())};
  if (absl::Status s = AttachTasks(txn, tenant, events); !s.ok()) return s;
  return std::move(events.front());
}

// Appends "AND ..." conditions of `filter` on events e.
void AddFilter(const EventFilter& filter, std::string& sql, Params& params) {
  if (!filter.subject_id.empty()) {
    sql += " AND e.subject_id = ?";
    params.push_back(filter.subject_id);
  }
  if (!filter.department_id.empty()) {
    sql += " AND e.department_id = ?";
    params.push_back(filter.department_id);
  }
  if (!filter.event_type.empty()) {
    sql += " AND e.event_type = ?";
    params.push_back(filter.event_type);
  }
  if (filter.step) {
    sql += " AND e.step = ?";
    params.push_back(int64_t{*filter.step});
  }
  if (filter.from) {
    sql += " AND e.triggered_at >= ?";
    params.push_back(Ms(*filter.from));
  }
  if (filter.to) {
    sql += " AND e.triggered_at < ?";
    params.push_back(Ms(*filter.to));
  }
}

// The contacts column holds the person's channels, language and attributes (JSON).
std::string ContactsJson(const v1::Employee& e) {
  v1::Employee only;
  *only.mutable_contacts() = e.contacts();
  only.set_language(e.language());
  *only.mutable_attributes() = e.attributes();
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(only, &json);
  return json;
}

v1::Employee ReadEmployee(const Row& r) {
  v1::Employee e;
  e.set_id(r.Str(0));
  e.set_display_name(r.Str(1));
  e.set_department_id(r.Str(2));
  e.set_grade(r.Str(3));
  e.set_role(r.Str(4));
  e.set_manager_id(r.Str(5));
  v1::Employee contacts;
  if (google::protobuf::util::JsonStringToMessage(r.Str(6), &contacts).ok()) {
    *e.mutable_contacts() = contacts.contacts();
    e.set_language(contacts.language());
    *e.mutable_attributes() = contacts.attributes();
  }
  return e;
}

const char kEmployeeColumns[] = "employee_id, display_name, department_id, grade, role, manager_id, contacts";

v1::Department ReadDepartment(const Row& r) {
  v1::Department d;
  d.set_id(r.Str(0));
  d.set_name(r.Str(1));
  d.set_parent_id(r.Str(2));
  d.set_head_id(r.Str(3));
  return d;
}

}  // namespace

const char kTaskColumns[] =
    "task_id, event_id, event_type, kind, assignee_id, state, due_at, created_at, completed_at, timer_level, "
    "timer_at, escalate_after_ms, escalate_to";

TaskRecord ReadTask(const Row& r) {
  TaskRecord task;
  task.task_id = r.Str(0);
  task.event_id = r.Str(1);
  task.event_type = r.Str(2);
  task.kind = static_cast<TaskKind>(r.Int(3));
  task.assignee_id = r.Str(4);
  task.state = static_cast<TaskState>(r.Int(5));
  task.due_at = FromMs(r.Int(6));
  task.created_at = FromMs(r.Int(7));
  task.completed_at = OptTime(r, 8);
  task.timer_level = static_cast<TimerLevel>(r.Int(9));
  task.timer_at = r.IsNull(10) ? absl::InfiniteFuture() : FromMs(r.Int(10));
  task.escalate_after = absl::Milliseconds(r.Int(11));
  task.escalate_to = static_cast<v1::EscalationTarget>(r.Int(12));
  return task;
}

// Migration 7's copy of each stored payload hash onto its event row.
std::string MoveKeys(const std::string& where) {
  return "UPDATE events SET payload_hash = COALESCE((SELECT i.payload_hash FROM inbox i WHERE i.tenant_id = "
         "events.tenant_id AND i.source = events.source AND i.external_id = events.external_id), '')" +
         where;
}

// Migration 8's copy of each stored flow onto its event row.
std::string MoveFlowColumns(const std::string& where) {
  std::string sql = "UPDATE events SET ";
  const char* columns[] = {"step",
                           "round",
                           "verdict",
                           "requires_cross_confirm",
                           "triggered_at",
                           "triggered_day",
                           "owner_action_at",
                           "manager_feedback_at",
                           "cross_confirm_at",
                           "archived_at",
                           "evidence_complete_at"};
  for (size_t i = 0; i < std::size(columns); ++i) {
    absl::StrAppend(&sql, i == 0 ? "" : ", ", columns[i], " = COALESCE((SELECT f.", columns[i],
                    " FROM flows f WHERE f.tenant_id = events.tenant_id AND f.event_id = events.event_id), ",
                    columns[i], ")");
  }
  return sql + where;
}

const std::vector<db::Migration>& EventMigrations() {
  static const std::vector<db::Migration> kMigrations = {
      {1,
       "registry, directory, events, flows, tasks, steps, outbox",
       {
           "CREATE TABLE IF NOT EXISTS registry_versions (tenant_id VARCHAR(64) NOT NULL, version BIGINT NOT NULL, "
           "applied_at BIGINT NOT NULL, snapshot MEDIUMTEXT NOT NULL, PRIMARY KEY (tenant_id, version))",
           "CREATE TABLE IF NOT EXISTS departments (tenant_id VARCHAR(64) NOT NULL, department_id VARCHAR(64) NOT "
           "NULL, "
           "name VARCHAR(255) NOT NULL, parent_id VARCHAR(64) NOT NULL, head_id VARCHAR(64) NOT NULL, "
           "updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, department_id))",
           "CREATE TABLE IF NOT EXISTS employees (tenant_id VARCHAR(64) NOT NULL, employee_id VARCHAR(64) NOT NULL, "
           "display_name VARCHAR(255) NOT NULL, department_id VARCHAR(64) NOT NULL, grade VARCHAR(64) NOT NULL, "
           "role VARCHAR(64) NOT NULL, manager_id VARCHAR(64) NOT NULL, contacts TEXT NOT NULL, "
           "updated_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, employee_id))",
           "CREATE INDEX IF NOT EXISTS employees_by_department ON employees (tenant_id, department_id, employee_id)",
           "CREATE TABLE IF NOT EXISTS inbox (tenant_id VARCHAR(64) NOT NULL, source VARCHAR(64) NOT NULL, "
           "external_id VARCHAR(255) NOT NULL, payload_hash CHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "received_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, source, external_id))",
           "CREATE TABLE IF NOT EXISTS events (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "event_type VARCHAR(128) NOT NULL, source VARCHAR(64) NOT NULL, external_id VARCHAR(255) NOT NULL, "
           "subject_id VARCHAR(64) NOT NULL, department_id VARCHAR(64) NOT NULL, occurred_at BIGINT NOT NULL, "
           "attributes MEDIUMTEXT NOT NULL, registry_version BIGINT NOT NULL, PRIMARY KEY (tenant_id, event_id))",
           "CREATE TABLE IF NOT EXISTS flows (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "event_type VARCHAR(128) NOT NULL, subject_id VARCHAR(64) NOT NULL, department_id VARCHAR(64) NOT NULL, "
           "step INT NOT NULL, round INT NOT NULL, verdict INT NOT NULL, requires_cross_confirm INT NOT NULL, "
           "triggered_at BIGINT NOT NULL, triggered_day BIGINT NOT NULL, owner_action_at BIGINT NULL, "
           "manager_feedback_at BIGINT NULL, cross_confirm_at BIGINT NULL, archived_at BIGINT NULL, "
           "PRIMARY KEY (tenant_id, event_id))",
           "CREATE INDEX IF NOT EXISTS flows_by_time ON flows (tenant_id, triggered_at, event_id)",
           "CREATE INDEX IF NOT EXISTS flows_by_subject ON flows (tenant_id, subject_id, triggered_at)",
           "CREATE INDEX IF NOT EXISTS flows_by_step ON flows (tenant_id, step)",
           "CREATE TABLE IF NOT EXISTS flow_steps (tenant_id VARCHAR(64) NOT NULL, step_id VARCHAR(128) NOT NULL, "
           "event_id CHAR(32) NOT NULL, step INT NOT NULL, verdict INT NOT NULL, round INT NOT NULL, "
           "actor_id VARCHAR(64) NOT NULL, note TEXT NOT NULL, payload_hash CHAR(64) NOT NULL, "
           "recorded_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, step_id))",
           "CREATE INDEX IF NOT EXISTS flow_steps_by_event ON flow_steps (tenant_id, event_id, recorded_at)",
           "CREATE TABLE IF NOT EXISTS tasks (tenant_id VARCHAR(64) NOT NULL, task_id CHAR(32) NOT NULL, "
           "event_id CHAR(32) NOT NULL, event_type VARCHAR(128) NOT NULL, kind INT NOT NULL, "
           "assignee_id VARCHAR(64) NOT NULL, state INT NOT NULL, due_at BIGINT NOT NULL, created_at BIGINT NOT NULL, "
           "completed_at BIGINT NULL, PRIMARY KEY (tenant_id, task_id))",
           "CREATE INDEX IF NOT EXISTS tasks_inbox ON tasks (tenant_id, assignee_id, state, due_at, task_id)",
           "CREATE INDEX IF NOT EXISTS tasks_by_event ON tasks (tenant_id, event_id)",
           "CREATE INDEX IF NOT EXISTS tasks_due ON tasks (tenant_id, state, due_at)",
           "CREATE TABLE IF NOT EXISTS outbox (tenant_id VARCHAR(64) NOT NULL, message_id CHAR(32) NOT NULL, "
           "idempotency_key VARCHAR(255) NOT NULL, topic VARCHAR(64) NOT NULL, recipient_id VARCHAR(64) NOT NULL, "
           "payload MEDIUMTEXT NOT NULL, created_at BIGINT NOT NULL, state INT NOT NULL, attempts INT NOT NULL, "
           "PRIMARY KEY (tenant_id, message_id))",
           "CREATE UNIQUE INDEX IF NOT EXISTS outbox_idempotency ON outbox (tenant_id, idempotency_key)",
           "CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (tenant_id, state, created_at)",
       }},
      {2, "evidence completeness on flows", {"ALTER TABLE flows ADD COLUMN evidence_complete_at BIGINT NULL"}},
      {3,
       "task timers, timer firings, outbox delivery state, digest runs",
       {
           // The next timer of each task lives on the task: completing the
           // task stops it, reopening it resumes it.
           "ALTER TABLE tasks ADD COLUMN timer_level INT NOT NULL DEFAULT 0",
           "ALTER TABLE tasks ADD COLUMN timer_at BIGINT NULL",
           "ALTER TABLE tasks ADD COLUMN escalate_after_ms BIGINT NOT NULL DEFAULT 86400000",
           "ALTER TABLE tasks ADD COLUMN escalate_to INT NOT NULL DEFAULT 1",
           "ALTER TABLE tasks ADD COLUMN lease_owner VARCHAR(64) NOT NULL DEFAULT ''",
           "ALTER TABLE tasks ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE tasks ADD COLUMN fence BIGINT NOT NULL DEFAULT 0",
           // Tasks opened before timers existed get their overdue warning.
           "UPDATE tasks SET timer_level = 2, timer_at = due_at WHERE state = 1",
           "CREATE INDEX IF NOT EXISTS tasks_timer ON tasks (state, timer_at)",
           "CREATE TABLE IF NOT EXISTS timer_firings (tenant_id VARCHAR(64) NOT NULL, task_id CHAR(32) NOT NULL, "
           "level INT NOT NULL, event_id CHAR(32) NOT NULL, timer_at BIGINT NOT NULL, fired_at BIGINT NOT NULL, "
           "owner VARCHAR(64) NOT NULL, fence BIGINT NOT NULL, PRIMARY KEY (tenant_id, task_id, level))",
           "ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE outbox ADD COLUMN lease_owner VARCHAR(64) NOT NULL DEFAULT ''",
           "ALTER TABLE outbox ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE outbox ADD COLUMN fence BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE outbox ADD COLUMN last_error VARCHAR(512) NOT NULL DEFAULT ''",
           "ALTER TABLE outbox ADD COLUMN delivered_to VARCHAR(1024) NOT NULL DEFAULT ''",
           "ALTER TABLE outbox ADD COLUMN delivered_at BIGINT NULL",
           "CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at)",
           "CREATE TABLE IF NOT EXISTS digest_runs (tenant_id VARCHAR(64) NOT NULL, kind VARCHAR(32) NOT NULL, "
           "period VARCHAR(16) NOT NULL, created_at BIGINT NOT NULL, messages INT NOT NULL, "
           "PRIMARY KEY (tenant_id, kind, period))",
       }},
      // Flow health reads every chain of its window: this index holds every
      // column it needs, in its GROUP BY order, so it never visits the rows
      // and aggregates as it scans (no sort; BENCHMARKS.md, 1M chains).
      {4,
       "flow health index",
       {"CREATE INDEX IF NOT EXISTS flows_health ON flows (tenant_id, triggered_day, department_id, event_type, "
        "triggered_at, archived_at)"}},
      // A manager's team: their direct reports (ListEmployees by manager_id).
      {5,
       "employees by manager",
       {"CREATE INDEX IF NOT EXISTS employees_manager ON employees (tenant_id, manager_id)"}},
      // History imported from before perfflow (ImportHistory): counted, never timed or notified.
      {6, "imported history", {"ALTER TABLE events ADD COLUMN imported INT NOT NULL DEFAULT 0"}},
      // The idempotency key lives on the event row (a unique index) instead of
      // a separate inbox row: one row and one statement less per event
      // (BENCHMARKS.md, #21). The inbox's payload hashes move over; the
      // inbox goes in migration 9.
      {7,
       "idempotency key on the event",
       {
           "ALTER TABLE events ADD COLUMN payload_hash CHAR(64) NOT NULL DEFAULT ''",
           MoveKeys(""),
           "CREATE UNIQUE INDEX IF NOT EXISTS events_idempotency ON events (tenant_id, source, external_id)",
       }},
      // The flow of an event is columns of its row, with the flows table's
      // indexes: one row and one statement less per event (BENCHMARKS.md,
      // #21). Stored flows move over; the flows table goes in migration 10.
      {8,
       "flow on the event",
       {
           "ALTER TABLE events ADD COLUMN step INT NOT NULL DEFAULT 0",
           "ALTER TABLE events ADD COLUMN round INT NOT NULL DEFAULT 0",
           "ALTER TABLE events ADD COLUMN verdict INT NOT NULL DEFAULT 0",
           "ALTER TABLE events ADD COLUMN requires_cross_confirm INT NOT NULL DEFAULT 0",
           "ALTER TABLE events ADD COLUMN triggered_at BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE events ADD COLUMN triggered_day BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE events ADD COLUMN owner_action_at BIGINT NULL",
           "ALTER TABLE events ADD COLUMN manager_feedback_at BIGINT NULL",
           "ALTER TABLE events ADD COLUMN cross_confirm_at BIGINT NULL",
           "ALTER TABLE events ADD COLUMN archived_at BIGINT NULL",
           "ALTER TABLE events ADD COLUMN evidence_complete_at BIGINT NULL",
           MoveFlowColumns(""),
           "CREATE INDEX IF NOT EXISTS events_by_time ON events (tenant_id, triggered_at, event_id)",
           "CREATE INDEX IF NOT EXISTS events_by_subject ON events (tenant_id, subject_id, triggered_at)",
           "CREATE INDEX IF NOT EXISTS events_by_step ON events (tenant_id, step)",
           // Flow health reads only this index (see migration 4).
           "CREATE INDEX IF NOT EXISTS events_health ON events (tenant_id, triggered_day, department_id, event_type, "
           "triggered_at, archived_at)",
       }},
      // Apart, after 7 and 8 are recorded, so that those can run again from
      // their first statement if cut short (which needs their sources).
      // Events a replica of the previous version stored after the copy (a
      // rolling update) are copied once more just before each drop.
      {9, "inbox moved onto the event", {MoveKeys(" WHERE payload_hash = ''"), "DROP TABLE IF EXISTS inbox"}},
      {10, "flows moved onto the event", {MoveFlowColumns(" WHERE triggered_at = 0"), "DROP TABLE IF EXISTS flows"}},
      // A task's "task.assigned" notice is the task row itself, with the
      // outbox's delivery columns (prefixed notice_), instead of an outbox
      // row per task: one row and one statement less per event
      // (BENCHMARKS.md, #21). Tasks written before (or by a replica of the
      // previous version during a rolling update, which still writes the
      // outbox row) default to notice_state 3: their notice is in the outbox.
      {11,
       "task notices from the task row",
       {
           "ALTER TABLE tasks ADD COLUMN notice_state INT NOT NULL DEFAULT 3",
           "ALTER TABLE tasks ADD COLUMN notice_attempts INT NOT NULL DEFAULT 0",
           "ALTER TABLE tasks ADD COLUMN notice_next_attempt_at BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE tasks ADD COLUMN notice_lease_owner VARCHAR(64) NOT NULL DEFAULT ''",
           "ALTER TABLE tasks ADD COLUMN notice_lease_until BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE tasks ADD COLUMN notice_fence BIGINT NOT NULL DEFAULT 0",
           "ALTER TABLE tasks ADD COLUMN notice_last_error VARCHAR(512) NOT NULL DEFAULT ''",
           "ALTER TABLE tasks ADD COLUMN notice_delivered_to VARCHAR(1024) NOT NULL DEFAULT ''",
           "ALTER TABLE tasks ADD COLUMN notice_delivered_at BIGINT NULL",
           "CREATE INDEX IF NOT EXISTS tasks_notice_due ON tasks (notice_state, notice_next_attempt_at)",
       }},
  };
  return kMigrations;
}

absl::Status InsertNotice(Transaction& txn, const std::string& tenant, const Notice& notice, absl::Time now) {
  auto ins = txn.Execute(
      "INSERT INTO outbox (tenant_id, message_id, idempotency_key, topic, recipient_id, payload, created_at, state, "
      "attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
      {tenant, RandomId(), notice.idempotency_key, notice.topic, notice.recipient_id, notice.payload_json, Ms(now),
       Ms(now)});
  return ins.status();
}

absl::StatusOr<std::unique_ptr<SqlEventStore>> SqlEventStore::Open(std::shared_ptr<db::Database> db) {
  if (absl::Status s = db::ApplyMigrations(*db, "event", EventMigrations()); !s.ok()) return s;
  return std::unique_ptr<SqlEventStore>(new SqlEventStore(std::move(db)));
}

// ------------------------------------------------------------------ registry

absl::StatusOr<std::optional<std::string>> SqlEventStore::LoadRegistry(const std::string& tenant, int64_t version) {
  auto rows = db::QueryOnce(*db_, "SELECT snapshot FROM registry_versions WHERE tenant_id = ? AND version = ?",
                            {tenant, version});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return rows->front().Str(0);
}

absl::StatusOr<int64_t> SqlEventStore::LatestRegistryVersion(const std::string& tenant) {
  return db::QueryInt(*db_, "SELECT MAX(version) FROM registry_versions WHERE tenant_id = ?", {tenant});
}

absl::StatusOr<int64_t> SqlEventStore::AppendRegistry(const std::string& tenant, const v1::Registry& snapshot,
                                                      absl::Time applied_at) {
  int64_t version = 0;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    auto rows = txn.Query("SELECT MAX(version) FROM registry_versions WHERE tenant_id = ?", {tenant});
    if (!rows.ok()) return rows.status();
    version = (rows->empty() ? 0 : rows->front().Int(0)) + 1;
    v1::Registry stored = snapshot;
    stored.set_version(version);
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(stored, &json).ok()) {
      return absl::InternalError("cannot serialise registry");
    }
    auto ins =
        txn.Execute("INSERT INTO registry_versions (tenant_id, version, applied_at, snapshot) VALUES (?, ?, ?, ?)",
                    {tenant, version, Ms(applied_at), json});
    // A concurrent apply took this version: retry on the next one.
    if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("registry version race");
    return ins.status();
  });
  if (!s.ok()) return s;
  return version;
}

// ------------------------------------------------------------------ directory

absl::StatusOr<DirectorySnapshot> SqlEventStore::LoadDirectorySnapshot(const std::string& tenant) {
  DirectorySnapshot snap;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    snap = {};
    auto rows = txn.Query("SELECT employee_id, manager_id FROM employees WHERE tenant_id = ?", {tenant});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) snap.managers[r.Str(0)] = r.Str(1);
    auto depts = txn.Query("SELECT department_id FROM departments WHERE tenant_id = ?", {tenant});
    if (!depts.ok()) return depts.status();
    for (const Row& r : *depts) snap.departments.push_back(r.Str(0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return snap;
}

absl::Status SqlEventStore::UpsertDirectory(const std::string& tenant, const v1::UpsertDirectoryRequest& batch,
                                            absl::Time now) {
  return db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    for (const auto& d : batch.departments()) {
      auto del = txn.Execute("DELETE FROM departments WHERE tenant_id = ? AND department_id = ?", {tenant, d.id()});
      if (!del.ok()) return del.status();
      auto ins = txn.Execute(
          "INSERT INTO departments (tenant_id, department_id, name, parent_id, head_id, updated_at) "
          "VALUES (?, ?, ?, ?, ?, ?)",
          {tenant, d.id(), d.name(), d.parent_id(), d.head_id(), Ms(now)});
      if (!ins.ok()) return ins.status();
    }
    for (const auto& e : batch.employees()) {
      auto del = txn.Execute("DELETE FROM employees WHERE tenant_id = ? AND employee_id = ?", {tenant, e.id()});
      if (!del.ok()) return del.status();
      auto ins = txn.Execute(
          "INSERT INTO employees (tenant_id, employee_id, display_name, department_id, grade, role, manager_id, "
          "contacts, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
          {tenant, e.id(), e.display_name(), e.department_id(), e.grade(), e.role(), e.manager_id(), ContactsJson(e),
           Ms(now)});
      if (!ins.ok()) return ins.status();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<v1::Employee>> SqlEventStore::GetEmployee(const std::string& tenant,
                                                                       const std::string& id) {
  auto rows = db::QueryOnce(
      *db_, absl::StrCat("SELECT ", kEmployeeColumns, " FROM employees WHERE tenant_id = ? AND employee_id = ?"),
      {tenant, id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return ReadEmployee(rows->front());
}

absl::StatusOr<std::vector<v1::Employee>> SqlEventStore::GetEmployees(const std::string& tenant,
                                                                      const std::vector<std::string>& ids) {
  std::vector<v1::Employee> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    for (const auto& [begin, count] : db::Chunks(ids.size())) {
      Params params = {tenant};
      params.insert(params.end(), ids.begin() + begin, ids.begin() + begin + count);
      auto rows = txn.Query(
          absl::StrCat("SELECT ", kEmployeeColumns, " FROM employees WHERE tenant_id = ? AND employee_id IN (",
                       db::Placeholders(count), ")"),
          params);
      if (!rows.ok()) return rows.status();
      for (const Row& r : *rows) out.push_back(ReadEmployee(r));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Department>> SqlEventStore::GetDepartment(const std::string& tenant,
                                                                           const std::string& id) {
  auto rows = db::QueryOnce(
      *db_, "SELECT department_id, name, parent_id, head_id FROM departments WHERE tenant_id = ? AND department_id = ?",
      {tenant, id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return ReadDepartment(rows->front());
}

absl::StatusOr<Page<v1::Employee>> SqlEventStore::ListEmployees(const std::string& tenant, const EmployeeFilter& filter,
                                                                int page_size, const std::string& cursor) {
  const int limit = ClampPage(page_size, 100);
  std::string sql = absl::StrCat("SELECT ", kEmployeeColumns, " FROM employees WHERE tenant_id = ?");
  Params params = {tenant};
  if (!filter.department_id.empty()) {
    sql += " AND department_id = ?";
    params.push_back(filter.department_id);
  }
  if (!filter.manager_id.empty()) {
    sql += " AND manager_id = ?";
    params.push_back(filter.manager_id);
  }
  if (!cursor.empty()) {
    sql += " AND employee_id > ?";
    params.push_back(cursor);
  }
  sql += " ORDER BY employee_id LIMIT ?";
  params.push_back(int64_t{limit + 1});
  auto rows = db::QueryOnce(*db_, sql, params);
  if (!rows.ok()) return rows.status();
  Page<v1::Employee> page;
  for (const Row& r : *rows) page.items.push_back(ReadEmployee(r));
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.pop_back();
    page.next_cursor = page.items.back().id();
  }
  return page;
}

absl::StatusOr<std::vector<v1::Department>> SqlEventStore::ListDepartments(const std::string& tenant) {
  auto rows = db::QueryOnce(
      *db_,
      "SELECT department_id, name, parent_id, head_id FROM departments WHERE tenant_id = ? ORDER BY department_id",
      {tenant});
  if (!rows.ok()) return rows.status();
  std::vector<v1::Department> out;
  for (const Row& r : *rows) out.push_back(ReadDepartment(r));
  return out;
}

// ------------------------------------------------------------------ events

absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> SqlEventStore::IngestBatch(
    const std::string& tenant, const std::vector<NewEvent>& batch) {
  using Key = std::pair<std::string, std::string>;  // (source, external_id)
  std::vector<absl::StatusOr<IngestResult>> results;
  // New ids are the common case: the first attempt inserts without looking
  // them up (one round trip less per call), and the unique index
  // (tenant_id, source, external_id) refuses a stored one. Then the batch
  // runs again, looking its ids up first.
  bool look_up = false;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    results.clear();
    // The events already stored under the batch's ids.
    std::map<Key, std::pair<std::string, std::string>> stored;  // -> (payload hash, event id)
    for (const auto& [begin, count] : db::Chunks(look_up ? batch.size() : 0)) {
      std::string sql = "SELECT source, external_id, payload_hash, event_id FROM events WHERE tenant_id = ? AND (";
      Params params = {tenant};
      for (size_t i = begin; i < begin + count; ++i) {
        absl::StrAppend(&sql, i == begin ? "" : " OR ", "(source = ? AND external_id = ?)");
        params.push_back(batch[i].event.source);
        params.push_back(batch[i].event.external_id);
      }
      auto rows = txn.Query(sql + ")", params);
      if (!rows.ok()) return rows.status();
      for (const Row& r : *rows) stored[{r.Str(0), r.Str(1)}] = {r.Str(2), r.Str(3)};
    }
    auto conflict = [](const EventRecord& e) {
      return absl::AlreadyExistsError(absl::StrCat("external_id '", e.external_id, "' from source '", e.source,
                                                   "' was already ingested with a different payload"));
    };
    std::map<Key, size_t> fresh_index;  // first occurrence in this batch of each new id
    std::vector<const NewEvent*> fresh;
    for (size_t i = 0; i < batch.size(); ++i) {
      const NewEvent& n = batch[i];
      const Key key = {n.event.source, n.event.external_id};
      if (auto it = stored.find(key); it != stored.end()) {
        if (it->second.first != n.payload_hash) {
          results.emplace_back(conflict(n.event));
          continue;
        }
        auto event = LoadEvent(txn, tenant, it->second.second, false);
        if (!event.ok()) return event.status();
        if (!*event) return absl::InternalError("event row without its flow");
        results.emplace_back(IngestResult{std::move(**event), true});
      } else if (auto first = fresh_index.find(key); first != fresh_index.end()) {
        const NewEvent& earlier = batch[first->second];
        if (earlier.payload_hash != n.payload_hash) {
          results.emplace_back(conflict(n.event));
        } else {
          results.emplace_back(IngestResult{earlier.event, true});
        }
      } else {
        fresh_index[key] = i;
        fresh.push_back(&n);
        results.emplace_back(IngestResult{n.event, false});
      }
    }

    std::vector<Params> events, tasks;
    for (const NewEvent* n : fresh) {
      const EventRecord& e = n->event;
      // A new chain is TRIGGERED; an imported one arrives with the steps it reached.
      auto at = [](const std::optional<absl::Time>& t) { return t ? db::Param(Ms(*t)) : db::Param(nullptr); };
      events.push_back({tenant,
                        e.event_id,
                        e.event_type,
                        e.source,
                        e.external_id,
                        e.subject_id,
                        e.department_id,
                        Ms(e.occurred_at),
                        e.attributes_json,
                        e.registry_version,
                        int64_t{e.imported ? 1 : 0},
                        n->payload_hash,
                        int64_t{CurrentStep(e.flow)},
                        int64_t{e.flow.round},
                        int64_t{e.flow.verdict},
                        int64_t{e.flow.requires_cross_confirm ? 1 : 0},
                        Ms(e.flow.triggered_at),
                        DayNumber(e.flow.triggered_at),
                        at(e.flow.owner_action_at),
                        at(e.flow.manager_feedback_at),
                        at(e.flow.cross_confirm_at),
                        at(e.flow.archived_at),
                        at(e.flow.evidence_complete_at)});
      for (const TaskRecord& task : e.tasks) {
        tasks.push_back({tenant, task.task_id, e.event_id, e.event_type, int64_t{task.kind}, task.assignee_id,
                         int64_t{task.state}, Ms(task.due_at), Ms(task.created_at), at(task.completed_at),
                         int64_t{static_cast<int>(task.timer_level)},
                         task.timer_level == TimerLevel::kNone ? db::Param(nullptr) : db::Param(Ms(task.timer_at)),
                         absl::ToInt64Milliseconds(task.escalate_after), int64_t{task.escalate_to},
                         // Imported history is never announced.
                         int64_t{static_cast<int>(e.imported ? DeliveryState::kNone : DeliveryState::kPending)},
                         Ms(task.created_at)});
      }
    }
    absl::Status in = db::InsertRows(
        txn,
        "INSERT INTO events (tenant_id, event_id, event_type, source, external_id, subject_id, department_id, "
        "occurred_at, attributes, registry_version, imported, payload_hash, step, round, verdict, "
        "requires_cross_confirm, triggered_at, triggered_day, owner_action_at, manager_feedback_at, "
        "cross_confirm_at, archived_at, evidence_complete_at) VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events);
    // An id is stored (or another transaction stored it first): run again
    // and read it.
    if (absl::IsAlreadyExists(in)) {
      look_up = true;
      return absl::AbortedError("an id of the batch is already stored");
    }
    if (!in.ok()) return in;
    return db::InsertRows(
        txn,
        "INSERT INTO tasks (tenant_id, task_id, event_id, event_type, kind, assignee_id, state, due_at, "
        "created_at, completed_at, timer_level, timer_at, escalate_after_ms, escalate_to, "
        "notice_state, notice_next_attempt_at) VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", tasks);
  });
  if (!s.ok()) return s;
  return results;
}

absl::StatusOr<std::optional<EventRecord>> SqlEventStore::GetEvent(const std::string& tenant,
                                                                   const std::string& event_id) {
  std::optional<EventRecord> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    auto loaded = LoadEvent(txn, tenant, event_id, false);
    if (!loaded.ok()) return loaded.status();
    out = *std::move(loaded);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<Page<EventRecord>> SqlEventStore::ListEvents(const std::string& tenant, const EventFilter& filter,
                                                            int page_size, const std::string& cursor) {
  const int limit = ClampPage(page_size, 50);
  int64_t cursor_ms = 0;
  std::string cursor_id;
  if (!cursor.empty() && !ParseCursor(cursor, &cursor_ms, &cursor_id)) {
    return absl::InvalidArgumentError("page_token: not a token from this list");
  }
  Page<EventRecord> page;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    page = {};
    std::string sql = absl::StrCat("SELECT ", kEventColumns,
                                   " FROM events e"
                                   " WHERE e.tenant_id = ?");
    Params params = {tenant};
    AddFilter(filter, sql, params);
    if (!cursor.empty()) {
      sql += " AND (e.triggered_at < ? OR (e.triggered_at = ? AND e.event_id < ?))";
      params.insert(params.end(), {cursor_ms, cursor_ms, cursor_id});
    }
    sql += " ORDER BY e.triggered_at DESC, e.event_id DESC LIMIT ?";
    params.push_back(int64_t{limit + 1});
    auto rows = txn.Query(sql, params);
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) page.items.push_back(ReadEvent(r));
    if (static_cast<int>(page.items.size()) > limit) {
      page.items.pop_back();
      const EventRecord& last = page.items.back();
      page.next_cursor = absl::StrCat(Ms(last.flow.triggered_at), "|", last.event_id);
    }
    return AttachTasks(txn, tenant, page.items);
  });
  if (!s.ok()) return s;
  return page;
}

absl::StatusOr<std::optional<TaskRecord>> SqlEventStore::GetTask(const std::string& tenant,
                                                                 const std::string& task_id) {
  auto rows =
      db::QueryOnce(*db_, absl::StrCat("SELECT ", kTaskColumns, " FROM tasks WHERE tenant_id = ? AND task_id = ?"),
                    {tenant, task_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  return ReadTask(rows->front());
}

absl::StatusOr<Page<TaskRecord>> SqlEventStore::ListTasks(const std::string& tenant, const std::string& assignee_id,
                                                          TaskState state, int page_size, const std::string& cursor) {
  const int limit = ClampPage(page_size, 50);
  int64_t cursor_ms = 0;
  std::string cursor_id;
  if (!cursor.empty() && !ParseCursor(cursor, &cursor_ms, &cursor_id)) {
    return absl::InvalidArgumentError("page_token: not a token from this list");
  }
  if (state == t::TASK_STATE_UNSPECIFIED) state = t::TASK_STATE_OPEN;
  std::string sql =
      absl::StrCat("SELECT ", kTaskColumns, " FROM tasks WHERE tenant_id = ? AND assignee_id = ? AND state = ?");
  Params params = {tenant, assignee_id, int64_t{state}};
  if (!cursor.empty()) {
    sql += " AND (due_at > ? OR (due_at = ? AND task_id > ?))";
    params.insert(params.end(), {cursor_ms, cursor_ms, cursor_id});
  }
  sql += " ORDER BY due_at, task_id LIMIT ?";
  params.push_back(int64_t{limit + 1});
  auto rows = db::QueryOnce(*db_, sql, params);
  if (!rows.ok()) return rows.status();
  Page<TaskRecord> page;
  for (const Row& r : *rows) page.items.push_back(ReadTask(r));
  if (static_cast<int>(page.items.size()) > limit) {
    page.items.pop_back();
    page.next_cursor = absl::StrCat(Ms(page.items.back().due_at), "|", page.items.back().task_id);
  }
  return page;
}

absl::StatusOr<StepResult> SqlEventStore::RecordStep(const std::string& tenant, const StepRecord& step,
                                                     const StepDecider& decide) {
  StepResult result;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    result = {};
    auto loaded = LoadEvent(txn, tenant, step.event_id, /*for_update=*/true);
    if (!loaded.ok()) return loaded.status();
    if (!*loaded) return absl::NotFoundError(absl::StrCat("event ", step.event_id, " not found"));
    EventRecord& event = **loaded;

    auto prior = txn.Query("SELECT payload_hash, event_id FROM flow_steps WHERE tenant_id = ? AND step_id = ?",
                           {tenant, step.step_id});
    if (!prior.ok()) return prior.status();
    if (!prior->empty()) {
      if (prior->front().Str(0) != step.payload_hash || prior->front().Str(1) != step.event_id) {
        return absl::AlreadyExistsError(
            absl::StrCat("step_id '", step.step_id, "' was already used for a different step"));
      }
      result.event = std::move(event);
      result.duplicate = true;
      return absl::OkStatus();
    }

    absl::StatusOr<Transition> tr = decide(event.flow);
    if (!tr.ok()) return tr.status();
    const FlowState& next = tr->next;
    auto upd = txn.Execute(
        "UPDATE events SET step = ?, round = ?, verdict = ?, owner_action_at = ?, manager_feedback_at = ?, "
        "cross_confirm_at = ?, archived_at = ? WHERE tenant_id = ? AND event_id = ?",
        {int64_t{CurrentStep(next)}, int64_t{next.round}, int64_t{next.verdict}, OptMs(next.owner_action_at),
         OptMs(next.manager_feedback_at), OptMs(next.cross_confirm_at), OptMs(next.archived_at), tenant,
         step.event_id});
    if (!upd.ok()) return upd.status();
    for (const TaskChange& change : tr->task_changes) {
      const bool done = change.state == t::TASK_STATE_DONE;
      auto u =
          txn.Execute("UPDATE tasks SET state = ?, completed_at = ? WHERE tenant_id = ? AND event_id = ? AND kind = ?",
                      {int64_t{change.state}, done ? db::Param(Ms(step.recorded_at)) : db::Param(nullptr), tenant,
                       step.event_id, int64_t{change.kind}});
      if (!u.ok()) return u.status();
    }
    if (tr->archived) {
      // Whatever is still open when the chain is sealed will never be done.
      auto u = txn.Execute(
          "UPDATE tasks SET state = ?, completed_at = ? WHERE tenant_id = ? AND event_id = ? AND state = ?",
          {int64_t{t::TASK_STATE_CANCELLED}, Ms(step.recorded_at), tenant, step.event_id, int64_t{t::TASK_STATE_OPEN}});
      if (!u.ok()) return u.status();
    }
    auto ins = txn.Execute(
        "INSERT INTO flow_steps (tenant_id, step_id, event_id, step, verdict, round, actor_id, note, payload_hash, "
        "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        {tenant, step.step_id, step.event_id, int64_t{step.step}, int64_t{step.verdict}, int64_t{event.flow.round},
         step.actor_id, step.note, step.payload_hash, Ms(step.recorded_at)});
    if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent step with the same id");
    if (!ins.ok()) return ins.status();
    auto reloaded = LoadEvent(txn, tenant, step.event_id, false);
    if (!reloaded.ok()) return reloaded.status();
    result.event = **reloaded;
    result.transition = *std::move(tr);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<std::pair<EventRecord, bool>> SqlEventStore::MarkEvidenceComplete(const std::string& tenant,
                                                                                 const std::string& event_id,
                                                                                 absl::Time at) {
  std::pair<EventRecord, bool> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto updated = txn.Execute(
        "UPDATE events SET evidence_complete_at = ? WHERE tenant_id = ? AND event_id = ? AND evidence_complete_at IS "
        "NULL",
        {Ms(at), tenant, event_id});
    if (!updated.ok()) return updated.status();
    auto loaded = LoadEvent(txn, tenant, event_id, false);
    if (!loaded.ok()) return loaded.status();
    if (!*loaded) return absl::NotFoundError(absl::StrCat("event ", event_id, " not found"));
    out = {**std::move(loaded), *updated > 0};
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ------------------------------------------------------------------ analytics

absl::StatusOr<std::vector<HealthBucket>> SqlEventStore::HealthBuckets(const std::string& tenant, absl::Time from,
                                                                       absl::Time to, absl::Time now,
                                                                       const EventFilter& filter) {
  int64_t first_day = DayNumber(from);
  int64_t last_day = DayNumber(to);
  if (health_scan_threads_ <= 1) return ScanHealthDays(tenant, first_day, last_day, from, to, now, filter);

  // A query runs on one core of the database server. Split the days that hold
  // chains (MIN/MAX over the health index: two index probes) into runs and
  // scan them on several connections at once; each worker takes the next run
  // when it is done, so days with more chains do not leave the others idle.
  // Every chain has one triggered_day, so each is counted once; the runs are
  // read in snapshots of their own, as concurrent with ingestion as one scan.
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    auto rows = txn.Query(
        "SELECT MIN(triggered_day), MAX(triggered_day) FROM events WHERE tenant_id = ? AND "
        "triggered_day >= ? AND triggered_day <= ?",
        {tenant, first_day, last_day});
    if (!rows.ok()) return rows.status();
    if (rows->empty() || rows->front().IsNull(0)) {
      last_day = first_day - 1;  // no chains in the range
    } else {
      first_day = rows->front().Int(0);
      last_day = rows->front().Int(1);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  if (last_day < first_day) return std::vector<HealthBucket>{};

  const int64_t days = last_day - first_day + 1;
  const int64_t runs = std::min<int64_t>(days, int64_t{4} * health_scan_threads_);
  std::vector<absl::StatusOr<std::vector<HealthBucket>>> results(runs, std::vector<HealthBucket>{});
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t i = next++; i < runs; i = next++) {
      const int64_t run_first = first_day + days * i / runs;
      const int64_t run_last = first_day + days * (i + 1) / runs - 1;
      results[i] = ScanHealthDays(tenant, run_first, run_last, from, to, now, filter);
    }
  };
  std::vector<std::thread> helpers;
  for (int64_t i = 1; i < std::min<int64_t>(runs, health_scan_threads_); ++i) helpers.emplace_back(work);
  work();
  for (std::thread& t : helpers) t.join();

  std::vector<HealthBucket> out;
  for (auto& run : results) {
    if (!run.ok()) return run.status();
    std::move(run->begin(), run->end(), std::back_inserter(out));
  }
  return out;
}

absl::StatusOr<std::vector<HealthBucket>> SqlEventStore::ScanHealthDays(const std::string& tenant, int64_t first_day,
                                                                        int64_t last_day, absl::Time from,
                                                                        absl::Time to, absl::Time now,
                                                                        const EventFilter& filter) {
  const int64_t window = absl::ToInt64Milliseconds(kFlowWindow);
  std::vector<HealthBucket> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) {
    out.clear();
    // The same rule as ClassifyChain(): within when archived no later than
    // triggered + 48 h; outside when not within and the window has ended.
    std::string sql =
        "SELECT e.department_id, e.event_type, e.triggered_day, "
        "SUM(CASE WHEN e.archived_at IS NOT NULL AND e.archived_at <= e.triggered_at + ? THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN (e.archived_at IS NULL OR e.archived_at > e.triggered_at + ?) AND e.triggered_at + ? <= ? "
        "THEN 1 ELSE 0 END), COUNT(*) FROM events e WHERE e.tenant_id = ? AND e.triggered_day >= ? AND "
        "e.triggered_day <= ? AND e.triggered_at >= ? AND e.triggered_at < ?";
    Params params = {window, window, window, Ms(now), tenant, first_day, last_day, Ms(from), Ms(to)};
    EventFilter rest = filter;
    rest.from.reset();
    rest.to.reset();
    AddFilter(rest, sql, params);
    sql += " GROUP BY e.triggered_day, e.department_id, e.event_type";
    auto rows = txn.Query(sql, params);
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      HealthBucket b;
      b.department_id = r.Str(0);
      b.event_type = r.Str(1);
      b.day = r.Int(2);
      b.counts.within = r.Int(3);
      b.counts.outside = r.Int(4);
      b.counts.pending = r.Int(5) - b.counts.within - b.counts.outside;
      out.push_back(std::move(b));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status SqlEventStore::ForEachFlow(const std::string& tenant, const EventFilter& filter,
                                        const std::function<bool(const EventRecord&)>& emit) {
  // Pages in (triggered_at, event_id) order, read by a thread of their own
  // that runs the next query as soon as a page has arrived, while this thread
  // converts and emits (the caller serialises facts onto a stream): the
  // database never waits for the consumer. At most kAhead pages wait in memory,
  // one more is being read and one consumed.
  constexpr size_t kAhead = 1;
  const int page_rows = flow_page_rows_;
  // Flow facts need no attributes: the JSON blob stays in the database.
  static const std::string kSql = [] {
    std::string columns = kEventColumns;
    columns.replace(columns.find("e.attributes"), sizeof("e.attributes") - 1, "'{}'");
    return absl::StrCat("SELECT ", columns,
                        " FROM events e"
                        " WHERE e.tenant_id = ? AND (e.triggered_at > ? OR (e.triggered_at = ? AND e.event_id > ?))");
  }();
  struct Pages {
    absl::Mutex mu;
    std::deque<std::vector<Row>> ready ABSL_GUARDED_BY(mu);
    absl::Status status ABSL_GUARDED_BY(mu);
    bool done ABSL_GUARDED_BY(mu) = false;     // no more pages will come
    bool stopped ABSL_GUARDED_BY(mu) = false;  // the consumer wants no more
  } pages;
  std::thread reader([&] {
    int64_t after_ms = std::numeric_limits<int64_t>::min();
    std::string after_id;
    absl::Status s;
    while (true) {
      {
        absl::MutexLock lock(&pages.mu);
        auto room = [&pages]()
                        ABSL_SHARED_LOCKS_REQUIRED(pages.mu) { return pages.stopped || pages.ready.size() < kAhead; };
        pages.mu.Await(absl::Condition(&room));
        if (pages.stopped) break;
      }
      std::vector<Row> rows;
      s = db_->RunInTransaction([&](Transaction& txn) {
        std::string sql = kSql;
        Params params = {tenant, after_ms, after_ms, after_id};
        AddFilter(filter, sql, params);
        sql += " ORDER BY e.triggered_at, e.event_id LIMIT ?";
        params.push_back(int64_t{page_rows});
        auto read = txn.Query(sql, params);
        if (!read.ok()) return read.status();
        rows = *std::move(read);
        return absl::OkStatus();
      });
      const bool last = !s.ok() || static_cast<int>(rows.size()) < page_rows;
      if (!last) {  // the keyset: event_id and triggered_at, columns 0 and 9 of kEventColumns
        after_id = rows.back().Str(0);
        after_ms = rows.back().Int(9);
      }
      absl::MutexLock lock(&pages.mu);
      pages.ready.push_back(std::move(rows));
      if (last) break;
    }
    absl::MutexLock lock(&pages.mu);
    pages.status = s;
    pages.done = true;
  });
  absl::Status result;
  while (true) {
    std::vector<Row> rows;
    {
      absl::MutexLock lock(&pages.mu);
      auto arrived = [&pages]() ABSL_SHARED_LOCKS_REQUIRED(pages.mu) { return pages.done || !pages.ready.empty(); };
      pages.mu.Await(absl::Condition(&arrived));
      if (pages.ready.empty()) {
        result = pages.status;
        break;
      }
      rows = std::move(pages.ready.front());
      pages.ready.pop_front();
    }
    bool more = true;
    for (const Row& r : rows) {
      if (!(more = emit(ReadEvent(r)))) break;
    }
    if (!more) {
      absl::MutexLock lock(&pages.mu);
      pages.stopped = true;
      break;
    }
  }
  reader.join();
  return result;
}

absl::StatusOr<std::vector<std::string>> SqlEventStore::Tenants() {
  auto rows = db::QueryOnce(*db_, "SELECT DISTINCT tenant_id FROM registry_versions ORDER BY tenant_id", {});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (const Row& r : *rows) out.push_back(r.Str(0));
  return out;
}

absl::StatusOr<std::map<FlowStep, int64_t>> SqlEventStore::OpenChainsByStep(const std::string& tenant) {
  auto rows = db::QueryOnce(*db_, "SELECT step, COUNT(*) FROM events WHERE tenant_id = ? AND step <> ? GROUP BY step",
                            {tenant, int64_t{t::FLOW_STEP_ARCHIVED}});
  if (!rows.ok()) return rows.status();
  std::map<FlowStep, int64_t> out;
  for (const Row& r : *rows) out[static_cast<FlowStep>(r.Int(0))] = r.Int(1);
  return out;
}

absl::StatusOr<int64_t> SqlEventStore::OverdueTasks(const std::string& tenant, absl::Time now) {
  return db::QueryInt(*db_, "SELECT COUNT(*) FROM tasks WHERE tenant_id = ? AND state = ? AND due_at < ?",
                      {tenant, int64_t{t::TASK_STATE_OPEN}, Ms(now)});
}

absl::StatusOr<int64_t> CountMessages(db::Database& db, const std::string& tenant, DeliveryState state) {
  const int64_t value = static_cast<int>(state);
  return db::QueryInt(db,
                      "SELECT (SELECT COUNT(*) FROM outbox WHERE tenant_id = ? AND state = ?) + "
                      "(SELECT COUNT(*) FROM tasks WHERE notice_state = ? AND tenant_id = ?)",
                      {tenant, value, value, tenant});
}

absl::StatusOr<int64_t> SqlEventStore::OutboxBacklog(const std::string& tenant) {
  return CountMessages(*db_, tenant, DeliveryState::kPending);
}

absl::StatusOr<bool> SqlEventStore::EnqueueNotice(const std::string& tenant, const std::string& recipient_id,
                                                  const std::string& topic, const std::string& idempotency_key,
                                                  const std::string& payload_json, absl::Time now) {
  absl::Status s = db_->RunInTransaction([&](db::Transaction& txn) -> absl::Status {
    return InsertNotice(txn, tenant, Notice{recipient_id, topic, idempotency_key, payload_json}, now);
  });
  if (absl::IsAlreadyExists(s)) return false;
  if (!s.ok()) return s;
  return true;
}

absl::StatusOr<ReplayRows> SqlEventStore::ReplayRowsOf(const std::string& tenant, absl::Time from, absl::Time to) {
  ReplayRows out;
  absl::Status s = db_->RunInTransaction([&](db::Transaction& txn) -> absl::Status {
    out = {};
    auto chains = txn.Query(
        "SELECT event_type, triggered_at, archived_at FROM events WHERE tenant_id = ? AND "
        "triggered_at >= ? AND triggered_at < ?",
        {tenant, Ms(from), Ms(to)});
    if (!chains.ok()) return chains.status();
    for (const Row& r : *chains) {
      out.chains.push_back({r.Str(0), FromMs(r.Int(1)), r.IsNull(2) ? std::nullopt : std::optional(FromMs(r.Int(2)))});
    }
    auto tasks = txn.Query(
        "SELECT t.event_type, t.kind, t.created_at, t.due_at, t.completed_at, t.state, f.archived_at FROM tasks t "
        "JOIN events f ON f.tenant_id = t.tenant_id AND f.event_id = t.event_id WHERE t.tenant_id = ? AND "
        "f.triggered_at >= ? AND f.triggered_at < ?",
        {tenant, Ms(from), Ms(to)});
    if (!tasks.ok()) return tasks.status();
    for (const Row& r : *tasks) {
      ReplayTask task{r.Str(0), static_cast<t::TaskKind>(r.Int(1)), FromMs(r.Int(2)), FromMs(r.Int(3)), std::nullopt};
      if (!r.IsNull(4)) {
        task.done_at = FromMs(r.Int(4));
      } else if (r.Int(5) != t::TASK_STATE_OPEN && !r.IsNull(6)) {
        task.done_at = FromMs(r.Int(6));
      }
      out.tasks.push_back(std::move(task));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ------------------------------------------------------------------ person data

namespace {

const std::vector<db::PersonTable>& PersonTables() {
  using db::ColumnKind;
  constexpr auto kTime = ColumnKind::kTime;
  constexpr auto kNumber = ColumnKind::kNumber;
  constexpr auto kJson = ColumnKind::kJson;
  static const std::string kTheirEvents =
      "event_id IN (SELECT event_id FROM events WHERE tenant_id = ? AND subject_id = ?)";
  static const std::vector<db::PersonTable> kTables = {
      {"employees",
       "event/directory_entry.json",
       {{"employee_id"},
        {"display_name"},
        {"department_id"},
        {"grade"},
        {"role"},
        {"manager_id"},
        {"contacts", kJson},
        {"updated_at", kTime}},
       {"employee_id"},
       "employee_id",
       "",
       {{"display_name", "Erased person"}, {"contacts", "{}"}},
       {}},
      {"employees",
       "event/direct_reports.json",
       {{"employee_id"}, {"display_name"}, {"manager_id"}},
       {"manager_id"},
       "",
       "",
       {},
       {}},
      {"departments",
       "event/departments_headed.json",
       {{"department_id"}, {"name"}, {"head_id"}},
       {"head_id"},
       "",
       "",
       {},
       {}},
      {"events",
       "event/events.json",
       {{"event_id"},
        {"event_type"},
        {"source"},
        {"external_id"},
        {"subject_id"},
        {"department_id"},
        {"occurred_at", kTime},
        {"attributes", kJson},
        {"registry_version", kNumber},
        {"imported", kNumber}},
       {"subject_id"},
       "",
       "",
       {},
       {}},
      // Notes on their chains are about them; their notes on others' are not.
      {"flow_steps",
       "event/flow_steps.json",
       {{"step_id"},
        {"event_id"},
        {"step", kNumber},
        {"verdict", kNumber},
        {"round", kNumber},
        {"actor_id"},
        {"note"},
        {"recorded_at", kTime}},
       {"actor_id"},
       "",
       kTheirEvents,
       {{"note", ""}},
       {}},
      {"tasks",
       "event/tasks.json",
       {{"task_id"},
        {"event_id"},
        {"event_type"},
        {"kind", kNumber},
        {"assignee_id"},
        {"state", kNumber},
        {"due_at", kTime},
        {"created_at", kTime},
        {"completed_at", kTime},
        {"notice_state", kNumber},
        {"notice_delivered_to"},
        {"notice_delivered_at", kTime}},
       {"assignee_id"},
       "",
       kTheirEvents,
       {},
       {}},
      {"outbox",
       "event/notifications.json",
       {{"message_id"},
        {"topic"},
        {"recipient_id"},
        {"payload", kJson},
        {"created_at", kTime},
        {"state", kNumber},
        {"delivered_to"},
        {"delivered_at", kTime}},
       {"recipient_id"},
       "recipient_id",
       "",
       {{"payload", "{}"}, {"delivered_to", ""}},
       {"payload"}},
  };
  return kTables;
}

// The flow columns of the person's events, exported as a file of their own
// (event/flows.json). The same rows as the events entry: erasure changes
// and counts them once, through that entry.
db::PersonTable FlowsView() {
  using db::ColumnKind;
  constexpr auto kTime = ColumnKind::kTime;
  constexpr auto kNumber = ColumnKind::kNumber;
  return {"events",
          "event/flows.json",
          {{"event_id"},
           {"event_type"},
           {"subject_id"},
           {"department_id"},
           {"step", kNumber},
           {"round", kNumber},
           {"verdict", kNumber},
           {"triggered_at", kTime},
           {"owner_action_at", kTime},
           {"manager_feedback_at", kTime},
           {"cross_confirm_at", kTime},
           {"evidence_complete_at", kTime},
           {"archived_at", kTime}},
          {"subject_id"},
          "",
          "",
          {},
          {}};
}

}  // namespace

absl::StatusOr<std::vector<db::PersonFile>> SqlEventStore::ExportPerson(const std::string& tenant,
                                                                        const std::string& person) {
  static const std::vector<db::PersonTable> kExported = [] {
    std::vector<db::PersonTable> tables = PersonTables();
    auto events = std::find_if(tables.begin(), tables.end(),
                               [](const db::PersonTable& t) { return t.file == "event/events.json"; });
    tables.insert(events + 1, FlowsView());
    return tables;
  }();
  return db::ExportPersonRows(*db_, tenant, person, kExported);
}

absl::StatusOr<std::vector<db::ErasedCount>> SqlEventStore::ErasePerson(const std::string& tenant,
                                                                        const db::Erasure& erasure) {
  return db::ErasePersonRows(*db_, tenant, erasure, PersonTables());
}

}  // namespace perfflow::event
