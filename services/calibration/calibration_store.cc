#include "services/calibration/calibration_store.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/db/time_columns.h"
#include "google/protobuf/util/json_util.h"
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
  };
  return kMigrations;
}

absl::StatusOr<std::unique_ptr<CalibrationStore>> CalibrationStore::Open(std::shared_ptr<db::Database> db) {
  if (absl::Status s = db::ApplyMigrations(*db, "calibration", CalibrationMigrations()); !s.ok()) return s;
  return std::unique_ptr<CalibrationStore>(new CalibrationStore(std::move(db)));
}

absl::StatusOr<std::pair<v1::Session, bool>> CalibrationStore::CreateSession(const std::string& tenant,
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

absl::StatusOr<std::optional<v1::Session>> CalibrationStore::GetSession(const std::string& tenant,
                                                                        const std::string& id) {
  std::optional<v1::Session> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query("SELECT body, latest_brief FROM sessions WHERE tenant_id = ? AND session_id = ?", {tenant, id});
    if (!rows.ok()) return rows.status();
    if (rows->empty()) return absl::OkStatus();
    auto session = FromJson<v1::Session>(rows->front().Str(0));
    if (!session.ok()) return session.status();
    session->set_latest_brief_version(rows->front().Int(1));
    out = *session;
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::pair<std::vector<v1::Session>, std::string>> CalibrationStore::ListSessions(
    const std::string& tenant, int page_size, const std::string& cursor) {
  const int limit = page_size <= 0 ? 50 : std::min(page_size, 200);
  std::pair<std::vector<v1::Session>, std::string> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out = {};
    auto rows = txn.Query(
        "SELECT body, latest_brief, session_id FROM sessions WHERE tenant_id = ? AND session_id > ? "
        "ORDER BY session_id LIMIT ?",
        {tenant, cursor, int64_t{limit + 1}});
    if (!rows.ok()) return rows.status();
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
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<DueSession>> CalibrationStore::DueSessions(absl::Time horizon, int limit) {
  std::vector<DueSession> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    // Across tenants: the scheduler's one query; work per row names its tenant.
    auto rows = txn.Query(
        "SELECT tenant_id, session_id FROM sessions WHERE scheduled_brief = 0 AND scheduled_at <= ? "
        "ORDER BY scheduled_at LIMIT ?",
        {Ms(horizon), int64_t{limit}});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1)});
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<v1::Brief>> CalibrationStore::SaveBrief(const std::string& tenant,
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

absl::StatusOr<std::optional<v1::Brief>> CalibrationStore::GetBrief(const std::string& tenant,
                                                                    const std::string& session_id, int64_t version) {
  std::optional<v1::Brief> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = version > 0
                    ? txn.Query("SELECT body FROM briefs WHERE tenant_id = ? AND session_id = ? AND version = ?",
                                {tenant, session_id, version})
                    : txn.Query("SELECT body FROM briefs WHERE tenant_id = ? AND session_id = ? ORDER BY version DESC "
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

absl::StatusOr<v1::Outcome> CalibrationStore::AppendOutcome(const std::string& tenant, const std::string& session_id,
                                                            v1::Outcome outcome) {
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query("SELECT MAX(sequence) FROM outcomes WHERE tenant_id = ? AND session_id = ?",
                          {tenant, session_id});
    if (!rows.ok()) return rows.status();
    const int64_t sequence = (rows->empty() || rows->front().IsNull(0) ? 0 : rows->front().Int(0)) + 1;
    outcome.set_sequence(sequence);
    auto ins = txn.Execute(
        "INSERT INTO outcomes (tenant_id, session_id, sequence, employee_id, body) VALUES (?, ?, ?, ?, ?)",
        {tenant, session_id, sequence, outcome.employee_id(), ToJson(outcome)});
    if (absl::IsAlreadyExists(ins.status())) return absl::AbortedError("concurrent outcome");
    return ins.status();
  });
  if (!s.ok()) return s;
  return outcome;
}

absl::StatusOr<std::vector<v1::Outcome>> CalibrationStore::ListOutcomes(const std::string& tenant,
                                                                        const std::string& session_id,
                                                                        const std::string& employee_id) {
  std::vector<v1::Outcome> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    std::string sql = "SELECT body FROM outcomes WHERE tenant_id = ? AND session_id = ?";
    db::Params params = {tenant, session_id};
    if (!employee_id.empty()) {
      sql += " AND employee_id = ?";
      params.push_back(employee_id);
    }
    auto rows = txn.Query(sql + " ORDER BY sequence", params);
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) {
      auto o = FromJson<v1::Outcome>(r.Str(0));
      if (!o.ok()) return o.status();
      out.push_back(*o);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<KpiWriteCounts> CalibrationStore::RecordKpis(const std::string& tenant,
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

absl::StatusOr<std::vector<KpiValue>> CalibrationStore::Kpis(const std::string& tenant,
                                                             const std::string& first_period,
                                                             const std::string& last_period) {
  std::vector<KpiValue> out;
  absl::Status s = db_->RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    auto rows = txn.Query(
        "SELECT kpi, subject_id, period, value FROM kpi_observations WHERE tenant_id = ? AND period >= ? AND "
        "period <= ? ORDER BY kpi, subject_id, period",
        {tenant, first_period, last_period.empty() ? std::string("9999-99") : last_period});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) out.push_back({r.Str(0), r.Str(1), r.Str(2), r.Double(3)});
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfflow::calibration
