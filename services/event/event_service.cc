#include "services/event/event_service.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/timestamps.h"
#include "google/protobuf/util/json_util.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

// Sets the field only when there is a time, so absent steps stay absent.
template <typename Setter>
void SetOptTime(const std::optional<absl::Time>& t, Setter mutable_field) {
  if (t) ToTimestamp(*t, mutable_field());
}

void ToProto(const FlowState& s, v1::Flow* out) {
  out->set_step(CurrentStep(s));
  out->set_requires_cross_confirm(s.requires_cross_confirm);
  out->set_round(s.round);
  out->set_verdict(s.verdict);
  auto* times = out->mutable_times();
  ToTimestamp(s.triggered_at, times->mutable_triggered_at());
  SetOptTime(s.owner_action_at, [&] { return times->mutable_owner_action_at(); });
  SetOptTime(s.manager_feedback_at, [&] { return times->mutable_manager_feedback_at(); });
  SetOptTime(s.cross_confirm_at, [&] { return times->mutable_cross_confirm_at(); });
  SetOptTime(s.archived_at, [&] { return times->mutable_archived_at(); });
  SetOptTime(s.evidence_complete_at, [&] { return times->mutable_evidence_complete_at(); });
}

// Page tokens are opaque to callers and bound to the list they came from.
absl::StatusOr<std::string> DecodeToken(const std::string& token) {
  if (token.empty()) return std::string();
  std::string raw;
  if (!DecodePageToken(token, &raw)) {
    return InvalidArgumentWithViolations("bad page token", {{"page_token", "not a token from this list"}});
  }
  return raw;
}

std::string EncodeToken(const std::string& cursor) { return cursor.empty() ? "" : EncodePageToken(cursor); }

absl::Status CheckPageSize(int page_size) {
  if (page_size < 0) return InvalidArgumentWithViolations("bad page size", {{"page_size", "must not be negative"}});
  return absl::OkStatus();
}

void FillHealth(const std::string& key, const HealthCounts& c, v1::HealthFigure* out) {
  out->set_key(key);
  out->set_within_sla(c.within);
  out->set_outside_sla(c.outside);
  out->set_pending(c.pending);
  out->set_ratio(c.ratio());
  out->set_decided(c.decided());
}

}  // namespace

void ToProto(const TaskRecord& task, const RegistryView* registry, absl::Time now, v1::Task* out) {
  out->set_name("tasks/" + task.task_id);
  out->set_event("events/" + task.event_id);
  out->set_event_type(task.event_type);
  out->set_kind(task.kind);
  out->set_assignee_id(task.assignee_id);
  out->set_state(task.state);
  ToTimestamp(task.due_at, out->mutable_due_at());
  ToTimestamp(task.created_at, out->mutable_created_at());
  SetOptTime(task.completed_at, [&] { return out->mutable_completed_at(); });
  out->set_overdue(task.state == t::TASK_STATE_OPEN && now > task.due_at);
  if (registry != nullptr) {
    for (const std::string& g : registry->GoalsFor(task.event_type)) out->add_goals(g);
  }
}

void ToProto(const EventRecord& e, const RegistryView* registry, absl::Time now, v1::Event* out) {
  out->set_name("events/" + e.event_id);
  out->set_event_type(e.event_type);
  out->set_source(e.source);
  out->set_external_id(e.external_id);
  out->set_subject_id(e.subject_id);
  out->set_department_id(e.department_id);
  ToTimestamp(e.occurred_at, out->mutable_occurred_at());
  (void)google::protobuf::util::JsonStringToMessage(e.attributes_json, out->mutable_attributes());
  out->set_registry_version(e.registry_version);
  out->set_imported(e.imported);
  ToProto(e.flow, out->mutable_flow());
  for (const TaskRecord& task : e.tasks) ToProto(task, registry, now, out->add_tasks());
}

namespace {

bool SeesTenant(const RequestContext& rc) {
  return !rc.verified || HasRole(rc, "hr") || HasRole(rc, "admin") || HasRole(rc, "system");
}

}  // namespace

absl::Status EventServiceImpl::CheckCanSee(const RequestContext& rc, const std::string& employee_id) {
  if (SeesTenant(rc) || employee_id == rc.principal) return absl::OkStatus();
  if (HasRole(rc, "manager")) {
    auto employee = core_->store().GetEmployee(rc.tenant, employee_id);
    if (!employee.ok()) return employee.status();
    if (*employee && (*employee)->manager_id() == rc.principal) return absl::OkStatus();
  }
  return absl::PermissionDeniedError("you may see your own items and your direct reports' only");
}

absl::Status EventServiceImpl::CheckCanSeeEvent(const RequestContext& rc, const EventRecord& event) {
  for (const TaskRecord& task : event.tasks) {
    if (rc.verified && !rc.principal.empty() && task.assignee_id == rc.principal) return absl::OkStatus();
  }
  return CheckCanSee(rc, event.subject_id);
}

namespace {

// Who may record a step, for verified callers. People act through the
// services that own each step's record and rules (UploadEvidence,
// SubmitReview, ConfirmImpact, SealEvidence); those services report the step
// as the acting person, who is then the actor. Business systems (role
// system) may report steps for anyone. Everyone else is refused: a person
// naming any actor_id could otherwise close a colleague's chain.
absl::Status AuthorizeStep(const RequestContext& rc, v1::RecordFlowStepRequest* step) {
  if (!rc.verified) return absl::OkStatus();
  if (!rc.peer.empty()) {
    if (rc.principal.empty()) return absl::OkStatus();
    if (!step->actor_id().empty() && step->actor_id() != rc.principal) {
      return InvalidArgumentWithViolations("step rejected", {{"actor_id", "must be the acting principal"}});
    }
    step->set_actor_id(rc.principal);
    return absl::OkStatus();
  }
  if (!HasRole(rc, "system")) {
    return absl::PermissionDeniedError(
        "steps are recorded by the services that own them: UploadEvidence (owner), SubmitReview (manager), "
        "ConfirmImpact (confirmer), SealEvidence (archive); RecordFlowStep itself needs the role system");
  }
  if (step->actor_id().empty()) step->set_actor_id(rc.principal);
  return absl::OkStatus();
}

// A peer service's call (the evidence service's report, the calibration
// service's notice); from outside, only with the role system.
absl::Status AuthorizePeerCall(const RequestContext& rc, const char* method) {
  if (!rc.verified || !rc.peer.empty()) return absl::OkStatus();
  return RequireRole(rc, {"system"}, method);
}

}  // namespace

grpc::Status EventServiceImpl::ApplyEventTypes(grpc::ServerContext* ctx, const v1::ApplyEventTypesRequest* req,
                                               v1::ApplyEventTypesResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (rc.verified) {
    if (absl::Status s = RequireRole(rc, {"admin"}, "applying event types"); !s.ok()) return ToGrpcStatus(s);
  }
  auto result = core_->ApplyEventTypes(rc.tenant, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  resp->set_version(result->version);
  for (const auto& et : result->applied.event_types()) resp->add_applied_event_types(et.key());
  for (const auto& lib : result->applied.libraries()) resp->add_applied_libraries(lib.key());
  for (const auto& g : result->applied.goals()) resp->add_applied_goals(g.key());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetRegistry(grpc::ServerContext* ctx, const v1::GetRegistryRequest* req,
                                           v1::GetRegistryResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (req->version() < 0) {
    return ToGrpcStatus(InvalidArgumentWithViolations("bad version", {{"version", "must not be negative"}}));
  }
  auto view = core_->Registry(rc.tenant, req->version());
  if (!view.ok()) return ToGrpcStatus(view.status());
  *resp->mutable_registry() = (*view)->registry();
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::UpsertDirectory(grpc::ServerContext* ctx, const v1::UpsertDirectoryRequest* req,
                                               v1::UpsertDirectoryResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (rc.verified) {
    if (absl::Status s = RequireRole(rc, {"admin", "hr", "system"}, "changing the directory"); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  absl::Status s = core_->UpsertDirectory(rc.tenant, *req);
  if (!s.ok()) return ToGrpcStatus(s);
  resp->set_departments_upserted(req->departments_size());
  resp->set_employees_upserted(req->employees_size());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListEmployees(grpc::ServerContext* ctx, const v1::ListEmployeesRequest* req,
                                             v1::ListEmployeesResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = CheckPageSize(req->page_size()); !s.ok()) return ToGrpcStatus(s);
  auto cursor = DecodeToken(req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  auto page =
      core_->store().ListEmployees(rc.tenant, {req->department_id(), req->manager_id()}, req->page_size(), *cursor);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& e : page->items) *resp->add_employees() = std::move(e);
  resp->set_next_page_token(EncodeToken(page->next_cursor));
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetEmployee(grpc::ServerContext* ctx, const v1::GetEmployeeRequest* req,
                                           v1::GetEmployeeResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (req->id().empty()) return ToGrpcStatus(InvalidArgumentWithViolations("missing id", {{"id", "required"}}));
  auto employee = core_->store().GetEmployee(rc.tenant, req->id());
  if (!employee.ok()) return ToGrpcStatus(employee.status());
  if (!*employee) return ToGrpcStatus(absl::NotFoundError("employee " + req->id() + " not found"));
  *resp->mutable_employee() = **employee;
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListDepartments(grpc::ServerContext* ctx, const v1::ListDepartmentsRequest*,
                                               v1::ListDepartmentsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto depts = core_->store().ListDepartments(rc.tenant);
  if (!depts.ok()) return ToGrpcStatus(depts.status());
  for (auto& d : *depts) *resp->add_departments() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::IngestEvent(grpc::ServerContext* ctx, const v1::IngestEventRequest* req,
                                           v1::IngestEventResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->Ingest(rc.tenant, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  auto registry = core_->Registry(rc.tenant);
  ToProto(result->event, registry.ok() ? registry->get() : nullptr, core_->clock().Now(), resp->mutable_event());
  resp->set_duplicate(result->duplicate);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::BatchIngestEvents(grpc::ServerContext* ctx, const v1::BatchIngestEventsRequest* req,
                                                 v1::BatchIngestEventsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (req->requests().empty() || req->requests_size() > kMaxBatchIngest) {
    return ToGrpcStatus(InvalidArgumentWithViolations(
        "bad batch", {{"requests", absl::StrCat("give 1 to ", kMaxBatchIngest, " events")}}));
  }
  auto registry = core_->Registry(rc.tenant);
  const absl::Time now = core_->clock().Now();
  std::vector<const v1::IngestEventRequest*> items;
  for (const auto& item : req->requests()) items.push_back(&item);
  for (auto& result : core_->IngestBatch(rc.tenant, items)) {
    auto* out = resp->add_results();
    *out->mutable_status() = ToRpcStatus(result.status());
    if (!result.ok()) continue;
    ToProto(result->event, registry.ok() ? registry->get() : nullptr, now, out->mutable_event());
    out->set_duplicate(result->duplicate);
  }
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ImportHistory(grpc::ServerContext* ctx, const v1::ImportHistoryRequest* req,
                                             v1::ImportHistoryResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireRole(rc, {"admin", "system"}, "importing history"); !s.ok()) return ToGrpcStatus(s);
  if (req->events().empty() || req->events_size() > kMaxBatchIngest) {
    return ToGrpcStatus(InvalidArgumentWithViolations(
        "bad batch", {{"events", absl::StrCat("give 1 to ", kMaxBatchIngest, " chains")}}));
  }
  auto registry = core_->Registry(rc.tenant);
  const absl::Time now = core_->clock().Now();
  for (auto& result : core_->ImportHistory(rc.tenant, *req)) {
    auto* out = resp->add_results();
    *out->mutable_status() = ToRpcStatus(result.status());
    if (!result.ok()) continue;
    ToProto(result->event, registry.ok() ? registry->get() : nullptr, now, out->mutable_event());
    out->set_duplicate(result->duplicate);
  }
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetEvent(grpc::ServerContext* ctx, const v1::GetEventRequest* req,
                                        v1::GetEventResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto id = ParseResourceId(req->name(), "events", "name");
  if (!id.ok()) return ToGrpcStatus(id.status());
  auto event = core_->store().GetEvent(rc.tenant, *id);
  if (!event.ok()) return ToGrpcStatus(event.status());
  if (!*event) return ToGrpcStatus(absl::NotFoundError(req->name() + " not found"));
  if (absl::Status s = CheckCanSeeEvent(rc, **event); !s.ok()) return ToGrpcStatus(s);
  auto registry = core_->Registry(rc.tenant);
  ToProto(**event, registry.ok() ? registry->get() : nullptr, core_->clock().Now(), resp->mutable_event());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListEvents(grpc::ServerContext* ctx, const v1::ListEventsRequest* req,
                                          v1::ListEventsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireValidTimestamps(*req); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = CheckPageSize(req->page_size()); !s.ok()) return ToGrpcStatus(s);
  auto cursor = DecodeToken(req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  EventFilter filter;
  filter.subject_id = req->subject_id();
  // Without a tenant-wide role, a listing is of one person's events: the
  // caller's own unless they name one of their reports.
  if (!SeesTenant(rc) && filter.subject_id.empty()) filter.subject_id = rc.principal;
  if (absl::Status s = CheckCanSee(rc, filter.subject_id); !s.ok()) return ToGrpcStatus(s);
  filter.department_id = req->department_id();
  filter.event_type = req->event_type();
  if (req->step() != t::FLOW_STEP_UNSPECIFIED) filter.step = req->step();
  if (req->has_start_time()) filter.from = FromTimestamp(req->start_time());
  if (req->has_end_time()) filter.to = FromTimestamp(req->end_time());
  auto page = core_->store().ListEvents(rc.tenant, filter, req->page_size(), *cursor);
  if (!page.ok()) return ToGrpcStatus(page.status());
  auto registry = core_->Registry(rc.tenant);
  const absl::Time now = core_->clock().Now();
  for (const auto& e : page->items) ToProto(e, registry.ok() ? registry->get() : nullptr, now, resp->add_events());
  resp->set_next_page_token(EncodeToken(page->next_cursor));
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListTasks(grpc::ServerContext* ctx, const v1::ListTasksRequest* req,
                                         v1::ListTasksResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (req->assignee_id().empty()) {
    return ToGrpcStatus(InvalidArgumentWithViolations("missing assignee", {{"assignee_id", "required"}}));
  }
  if (absl::Status s = CheckCanSee(rc, req->assignee_id()); !s.ok()) return ToGrpcStatus(s);
  if (absl::Status s = CheckPageSize(req->page_size()); !s.ok()) return ToGrpcStatus(s);
  auto cursor = DecodeToken(req->page_token());
  if (!cursor.ok()) return ToGrpcStatus(cursor.status());
  auto page = core_->store().ListTasks(rc.tenant, req->assignee_id(), req->state(), req->page_size(), *cursor);
  if (!page.ok()) return ToGrpcStatus(page.status());
  auto registry = core_->Registry(rc.tenant);
  const absl::Time now = core_->clock().Now();
  for (const auto& task : page->items) ToProto(task, registry.ok() ? registry->get() : nullptr, now, resp->add_tasks());
  resp->set_next_page_token(EncodeToken(page->next_cursor));
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetTask(grpc::ServerContext* ctx, const v1::GetTaskRequest* req,
                                       v1::GetTaskResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto id = ParseResourceId(req->name(), "tasks", "name");
  if (!id.ok()) return ToGrpcStatus(id.status());
  auto task = core_->store().GetTask(rc.tenant, *id);
  if (!task.ok()) return ToGrpcStatus(task.status());
  // Someone who may not see the assignee learns nothing, not even that the task exists.
  if (!*task || !CheckCanSee(rc, (*task)->assignee_id).ok()) {
    return ToGrpcStatus(absl::NotFoundError(req->name() + " not found"));
  }
  auto registry = core_->Registry(rc.tenant);
  ToProto(**task, registry.ok() ? registry->get() : nullptr, core_->clock().Now(), resp->mutable_task());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::RecordFlowStep(grpc::ServerContext* ctx, const v1::RecordFlowStepRequest* req,
                                              v1::RecordFlowStepResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  v1::RecordFlowStepRequest step = *req;
  if (absl::Status s = AuthorizeStep(rc, &step); !s.ok()) return ToGrpcStatus(s);
  auto result = core_->RecordStep(rc.tenant, step);
  if (!result.ok()) return ToGrpcStatus(result.status());
  auto registry = core_->Registry(rc.tenant);
  ToProto(result->event, registry.ok() ? registry->get() : nullptr, core_->clock().Now(), resp->mutable_event());
  resp->set_duplicate(result->duplicate);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::MarkEvidenceComplete(grpc::ServerContext* ctx,
                                                    const v1::MarkEvidenceCompleteRequest* req,
                                                    v1::MarkEvidenceCompleteResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = AuthorizePeerCall(rc, "MarkEvidenceComplete"); !s.ok()) return ToGrpcStatus(s);
  auto id = ParseResourceId(req->event(), "events", "event");
  if (!id.ok()) return ToGrpcStatus(id.status());
  auto result = core_->store().MarkEvidenceComplete(rc.tenant, *id, core_->clock().Now());
  if (!result.ok()) return ToGrpcStatus(result.status());
  auto registry = core_->Registry(rc.tenant);
  ToProto(result->first, registry.ok() ? registry->get() : nullptr, core_->clock().Now(), resp->mutable_event());
  resp->set_first_time(result->second);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::SendNotice(grpc::ServerContext* ctx, const v1::SendNoticeRequest* req,
                                          v1::SendNoticeResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = AuthorizePeerCall(rc, "SendNotice"); !s.ok()) return ToGrpcStatus(s);
  auto created = core_->SendNotice(rc.tenant, *req);
  if (!created.ok()) return ToGrpcStatus(created.status());
  resp->set_created(*created);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::SimulateSettings(grpc::ServerContext* ctx, const v1::SimulateSettingsRequest* req,
                                                v1::SimulateSettingsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireRole(rc, {"hr", "admin"}, "SimulateSettings"); !s.ok()) return ToGrpcStatus(s);
  auto result = core_->SimulateSettings(rc.tenant, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *resp = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetFlowHealth(grpc::ServerContext* ctx, const v1::GetFlowHealthRequest* req,
                                             v1::GetFlowHealthResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = RequireValidTimestamps(*req); !s.ok()) return ToGrpcStatus(s);
  HealthQuery query;
  if (req->has_start_time()) query.from = FromTimestamp(req->start_time());
  if (req->has_end_time()) query.to = FromTimestamp(req->end_time());
  switch (req->period()) {
    case v1::PERIOD_DAY:
      query.period = HealthPeriod::kDay;
      break;
    case v1::PERIOD_WEEK:
      query.period = HealthPeriod::kWeek;
      break;
    case v1::PERIOD_MONTH:
      query.period = HealthPeriod::kMonth;
      break;
    default:
      query.period = HealthPeriod::kNone;
      break;
  }
  query.department_id = req->department_id();
  query.event_type = req->event_type();
  auto report = core_->FlowHealth(rc.tenant, query);
  if (!report.ok()) return ToGrpcStatus(report.status());
  FillHealth("", report->overall, resp->mutable_overall());
  for (const auto& [k, c] : report->by_department) FillHealth(k, c, resp->add_by_department());
  for (const auto& [k, c] : report->by_event_type) FillHealth(k, c, resp->add_by_event_type());
  for (const auto& [k, c] : report->by_period) FillHealth(k, c, resp->add_by_period());
  ToTimestamp(core_->clock().Now(), resp->mutable_evaluated_at());
  return grpc::Status::OK;
}

namespace {

// Calls `emit` with the fact of every chain the request selects; stops when
// emit returns false (a failed stream write: the caller went away). Not
// ctx->IsCancelled() per fact: on the sync API that polls the completion
// queue, a futex round trip for every row.
absl::Status ForEachFact(EventCore& core, const std::string& tenant, const v1::StreamFlowFactsRequest& req,
                         const std::function<bool(const v1::FlowFact&)>& emit) {
  if (absl::Status s = RequireValidTimestamps(req); !s.ok()) return s;
  EventFilter filter;
  if (req.has_start_time()) filter.from = FromTimestamp(req.start_time());
  if (req.has_end_time()) filter.to = FromTimestamp(req.end_time());
  filter.department_id = req.department_id();
  filter.event_type = req.event_type();
  const absl::Time now = core.clock().Now();
  v1::FlowFact fact;
  return core.store().ForEachFlow(tenant, filter, [&](const EventRecord& e) {
    fact.Clear();
    fact.set_event("events/" + e.event_id);
    fact.set_event_type(e.event_type);
    fact.set_subject_id(e.subject_id);
    fact.set_department_id(e.department_id);
    ToProto(e.flow, fact.mutable_flow());
    ChainOutcome outcome = ClassifyChain(e.flow.triggered_at, e.flow.archived_at, now);
    fact.set_within_sla(outcome == ChainOutcome::kWithin);
    fact.set_decided(outcome != ChainOutcome::kPending);
    fact.set_registry_version(e.registry_version);
    return emit(fact);
  });
}

}  // namespace

grpc::Status EventServiceImpl::StreamFlowFacts(grpc::ServerContext* ctx, const v1::StreamFlowFactsRequest* req,
                                               grpc::ServerWriter<v1::FlowFact>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  absl::Status s = ForEachFact(*core_, rc.tenant, *req, [&](const v1::FlowFact& f) { return writer->Write(f); });
  if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  return ToGrpcStatus(s);
}

grpc::Status EventServiceImpl::StreamFlowFactBatches(grpc::ServerContext* ctx, const v1::StreamFlowFactsRequest* req,
                                                     grpc::ServerWriter<v1::FlowFactBatch>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  constexpr int kBatch = 500;
  v1::FlowFactBatch batch;
  bool open = true;
  absl::Status s = ForEachFact(*core_, rc.tenant, *req, [&](const v1::FlowFact& f) {
    *batch.add_facts() = f;
    if (batch.facts_size() < kBatch) return true;
    open = writer->Write(batch);
    batch.clear_facts();
    return open;
  });
  if (s.ok() && open && batch.facts_size() > 0) writer->Write(batch);
  if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  return ToGrpcStatus(s);
}

grpc::Status EventServiceImpl::ExportPersonData(grpc::ServerContext* ctx, const type::v1::ExportPersonDataRequest* req,
                                                grpc::ServerWriter<type::v1::PersonDataPart>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendExport(core_->ExportPerson(rc, *req), writer);
}

grpc::Status EventServiceImpl::ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                                           type::v1::ErasePersonResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendErased(core_->ErasePerson(rc, *req), resp);
}

}  // namespace perfflow::event
