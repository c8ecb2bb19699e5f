#include "services/calibration/calibration_core.h"

#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "google/protobuf/util/json_util.h"
#include "services/calibration/fairness.h"
#include "services/calibration/insight.h"
#include "services/calibration/render.h"

namespace perfflow::calibration {
namespace {

constexpr size_t kMaxKpiBatch = 1000;
constexpr absl::Duration kScheduleAhead = absl::Hours(24);
constexpr char kSessions[] = "sessions/";

bool ValidId(const std::string& id) {
  static const std::regex kId("^[A-Za-z0-9_.-]{1,64}$");
  return std::regex_match(id, kId);
}

absl::StatusOr<std::string> SessionId(const std::string& name, const std::string& field) {
  if (!absl::StartsWith(name, kSessions) || !ValidId(name.substr(sizeof(kSessions) - 1))) {
    return InvalidArgumentWithViolations("bad session name", {{field, "expected sessions/{id}"}});
  }
  return name.substr(sizeof(kSessions) - 1);
}

bool SeesAll(const RequestContext& rc, const v1::Session& session) {
  return HasRole(rc, "hr") || HasRole(rc, "admin") ||
         (!rc.principal.empty() && rc.principal == session.facilitator_id());
}

RequestContext SchedulerContext(const std::string& tenant) {
  return WorkerContext(tenant, "perfflow-calibration-scheduler");
}

}  // namespace

CalibrationCore::CalibrationCore(std::shared_ptr<CalibrationStore> store, std::shared_ptr<event::EventClient> events,
                                 std::shared_ptr<const Clock> clock, BriefOptions defaults)
    : store_(std::move(store)), events_(std::move(events)), clock_(std::move(clock)), defaults_(defaults) {}

// ------------------------------------------------------------------ sessions

absl::StatusOr<v1::Session> CalibrationCore::CreateSession(const RequestContext& rc,
                                                           const v1::CreateSessionRequest& req) {
  if (absl::Status s = RequireRole(rc, {"hr", "admin"}, "creating a calibration session"); !s.ok()) return s;
  const v1::Session& in = req.session();
  std::vector<FieldViolation> violations;
  if (in.title().empty() || in.title().size() > 200) {
    violations.push_back({"session.title", "required, at most 200 bytes"});
  }
  const v1::Cohort& c = in.cohort();
  if (c.departments().empty() && c.grades().empty() && c.member_ids().empty()) {
    violations.push_back({"session.cohort", "name departments, grades or member_ids"});
  }
  for (const auto* list : {&c.departments(), &c.grades(), &c.member_ids()}) {
    for (const std::string& id : *list) {
      if (!ValidId(id)) violations.push_back({"session.cohort", "'" + id + "' is not a valid id"});
    }
  }
  if (!in.has_scheduled_time() || !ValidTimestamp(in.scheduled_time())) {
    violations.push_back({"session.scheduled_time", "required"});
  }
  if (!ValidId(in.facilitator_id())) violations.push_back({"session.facilitator_id", "required"});
  for (const std::string& p : in.participant_ids()) {
    if (!ValidId(p)) violations.push_back({"session.participant_ids", "'" + p + "' is not a valid id"});
  }
  for (const auto& [employee, rating] : in.proposed_ratings()) {
    if (!ValidId(employee) || rating.empty() || rating.size() > 32) {
      violations.push_back({"session.proposed_ratings", "employee ids with ratings of 1-32 bytes"});
    }
  }
  if (!req.session_id().empty() && !ValidId(req.session_id())) {
    violations.push_back({"session_id", "1-64 of [A-Za-z0-9_.-]"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("session rejected", violations);
  const std::string id = req.session_id().empty() ? RandomId() : req.session_id();
  v1::Session session = in;
  session.set_name(kSessions + id);
  session.set_latest_brief_version(0);
  ToTimestamp(clock_->Now(), session.mutable_create_time());
  auto created = store_->CreateSession(rc.tenant, id, session);
  if (!created.ok()) return created.status();
  return created->first;
}

absl::StatusOr<v1::Session> CalibrationCore::GetSession(const RequestContext& rc, const std::string& name) {
  auto id = SessionId(name, "name");
  if (!id.ok()) return id.status();
  auto session = store_->GetSession(rc.tenant, *id);
  if (!session.ok()) return session.status();
  if (!*session) return absl::NotFoundError(absl::StrCat(name, " not found"));
  return **session;
}

absl::StatusOr<v1::ListSessionsResponse> CalibrationCore::ListSessions(const RequestContext& rc,
                                                                       const v1::ListSessionsRequest& req) {
  auto page = store_->ListSessions(rc.tenant, req.page_size(), req.page_token());
  if (!page.ok()) return page.status();
  v1::ListSessionsResponse out;
  for (auto& s : page->first) *out.add_sessions() = std::move(s);
  out.set_next_page_token(page->second);
  return out;
}

// ------------------------------------------------------------------ briefs

absl::StatusOr<std::vector<ev1::Employee>> CalibrationCore::ResolveCohort(const RequestContext& rc,
                                                                          const v1::Cohort& cohort) {
  std::map<std::string, ev1::Employee> members;
  const std::set<std::string> grades(cohort.grades().begin(), cohort.grades().end());
  auto take = [&](const std::vector<ev1::Employee>& employees) {
    for (const ev1::Employee& e : employees) {
      if (grades.empty() || grades.count(e.grade())) members[e.id()] = e;
    }
  };
  if (!cohort.departments().empty()) {
    for (const std::string& d : cohort.departments()) {
      auto employees = events_->ListAllEmployees(rc, d);
      if (!employees.ok()) return employees.status();
      take(*employees);
    }
  } else if (!grades.empty()) {
    auto employees = events_->ListAllEmployees(rc, "");
    if (!employees.ok()) return employees.status();
    take(*employees);
  }
  for (const std::string& id : cohort.member_ids()) {
    auto e = events_->GetEmployee(rc, id);
    if (absl::IsNotFound(e.status())) continue;  // left the company: not in the cohort
    if (!e.ok()) return e.status();
    members[id] = *e;
  }
  std::vector<ev1::Employee> out;
  for (auto& [id, e] : members) out.push_back(std::move(e));
  return out;
}

absl::StatusOr<std::optional<v1::Brief>> CalibrationCore::Generate(const RequestContext& rc,
                                                                   const std::string& session_id, BriefOptions options,
                                                                   bool scheduled) {
  auto session = store_->GetSession(rc.tenant, session_id);
  if (!session.ok()) return session.status();
  if (!*session) return absl::NotFoundError(absl::StrCat(kSessions, session_id, " not found"));
  auto members = ResolveCohort(rc, (*session)->cohort());
  if (!members.ok()) return members.status();
  std::vector<std::string> degraded;
  ev1::Registry registry;
  if (auto r = events_->GetRegistry(rc, 0); r.ok()) {
    registry = *r;
  } else {
    degraded.push_back("registry (goals, time zone): " + std::string(r.status().message()));
  }
  std::map<std::string, std::string> department_names;
  if (auto listed = events_->ListDepartments(rc); listed.ok()) {
    for (const ev1::Department& d : *listed) department_names[d.id()] = d.name();
  } else {
    degraded.push_back("departments (names): " + std::string(listed.status().message()));
  }
  const absl::TimeZone zone = ZoneOrUtc(registry.settings().time_zone());
  const absl::Time now = clock_->Now();
  const auto [start, end] = BriefWindow(now, zone);
  auto kpis = store_->Kpis(rc.tenant, MonthOf(start, zone), MonthOf(end, zone));
  if (!kpis.ok()) return kpis.status();
  FairnessInput fairness;
  fairness.members = *members;
  fairness.department_names = department_names;
  fairness.protected_attributes = {registry.settings().protected_attributes().begin(),
                                   registry.settings().protected_attributes().end()};
  std::set<std::string> cohort;
  for (const ev1::Employee& e : *members) {
    cohort.insert(e.id());
    fairness.people_names[e.id()] = e.display_name();
  }
  BriefBuilder builder(*std::move(members), *std::move(kpis), registry, start, end, options);
  ev1::StreamFlowFactsRequest request;
  ToTimestamp(start, request.mutable_start_time());
  ToTimestamp(end, request.mutable_end_time());
  std::map<std::pair<std::string, std::string>, std::pair<int64_t, int64_t>> verdicts;  // (person, type) -> counts
  absl::Status streamed = events_->StreamFlowFacts(rc, request, [&](const ev1::FlowFact& f) {
    builder.Add(f);
    if (f.flow().verdict() != type::v1::VERDICT_UNSPECIFIED && cohort.count(f.subject_id())) {
      auto& [all, meets] = verdicts[{f.subject_id(), f.event_type()}];
      ++all;
      if (f.flow().verdict() == type::v1::VERDICT_MEETS) ++meets;
    }
  });
  if (!streamed.ok()) return streamed;
  for (const auto& [key, counts] : verdicts) {
    fairness.verdicts.push_back({key.first, key.second, counts.first, counts.second});
  }
  v1::Brief brief = builder.Finish();
  // Ratings: the latest recorded in the session, else the proposed one.
  for (const auto& [id, rating] : (*session)->proposed_ratings()) fairness.ratings[id] = rating;
  auto outcomes = store_->ListOutcomes(rc.tenant, session_id, "");
  if (!outcomes.ok()) return outcomes.status();
  for (const v1::Outcome& o : *outcomes) fairness.ratings[o.employee_id()] = o.final_rating();
  for (const v1::PersonBrief& p : brief.people()) {
    if (!p.manager_id().empty() && !fairness.people_names.count(p.manager_id())) {
      auto manager = events_->GetEmployee(rc, p.manager_id());
      fairness.people_names[p.manager_id()] = manager.ok() ? manager->display_name() : "";
    }
  }
  *brief.mutable_fairness() = CheckFairness(fairness);
  for (v1::PersonBrief& p : *brief.mutable_people()) {
    auto name = department_names.find(p.department_id());
    if (name != department_names.end()) p.set_department_name(name->second);
  }
  ToTimestamp(now, brief.mutable_generate_time());
  ToTimestamp(start, brief.mutable_window_start());
  ToTimestamp(end, brief.mutable_window_end());
  brief.set_trigger(scheduled ? "scheduled" : "on_demand");
  for (const std::string& d : degraded) brief.add_degraded(d);
  return store_->SaveBrief(rc.tenant, session_id, std::move(brief), scheduled);
}

absl::StatusOr<v1::Brief> CalibrationCore::GenerateBrief(const RequestContext& rc,
                                                         const v1::GenerateBriefRequest& req) {
  auto id = SessionId(req.session(), "session");
  if (!id.ok()) return id.status();
  auto session = GetSession(rc, req.session());
  if (!session.ok()) return session.status();
  if (!SeesAll(rc, *session)) {
    return absl::PermissionDeniedError("only HR and the session's facilitator may generate its brief");
  }
  std::vector<FieldViolation> violations;
  if (req.relative_threshold() < 0 || req.relative_threshold() > 10) {
    violations.push_back({"relative_threshold", "0 (default 0.15) .. 10"});
  }
  if (req.z_threshold() < 0 || req.z_threshold() > 10) violations.push_back({"z_threshold", "0 (default 1.5) .. 10"});
  if (!violations.empty()) return InvalidArgumentWithViolations("brief request rejected", violations);
  BriefOptions options = defaults_;
  if (req.relative_threshold() > 0) options.relative_threshold = req.relative_threshold();
  if (req.z_threshold() > 0) options.z_threshold = req.z_threshold();
  auto brief = Generate(rc, *id, options, /*scheduled=*/false);
  if (!brief.ok()) return brief.status();
  return **brief;
}

absl::StatusOr<v1::Brief> CalibrationCore::GetBrief(const RequestContext& rc, const v1::GetBriefRequest& req) {
  auto id = SessionId(req.session(), "session");
  if (!id.ok()) return id.status();
  auto session = GetSession(rc, req.session());
  if (!session.ok()) return session.status();
  if (req.version() < 0) return InvalidArgumentWithViolations("bad version", {{"version", "0 (latest) or more"}});
  auto brief = store_->GetBrief(rc.tenant, *id, req.version());
  if (!brief.ok()) return brief.status();
  if (!*brief) {
    return absl::NotFoundError(req.version() == 0
                                   ? absl::StrCat(req.session(), " has no brief yet")
                                   : absl::StrCat(req.session(), "/briefs/", req.version(), " not found"));
  }
  if (SeesAll(rc, *session)) return **brief;
  // A manager sees their direct reports only.
  v1::Brief mine = **brief;
  mine.clear_people();
  for (const v1::PersonBrief& p : (*brief)->people()) {
    if (!rc.principal.empty() && p.manager_id() == rc.principal) *mine.add_people() = p;
  }
  if (mine.people().empty()) {
    return absl::PermissionDeniedError("only HR, the facilitator and managers of cohort members may read this brief");
  }
  return mine;
}

absl::StatusOr<v1::RenderBriefResponse> CalibrationCore::RenderBrief(const RequestContext& rc,
                                                                     const v1::RenderBriefRequest& req) {
  if (req.format() == v1::RENDER_FORMAT_UNSPECIFIED) {
    return InvalidArgumentWithViolations("bad format", {{"format", "required (JSON, MARKDOWN or HTML)"}});
  }
  v1::GetBriefRequest get;
  get.set_session(req.session());
  get.set_version(req.version());
  auto brief = GetBrief(rc, get);
  if (!brief.ok()) return brief.status();
  auto session = GetSession(rc, req.session());
  if (!session.ok()) return session.status();
  auto rendered = calibration::RenderBrief(*brief, session->title(), req.format());
  if (!rendered.ok()) return rendered.status();
  v1::RenderBriefResponse out;
  out.set_content_type(rendered->content_type);
  out.set_content(rendered->content);
  return out;
}

int CalibrationCore::DeliverNotices(const std::string& tenant) {
  auto due = store_->DueNotices(clock_->Now(), 100, tenant);
  if (!due.ok()) {
    LogWarn("change notices unreadable", {{"error", std::string(due.status().message())}});
    return 0;
  }
  int sent = 0;
  for (const DueNotice& n : *due) {
    ev1::SendNoticeRequest req;
    req.set_recipient_id(n.recipient_id);
    req.set_topic("calibration.changed");
    req.set_idempotency_key(n.key);
    if (!google::protobuf::util::JsonStringToMessage(n.payload_json, req.mutable_payload()).ok()) {
      LogWarn("change notice unreadable", {{"tenant", n.tenant}, {"notice", n.key}});
      continue;
    }
    // Idempotent: a notice queued before (created=false) is as good as sent.
    auto queued = events_->SendNotice(SchedulerContext(n.tenant), req);
    if (!queued.ok()) {
      LogWarn("change notice not delivered yet",
              {{"tenant", n.tenant}, {"notice", n.key}, {"error", std::string(queued.status().message())}});
      continue;
    }
    if (absl::Status s = store_->MarkNoticeSent(n.tenant, n.key, clock_->Now()); !s.ok()) continue;
    ++sent;
  }
  return sent;
}

absl::StatusOr<int> CalibrationCore::RunScheduler() {
  DeliverNotices();
  auto due = store_->DueSessions(clock_->Now() + kScheduleAhead, 20);
  if (!due.ok()) return due.status();
  int written = 0;
  for (const DueSession& d : *due) {
    auto brief = Generate(SchedulerContext(d.tenant), d.session_id, defaults_, /*scheduled=*/true);
    if (!brief.ok()) {
      LogWarn("scheduled brief failed",
              {{"tenant", d.tenant}, {"session", d.session_id}, {"error", std::string(brief.status().message())}});
      continue;
    }
    written += brief->has_value() ? 1 : 0;
  }
  return written;
}

// ------------------------------------------------------------------ outcomes

absl::StatusOr<v1::Outcome> CalibrationCore::RecordOutcome(const RequestContext& rc,
                                                           const v1::RecordOutcomeRequest& req) {
  auto id = SessionId(req.session(), "session");
  if (!id.ok()) return id.status();
  auto session = GetSession(rc, req.session());
  if (!session.ok()) return session.status();
  if (!SeesAll(rc, *session)) {
    return absl::PermissionDeniedError("only HR and the session's facilitator may record outcomes");
  }
  std::vector<FieldViolation> violations;
  if (!ValidId(req.employee_id())) violations.push_back({"employee_id", "required"});
  if (req.final_rating().empty() || req.final_rating().size() > 32) {
    violations.push_back({"final_rating", "required, at most 32 bytes"});
  }
  if (req.rationale().size() > 4000) violations.push_back({"rationale", "at most 4000 bytes"});
  auto proposed = session->proposed_ratings().find(req.employee_id());
  const std::string proposed_rating = proposed == session->proposed_ratings().end() ? "" : proposed->second;
  // The rating before: the last one recorded in this session, else the proposed one.
  std::string rating_before = proposed_rating;
  if (!violations.empty()) return InvalidArgumentWithViolations("outcome rejected", violations);
  auto latest = store_->LatestRating(rc.tenant, *id, req.employee_id());
  if (!latest.ok()) return latest.status();
  if (*latest) rating_before = **latest;
  const bool changed = !rating_before.empty() && req.final_rating() != rating_before;
  if (changed && absl::StripAsciiWhitespace(req.rationale()).empty()) {
    return InvalidArgumentWithViolations(
        "outcome rejected", {{"rationale", absl::StrCat("required: the rating changes from '", rating_before, "' to '",
                                                        req.final_rating(), "'; say why")}});
  }
  auto members = ResolveCohort(rc, session->cohort());
  if (!members.ok()) return members.status();
  if (std::none_of(members->begin(), members->end(),
                   [&](const ev1::Employee& e) { return e.id() == req.employee_id(); })) {
    return absl::FailedPreconditionError(absl::StrCat(req.employee_id(), " is not in this session's cohort"));
  }
  v1::Outcome outcome;
  outcome.set_session(req.session());
  outcome.set_employee_id(req.employee_id());
  outcome.set_proposed_rating(proposed_rating);
  outcome.set_final_rating(req.final_rating());
  outcome.set_rationale(req.rationale());
  outcome.set_recorded_by(rc.principal);
  const absl::Time now = clock_->Now();
  ToTimestamp(now, outcome.mutable_record_time());
  // A change is told to the employee: now, or by the end of the tenant's review period.
  std::optional<ChangeNotice> notice;
  if (changed) {
    ev1::Settings settings;
    if (auto registry = events_->GetRegistry(rc, 0); registry.ok()) settings = registry->settings();
    const int days = settings.calibration_review_days() > 0 ? settings.calibration_review_days() : 14;
    const bool at_review = settings.calibration_notice() == ev1::CALIBRATION_NOTICE_AT_REVIEW;
    notice = ChangeNotice{at_review ? now + absl::Hours(24 * days) : now, session->title()};
  }
  auto stored = store_->AppendOutcome(rc.tenant, *id, outcome, rating_before, notice);
  // At once, the tenant's own only (other tenants' wait for the scheduler, which also retries failures).
  if (stored.ok() && notice && notice->due <= now) DeliverNotices(rc.tenant);
  return stored;
}

absl::StatusOr<v1::VerifyCalibrationLogResponse> CalibrationCore::VerifyCalibrationLog(
    const RequestContext& rc, const v1::VerifyCalibrationLogRequest&) {
  if (!HasRole(rc, "hr") && !HasRole(rc, "admin")) {
    return absl::PermissionDeniedError("only HR may verify the calibration log");
  }
  return store_->VerifyLog(rc.tenant);
}

absl::StatusOr<v1::ListOutcomesResponse> CalibrationCore::ListOutcomes(const RequestContext& rc,
                                                                       const v1::ListOutcomesRequest& req) {
  auto id = SessionId(req.session(), "session");
  if (!id.ok()) return id.status();
  auto session = GetSession(rc, req.session());
  if (!session.ok()) return session.status();
  if (!SeesAll(rc, *session)) return absl::PermissionDeniedError("only HR and the facilitator may read outcomes");
  auto outcomes = store_->ListOutcomes(rc.tenant, *id, req.employee_id());
  if (!outcomes.ok()) return outcomes.status();
  v1::ListOutcomesResponse out;
  for (auto& o : *outcomes) *out.add_outcomes() = std::move(o);
  return out;
}

// ------------------------------------------------------------------ insight

absl::StatusOr<std::pair<absl::Time, absl::Time>> CalibrationCore::PeriodOf(const v1::Period& period) {
  const absl::Time now = clock_->Now();
  absl::Time start = now - absl::Hours(24 * 90), end = now;
  std::vector<FieldViolation> violations;
  if (period.has_start_time()) {
    if (!ValidTimestamp(period.start_time())) {
      violations.push_back({"period.start_time", "not a valid timestamp"});
    } else {
      start = FromTimestamp(period.start_time());
    }
  }
  if (period.has_end_time()) {
    if (!ValidTimestamp(period.end_time())) {
      violations.push_back({"period.end_time", "not a valid timestamp"});
    } else {
      end = FromTimestamp(period.end_time());
    }
  }
  if (violations.empty() && end <= start) violations.push_back({"period", "end_time must be after start_time"});
  if (violations.empty() && end - start > absl::Hours(24 * 400)) violations.push_back({"period", "at most 400 days"});
  if (!violations.empty()) return InvalidArgumentWithViolations("bad period", violations);
  return std::make_pair(start, end);
}

absl::StatusOr<v1::Heatmap> CalibrationCore::GetHeatmap(const RequestContext& rc, const v1::GetHeatmapRequest& req) {
  auto period = PeriodOf(req.period());
  if (!period.ok()) return period.status();
  ev1::StreamFlowFactsRequest request;
  ToTimestamp(period->first, request.mutable_start_time());
  ToTimestamp(period->second, request.mutable_end_time());
  HeatmapBuilder heatmap;
  absl::Status s = events_->StreamFlowFacts(rc, request, [&](const ev1::FlowFact& f) { heatmap.Add(f); });
  if (!s.ok()) return s;
  return heatmap.Finish();
}

absl::StatusOr<v1::GetInsightsResponse> CalibrationCore::GetInsights(const RequestContext& rc,
                                                                     const v1::GetInsightsRequest& req) {
  auto period = PeriodOf(req.period());
  if (!period.ok()) return period.status();
  if (req.min_gap_hours() < 0) {
    return InvalidArgumentWithViolations("bad gap", {{"min_gap_hours", "must not be negative"}});
  }
  ev1::StreamFlowFactsRequest request;
  ToTimestamp(period->first, request.mutable_start_time());
  ToTimestamp(period->second, request.mutable_end_time());
  HeatmapBuilder heatmap;
  std::map<std::string, MeasureAccumulator> people;
  absl::Status s = events_->StreamFlowFacts(rc, request, [&](const ev1::FlowFact& f) {
    heatmap.Add(f);
    people[f.subject_id()].Add(f);
  });
  if (!s.ok()) return s;
  std::map<std::string, v1::Measures> measures;
  for (const auto& [who, acc] : people) measures[who] = acc.Finish();
  auto kpis = store_->Kpis(rc.tenant, MonthOf(period->first), MonthOf(period->second - absl::Nanoseconds(1)));
  if (!kpis.ok()) return kpis.status();
  std::map<std::string, std::string> departments;
  auto listed = events_->ListDepartments(rc);
  if (!listed.ok()) return listed.status();
  for (const ev1::Department& d : *listed) departments[d.id()] = d.name();
  ev1::Registry registry;
  if (auto r = events_->GetRegistry(rc, 0); r.ok()) registry = *r;
  v1::GetInsightsResponse out;
  for (auto& insight : Insights(heatmap.Finish(), measures, *kpis, departments, registry,
                                req.min_gap_hours() > 0 ? req.min_gap_hours() : 12)) {
    *out.add_insights() = std::move(insight);
  }
  return out;
}

absl::StatusOr<v1::FlowBrief> CalibrationCore::GetFlowBrief(const RequestContext& rc,
                                                            const v1::GetFlowBriefRequest& req) {
  auto period = PeriodOf(req.period());
  if (!period.ok()) return period.status();
  ev1::StreamFlowFactsRequest request;
  ToTimestamp(period->first, request.mutable_start_time());
  ToTimestamp(period->second, request.mutable_end_time());
  request.set_department_id(req.department_id());
  request.set_event_type(req.event_type());
  ev1::Registry registry;
  if (auto r = events_->GetRegistry(rc, 0); r.ok()) registry = *r;
  FlowBriefBuilder brief(registry);
  absl::Status s = events_->StreamFlowFacts(rc, request, [&](const ev1::FlowFact& f) { brief.Add(f); });
  if (!s.ok()) return s;
  return brief.Finish();
}

absl::StatusOr<v1::RecordKpiObservationsResponse> CalibrationCore::RecordKpiObservations(
    const RequestContext& rc, const v1::RecordKpiObservationsRequest& req) {
  if (absl::Status s = RequireRole(rc, {"hr", "admin", "system"}, "recording KPI observations"); !s.ok()) return s;
  static const std::regex kKpi("^[a-z0-9_.]{1,128}$");
  static const std::regex kPeriod("^[0-9]{4}-(0[1-9]|1[0-2])$");
  std::vector<FieldViolation> violations;
  if (req.observations().empty()) violations.push_back({"observations", "at least one"});
  if (req.observations_size() > static_cast<int>(kMaxKpiBatch)) violations.push_back({"observations", "at most 1000"});
  std::vector<KpiValue> values;
  std::set<std::tuple<std::string, std::string, std::string>> keys;
  for (int i = 0; i < req.observations_size() && violations.size() < 100; ++i) {
    const v1::KpiObservation& o = req.observations(i);
    const std::string at = absl::StrCat("observations[", i, "]");
    if (!std::regex_match(o.kpi(), kKpi)) violations.push_back({at + ".kpi", "1-128 of [a-z0-9_.]"});
    if (!o.subject_id().empty() && !ValidId(o.subject_id())) {
      violations.push_back({at + ".subject_id", "1-64 of [A-Za-z0-9_.-] or empty"});
    }
    if (!std::regex_match(o.period(), kPeriod)) violations.push_back({at + ".period", "YYYY-MM"});
    if (!std::isfinite(o.value())) violations.push_back({at + ".value", "must be a finite number"});
    if (!keys.insert({o.kpi(), o.subject_id(), o.period()}).second) {
      violations.push_back({at, "the same kpi, subject and period twice in one batch"});
    }
    values.push_back({o.kpi(), o.subject_id(), o.period(), o.value()});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("observations rejected", violations);
  auto counts = store_->RecordKpis(rc.tenant, values, clock_->Now());
  if (!counts.ok()) return counts.status();
  v1::RecordKpiObservationsResponse out;
  out.set_recorded(counts->recorded);
  out.set_unchanged(counts->unchanged);
  out.set_updated(counts->updated);
  return out;
}

absl::StatusOr<v1::GoalStatus> CalibrationCore::GetGoalStatus(const RequestContext& rc,
                                                              const v1::GetGoalStatusRequest& req) {
  static const std::regex kPeriod("^[0-9]{4}-(0[1-9]|1[0-2])$");
  if (!req.period().empty() && !std::regex_match(req.period(), kPeriod)) {
    return InvalidArgumentWithViolations("bad period", {{"period", "YYYY-MM or empty"}});
  }
  auto registry = events_->GetRegistry(rc, 0);
  if (!registry.ok()) return registry.status();
  if (std::none_of(registry->goals().begin(), registry->goals().end(),
                   [&](const ev1::Goal& g) { return g.key() == req.goal(); })) {
    return absl::NotFoundError(absl::StrCat("goal '", req.goal(), "' is not in the registry"));
  }
  auto kpis = store_->Kpis(rc.tenant, "", "");
  if (!kpis.ok()) return kpis.status();
  v1::GoalStatus out;
  *out.mutable_goal() = GoalStatusOf(*registry, req.goal(), *kpis, req.period(), 3);
  // The alignment rate over the period's month (or the last 30 days).
  absl::Time start = clock_->Now() - absl::Hours(24 * 30), end = clock_->Now();
  if (!req.period().empty()) {
    absl::CivilMonth month;
    (void)absl::ParseCivilTime(req.period(), &month);
    start = absl::FromCivil(month, absl::UTCTimeZone());
    end = absl::FromCivil(month + 1, absl::UTCTimeZone());
  }
  ev1::StreamFlowFactsRequest request;
  ToTimestamp(start, request.mutable_start_time());
  ToTimestamp(end, request.mutable_end_time());
  FlowBriefBuilder brief(*registry);
  absl::Status s = events_->StreamFlowFacts(rc, request, [&](const ev1::FlowFact& f) { brief.Add(f); });
  if (!s.ok()) return s;
  out.set_goal_alignment_rate(brief.Finish().goal_alignment_rate());
  out.set_period(req.period().empty() ? MonthOf(end - absl::Nanoseconds(1)) : req.period());
  return out;
}

// ------------------------------------------------------------------ person data

absl::StatusOr<std::vector<db::PersonFile>> CalibrationCore::ExportPerson(
    const RequestContext& rc, const type::v1::ExportPersonDataRequest& req) {
  return ExportPersonWith(rc, req, [&](const std::string& person) { return store_->ExportPerson(rc.tenant, person); });
}

absl::StatusOr<type::v1::ErasePersonResponse> CalibrationCore::ErasePerson(const RequestContext& rc,
                                                                           const type::v1::ErasePersonRequest& req) {
  return ErasePersonWith("calibration", rc, req, clock_->Now(),
                         [&](const db::Erasure& erasure) { return store_->ErasePerson(rc.tenant, erasure); });
}

}  // namespace perfflow::calibration
