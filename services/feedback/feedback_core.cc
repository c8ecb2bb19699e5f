#include "services/feedback/feedback_core.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/stats.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "common/yaml_proto.h"
#include "common/flow/registry.h"

namespace perfflow::feedback {
namespace {

namespace t = perfflow::type::v1;

size_t CodePoints(absl::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

void Fill(const std::string& key, const std::vector<const ReviewRow*>& rows, v1::FeedbackFigure* out) {
  out->set_key(key);
  out->set_reviews(static_cast<int64_t>(rows.size()));
  std::vector<double> response;
  int64_t effective = 0;
  for (const ReviewRow* r : rows) {
    effective += r->effective;
    response.push_back(absl::ToDoubleSeconds(r->response));
    switch (r->verdict) {
      case t::VERDICT_MEETS:
        out->set_meets(out->meets() + 1);
        break;
      case t::VERDICT_NEEDS_IMPROVEMENT:
        out->set_needs_improvement(out->needs_improvement() + 1);
        break;
      case t::VERDICT_REDO:
        out->set_redo(out->redo() + 1);
        break;
      default:
        break;
    }
  }
  const double n = static_cast<double>(rows.size());
  out->set_effective_rate(rows.empty() ? 0 : static_cast<double>(effective) / n);
  out->set_redo_rate(rows.empty() ? 0 : static_cast<double>(out->redo()) / n);
  out->set_median_response_seconds(Median(response));
  out->set_p90_response_seconds(NearestRankPercentile(response, 0.9));
}

}  // namespace

absl::StatusOr<std::map<std::string, TenantPolicy>> ParsePolicies(const std::string& yaml) {
  auto docs = LoadYamlDocuments(yaml);
  if (!docs.ok()) return docs.status();
  std::map<std::string, TenantPolicy> out;
  if (docs->empty()) return out;
  try {
    const YAML::Node tenants = docs->front()["tenants"];
    if (!tenants || !tenants.IsMap()) return absl::InvalidArgumentError("policy: 'tenants' mapping required");
    for (const auto& kv : tenants) {
      TenantPolicy p;
      const YAML::Node node = kv.second;
      if (node["require_effective_feedback"]) {
        p.require_effective_feedback = node["require_effective_feedback"].as<bool>();
      }
      if (node["delegates"]) {
        for (const auto& d : node["delegates"]) {
          for (const auto& who : d.second) p.delegates[d.first.as<std::string>()].insert(who.as<std::string>());
        }
      }
      out[kv.first.as<std::string>()] = p;
    }
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("policy: line ", e.mark.line + 1, ": ", e.msg));
  }
  return out;
}

FeedbackCore::FeedbackCore(std::shared_ptr<FeedbackStore> store, std::shared_ptr<event::EventClient> events,
                           std::shared_ptr<event::StepReports> reports, std::shared_ptr<const Clock> clock,
                           FeedbackPolicies policies, EvidenceNamer evidence_namer, ChainArchiver archiver,
                           FeedbackMetrics* metrics)
    : store_(std::move(store)),
      events_(std::move(events)),
      reports_(std::move(reports)),
      clock_(std::move(clock)),
      policies_(std::move(policies)),
      evidence_namer_(std::move(evidence_namer)),
      archiver_(std::move(archiver)),
      metrics_(metrics) {}

const PhraseGuide& FeedbackCore::GuideFor(const std::string& tenant) const {
  auto it = policies_.guides.find(tenant);
  return it != policies_.guides.end() ? *it->second : *policies_.default_guide;
}

TenantPolicy FeedbackCore::PolicyFor(const std::string& tenant) const {
  auto it = policies_.tenants.find(tenant);
  return it == policies_.tenants.end() ? TenantPolicy{} : it->second;
}

absl::StatusOr<v1::AnalyzeFeedbackResponse> FeedbackCore::AnalyzeInContext(const RequestContext& rc,
                                                                           const std::string& text,
                                                                           const event::v1::Event* event,
                                                                           const std::vector<std::string>& chosen,
                                                                           const std::vector<std::string>& cited) {
  std::vector<FieldViolation> v;
  if (text.empty() || text.size() > 4 * kMaxCommentChars || CodePoints(text) > kMaxCommentChars) {
    v.push_back({"comment", absl::StrCat("required, at most ", kMaxCommentChars, " characters")});
  }
  for (const std::string& name : cited) {
    if (!ParseResourceId(name, "evidence", "cited_evidence").ok()) {
      v.push_back({"cited_evidence", "'" + name.substr(0, 80) + "' is not evidence/{id}"});
    }
  }
  if (!chosen.empty() && event == nullptr) v.push_back({"chosen_behaviours", "behaviours need an event"});
  if (!v.empty()) return InvalidArgumentWithViolations("feedback rejected", v);

  AnalysisInput input;
  input.text = text;
  if (event != nullptr) {
    auto registry = events_->GetRegistry(rc, event->registry_version());
    if (!registry.ok()) return registry.status();
    event::RegistryView view(*std::move(registry));
    const event::v1::EventType* type = view.FindEventType(event->event_type());
    if (type == nullptr) {
      return absl::FailedPreconditionError("event type " + event->event_type() + " not in its registry");
    }
    input.library.assign(type->behaviours().begin(), type->behaviours().end());
    for (const std::string& id : chosen) {
      auto it = std::find_if(input.library.begin(), input.library.end(),
                             [&](const event::v1::Behaviour& b) { return b.id() == id; });
      if (it == input.library.end()) {
        return InvalidArgumentWithViolations(
            "feedback rejected",
            {{"chosen_behaviours", "'" + id + "' is not in the behaviour library of " + type->key()}});
      }
      input.chosen.push_back(*it);
    }
    input.event_name = type->display_name();
    for (const auto& g : view.registry().goals()) {
      if (!type->goals().empty() && g.key() == type->goals(0)) input.goal_name = g.name();
    }
    for (const std::string& name : cited) {
      std::string display = "evidence";
      if (evidence_namer_) {
        auto kind = evidence_namer_(rc, name);
        if (!kind.ok()) {
          return absl::IsNotFound(kind.status())
                     ? InvalidArgumentWithViolations("feedback rejected", {{"cited_evidence", name + " not found"}})
                     : kind.status();
        }
        display = *kind;
        for (const auto& spec : type->evidence()) {
          if (spec.kind() == *kind) display = Localized(spec.display_name(), WrittenInChinese(text));
        }
      }
      input.cited_evidence.push_back(display);
    }
  } else {
    input.cited_evidence.assign(cited.begin(), cited.end());
  }
  auto analysis = GuideFor(rc.tenant).Analyze(input);
  if (!analysis.ok()) {
    return InvalidArgumentWithViolations("feedback rejected", {{"comment", std::string(analysis.status().message())}});
  }
  return analysis;
}

absl::StatusOr<v1::AnalyzeFeedbackResponse> FeedbackCore::Analyze(const RequestContext& rc,
                                                                  const v1::AnalyzeFeedbackRequest& req) {
  std::optional<event::v1::Event> event;
  if (!req.event().empty()) {
    if (auto id = ParseResourceId(req.event(), "events", "event"); !id.ok()) return id.status();
    auto e = events_->GetEvent(rc, req.event());
    if (!e.ok()) return e.status();
    event = *std::move(e);
  }
  return AnalyzeInContext(rc, req.text(), event ? &*event : nullptr,
                          {req.chosen_behaviours().begin(), req.chosen_behaviours().end()},
                          {req.cited_evidence().begin(), req.cited_evidence().end()});
}

absl::StatusOr<std::pair<std::optional<ReviewRow>, v1::AnalyzeFeedbackResponse>> FeedbackCore::SubmitReview(
    const RequestContext& rc, const v1::SubmitReviewRequest& req) {
  if (auto id = ParseResourceId(req.event(), "events", "event"); !id.ok()) return id.status();
  if (req.verdict() == t::VERDICT_UNSPECIFIED || !t::Verdict_IsValid(req.verdict())) {
    return InvalidArgumentWithViolations("review rejected", {{"verdict", "MEETS, NEEDS_IMPROVEMENT or REDO"}});
  }
  if (rc.principal.empty()) return absl::UnauthenticatedError("reviews need a principal (x-perfflow-principal)");
  auto event = events_->GetEvent(rc, req.event());
  if (!event.ok()) return event.status();
  if (event->flow().step() == t::FLOW_STEP_ARCHIVED) return absl::FailedPreconditionError("the chain is archived");
  if (!event->flow().times().has_owner_action_at()) {
    return absl::FailedPreconditionError("nothing to review yet: the owner has not acted in this round");
  }
  if (event->flow().times().has_manager_feedback_at()) {
    return absl::FailedPreconditionError(absl::StrCat("round ", event->flow().round(), " already has a verdict"));
  }
  auto subject = events_->GetEmployee(rc, event->subject_id());
  if (!subject.ok()) return subject.status();
  const TenantPolicy policy = PolicyFor(rc.tenant);
  auto delegates = policy.delegates.find(subject->manager_id());
  const bool delegate = delegates != policy.delegates.end() && delegates->second.count(rc.principal);
  if (subject->manager_id() != rc.principal && !delegate) {
    return absl::PermissionDeniedError("only " + event->subject_id() + "'s direct manager (" + subject->manager_id() +
                                       ") or a configured delegate may review");
  }
  auto guidance =
      AnalyzeInContext(rc, req.comment(), &*event, {req.chosen_behaviours().begin(), req.chosen_behaviours().end()},
                       {req.cited_evidence().begin(), req.cited_evidence().end()});
  if (!guidance.ok()) return guidance.status();
  if (req.validate_only()) return std::make_pair(std::optional<ReviewRow>(), *std::move(guidance));
  if (policy.require_effective_feedback && !guidance->effective()) {
    // The guidance rides along in the message so the reviewer can act on it.
    std::vector<std::string> hints;
    for (const auto& s : guidance->suggestions()) {
      hints.push_back(s.text().en().empty() ? s.text().zh() : s.text().en());
    }
    absl::Status refused = absl::FailedPreconditionError(
        "this tenant requires specific feedback: name a concrete behaviour and cite evidence" +
        (hints.empty() ? std::string() : " (for example: " + absl::StrJoin(hints, "; ") + ")"));
    // The full guidance rides along as a status detail.
    refused.SetPayload("type.googleapis.com/" + guidance->GetDescriptor()->full_name(),
                       absl::Cord(guidance->SerializeAsString()));
    return refused;
  }

  ReviewRow row;
  row.review_id = RandomId();
  row.event_id = req.event().substr(std::string("events/").size());
  row.round = event->flow().round();
  row.verdict = req.verdict();
  row.reviewer_id = rc.principal;
  row.subject_id = event->subject_id();
  row.department_id = event->department_id();
  row.comment = req.comment();
  row.behaviours.assign(req.chosen_behaviours().begin(), req.chosen_behaviours().end());
  row.cited_evidence.assign(req.cited_evidence().begin(), req.cited_evidence().end());
  row.specificity = guidance->specificity();
  row.effective = guidance->effective();
  row.created_at = clock_->Now();
  row.response = row.created_at - FromTimestamp(event->flow().times().owner_action_at());
  event::PendingStep step{rc.tenant,     ReviewStepId(row.review_id),
                          req.event(),   t::FLOW_STEP_MANAGER_FEEDBACK,
                          req.verdict(), rc.principal,
                          row.created_at};
  absl::Status inserted = store_->InsertReview(rc.tenant, row, step);
  if (absl::IsAlreadyExists(inserted)) {
    return absl::FailedPreconditionError(absl::StrCat("round ", row.round, " already has a verdict"));
  }
  if (!inserted.ok()) return inserted;
  if (absl::Status s = SettleReport(rc, step, [&] { return store_->DeleteReview(rc.tenant, row.review_id); });
      !s.ok()) {
    return s;
  }
  if (metrics_ != nullptr) {
    const char* verdict = req.verdict() == t::VERDICT_MEETS  ? "meets"
                          : req.verdict() == t::VERDICT_REDO ? "redo"
                                                             : "needs_improvement";
    metrics_->Review(verdict, row.effective, row.response);
  }
  return std::make_pair(std::optional<ReviewRow>(row), *std::move(guidance));
}

absl::StatusOr<std::vector<ReviewRow>> FeedbackCore::ListReviews(const RequestContext& rc, const std::string& event) {
  auto id = ParseResourceId(event, "events", "event");
  if (!id.ok()) return id.status();
  // The event's viewers (its owner, their manager, its confirmer, HR, admins,
  // systems) read its reviews; the event service decides who they are.
  if (rc.verified) {
    if (absl::Status s = events_->GetEvent(rc, event).status(); !s.ok()) return s;
  }
  return store_->ListReviews(rc.tenant, *id);
}

absl::StatusOr<ConfirmationRow> FeedbackCore::ConfirmImpact(const RequestContext& rc,
                                                            const v1::ConfirmImpactRequest& req) {
  if (auto id = ParseResourceId(req.event(), "events", "event"); !id.ok()) return id.status();
  std::vector<FieldViolation> v;
  std::set<int> scopes;
  for (int s : req.scopes()) {
    if (s == v1::IMPACT_SCOPE_UNSPECIFIED || !v1::ImpactScope_IsValid(s)) v.push_back({"scopes", "unknown scope"});
    scopes.insert(s);
  }
  if (scopes.empty()) v.push_back({"scopes", "required (SUPPLY_CHAIN, QUALITY, DELIVERY or NONE)"});
  if (scopes.count(v1::IMPACT_SCOPE_NONE) && scopes.size() > 1) v.push_back({"scopes", "NONE excludes the others"});
  if (req.note().size() > 4 * kMaxCommentChars) v.push_back({"note", "too long"});
  if (!v.empty()) return InvalidArgumentWithViolations("confirmation rejected", v);
  if (rc.principal.empty()) return absl::UnauthenticatedError("confirmations need a principal (x-perfflow-principal)");
  auto event = events_->GetEvent(rc, req.event());
  if (!event.ok()) return event.status();
  if (!event->flow().requires_cross_confirm()) {
    return absl::FailedPreconditionError("this event type asks for no cross-department confirmation");
  }
  std::string assignee;
  for (const auto& task : event->tasks()) {
    if (task.kind() == t::TASK_KIND_CROSS_CONFIRM) assignee = task.assignee_id();
  }
  if (assignee != rc.principal) {
    return absl::PermissionDeniedError("only the assigned confirmer (" + assignee + ") may confirm the impact");
  }
  ConfirmationRow row;
  row.event_id = req.event().substr(std::string("events/").size());
  row.scopes.assign(scopes.begin(), scopes.end());
  row.note = req.note();
  row.confirmer_id = rc.principal;
  row.confirmed_at = clock_->Now();
  event::PendingStep step{rc.tenant,
                          ConfirmStepId(row.event_id),
                          req.event(),
                          t::FLOW_STEP_CROSS_CONFIRM,
                          t::VERDICT_UNSPECIFIED,
                          rc.principal,
                          row.confirmed_at};
  absl::Status inserted = store_->InsertConfirmation(rc.tenant, row, step);
  if (absl::IsAlreadyExists(inserted)) return absl::FailedPreconditionError("the impact is already confirmed");
  if (!inserted.ok()) return inserted;
  if (absl::Status s = SettleReport(rc, step, [&] { return store_->DeleteConfirmation(rc.tenant, row.event_id); });
      !s.ok()) {
    return s;
  }
  return row;
}

absl::Status FeedbackCore::SettleReport(const RequestContext& rc, const event::PendingStep& step,
                                        const std::function<absl::Status()>& undo) {
  event::StepReports::Result r = reports_->Report(rc, step);
  if (r.outcome == event::StepReports::Outcome::kReported) ArchiveIfLast(rc, step);
  if (r.outcome != event::StepReports::Outcome::kRefused) {
    // Reported, or kept to be retried: the record stands either way, and the
    // flow catches up when the event service has the step.
    return absl::OkStatus();
  }
  // The event service said no: the step did not happen, nor does the record.
  if (absl::Status undone = undo(); !undone.ok()) {
    LogError("undoing a refused step failed; the retry pass will",
             {{"step_id", step.step_id}, {"error", std::string(undone.message())}});
  }
  return r.status;
}

void FeedbackCore::ArchiveIfLast(const RequestContext& rc, const event::PendingStep& step) {
  // A REDO reopens the owner's step: nothing to archive.
  if (archiver_ == nullptr || step.verdict == t::VERDICT_REDO) return;
  archiver_(rc, step.event);
}

absl::StatusOr<int> FeedbackCore::ReconcileSteps() {
  return reports_->Reconcile(
      [this](const event::PendingStep& step) {
        const std::string id = step.step_id.substr(step.step_id.find(':') + 1);
        return step.step_id == ReviewStepId(id) ? store_->DeleteReview(step.tenant, id)
                                                : store_->DeleteConfirmation(step.tenant, id);
      },
      [this](const RequestContext& actor, const event::PendingStep& step) { ArchiveIfLast(actor, step); });
}

absl::StatusOr<v1::GetFeedbackStatsResponse> FeedbackCore::Stats(const RequestContext& rc,
                                                                 const v1::GetFeedbackStatsRequest& req) {
  if (absl::Status s = RequireValidTimestamps(req); !s.ok()) return s;
  ReviewFilter f;
  // Default: up to and including now.
  f.to = req.has_end_time() ? FromTimestamp(req.end_time()) : clock_->Now() + absl::Milliseconds(1);
  f.from = req.has_start_time() ? FromTimestamp(req.start_time()) : f.to - absl::Hours(24 * 90);
  if (f.from >= f.to) return InvalidArgumentWithViolations("bad range", {{"start_time", "must be before end_time"}});
  f.department_id = req.department_id();
  f.reviewer_id = req.reviewer_id();
  auto rows = store_->ReviewsIn(rc.tenant, f);
  if (!rows.ok()) return rows.status();
  std::vector<const ReviewRow*> all;
  std::map<std::string, std::vector<const ReviewRow*>> by_reviewer, by_department, by_month;
  for (const ReviewRow& r : *rows) {
    all.push_back(&r);
    by_reviewer[r.reviewer_id].push_back(&r);
    by_department[r.department_id].push_back(&r);
    by_month[absl::FormatTime("%Y-%m", r.created_at, absl::UTCTimeZone())].push_back(&r);
  }
  v1::GetFeedbackStatsResponse resp;
  Fill("", all, resp.mutable_overall());
  for (const auto& [k, v] : by_reviewer) Fill(k, v, resp.add_by_reviewer());
  for (const auto& [k, v] : by_department) Fill(k, v, resp.add_by_department());
  for (const auto& [k, v] : by_month) Fill(k, v, resp.add_by_month());
  return resp;
}

// ------------------------------------------------------------------ person data

absl::StatusOr<std::vector<db::PersonFile>> FeedbackCore::ExportPerson(const RequestContext& rc,
                                                                       const type::v1::ExportPersonDataRequest& req) {
  return ExportPersonWith(rc, req, [&](const std::string& person) { return store_->ExportPerson(rc.tenant, person); });
}

absl::StatusOr<type::v1::ErasePersonResponse> FeedbackCore::ErasePerson(const RequestContext& rc,
                                                                        const type::v1::ErasePersonRequest& req) {
  return ErasePersonWith("feedback", rc, req, clock_->Now(),
                         [&](const db::Erasure& erasure) { return store_->ErasePerson(rc.tenant, erasure); });
}

}  // namespace perfflow::feedback
