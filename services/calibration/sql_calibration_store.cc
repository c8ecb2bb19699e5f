#include "services/calibration/sql_calibration_store.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/db/time_columns.h"
#include "common/ids.h"
#include "common/timestamps.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"

namespace perfflow::calibration {
namespace {

using db::Ms;
using db::Row;
using db::Transaction;
using google::protobuf::util::TimeUtil;

std::string ToJson(const google::protobuf::Message& m) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(m, &json);
  return json;
}

template <typename T>
absl::StatusOr<T> FromJson(const std::string& json) {
  T out;
  if (!google::protobuf::util::JsonStringToMessage(json, &out).ok()) return absl::InternalError("corrupt stored row");
  return out;
}

constexpr char kGenesis[] = "0000000000000000000000000000000000000000000000000000000000000000";

// An entry's hash: over its tenant, place, predecessor and exact stored body,
// so an entry cannot be edited, reordered or moved to another tenant unseen.
std::string EntryHash(const std::string& tenant, int64_t sequence, const std::string& previous_hash,
                      const std::string& body) {
  return Sha256Hex(absl::StrCat(tenant, "\n", sequence, "\n", previous_hash, "\n", body));
}

// Appends `outcome` (its log_sequence set here) to the tenant's log inside
// `txn`; returns the entry's hash.
absl::StatusOr<std::string> AppendToLog(Transaction& txn, const std::string& tenant, v1::Outcome& outcome) {
  auto head = txn.Query(absl::StrCat("SELECT sequence, hash FROM calibration_log WHERE tenant_id = ? "
                                     "ORDER BY sequence DESC LIMIT 1",
                                     txn.ForUpdate()),
                        {tenant});
  if (!head.ok()) return head.status();
  const int64_t sequence = head->empty() ? 1 : head->front().Int(0) + 1;
  const std::string previous = head->empty() ? kGenesis : head->front().Str(1);
  outcome.set_log_sequence(sequence);
  outcome.clear_log_hash();
  const std::string body = ToJson(outcome);
  const std::string hash = EntryHash(tenant, sequence, previous, body);
  auto ins =
      txn.Execute("INSERT INTO calibration_log (tenant_id, sequence, previous_hash, hash, body) VALUES (?, ?, ?, ?, ?)",
                  {tenant, sequence, previous, hash, body});
  if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent calibration log entry");
  if (!ins.ok()) return ins.status();
  return hash;
}

// The employee's notice of a changed rating: what changed, from what to what, why, by whom.
absl::Status QueueNotice(Transaction& txn, const std::string& tenant, const v1::Outcome& outcome,
                         const ChangeNotice& notice) {
  google::protobuf::Struct payload;
  auto& f = *payload.mutable_fields();
  f["session"].set_string_value(outcome.session());
  f["session_title"].set_string_value(notice.session_title);
  f["employee_id"].set_string_value(outcome.employee_id());
  f["previous_rating"].set_string_value(outcome.previous_rating());
  f["final_rating"].set_string_value(outcome.final_rating());
  f["rationale"].set_string_value(outcome.rationale());
  f["recorded_by"].set_string_value(outcome.recorded_by());
  f["record_time"].set_string_value(TimeUtil::ToString(outcome.record_time()));
  f["log_sequence"].set_number_value(static_cast<double>(outcome.log_sequence()));
  auto ins = txn.Execute(
      "INSERT INTO change_notices (tenant_id, notice_key, recipient_id, due_at, payload, sent, sent_at) "
      "VALUES (?, ?, ?, ?, ?, 0, 0)",
      {tenant, absl::StrCat("calibration.changed:", outcome.log_sequence()), outcome.employee_id(), Ms(notice.due),
       ToJson(payload)});
  return ins.status();
}

}  // namespace

const std::vector<db::Migration>& CalibrationMigrations() {
  static const std::vector<db::Migration> kMigrations = {
      {1,
       "sessions, briefs, outcomes, kpi observations",
       {
           "CREATE TABLE IF NOT EXISTS sessions (tenant_id VARCHAR(64) NOT NULL, session_id VARCHAR(64) NOT NULL, "
           "scheduled_at BIGINT NOT NULL, created_at BIGINT NOT NULL, latest_brief BIGINT NOT NULL, "
           "scheduled_brief INT NOT NULL, body MEDIUMTEXT NOT NULL, PRIMARY KEY (tenant_id, session_id))",
           "CREATE INDEX IF NOT EXISTS sessions_due ON sessions (scheduled_brief, scheduled_at)",
           "CREATE TABLE IF NOT EXISTS briefs (tenant_id VARCHAR(64) NOT NULL, session_id VARCHAR(64) NOT NULL, "
           "version BIGINT NOT NULL, scheduled INT NOT NULL, created_at BIGINT NOT NULL, body MEDIUMTEXT NOT NULL, "
           "PRIMARY KEY (tenant_id, session_id, version))",
           "CREATE TABLE IF NOT EXISTS outcomes (tenant_id VARCHAR(64) NOT NULL, session_id VARCHAR(64) NOT NULL, "
           "sequence BIGINT NOT NULL, employee_id VARCHAR(64) NOT NULL, body TEXT NOT NULL, "
           "PRIMARY KEY (tenant_id, session_id, sequence))",
           "CREATE TABLE IF NOT EXISTS kpi_observations (tenant_id VARCHAR(64) NOT NULL, kpi VARCHAR(128) NOT NULL, "
           "subject_id VARCHAR(64) NOT NULL, period CHAR(7) NOT NULL, value DOUBLE NOT NULL, "
           "recorded_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, kpi, subject_id, period))",
           "CREATE INDEX IF NOT EXISTS kpi_by_period ON kpi_observations (tenant_id, period)",
       }},
      {2,
       "calibration log: append-only, hash-chained per tenant",
       {
           "CREATE TABLE IF NOT EXISTS calibration_log (tenant_id VARCHAR(64) NOT NULL, sequence BIGINT NOT NULL, "
           "previous_hash CHAR(64) NOT NULL, hash CHAR(64) NOT NULL, body TEXT NOT NULL, "
           "PRIMARY KEY (tenant_id, sequence))",
           "ALTER TABLE outcomes ADD COLUMN log_sequence BIGINT NOT NULL DEFAULT 0",
       }},
      {3,
       "notices to employees whose rating calibration changed",
       {
           "CREATE TABLE IF NOT EXISTS change_notices (tenant_id VARCHAR(64) NOT NULL, notice_key VARCHAR(128) NOT "
           "NULL, "
           "recipient_id VARCHAR(64) NOT NULL, due_at BIGINT NOT NULL, payload TEXT NOT NULL, sent INT NOT NULL, "
           "sent_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, notice_key))",
           "CREATE INDEX IF NOT EXISTS change_notices_due ON change_notices (sent, due_at)",
       }},
      // An erased person's entries are rewritten with their pseudonym and marked.
      {4, "redacted calibration log entries", {"ALTER TABLE calibration_log ADD COLUMN redacted_at BIGINT NULL"}},
  };
  return kMigrations;
}

absl::StatusOr<std::unique_ptr<SqlCalibrationStore>> SqlCalibrationStore::Open(std::shared_ptr<db::Database> db) {
  if (absl::Status s = db::ApplyMigrations(*db, "calibration", CalibrationMigrations()); !s.ok()) return s;
  std::unique_ptr<SqlCalibrationStore> store(new SqlCalibrationStore(std::move(db)));
  if (absl::Status s = store->BackfillLog(); !s.ok()) return s;
  return store;
}

absl::StatusOr<std::pair<v1::Session, bool>> SqlCalibrationStore::CreateSession(const std::string& tenant,
                                                                                const std::string& id,
                                                                                const v1::Session& session) {
  std::pair<v1::Session, bool> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto existing = txn.Query("SELECT body FROM sessions WHERE tenant_id = ? AND session_id = ?", {tenant, id});
    if (!existing.ok()) return existing.status();
    if (!existing->empty()) {
      auto stored = FromJson<v1::Session>(existing->front().Str(0));
      if (!stored.ok()) return stored.status();
      out = {*stored, false};
      return absl::OkStatus();
    }
    auto ins = txn.Execute(
        "INSERT INTO sessions (tenant_id, session_id, scheduled_at, created_at, latest_brief, scheduled_brief, body) "
        "VALUES (?, ?, ?, ?, 0, 0, ?)",
        {tenant, id, TimeUtil::TimestampToMilliseconds(session.scheduled_time()),
         TimeUtil::TimestampToMilliseconds(session.create_time()), ToJson(session)});
    if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent create");
    if (!ins.ok()) return ins.status();
    out = {session, true};
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Session>> SqlCalibrationStore::GetSession(const std::string& tenant,
                                                                           const std::string& id) {
  auto rows = db::QueryOnce(*db_, "SELECT body, latest_brief FROM sessions WHERE tenant_id = ? AND session_id = ?",
                            {tenant, id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  auto session = FromJson<v1::Session>(rows->front().Str(0));
  if (!session.ok()) return session.status();
  session->set_latest_brief_version(rows->front().Int(1));
  return *std::move(session);
}

absl::StatusOr<std::pair<std::vector<v1::Session>, std::string>> SqlCalibrationStore::ListSessions(
    const std::string& tenant, int page_size, const std::string& cursor) {
  const int limit = page_size <= 0 ? 50 : std::min(page_size, 200);
  auto rows =
      db::QueryOnce(*db_,
                    "SELECT body, latest_brief, session_id FROM sessions WHERE tenant_id = ? AND session_id > ? "
                    "ORDER BY session_id LIMIT ?",
                    {tenant, cursor, int64_t{limit + 1}});
  if (!rows.ok()) return rows.status();
  std::pair<std::vector<v1::Session>, std::string> out;
  for (const Row& r : *rows) {
    if (static_cast<int>(out.first.size()) == limit) {
      out.second = out.first.back().name().substr(sizeof("sessions/") - 1);
      break;
    }
    auto session = FromJson<v1::Session>(r.Str(0));
    if (!session.ok()) return session.status();
    session->set_latest_brief_version(r.Int(1));
    out.first.push_back(*session);
  }
  return out;
}

absl::StatusOr<std::vector<DueSession>> SqlCalibrationStore::DueSessions(absl::Time horizon, int limit) {
  // Across tenants: the scheduler's one query; work per row names its tenant.
  auto rows =
      db::QueryOnce(*db_,
                    "SELECT tenant_id, session_id FROM sessions WHERE scheduled_brief = 0 AND scheduled_at <= ? "
                    "ORDER BY scheduled_at LIMIT ?",
                    {Ms(horizon), int64_t{limit}});
  if (!rows.ok()) return rows.status();
  std::vector<DueSession> out;
  for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1)});
  return out;
}

absl::StatusOr<std::optional<v1::Brief>> SqlCalibrationStore::SaveBrief(const std::string& tenant,
                                                                        const std::string& session_id, v1::Brief brief,
                                                                        bool scheduled) {
  std::optional<v1::Brief> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.reset();
    // The session row orders concurrent writers of the same session.
    auto session = txn.Query(absl::StrCat("SELECT latest_brief, scheduled_brief FROM sessions WHERE tenant_id = ? "
                                          "AND session_id = ?",
                                          txn.ForUpdate()),
                             {tenant, session_id});
    if (!session.ok()) return session.status();
    if (session->empty()) return absl::NotFoundError(absl::StrCat("sessions/", session_id, " not found"));
    if (scheduled && session->front().Int(1) != 0) return absl::OkStatus();
    const int64_t version = session->front().Int(0) + 1;
    brief.set_version(version);
    brief.set_name(absl::StrCat("sessions/", session_id, "/briefs/", version));
    auto ins = txn.Execute(
        "INSERT INTO briefs (tenant_id, session_id, version, scheduled, created_at, body) VALUES (?, ?, ?, ?, ?, ?)",
        {tenant, session_id, version, int64_t{scheduled ? 1 : 0},
         TimeUtil::TimestampToMilliseconds(brief.generate_time()), ToJson(brief)});
    if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent brief");
    if (!ins.ok()) return ins.status();
    auto upd = txn.Execute(
        "UPDATE sessions SET latest_brief = ?, scheduled_brief = scheduled_brief + ? WHERE tenant_id = ? AND "
        "session_id = ?",
        {version, int64_t{scheduled ? 1 : 0}, tenant, session_id});
    if (!upd.ok()) return upd.status();
    out = brief;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Brief>> SqlCalibrationStore::GetBrief(const std::string& tenant,
                                                                       const std::string& session_id, int64_t version) {
  std::optional<v1::Brief> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = version > 0
                    ? txn.Query("SELECT body FROM briefs WHERE tenant_id = ? AND session_id = ? AND version = ?",
                                {tenant, session_id, version})
                    : txn.Query(
                          "SELECT body FROM briefs WHERE tenant_id = ? AND session_id = ? ORDER BY version DESC "
                          "LIMIT 1",
                          {tenant, session_id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::OkStatus();
    auto brief = FromJson<v1::Brief>(rows->front().Str(0));
    if (!brief.ok()) return brief.status();
    out = *brief;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<v1::Outcome> SqlCalibrationStore::AppendOutcome(const std::string& tenant, const std::string& session_id,
                                                               v1::Outcome outcome, const std::string& rating_before,
                                                               const std::optional<ChangeNotice>& notice) {
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto latest = txn.Query(absl::StrCat("SELECT body FROM outcomes WHERE tenant_id = ? AND session_id = ? AND "
                                         "employee_id = ? ORDER BY sequence DESC LIMIT 1",
                                         txn.ForUpdate()),
                            {tenant, session_id, outcome.employee_id()});
    if (!latest.ok()) return latest.status();
    std::string before = outcome.proposed_rating();
    if (!latest->empty()) {
      auto last = FromJson<v1::Outcome>(latest->front().Str(0));
      if (!last.ok()) return last.status();
      before = last->final_rating();
    }
    if (before != rating_before) {
      return absl::FailedPreconditionError(absl::StrCat("another outcome for ", outcome.employee_id(),
                                                        " was recorded meanwhile: the rating before is now '", before,
                                                        "'; read it and retry"));
    }
    outcome.set_previous_rating(before);
    auto rows =
        txn.Query("SELECT MAX(sequence) FROM outcomes WHERE tenant_id = ? AND session_id = ?", {tenant, session_id});
    if (!rows.ok()) return rows.status();
    const int64_t sequence = (rows->empty() || rows->front().IsNull(0) ? 0 : rows->front().Int(0)) + 1;
    outcome.set_sequence(sequence);
    if (notice) ToTimestamp(notice->due, outcome.mutable_notice_time());
    auto hash = AppendToLog(txn, tenant, outcome);
    if (!hash.ok()) return hash.status();
    outcome.set_log_hash(*hash);
    if (notice) {
      if (absl::Status n = QueueNotice(txn, tenant, outcome, *notice); !n.ok()) return n;
    }
    auto ins = txn.Execute(
        "INSERT INTO outcomes (tenant_id, session_id, sequence, employee_id, body, log_sequence) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        {tenant, session_id, sequence, outcome.employee_id(), ToJson(outcome), outcome.log_sequence()});
    if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent outcome");
    return ins.status();
  });
  if (!s.ok()) return s;
  return outcome;
}

absl::StatusOr<std::vector<DueNotice>> SqlCalibrationStore::DueNotices(absl::Time now, int limit,
                                                                       const std::string& tenant) {
  db::Params params = {Ms(now)};
  if (!tenant.empty()) params.push_back(tenant);
  params.push_back(int64_t{limit});
  auto rows = db::QueryOnce(*db_,
                            absl::StrCat("SELECT tenant_id, notice_key, recipient_id, payload FROM change_notices "
                                         "WHERE sent = 0 AND due_at <= ?",
                                         tenant.empty() ? "" : " AND tenant_id = ?", " ORDER BY due_at LIMIT ?"),
                            params);
  if (!rows.ok()) return rows.status();
  std::vector<DueNotice> out;
  for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Str(2), r.Str(3)});
  return out;
}

absl::Status SqlCalibrationStore::MarkNoticeSent(const std::string& tenant, const std::string& key, absl::Time now) {
  return db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    return txn
        .Execute("UPDATE change_notices SET sent = 1, sent_at = ? WHERE tenant_id = ? AND notice_key = ?",
                 {Ms(now), tenant, key})
        .status();
  });
}

absl::StatusOr<std::optional<std::string>> SqlCalibrationStore::LatestRating(const std::string& tenant,
                                                                             const std::string& session_id,
                                                                             const std::string& employee_id) {
  auto rows = db::QueryOnce(*db_,
                            "SELECT body FROM outcomes WHERE tenant_id = ? AND session_id = ? AND employee_id = ? "
                            "ORDER BY sequence DESC LIMIT 1",
                            {tenant, session_id, employee_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  auto last = FromJson<v1::Outcome>(rows->front().Str(0));
  if (!last.ok()) return last.status();
  return last->final_rating();
}

absl::Status SqlCalibrationStore::BackfillLog() {
  return db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query(absl::StrCat("SELECT tenant_id, session_id, sequence, body FROM outcomes "
                                       "WHERE log_sequence = 0",
                                       txn.ForUpdate()),
                          {});
    if (!rows.ok()) return rows.status();
    std::vector<std::pair<std::string, v1::Outcome>> pending;
    for (const Row& r : *rows) {
      auto o = FromJson<v1::Outcome>(r.Str(3));
      if (!o.ok()) return o.status();
      pending.emplace_back(r.Str(0), *o);
    }
    std::stable_sort(pending.begin(), pending.end(), [](const auto& a, const auto& b) {
      return std::make_tuple(a.first, TimeUtil::TimestampToNanoseconds(a.second.record_time()), a.second.sequence()) <
             std::make_tuple(b.first, TimeUtil::TimestampToNanoseconds(b.second.record_time()), b.second.sequence());
    });
    for (auto& [tenant, outcome] : pending) {
      if (outcome.previous_rating().empty()) outcome.set_previous_rating(outcome.proposed_rating());
      auto hash = AppendToLog(txn, tenant, outcome);
      if (!hash.ok()) return hash.status();
      outcome.set_log_hash(*hash);
      const std::string session_id = outcome.session().substr(outcome.session().find('/') + 1);
      auto up = txn.Execute(
          "UPDATE outcomes SET body = ?, log_sequence = ? WHERE tenant_id = ? AND session_id = ? "
          "AND sequence = ?",
          {ToJson(outcome), outcome.log_sequence(), tenant, session_id, outcome.sequence()});
      if (!up.ok()) return up.status();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<v1::VerifyCalibrationLogResponse> SqlCalibrationStore::VerifyLog(const std::string& tenant) {
  v1::VerifyCalibrationLogResponse out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.Clear();
    auto fail = [&](int64_t sequence, std::string problem) {
      out.set_intact(false);
      out.set_first_bad_sequence(sequence);
      out.set_problem(std::move(problem));
      return absl::OkStatus();
    };
    // The chain: in pages, each entry's hash recomputed and linked to the one before.
    std::map<int64_t, v1::Outcome> logged;
    std::string previous = kGenesis;
    int64_t expected = 1;
    for (;;) {
      auto page = txn.Query(
          "SELECT sequence, previous_hash, hash, body, redacted_at FROM calibration_log WHERE tenant_id = ? "
          "AND sequence >= ? ORDER BY sequence LIMIT 1000",
          {tenant, expected});
      if (!page.ok()) return page.status();
      for (const Row& r : *page) {
        const int64_t sequence = r.Int(0);
        if (sequence != expected) {
          return fail(expected, expected == 1
                                    ? absl::StrCat("entry 1 is missing: the log starts at entry ", sequence)
                                    : absl::StrCat("entry ", expected, " is missing: the log goes from entry ",
                                                   expected - 1, " to entry ", sequence));
        }
        if (r.Str(1) != previous) {
          return fail(sequence, absl::StrCat("entry ", sequence, " does not follow entry ", sequence - 1,
                                             ": its previous hash is not that entry's hash"));
        }
        if (!r.IsNull(4)) {
          out.set_redacted_entries(out.redacted_entries() + 1);
        } else if (EntryHash(tenant, sequence, r.Str(1), r.Str(3)) != r.Str(2)) {
          return fail(sequence,
                      absl::StrCat("entry ", sequence, " was altered: its content no longer matches its hash"));
        }
        auto o = FromJson<v1::Outcome>(r.Str(3));
        if (!o.ok()) return fail(sequence, absl::StrCat("entry ", sequence, " cannot be read"));
        logged[sequence] = *std::move(o);
        previous = r.Str(2);
        ++expected;
      }
      if (page->size() < 1000) break;
    }
    out.set_entries(expected - 1);
    out.set_head_hash(expected > 1 ? previous : "");
    // Every outcome row is its log entry, word for word (a removed newest entry shows here too).
    auto rows =
        txn.Query("SELECT body, log_sequence FROM outcomes WHERE tenant_id = ? ORDER BY log_sequence", {tenant});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      auto o = FromJson<v1::Outcome>(r.Str(0));
      const std::string which = o.ok() ? absl::StrCat(o->session(), " outcome ", o->sequence()) : "an outcome";
      auto entry = logged.find(r.Int(1));
      if (entry == logged.end()) {
        return fail(r.Int(1), absl::StrCat(which, " refers to log entry ", r.Int(1), ", which is missing"));
      }
      if (!o.ok()) return fail(r.Int(1), absl::StrCat(which, " cannot be read"));
      o->clear_log_hash();
      if (!google::protobuf::util::MessageDifferencer::Equals(*o, entry->second)) {
        return fail(r.Int(1), absl::StrCat(which, " differs from its log entry ", r.Int(1)));
      }
    }
    out.set_intact(true);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<v1::Outcome>> SqlCalibrationStore::ListOutcomes(const std::string& tenant,
                                                                           const std::string& session_id,
                                                                           const std::string& employee_id) {
  std::string sql = "SELECT body FROM outcomes WHERE tenant_id = ? AND session_id = ?";
  db::Params params = {tenant, session_id};
  if (!employee_id.empty()) {
    sql += " AND employee_id = ?";
    params.push_back(employee_id);
  }
  auto rows = db::QueryOnce(*db_, sql + " ORDER BY sequence", params);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Outcome> out;
  for (const Row& r : *rows) {
    auto o = FromJson<v1::Outcome>(r.Str(0));
    if (!o.ok()) return o.status();
    out.push_back(*std::move(o));
  }
  return out;
}

absl::StatusOr<KpiWriteCounts> SqlCalibrationStore::RecordKpis(const std::string& tenant,
                                                               const std::vector<KpiValue>& values, absl::Time now) {
  KpiWriteCounts counts;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    counts = {};
    for (const KpiValue& k : values) {
      auto rows = txn.Query(absl::StrCat("SELECT value FROM kpi_observations WHERE tenant_id = ? AND kpi = ? AND "
                                         "subject_id = ? AND period = ?",
                                         txn.ForUpdate()),
                            {tenant, k.kpi, k.subject_id, k.period});
      if (!rows.ok()) return rows.status();
      if (rows->empty()) {
        auto ins = txn.Execute(
            "INSERT INTO kpi_observations (tenant_id, kpi, subject_id, period, value, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            {tenant, k.kpi, k.subject_id, k.period, k.value, Ms(now)});
        if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent observation");
        if (!ins.ok()) return ins.status();
        ++counts.recorded;
      } else if (rows->front().Double(0) == k.value) {
        ++counts.unchanged;
      } else {
        auto upd = txn.Execute(
            "UPDATE kpi_observations SET value = ?, recorded_at = ? WHERE tenant_id = ? AND kpi = ? AND subject_id = ? "
            "AND period = ?",
            {k.value, Ms(now), tenant, k.kpi, k.subject_id, k.period});
        if (!upd.ok()) return upd.status();
        ++counts.updated;
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return counts;
}

absl::StatusOr<std::vector<KpiValue>> SqlCalibrationStore::Kpis(const std::string& tenant,
                                                                const std::string& first_period,
                                                                const std::string& last_period) {
  auto rows = db::QueryOnce(*db_,
                            "SELECT kpi, subject_id, period, value FROM kpi_observations WHERE tenant_id = ? AND "
                            "period >= ? AND period <= ? ORDER BY kpi, subject_id, period",
                            {tenant, first_period, last_period.empty() ? std::string("9999-99") : last_period});
  if (!rows.ok()) return rows.status();
  std::vector<KpiValue> out;
  for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Str(2), r.Double(3)});
  return out;
}

// ------------------------------------------------------------------ person data

namespace {

const std::vector<db::PersonTable>& PersonTables() {
  using db::ColumnKind;
  constexpr auto kTime = ColumnKind::kTime;
  constexpr auto kNumber = ColumnKind::kNumber;
  constexpr auto kJson = ColumnKind::kJson;
  static const std::vector<db::PersonTable> kTables = {
      {"outcomes",
       "calibration/outcomes.json",
       {{"session_id"}, {"sequence", kNumber}, {"employee_id"}, {"body", kJson}, {"log_sequence", kNumber}},
       {"employee_id"},
       "employee_id",
       "",
       {},
       {"body"}},
      {"kpi_observations",
       "calibration/kpi_observations.json",
       {{"kpi"}, {"subject_id"}, {"period"}, {"value", kNumber}, {"recorded_at", kTime}},
       {"subject_id"},
       "",
       "",
       {},
       {}},
      {"change_notices",
       "calibration/rating_change_notices.json",
       {{"notice_key"}, {"recipient_id"}, {"due_at", kTime}, {"payload", kJson}, {"sent", kNumber}, {"sent_at", kTime}},
       {"recipient_id"},
       "",
       "",
       {},
       {"payload"}},
      // Documents about many people: not exported, the person replaced where quoted.
      {"calibration_log", "", {}, {}, "", "", {}, {"body"}},
      {"briefs", "", {}, {}, "", "", {}, {"body"}},
      {"sessions", "", {}, {}, "", "", {}, {"body"}},
  };
  return kTables;
}

}  // namespace

absl::StatusOr<std::vector<db::PersonFile>> SqlCalibrationStore::ExportPerson(const std::string& tenant,
                                                                              const std::string& person) {
  return db::ExportPersonRows(*db_, tenant, person, PersonTables());
}

absl::StatusOr<std::vector<db::ErasedCount>> SqlCalibrationStore::ErasePerson(const std::string& tenant,
                                                                              const db::Erasure& erasure) {
  // Log entries about to change are marked first: their hashes still link
  // the chain, their content can no longer be checked against them.
  auto redact = [&](Transaction& txn) -> absl::Status {
    for (const std::string& quoted : {db::JsonQuoted(erasure.person_id), db::JsonQuoted(erasure.display_name)}) {
      if (quoted == "\"\"") continue;
      auto n = txn.Execute(
          "UPDATE calibration_log SET redacted_at = ? WHERE tenant_id = ? AND redacted_at IS NULL "
          "AND INSTR(body, ?) > 0",
          {Ms(erasure.at), tenant, quoted});
      if (!n.ok()) return n.status();
    }
    return absl::OkStatus();
  };
  return db::ErasePersonRows(*db_, tenant, erasure, PersonTables(), redact);
}

}  // namespace perfflow::calibration
