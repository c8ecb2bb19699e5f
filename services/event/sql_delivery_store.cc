#include "services/event/sql_delivery_store.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/db/time_columns.h"
#include "common/ids.h"
#include "services/event/sql_event_store.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using db::FromMs;
using db::Ms;
using db::Params;
using db::Row;
using db::Transaction;

constexpr int64_t kOpen = t::TASK_STATE_OPEN;

// Row locks of claimed work: other claimers skip them instead of waiting.
std::string SkipLocked(const Transaction& txn) {
  return txn.dialect() == db::Dialect::kMysql ? " FOR UPDATE SKIP LOCKED" : "";
}

absl::StatusOr<absl::Time> DatabaseNow(Transaction& txn) {
  auto rows = txn.Query(db::NowMsSql(txn.dialect()), {});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::InternalError("database returned no time");
  return FromMs(rows->front().Int(0));
}

absl::Status InsertNotice(Transaction& txn, const std::string& tenant, const Notice& notice, absl::Time now) {
  auto ins = txn.Execute(
      "INSERT INTO outbox (tenant_id, message_id, idempotency_key, topic, recipient_id, payload, created_at, state, "
      "attempts, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
      {tenant, RandomId(), notice.idempotency_key, notice.topic, notice.recipient_id, notice.payload_json, Ms(now),
       Ms(now)});
  return ins.status();
}

}  // namespace

absl::StatusOr<absl::Time> SqlDeliveryStore::Now() {
  absl::Time now;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto t = DatabaseNow(txn);
    if (!t.ok()) return t.status();
    now = *t;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return now;
}

// ------------------------------------------------------------------ timers

absl::StatusOr<std::vector<ClaimedTimer>> SqlDeliveryStore::ClaimDueTimers(const std::string& owner, absl::Time now,
                                                                           absl::Duration lease, int limit) {
  std::vector<ClaimedTimer> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    // Due work across tenants; every statement after this names its tenant.
    auto rows = txn.Query(absl::StrCat("SELECT ", kTaskColumns, ", tenant_id, fence FROM tasks "
                                       "WHERE state = ? AND timer_at <= ? AND lease_until < ? "
                                       "ORDER BY timer_at LIMIT ?",
                                       SkipLocked(txn)),
                          {kOpen, Ms(now), Ms(now), int64_t{limit}});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      ClaimedTimer c;
      c.task = ReadTask(r);
      c.tenant = r.Str(13);
      c.fence = r.Int(14) + 1;
      auto upd = txn.Execute(
          "UPDATE tasks SET lease_owner = ?, lease_until = ?, fence = ? WHERE tenant_id = ? AND task_id = ?",
          {owner, Ms(now + lease), c.fence, c.tenant, c.task.task_id});
      if (!upd.ok()) return upd.status();
      out.push_back(std::move(c));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<FireResult> SqlDeliveryStore::FireTimers(const std::string& owner, absl::Time now,
                                                        const std::vector<TimerFiring>& firings) {
  FireResult result;
  if (firings.empty()) return result;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    result = {};
    for (const TimerFiring& f : firings) {
      const TaskRecord& task = f.claim.task;
      const bool last = f.next.level == TimerLevel::kNone;
      // Never early (timer_at <= now), never by a replica that lost the claim.
      auto upd = txn.Execute(
          "UPDATE tasks SET timer_level = ?, timer_at = ?, lease_owner = '', lease_until = 0 "
          "WHERE tenant_id = ? AND task_id = ? AND state = ? AND timer_level = ? AND fence = ? AND lease_owner = ? "
          "AND lease_until >= ? AND timer_at <= ?",
          {int64_t{static_cast<int>(f.next.level)}, last ? db::Param(nullptr) : db::Param(Ms(f.next.at)),
           f.claim.tenant, task.task_id, kOpen, int64_t{static_cast<int>(task.timer_level)}, f.claim.fence, owner,
           Ms(now), Ms(now)});
      if (!upd.ok()) return upd.status();
      if (*upd == 0) {
        auto state = txn.Query("SELECT state FROM tasks WHERE tenant_id = ? AND task_id = ?",
                               {f.claim.tenant, task.task_id});
        if (!state.ok()) return state.status();
        const bool open = !state->empty() && state->front().Int(0) == kOpen;
        (open ? result.fenced : result.cancelled) += 1;
        continue;
      }
      auto ins = txn.Execute(
          "INSERT INTO timer_firings (tenant_id, task_id, level, event_id, timer_at, fired_at, owner, fence) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          {f.claim.tenant, task.task_id, int64_t{static_cast<int>(task.timer_level)}, task.event_id,
           Ms(task.timer_at), Ms(now), owner, f.claim.fence});
      if (!ins.ok()) return ins.status();
      for (const Notice& notice : f.notices) {
        if (absl::Status n = InsertNotice(txn, f.claim.tenant, notice, now); !n.ok()) return n;
      }
      result.fired.push_back({task.timer_level, now - task.timer_at});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<int64_t> SqlDeliveryStore::DueTimers(const std::string& tenant, absl::Time now) {
  int64_t count = 0;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query("SELECT COUNT(*) FROM tasks WHERE tenant_id = ? AND state = ? AND timer_at <= ?",
                          {tenant, kOpen, Ms(now)});
    if (!rows.ok()) return rows.status();
    count = rows->empty() ? 0 : rows->front().Int(0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return count;
}

absl::StatusOr<std::string> SqlDeliveryStore::ManagerOf(const std::string& tenant, const std::string& employee_id) {
  std::string manager;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query("SELECT manager_id FROM employees WHERE tenant_id = ? AND employee_id = ?",
                          {tenant, employee_id});
    if (!rows.ok()) return rows.status();
    manager = rows->empty() ? "" : rows->front().Str(0);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return manager;
}

absl::StatusOr<std::vector<std::string>> SqlDeliveryStore::EmployeesWithRole(const std::string& tenant,
                                                                             const std::string& role) {
  std::vector<std::string> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto rows = txn.Query("SELECT employee_id FROM employees WHERE tenant_id = ? AND role = ? ORDER BY employee_id",
                          {tenant, role});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) out.push_back(r.Str(0));
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

// ------------------------------------------------------------------ outbox

absl::StatusOr<std::vector<ClaimedMessage>> SqlDeliveryStore::ClaimOutbox(const std::string& owner, absl::Time now,
                                                                          absl::Duration lease, int limit) {
  std::vector<ClaimedMessage> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto rows = txn.Query(absl::StrCat("SELECT tenant_id, message_id, idempotency_key, topic, recipient_id, payload, "
                                       "created_at, attempts, delivered_to, fence FROM outbox "
                                       "WHERE state = 0 AND next_attempt_at <= ? AND lease_until < ? "
                                       "ORDER BY next_attempt_at LIMIT ?",
                                       SkipLocked(txn)),
                          {Ms(now), Ms(now), int64_t{limit}});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      ClaimedMessage c;
      c.tenant = r.Str(0);
      c.message.message_id = r.Str(1);
      c.message.idempotency_key = r.Str(2);
      c.message.topic = r.Str(3);
      c.message.recipient_id = r.Str(4);
      c.message.payload_json = r.Str(5);
      c.message.created_at = FromMs(r.Int(6));
      c.attempts = static_cast<int>(r.Int(7));
      c.delivered_to = absl::StrSplit(r.Str(8), ',', absl::SkipEmpty());
      c.fence = r.Int(9) + 1;
      auto upd = txn.Execute(
          "UPDATE outbox SET lease_owner = ?, lease_until = ?, fence = ? WHERE tenant_id = ? AND message_id = ?",
          {owner, Ms(now + lease), c.fence, c.tenant, c.message.message_id});
      if (!upd.ok()) return upd.status();
      out.push_back(std::move(c));
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::Status SqlDeliveryStore::CompleteDelivery(const std::string& owner, absl::Time now, const ClaimedMessage& claimed,
                                                const DeliveryOutcome& outcome) {
  return db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    const bool delivered = outcome.state == DeliveryState::kDelivered;
    auto upd = txn.Execute(
        "UPDATE outbox SET state = ?, attempts = attempts + ?, next_attempt_at = ?, last_error = ?, delivered_to = ?, "
        "delivered_at = ?, lease_owner = '', lease_until = 0 "
        "WHERE tenant_id = ? AND message_id = ? AND fence = ? AND lease_owner = ?",
        {int64_t{static_cast<int>(outcome.state)}, int64_t{outcome.attempted ? 1 : 0}, Ms(outcome.next_attempt_at),
         outcome.last_error.substr(0, 500), absl::StrJoin(outcome.delivered_to, ","),
         delivered ? db::Param(Ms(now)) : db::Param(nullptr), claimed.tenant, claimed.message.message_id,
         claimed.fence, owner});
    if (!upd.ok()) return upd.status();
    if (*upd == 0) return absl::FailedPreconditionError("outbox message claimed by another relay (fenced)");
    return absl::OkStatus();
  });
}

absl::StatusOr<OutboxCounts> SqlDeliveryStore::CountOutbox(const std::string& tenant) {
  OutboxCounts counts;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    counts = {};
    auto rows = txn.Query("SELECT state, COUNT(*) FROM outbox WHERE tenant_id = ? GROUP BY state", {tenant});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      if (r.Int(0) == static_cast<int>(DeliveryState::kPending)) counts.pending = r.Int(1);
      if (r.Int(0) == static_cast<int>(DeliveryState::kDeadLetter)) counts.dead = r.Int(1);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return counts;
}

// ------------------------------------------------------------------ digests

absl::StatusOr<std::vector<TeamTaskCount>> SqlDeliveryStore::TeamTaskCounts(const std::string& tenant,
                                                                            absl::Time now) {
  std::vector<TeamTaskCount> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto rows = txn.Query(
        "SELECT e.manager_id, t.event_type, COUNT(*), SUM(CASE WHEN t.due_at < ? THEN 1 ELSE 0 END) "
        "FROM tasks t JOIN employees e ON e.tenant_id = t.tenant_id AND e.employee_id = t.assignee_id "
        "WHERE t.tenant_id = ? AND t.state = ? AND e.manager_id <> '' "
        "GROUP BY e.manager_id, t.event_type ORDER BY e.manager_id, t.event_type",
        {Ms(now), tenant, kOpen});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Int(2), r.Int(3)});
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<OpenTask>> SqlDeliveryStore::OpenTasks(const std::string& tenant) {
  std::vector<OpenTask> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto rows = txn.Query(
        "SELECT assignee_id, task_id, event_id, event_type, kind, due_at FROM tasks WHERE tenant_id = ? AND state = ? "
        "ORDER BY assignee_id, due_at, task_id",
        {tenant, kOpen});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      out.push_back({r.Str(0), r.Str(1), r.Str(2), r.Str(3), static_cast<t::TaskKind>(r.Int(4)), FromMs(r.Int(5))});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<bool> SqlDeliveryStore::RecordDigest(const std::string& tenant, const std::string& kind,
                                                    const std::string& period, const std::vector<Notice>& notices,
                                                    absl::Time now) {
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto ins = txn.Execute(
        "INSERT INTO digest_runs (tenant_id, kind, period, created_at, messages) VALUES (?, ?, ?, ?, ?)",
        {tenant, kind, period, Ms(now), int64_t(notices.size())});
    if (!ins.ok()) return ins.status();
    for (const Notice& notice : notices) {
      if (absl::Status n = InsertNotice(txn, tenant, notice, now); !n.ok()) return n;
    }
    return absl::OkStatus();
  });
  // The run's row exists: another replica sent this digest.
  if (absl::IsAlreadyExists(s)) return false;
  if (!s.ok()) return s;
  return true;
}

}  // namespace perfflow::event
