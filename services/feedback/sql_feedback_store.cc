#include "services/feedback/sql_feedback_store.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/db/time_columns.h"

namespace perfflow::feedback {
namespace {

using db::Row;
using db::Transaction;

using db::Ms;

const char kColumns[] =
    "review_id, event_id, round, verdict, reviewer_id, subject_id, department_id, comment, behaviours, cited, "
    "specificity, effective, created_at, response_ms";

// Ids never contain commas (ids are [A-Za-z0-9_.-] or resource names).
std::vector<std::string> Split(const std::string& s) { return absl::StrSplit(s, ',', absl::SkipEmpty()); }

ReviewRow Read(const Row& r) {
  ReviewRow row;
  row.review_id = r.Str(0);
  row.event_id = r.Str(1);
  row.round = static_cast<int>(r.Int(2));
  row.verdict = static_cast<int>(r.Int(3));
  row.reviewer_id = r.Str(4);
  row.subject_id = r.Str(5);
  row.department_id = r.Str(6);
  row.comment = r.Str(7);
  row.behaviours = Split(r.Str(8));
  row.cited_evidence = Split(r.Str(9));
  row.specificity = r.Double(10);
  row.effective = r.Int(11) != 0;
  row.created_at = absl::FromUnixMillis(r.Int(12));
  row.response = absl::Milliseconds(r.Int(13));
  return row;
}

// Reviews on their own: "SELECT <columns> FROM reviews WHERE " + `where`.
absl::StatusOr<std::vector<ReviewRow>> Reviews(db::Database& db, const std::string& where, const db::Params& params) {
  auto rows = db::QueryOnce(db, absl::StrCat("SELECT ", kColumns, " FROM reviews WHERE ", where), params);
  if (!rows.ok()) return rows.status();
  std::vector<ReviewRow> out;
  for (const Row& r : *rows) out.push_back(Read(r));
  return out;
}

}  // namespace

const std::vector<db::Migration>& FeedbackMigrations() {
  static const std::vector<db::Migration> kMigrations = {
      {1,
       "reviews and confirmations",
       {
           "CREATE TABLE IF NOT EXISTS reviews (tenant_id VARCHAR(64) NOT NULL, review_id CHAR(32) NOT NULL, "
           "event_id CHAR(32) NOT NULL, round INT NOT NULL, verdict INT NOT NULL, reviewer_id VARCHAR(64) NOT NULL, "
           "subject_id VARCHAR(64) NOT NULL, department_id VARCHAR(64) NOT NULL, comment TEXT NOT NULL, "
           "behaviours TEXT NOT NULL, cited TEXT NOT NULL, specificity DOUBLE NOT NULL, effective INT NOT NULL, "
           "created_at BIGINT NOT NULL, response_ms BIGINT NOT NULL, PRIMARY KEY (tenant_id, review_id))",
           "CREATE UNIQUE INDEX IF NOT EXISTS reviews_one_per_round ON reviews (tenant_id, event_id, round)",
           "CREATE INDEX IF NOT EXISTS reviews_by_time ON reviews (tenant_id, created_at)",
           "CREATE TABLE IF NOT EXISTS confirmations (tenant_id VARCHAR(64) NOT NULL, event_id CHAR(32) NOT NULL, "
           "scopes VARCHAR(64) NOT NULL, note TEXT NOT NULL, confirmer_id VARCHAR(64) NOT NULL, "
           "confirmed_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, event_id))",
       }},
      event::StepReportsMigration(2),
  };
  return kMigrations;
}

absl::StatusOr<std::unique_ptr<SqlFeedbackStore>> SqlFeedbackStore::Open(std::shared_ptr<db::Database> db) {
  if (absl::Status s = db::ApplyMigrations(*db, "feedback", FeedbackMigrations()); !s.ok()) return s;
  return std::unique_ptr<SqlFeedbackStore>(new SqlFeedbackStore(std::move(db)));
}

absl::Status SqlFeedbackStore::InsertReview(const std::string& tenant, const ReviewRow& r,
                                            const event::PendingStep& report) {
  return db_->RunInTransaction([&](Transaction& txn) {
    auto inserted = txn.Execute(
        absl::StrCat("INSERT INTO reviews (tenant_id, ", kColumns,
                     ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        {tenant, r.review_id, r.event_id, int64_t{r.round}, int64_t{r.verdict}, r.reviewer_id, r.subject_id,
         r.department_id, r.comment, absl::StrJoin(r.behaviours, ","), absl::StrJoin(r.cited_evidence, ","),
         r.specificity, int64_t{r.effective ? 1 : 0}, Ms(r.created_at), absl::ToInt64Milliseconds(r.response)});
    if (!inserted.ok()) return inserted.status();
    return event::StepReports::Add(txn, report);
  });
}

absl::Status SqlFeedbackStore::DeleteReview(const std::string& tenant, const std::string& review_id) {
  return db_->RunInTransaction([&](Transaction& txn) {
    auto deleted = txn.Execute("DELETE FROM reviews WHERE tenant_id = ? AND review_id = ?", {tenant, review_id});
    if (!deleted.ok()) return deleted.status();
    return event::StepReports::Remove(txn, tenant, ReviewStepId(review_id));
  });
}

absl::StatusOr<std::vector<ReviewRow>> SqlFeedbackStore::ListReviews(const std::string& tenant,
                                                                     const std::string& event_id) {
  return Reviews(*db_, "tenant_id = ? AND event_id = ? ORDER BY round", {tenant, event_id});
}

absl::StatusOr<std::vector<ReviewRow>> SqlFeedbackStore::ReviewsIn(const std::string& tenant, const ReviewFilter& f) {
  std::string where = "tenant_id = ? AND created_at >= ? AND created_at < ?";
  db::Params params = {tenant, Ms(f.from), Ms(f.to)};
  if (!f.department_id.empty()) {
    where += " AND department_id = ?";
    params.push_back(f.department_id);
  }
  if (!f.reviewer_id.empty()) {
    where += " AND reviewer_id = ?";
    params.push_back(f.reviewer_id);
  }
  return Reviews(*db_, where + " ORDER BY created_at", params);
}

absl::Status SqlFeedbackStore::InsertConfirmation(const std::string& tenant, const ConfirmationRow& c,
                                                  const event::PendingStep& report) {
  return db_->RunInTransaction([&](Transaction& txn) {
    auto inserted = txn.Execute(
        "INSERT INTO confirmations (tenant_id, event_id, scopes, note, confirmer_id, confirmed_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        {tenant, c.event_id, absl::StrJoin(c.scopes, ","), c.note, c.confirmer_id, Ms(c.confirmed_at)});
    if (!inserted.ok()) return inserted.status();
    return event::StepReports::Add(txn, report);
  });
}

absl::Status SqlFeedbackStore::DeleteConfirmation(const std::string& tenant, const std::string& event_id) {
  return db_->RunInTransaction([&](Transaction& txn) {
    auto deleted = txn.Execute("DELETE FROM confirmations WHERE tenant_id = ? AND event_id = ?", {tenant, event_id});
    if (!deleted.ok()) return deleted.status();
    return event::StepReports::Remove(txn, tenant, ConfirmStepId(event_id));
  });
}

absl::StatusOr<std::optional<ConfirmationRow>> SqlFeedbackStore::GetConfirmation(const std::string& tenant,
                                                                                 const std::string& event_id) {
  auto rows = db::QueryOnce(*db_,
                            "SELECT event_id, scopes, note, confirmer_id, confirmed_at FROM confirmations WHERE "
                            "tenant_id = ? AND event_id = ?",
                            {tenant, event_id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return std::nullopt;
  const Row& r = rows->front();
  ConfirmationRow c;
  c.event_id = r.Str(0);
  for (const std::string& part : Split(r.Str(1))) {
    int v = 0;
    if (absl::SimpleAtoi(part, &v)) c.scopes.push_back(v);
  }
  c.note = r.Str(2);
  c.confirmer_id = r.Str(3);
  c.confirmed_at = absl::FromUnixMillis(r.Int(4));
  return c;
}

// ------------------------------------------------------------------ person data

namespace {

const std::vector<db::PersonTable>& PersonTables() {
  using db::ColumnKind;
  constexpr auto kTime = ColumnKind::kTime;
  constexpr auto kNumber = ColumnKind::kNumber;
  static const std::vector<db::PersonColumn> kReview = {{"review_id"},
                                                        {"event_id"},
                                                        {"round", kNumber},
                                                        {"verdict", kNumber},
                                                        {"reviewer_id"},
                                                        {"subject_id"},
                                                        {"department_id"},
                                                        {"comment"},
                                                        {"behaviours"},
                                                        {"cited"},
                                                        {"specificity", kNumber},
                                                        {"effective", kNumber},
                                                        {"created_at", kTime},
                                                        {"response_ms", kNumber}};
  static const std::vector<db::PersonTable> kTables = {
      // The comment is about the person reviewed; verdicts and scores stay
      // for the heat map.
      {"reviews", "feedback/reviews_received.json", kReview, {"subject_id"}, "subject_id", "", {{"comment", ""}}, {}},
      {"reviews", "feedback/reviews_written.json", kReview, {"reviewer_id"}, "", "", {}, {}},
      {"confirmations",
       "feedback/confirmations.json",
       {{"event_id"}, {"scopes"}, {"note"}, {"confirmer_id"}, {"confirmed_at", kTime}},
       {"confirmer_id"},
       "",
       "event_id IN (SELECT event_id FROM reviews WHERE tenant_id = ? AND subject_id = ?)",
       {{"note", ""}},
       {}},
      {"step_reports", "", {}, {"actor_id"}, "", "", {}, {}},
  };
  return kTables;
}

}  // namespace

absl::StatusOr<std::vector<db::PersonFile>> SqlFeedbackStore::ExportPerson(const std::string& tenant,
                                                                           const std::string& person) {
  return db::ExportPersonRows(*db_, tenant, person, PersonTables());
}

absl::StatusOr<std::vector<db::ErasedCount>> SqlFeedbackStore::ErasePerson(const std::string& tenant,
                                                                           const db::Erasure& erasure) {
  return db::ErasePersonRows(*db_, tenant, erasure, PersonTables());
}

}  // namespace perfflow::feedback
