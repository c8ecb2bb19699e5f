#include "services/event/delivery/sql_delivery_store.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/db/time_columns.h"
#include "common/ids.h"
#include "common/status.h"
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

// Rows that are claimed under a lease: where a message lives — the outbox,
// or a task row whose "task.assigned" notice it is (a task's delivery
// columns are named like the outbox's, after the prefix "notice_") — and
// the task rows of timers.
struct Queue {
  const char* table;
  const char* id_column;
  const char* prefix;
};
constexpr Queue kOutbox = {"outbox", "message_id", ""};
constexpr Queue kTaskNotices = {"tasks", "task_id", "notice_"};
// Timers lease the task row with its unprefixed lease columns.
constexpr Queue kTaskTimers = {"tasks", "task_id", ""};

// Leases the locked rows (tenant, id) of `q` to `owner`, one statement
// per tenant (MariaDB plans "tenant = ? AND id IN (...)" on the primary key;
// a row-constructor IN list would scan); each row's fence moves on by one.
absl::Status LeaseRows(Transaction& txn, const Queue& q, const std::vector<std::pair<std::string, std::string>>& keys,
                       const std::string& owner, absl::Time until) {
  const std::string p = q.prefix;
  std::map<std::string, std::vector<std::string>> by_tenant;
  for (const auto& [tenant, id] : keys) by_tenant[tenant].push_back(id);
  for (const auto& [tenant, ids] : by_tenant) {
    Params params = {owner, Ms(until), tenant};
    params.insert(params.end(), ids.begin(), ids.end());
    auto upd = txn.Execute(absl::StrCat("UPDATE ", q.table, txn.ForcePrimary(), " SET ", p, "lease_owner = ?, ", p,
                                        "lease_until = ?, ", p, "fence = ", p, "fence + 1 WHERE tenant_id = ? AND ",
                                        q.id_column, " IN (", db::Placeholders(ids.size()), ")"),
                           params);
    if (!upd.ok()) return upd.status();
    if (*upd != static_cast<int64_t>(ids.size())) return absl::AbortedError("claimed rows changed under the lock");
  }
  return absl::OkStatus();
}

const Queue& QueueOf(const ClaimedMessage& m) { return m.task_notice ? kTaskNotices : kOutbox; }

// The notice a task row stands for (the payload ingestion once wrote to the
// outbox, unchanged).
OutboxMessage TaskAssigned(const TaskRecord& task) {
  OutboxMessage m;
  m.message_id = task.task_id;
  m.idempotency_key = "task.assigned:" + task.task_id;
  m.topic = "task.assigned";
  m.recipient_id = task.assignee_id;
  m.payload_json =
      absl::StrCat("{\"event\":\"events/", task.event_id, "\",\"event_type\":\"", task.event_type,
                   "\",\"task\":\"tasks/", task.task_id, "\",\"kind\":\"", TaskKindLabel(task.kind), "\",\"due_at\":\"",
                   absl::FormatTime(absl::RFC3339_sec, task.due_at, absl::UTCTimeZone()), "\"}");
  m.created_at = task.created_at;
  return m;
}

// Appends " WHEN ? THEN ?" for (id, value) to a CASE over the row's id.
void When(std::string& sql, Params& params, const std::string& id, db::Param value) {
  sql += " WHEN ? THEN ?";
  params.push_back(id);
  params.push_back(std::move(value));
}

// Moves the firings of one tenant that `owner` still holds to their next
// timers, in one statement, and returns them; the others are counted in
// `result` as cancelled (the task is no longer open) or fenced. Held means:
// the task open, leased to `owner` with its claim's fence until at least
// `now`, at the claimed level and due at `now` — never fired by a replica that
// lost the claim, never early. A held row always changes (its lease owner
// becomes ''), so when as many rows changed as there are firings, all were
// held and nothing is read back. Otherwise the rows are read to tell which
// changed: a row is fired here only if it still carries this claim's fence
// (only a claim moves it on) with its lease cleared (only a firing clears it).
absl::StatusOr<std::vector<const TimerFiring*>> FireHeld(Transaction& txn, const std::string& owner, absl::Time now,
                                                         const std::string& tenant,
                                                         const std::vector<const TimerFiring*>& group,
                                                         FireResult& result) {
  std::string level_case, at_case, fence_case, claimed_level_case;
  Params level_params, at_params, fence_params, claimed_level_params, ids;
  for (const TimerFiring* f : group) {
    const std::string& id = f->claim.task.task_id;
    When(level_case, level_params, id, int64_t{static_cast<int>(f->next.level)});
    When(at_case, at_params, id, f->next.level == TimerLevel::kNone ? db::Param(nullptr) : db::Param(Ms(f->next.at)));
    When(fence_case, fence_params, id, f->claim.fence);
    When(claimed_level_case, claimed_level_params, id, int64_t{static_cast<int>(f->claim.task.timer_level)});
    ids.push_back(id);
  }
  Params params = level_params;
  params.insert(params.end(), at_params.begin(), at_params.end());
  params.push_back(tenant);
  params.insert(params.end(), ids.begin(), ids.end());
  for (db::Param p : Params{kOpen, owner, Ms(now), Ms(now)}) params.push_back(std::move(p));
  params.insert(params.end(), fence_params.begin(), fence_params.end());
  params.insert(params.end(), claimed_level_params.begin(), claimed_level_params.end());
  auto changed =
      txn.Execute(absl::StrCat("UPDATE tasks", txn.ForcePrimary(), " SET timer_level = CASE task_id", level_case,
                               " END, timer_at = CASE task_id", at_case,
                               " END, lease_owner = '', lease_until = 0 WHERE tenant_id = ? AND task_id IN (",
                               db::Placeholders(group.size()),
                               ") AND state = ? AND lease_owner = ? AND lease_until >= ? AND timer_at <= ? "
                               "AND fence = CASE task_id",
                               fence_case, " END AND timer_level = CASE task_id", claimed_level_case, " END"),
                  params);
  if (!changed.ok()) return changed.status();
  if (*changed == static_cast<int64_t>(group.size())) return group;

  Params read = {tenant};
  read.insert(read.end(), ids.begin(), ids.end());
  auto rows = txn.Query(absl::StrCat("SELECT task_id, state, fence, lease_owner FROM tasks", txn.ForcePrimary(),
                                     " WHERE tenant_id = ? AND task_id IN (", db::Placeholders(group.size()), ")"),
                        read);
  if (!rows.ok()) return rows.status();
  std::map<std::string, const Row*> current;
  for (const Row& r : *rows) current[r.Str(0)] = &r;
  std::vector<const TimerFiring*> held;
  for (const TimerFiring* f : group) {
    auto it = current.find(f->claim.task.task_id);
    if (it == current.end() || it->second->Int(1) != kOpen) {
      ++result.cancelled;  // completed since the claim: its timers stop
    } else if (it->second->Int(2) == f->claim.fence && it->second->Str(3).empty()) {
      held.push_back(f);
    } else {
      ++result.fenced;
    }
  }
  if (held.size() != static_cast<size_t>(*changed)) return absl::AbortedError("fired rows changed under the update");
  return held;
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
    auto rows = txn.Query(absl::StrCat("SELECT ", kTaskColumns,
                                       ", tenant_id, fence FROM tasks "
                                       "WHERE state = ? AND timer_at <= ? AND lease_until < ? "
                                       "ORDER BY timer_at LIMIT ?",
                                       SkipLocked(txn)),
                          {kOpen, Ms(now), Ms(now), int64_t{limit}});
    if (!rows.ok()) return rows.status();
    // The rows are locked: each fence read here becomes fence + 1.
    std::vector<std::pair<std::string, std::string>> keys;
    for (const Row& r : *rows) {
      ClaimedTimer c;
      c.task = ReadTask(r);
      c.tenant = r.Str(13);
      c.fence = r.Int(14) + 1;
      keys.emplace_back(c.tenant, c.task.task_id);
      out.push_back(std::move(c));
    }
    return LeaseRows(txn, kTaskTimers, keys, owner, now + lease);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<FireResult> SqlDeliveryStore::FireTimers(const std::string& owner, absl::Time now,
                                                        const std::vector<TimerFiring>& firings,
                                                        absl::Duration hand_off_lease) {
  FireResult result;
  if (firings.empty()) return result;
  std::map<std::string, std::vector<const TimerFiring*>> by_tenant;
  for (const TimerFiring& f : firings) by_tenant[f.claim.tenant].push_back(&f);
  const bool handing_off = hand_off_lease > absl::ZeroDuration();
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    result = {};
    std::string firing_rows, outbox_rows;
    Params firing_params, outbox_params;
    for (const auto& [tenant, group] : by_tenant) {
      auto held = FireHeld(txn, owner, now, tenant, group, result);
      if (!held.ok()) return held.status();
      for (const TimerFiring* f : *held) {
        const TaskRecord& task = f->claim.task;
        absl::StrAppend(&firing_rows, firing_rows.empty() ? "" : ",", "(?, ?, ?, ?, ?, ?, ?, ?)");
        for (db::Param p : Params{tenant, task.task_id, int64_t{static_cast<int>(task.timer_level)}, task.event_id,
                                  Ms(task.timer_at), Ms(now), owner, f->claim.fence}) {
          firing_params.push_back(std::move(p));
        }
        for (const Notice& notice : f->notices) {
          ClaimedMessage m;
          m.tenant = tenant;
          m.message = {RandomId(), notice.idempotency_key, notice.topic, notice.recipient_id, notice.payload_json, now};
          m.fence = handing_off ? 1 : 0;
          absl::StrAppend(&outbox_rows, outbox_rows.empty() ? "" : ",", "(?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?)");
          // A handed-off warning is due (to a claim) only once its lease has
          // run out: claims scan the due index from its start.
          const int64_t due = Ms(handing_off ? now + hand_off_lease : now);
          for (db::Param p :
               Params{tenant, m.message.message_id, notice.idempotency_key, notice.topic, notice.recipient_id,
                      notice.payload_json, Ms(now), due, handing_off ? owner : "", handing_off ? due : 0, m.fence}) {
            outbox_params.push_back(std::move(p));
          }
          if (handing_off) result.handed_off.push_back(std::move(m));
        }
        result.fired.push_back({task.timer_level, now - task.timer_at});
      }
    }
    // The unique key (tenant, task, level) is the last word on "once".
    if (!firing_rows.empty()) {
      auto ins = txn.Execute(absl::StrCat("INSERT INTO timer_firings (tenant_id, task_id, level, event_id, timer_at, "
                                          "fired_at, owner, fence) VALUES ",
                                          firing_rows),
                             firing_params);
      if (!ins.ok()) return ins.status();
    }
    if (!outbox_rows.empty()) {
      auto ins = txn.Execute(absl::StrCat("INSERT INTO outbox (tenant_id, message_id, idempotency_key, topic, "
                                          "recipient_id, payload, created_at, state, attempts, next_attempt_at, "
                                          "lease_owner, lease_until, fence) VALUES ",
                                          outbox_rows),
                             outbox_params);
      if (!ins.ok()) return ins.status();
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return result;
}

absl::StatusOr<int64_t> SqlDeliveryStore::DueTimers(const std::string& tenant, absl::Time now) {
  return db::QueryInt(*db_, "SELECT COUNT(*) FROM tasks WHERE tenant_id = ? AND state = ? AND timer_at <= ?",
                      {tenant, kOpen, Ms(now)});
}

absl::StatusOr<std::string> SqlDeliveryStore::ManagerOf(const std::string& tenant, const std::string& employee_id) {
  auto rows = db::QueryOnce(*db_, "SELECT manager_id FROM employees WHERE tenant_id = ? AND employee_id = ?",
                            {tenant, employee_id});
  if (!rows.ok()) return rows.status();
  return rows->empty() ? "" : rows->front().Str(0);
}

absl::StatusOr<std::vector<std::string>> SqlDeliveryStore::EmployeesWithRole(const std::string& tenant,
                                                                             const std::string& role) {
  auto rows = db::QueryOnce(
      *db_, "SELECT employee_id FROM employees WHERE tenant_id = ? AND role = ? ORDER BY employee_id", {tenant, role});
  if (!rows.ok()) return rows.status();
  std::vector<std::string> out;
  for (const Row& r : *rows) out.push_back(r.Str(0));
  return out;
}

// ------------------------------------------------------------------ outbox

absl::StatusOr<std::vector<ClaimedMessage>> SqlDeliveryStore::ClaimOutbox(const std::string& owner, absl::Time now,
                                                                          absl::Duration lease, int limit) {
  std::vector<ClaimedMessage> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    // Up to `limit` of each queue, locked; the `limit` due first are leased
    // (the locks of the others end with the transaction).
    std::vector<std::pair<int64_t, ClaimedMessage>> due;
    auto outbox = txn.Query(absl::StrCat("SELECT tenant_id, message_id, idempotency_key, topic, recipient_id, payload, "
                                         "created_at, attempts, delivered_to, fence, next_attempt_at FROM outbox "
                                         "WHERE state = 0 AND next_attempt_at <= ? AND lease_until < ? "
                                         "ORDER BY next_attempt_at LIMIT ?",
                                         SkipLocked(txn)),
                            {Ms(now), Ms(now), int64_t{limit}});
    if (!outbox.ok()) return outbox.status();
    for (const Row& r : *outbox) {
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
      due.emplace_back(r.Int(10), std::move(c));
    }
    auto tasks =
        txn.Query(absl::StrCat("SELECT ", kTaskColumns,
                               ", tenant_id, notice_attempts, notice_delivered_to, notice_fence, "
                               "notice_next_attempt_at FROM tasks "
                               "WHERE notice_state = 0 AND notice_next_attempt_at <= ? AND notice_lease_until < ? "
                               "ORDER BY notice_next_attempt_at LIMIT ?",
                               SkipLocked(txn)),
                  {Ms(now), Ms(now), int64_t{limit}});
    if (!tasks.ok()) return tasks.status();
    for (const Row& r : *tasks) {
      ClaimedMessage c;
      c.message = TaskAssigned(ReadTask(r));
      c.task_notice = true;
      c.tenant = r.Str(13);
      c.attempts = static_cast<int>(r.Int(14));
      c.delivered_to = absl::StrSplit(r.Str(15), ',', absl::SkipEmpty());
      c.fence = r.Int(16) + 1;
      due.emplace_back(r.Int(17), std::move(c));
    }
    std::stable_sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    if (due.size() > static_cast<size_t>(limit)) due.resize(limit);
    std::vector<std::pair<std::string, std::string>> outbox_keys, notice_keys;
    for (auto& [at, c] : due) {
      (c.task_notice ? notice_keys : outbox_keys).emplace_back(c.tenant, c.message.message_id);
      out.push_back(std::move(c));
    }
    absl::Status leased = LeaseRows(txn, kOutbox, outbox_keys, owner, now + lease);
    if (!leased.ok()) return leased;
    return LeaseRows(txn, kTaskNotices, notice_keys, owner, now + lease);
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int> SqlDeliveryStore::CompleteDeliveries(
    const std::string& owner, absl::Time now, const std::vector<std::pair<ClaimedMessage, DeliveryOutcome>>& results) {
  int fenced = 0;
  if (results.empty()) return fenced;
  // Outcomes that write the same values share one statement (a batch of
  // deliveries to the same channels is usually one or two groups).
  using Key = std::tuple<bool, std::string, int, bool, int64_t, std::string, std::string>;
  std::map<Key, std::vector<const std::pair<ClaimedMessage, DeliveryOutcome>*>> groups;
  for (const auto& r : results) {
    const DeliveryOutcome& o = r.second;
    groups[{r.first.task_notice, r.first.tenant, static_cast<int>(o.state), o.attempted, Ms(o.next_attempt_at),
            Utf8Prefix(o.last_error, 500), absl::StrJoin(o.delivered_to, ",")}]
        .push_back(&r);
  }
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    fenced = 0;
    for (const auto& [key, group] : groups) {
      const auto& [task_notice, tenant, state, attempted, next_attempt_ms, last_error, delivered_to] = key;
      const Queue& q = QueueOf(group.front()->first);
      const std::string p = q.prefix;
      // Only rows this relay still holds — its owner and the fence of its
      // claim — are written; a row another claim took since is left to it.
      // The fence is each row's own, so it is matched by id in a CASE.
      std::string fence_case;
      Params fence_params, id_params;
      for (const auto* r : group) {
        When(fence_case, fence_params, r->first.message.message_id, r->first.fence);
        id_params.push_back(r->first.message.message_id);
      }
      Params update = {int64_t{state},
                       int64_t{attempted ? 1 : 0},
                       next_attempt_ms,
                       last_error,
                       delivered_to,
                       state == static_cast<int>(DeliveryState::kDelivered) ? db::Param(Ms(now)) : db::Param(nullptr),
                       tenant};
      update.insert(update.end(), id_params.begin(), id_params.end());
      update.push_back(owner);
      update.insert(update.end(), fence_params.begin(), fence_params.end());
      auto upd = txn.Execute(
          absl::StrCat("UPDATE ", q.table, txn.ForcePrimary(), " SET ", p, "state = ?, ", p, "attempts = ", p,
                       "attempts + ?, ", p, "next_attempt_at = ?, ", p, "last_error = ?, ", p, "delivered_to = ?, ", p,
                       "delivered_at = ?, ", p, "lease_owner = '', ", p, "lease_until = 0 WHERE tenant_id = ? AND ",
                       q.id_column, " IN (", db::Placeholders(group.size()), ") AND ", p, "lease_owner = ? AND ", p,
                       "fence = CASE ", q.id_column, fence_case, " END"),
          update);
      if (!upd.ok()) return upd.status();
      // Every held row changes (its lease owner becomes ''), so the count
      // of changed rows is the count held.
      fenced += static_cast<int>(group.size() - *upd);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return fenced;
}

absl::StatusOr<int64_t> SqlDeliveryStore::DeadLetters(const std::string& tenant) {
  return CountMessages(*db_, tenant, DeliveryState::kDeadLetter);
}

// ------------------------------------------------------------------ digests

absl::StatusOr<std::vector<TeamTaskCount>> SqlDeliveryStore::TeamTaskCounts(const std::string& tenant, absl::Time now) {
  auto rows =
      db::QueryOnce(*db_,
                    "SELECT e.manager_id, t.event_type, COUNT(*), SUM(CASE WHEN t.due_at < ? THEN 1 ELSE 0 END) "
                    "FROM tasks t JOIN employees e ON e.tenant_id = t.tenant_id AND e.employee_id = t.assignee_id "
                    "WHERE t.tenant_id = ? AND t.state = ? AND e.manager_id <> '' "
                    "GROUP BY e.manager_id, t.event_type ORDER BY e.manager_id, t.event_type",
                    {Ms(now), tenant, kOpen});
  if (!rows.ok()) return rows.status();
  std::vector<TeamTaskCount> out;
  for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Int(2), r.Int(3)});
  return out;
}

absl::StatusOr<std::vector<PersonActions>> SqlDeliveryStore::WeeklyActionLists(const std::string& tenant,
                                                                               absl::Time now, int per_person) {
  // Window functions (MariaDB 10.2+, SQLite 3.25+): each person's counts on
  // every row, and only their `per_person` soonest rows returned.
  auto rows =
      db::QueryOnce(*db_,
                    "SELECT assignee_id, task_id, event_id, event_type, kind, due_at, open_count, overdue_count FROM ("
                    "SELECT assignee_id, task_id, event_id, event_type, kind, due_at, "
                    "ROW_NUMBER() OVER (PARTITION BY assignee_id ORDER BY due_at, task_id) AS n, "
                    "COUNT(*) OVER (PARTITION BY assignee_id) AS open_count, "
                    "SUM(CASE WHEN due_at < ? THEN 1 ELSE 0 END) OVER (PARTITION BY assignee_id) AS overdue_count "
                    "FROM tasks WHERE tenant_id = ? AND state = ?) listed "
                    "WHERE n <= ? ORDER BY assignee_id, n",
                    {Ms(now), tenant, kOpen, int64_t{per_person}});
  if (!rows.ok()) return rows.status();
  std::vector<PersonActions> out;
  for (const Row& r : *rows) {
    if (out.empty() || out.back().assignee_id != r.Str(0)) out.push_back({r.Str(0), r.Int(6), r.Int(7), {}});
    out.back().soonest.push_back({r.Str(1), r.Str(2), r.Str(3), static_cast<t::TaskKind>(r.Int(4)), FromMs(r.Int(5))});
  }
  return out;
}

absl::StatusOr<bool> SqlDeliveryStore::DigestRecorded(const std::string& tenant, const std::string& kind,
                                                      const std::string& period) {
  auto runs = db::QueryInt(*db_, "SELECT COUNT(*) FROM digest_runs WHERE tenant_id = ? AND kind = ? AND period = ?",
                           {tenant, kind, period}, 0);
  if (!runs.ok()) return runs.status();
  return *runs > 0;
}

absl::StatusOr<bool> SqlDeliveryStore::RecordDigest(const std::string& tenant, const std::string& kind,
                                                    const std::string& period, const std::vector<Notice>& notices,
                                                    absl::Time now) {
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto ins =
        txn.Execute("INSERT INTO digest_runs (tenant_id, kind, period, created_at, messages) VALUES (?, ?, ?, ?, ?)",
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

absl::StatusOr<int64_t> SqlDeliveryStore::ClearDelivered(const std::string& tenant, absl::Time delivered_before) {
  int64_t cleared = 0;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto n = txn.Execute(
        "UPDATE outbox SET payload = '{}', delivered_to = '' WHERE tenant_id = ? AND state = ? AND delivered_at < ? "
        "AND payload <> '{}'",
        {tenant, int64_t{static_cast<int>(DeliveryState::kDelivered)}, Ms(delivered_before)});
    if (!n.ok()) return n.status();
    cleared = *n;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return cleared;
}

}  // namespace perfflow::event
