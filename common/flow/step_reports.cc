#include "common/flow/step_reports.h"

#include "absl/strings/str_cat.h"
#include "common/db/time_columns.h"
#include "common/log.h"
#include "perfflow/event/v1/event_service.pb.h"

namespace perfflow::event {

db::Migration StepReportsMigration(int version) {
  return {version,
          "step reports pending at the event service",
          {"CREATE TABLE IF NOT EXISTS step_reports (tenant_id VARCHAR(64) NOT NULL, step_id VARCHAR(128) NOT NULL, "
           "event VARCHAR(64) NOT NULL, step INT NOT NULL, verdict INT NOT NULL, actor_id VARCHAR(64) NOT NULL, "
           "created_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, step_id))",
           "CREATE INDEX IF NOT EXISTS step_reports_by_age ON step_reports (created_at)"}};
}

bool IsDefiniteRefusal(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
      return true;
    default:
      // Unavailable, DeadlineExceeded, Cancelled, Unknown, Internal, Aborted:
      // the step may or may not have been recorded.
      return false;
  }
}

StepReports::StepReports(std::shared_ptr<db::Database> db, std::shared_ptr<EventClient> events,
                         const std::string& service, prometheus::Registry* registry)
    : db_(std::move(db)), events_(std::move(events)), service_(service) {
  if (registry == nullptr) return;
  reports_ = &prometheus::BuildCounter()
                  .Name("perfflow_step_reports_total")
                  .Help("Flow steps reported to the event service by result (reported, refused, pending, retried)")
                  .Register(*registry);
  for (const char* result : {"reported", "refused", "pending", "retried"}) {
    reports_->Add({{"service", service_}, {"result", result}});
  }
  pending_ = &prometheus::BuildGauge()
                  .Name("perfflow_step_reports_pending")
                  .Help("Flow steps recorded here and not yet acknowledged by the event service")
                  .Register(*registry)
                  .Add({{"service", service_}});
}

void StepReports::Count(const char* result) {
  if (reports_ != nullptr) reports_->Add({{"service", service_}, {"result", result}}).Increment();
}

absl::Status StepReports::Add(db::Transaction& tx, const PendingStep& s) {
  return tx
      .Execute(
          "INSERT INTO step_reports (tenant_id, step_id, event, step, verdict, actor_id, created_at) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)",
          {s.tenant, s.step_id, s.event, int64_t{s.step}, int64_t{s.verdict}, s.actor_id, db::Ms(s.created_at)})
      .status();
}

absl::Status StepReports::Remove(db::Transaction& tx, const std::string& tenant, const std::string& step_id) {
  return tx.Execute("DELETE FROM step_reports WHERE tenant_id = ? AND step_id = ?", {tenant, step_id}).status();
}

StepReports::Result StepReports::Report(const RequestContext& rc, const PendingStep& s) {
  v1::RecordFlowStepRequest req;
  req.set_event(s.event);
  req.set_step(static_cast<type::v1::FlowStep>(s.step));
  req.set_verdict(static_cast<type::v1::Verdict>(s.verdict));
  req.set_step_id(s.step_id);
  req.set_actor_id(s.actor_id);
  auto reported = events_->RecordFlowStep(rc, req);
  if (reported.ok()) {
    absl::Status removed = db_->RunInTransaction([&](db::Transaction& tx) { return Remove(tx, s.tenant, s.step_id); });
    // Left behind, the row is reported again (a duplicate, harmless) later.
    if (!removed.ok()) {
      LogWarn("step report not cleared", {{"step_id", s.step_id}, {"error", std::string(removed.message())}});
    }
    Count("reported");
    return {Outcome::kReported, absl::OkStatus()};
  }
  if (IsDefiniteRefusal(reported.status())) {
    Count("refused");
    return {Outcome::kRefused, reported.status()};
  }
  Count("pending");
  LogWarn("flow step report pending: kept for retry",
          {{"step_id", s.step_id}, {"event", s.event}, {"error", std::string(reported.status().message())}});
  return {Outcome::kPending, reported.status()};
}

absl::StatusOr<std::vector<PendingStep>> StepReports::Oldest(int limit) {
  std::vector<PendingStep> out;
  absl::Status s = db_->RunInTransaction([&](db::Transaction& tx) {
    out.clear();
    auto rows = tx.Query(
        "SELECT tenant_id, step_id, event, step, verdict, actor_id, created_at FROM step_reports "
        "ORDER BY created_at LIMIT ?",
        {int64_t{limit}});
    if (!rows.ok()) return rows.status();
    for (const db::Row& r : *rows) {
      out.push_back({r.Str(0), r.Str(1), r.Str(2), static_cast<int>(r.Int(3)), static_cast<int>(r.Int(4)), r.Str(5),
                     db::FromMs(r.Int(6))});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int> StepReports::Reconcile(const Undo& undo, const Landed& landed, int limit) {
  auto pending = Oldest(limit);
  if (!pending.ok()) return pending.status();
  int left = 0;  // pending after the pass, across all tenants
  for (const PendingStep& s : *pending) {
    RequestContext rc;
    rc.tenant = s.tenant;
    rc.principal = s.actor_id;
    Count("retried");
    Result r = Report(rc, s);
    if (r.outcome == Outcome::kReported && landed) landed(rc, s);
    if (r.outcome == Outcome::kRefused) {
      LogWarn("flow step refused on retry: the record behind it is undone",
              {{"step_id", s.step_id}, {"event", s.event}, {"error", std::string(r.status.message())}});
      if (absl::Status undone = undo(s); !undone.ok()) {
        LogError("undoing a refused step failed", {{"step_id", s.step_id}, {"error", std::string(undone.message())}});
      }
    }
  }
  absl::Status counted = db_->RunInTransaction([&](db::Transaction& tx) {
    auto rows = tx.Query("SELECT COUNT(*) FROM step_reports", {});
    if (!rows.ok()) return rows.status();
    left = static_cast<int>(rows->front().Int(0));
    return absl::OkStatus();
  });
  if (!counted.ok()) return counted;
  if (pending_ != nullptr) pending_->Set(left);
  return left;
}

}  // namespace perfflow::event
