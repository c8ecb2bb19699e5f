#include "services/event/event_service.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/struct_json.h"
#include "common/timestamps.h"

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
  (void)JsonToStruct(e.attributes_json, out->mutable_attributes());
  out->set_registry_version(e.registry_version);
  out->set_imported(e.imported);
  ToProto(e.flow, out->mutable_flow());
  for (const TaskRecord& task : e.tasks) ToProto(task, registry, now, out->add_tasks());
}

namespace {

// The registry events and tasks are shown with (their goals), if any.
const RegistryView* RegistryOr(const absl::StatusOr<std::shared_ptr<const RegistryView>>& registry) {
  return registry.ok() ? registry->get() : nullptr;
}

}  // namespace

grpc::Status EventServiceImpl::ApplyEventTypes(grpc::ServerContext* ctx, const v1::ApplyEventTypesRequest* req,
                                               v1::ApplyEventTypesResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->ApplyEventTypes(rc, *req);
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
  auto view = core_->GetRegistry(rc, req->version());
  if (!view.ok()) return ToGrpcStatus(view.status());
  *resp->mutable_registry() = (*view)->registry();
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::UpsertDirectory(grpc::ServerContext* ctx, const v1::UpsertDirectoryRequest* req,
                                               v1::UpsertDirectoryResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  if (absl::Status s = core_->UpsertDirectory(rc, *req); !s.ok()) return ToGrpcStatus(s);
  resp->set_departments_upserted(req->departments_size());
  resp->set_employees_upserted(req->employees_size());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListEmployees(grpc::ServerContext* ctx, const v1::ListEmployeesRequest* req,
                                             v1::ListEmployeesResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto page = core_->ListEmployees(rc, *req);
  if (!page.ok()) return ToGrpcStatus(page.status());
  for (auto& e : page->items) *resp->add_employees() = std::move(e);
  resp->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetEmployee(grpc::ServerContext* ctx, const v1::GetEmployeeRequest* req,
                                           v1::GetEmployeeResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto employee = core_->GetEmployee(rc, req->id());
  if (!employee.ok()) return ToGrpcStatus(employee.status());
  *resp->mutable_employee() = *std::move(employee);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListDepartments(grpc::ServerContext* ctx, const v1::ListDepartmentsRequest*,
                                               v1::ListDepartmentsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto depts = core_->ListDepartments(rc);
  if (!depts.ok()) return ToGrpcStatus(depts.status());
  for (auto& d : *depts) *resp->add_departments() = std::move(d);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::IngestEvent(grpc::ServerContext* ctx, const v1::IngestEventRequest* req,
                                           v1::IngestEventResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->Ingest(rc, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToProto(result->event, RegistryOr(core_->Registry(rc.tenant)), core_->clock().Now(), resp->mutable_event());
  resp->set_duplicate(result->duplicate);
  return grpc::Status::OK;
}

// One result per item of a batch: its status, and the event when stored.
template <typename Results, typename Response>
void EventServiceImpl::ToBatchResults(const std::string& tenant, const Results& results, Response* resp) {
  auto registry = core_->Registry(tenant);
  const absl::Time now = core_->clock().Now();
  for (const auto& result : results) {
    auto* out = resp->add_results();
    *out->mutable_status() = ToRpcStatus(result.status());
    if (!result.ok()) continue;
    ToProto(result->event, RegistryOr(registry), now, out->mutable_event());
    out->set_duplicate(result->duplicate);
  }
}

grpc::Status EventServiceImpl::BatchIngestEvents(grpc::ServerContext* ctx, const v1::BatchIngestEventsRequest* req,
                                                 v1::BatchIngestEventsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto results = core_->BatchIngest(rc, *req);
  if (!results.ok()) return ToGrpcStatus(results.status());
  ToBatchResults(rc.tenant, *results, resp);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ImportHistory(grpc::ServerContext* ctx, const v1::ImportHistoryRequest* req,
                                             v1::ImportHistoryResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto results = core_->ImportHistory(rc, *req);
  if (!results.ok()) return ToGrpcStatus(results.status());
  ToBatchResults(rc.tenant, *results, resp);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetEvent(grpc::ServerContext* ctx, const v1::GetEventRequest* req,
                                        v1::GetEventResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto event = core_->GetEvent(rc, req->name());
  if (!event.ok()) return ToGrpcStatus(event.status());
  ToProto(*event, RegistryOr(core_->Registry(rc.tenant)), core_->clock().Now(), resp->mutable_event());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListEvents(grpc::ServerContext* ctx, const v1::ListEventsRequest* req,
                                          v1::ListEventsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto page = core_->ListEvents(rc, *req);
  if (!page.ok()) return ToGrpcStatus(page.status());
  auto registry = core_->Registry(rc.tenant);
  const absl::Time now = core_->clock().Now();
  for (const auto& e : page->items) ToProto(e, RegistryOr(registry), now, resp->add_events());
  resp->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::ListTasks(grpc::ServerContext* ctx, const v1::ListTasksRequest* req,
                                         v1::ListTasksResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto page = core_->ListTasks(rc, *req);
  if (!page.ok()) return ToGrpcStatus(page.status());
  auto registry = core_->Registry(rc.tenant);
  const absl::Time now = core_->clock().Now();
  for (const auto& task : page->items) ToProto(task, RegistryOr(registry), now, resp->add_tasks());
  resp->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetTask(grpc::ServerContext* ctx, const v1::GetTaskRequest* req,
                                       v1::GetTaskResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto task = core_->GetTask(rc, req->name());
  if (!task.ok()) return ToGrpcStatus(task.status());
  ToProto(*task, RegistryOr(core_->Registry(rc.tenant)), core_->clock().Now(), resp->mutable_task());
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::RecordFlowStep(grpc::ServerContext* ctx, const v1::RecordFlowStepRequest* req,
                                              v1::RecordFlowStepResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->RecordStep(rc, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToProto(result->event, RegistryOr(core_->Registry(rc.tenant)), core_->clock().Now(), resp->mutable_event());
  resp->set_duplicate(result->duplicate);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::MarkEvidenceComplete(grpc::ServerContext* ctx,
                                                    const v1::MarkEvidenceCompleteRequest* req,
                                                    v1::MarkEvidenceCompleteResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->MarkEvidenceComplete(rc, req->event());
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToProto(result->first, RegistryOr(core_->Registry(rc.tenant)), core_->clock().Now(), resp->mutable_event());
  resp->set_first_time(result->second);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::SendNotice(grpc::ServerContext* ctx, const v1::SendNoticeRequest* req,
                                          v1::SendNoticeResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto created = core_->SendNotice(rc, *req);
  if (!created.ok()) return ToGrpcStatus(created.status());
  resp->set_created(*created);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::SimulateSettings(grpc::ServerContext* ctx, const v1::SimulateSettingsRequest* req,
                                                v1::SimulateSettingsResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto result = core_->SimulateSettings(rc, *req);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *resp = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status EventServiceImpl::GetFlowHealth(grpc::ServerContext* ctx, const v1::GetFlowHealthRequest* req,
                                             v1::GetFlowHealthResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  auto report = core_->FlowHealth(rc, *req);
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
absl::Status ForEachFact(EventCore& core, const RequestContext& rc, const v1::StreamFlowFactsRequest& req,
                         const std::function<bool(const v1::FlowFact&)>& emit) {
  const absl::Time now = core.clock().Now();
  v1::FlowFact fact;
  return core.ForEachFlow(rc, req, [&](const EventRecord& e) {
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
  absl::Status s = ForEachFact(*core_, rc, *req, [&](const v1::FlowFact& f) { return writer->Write(f); });
  if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by the caller");
  return ToGrpcStatus(s);
}

grpc::Status EventServiceImpl::StreamFlowFactBatches(grpc::ServerContext* ctx, const v1::StreamFlowFactsRequest* req,
                                                     grpc::ServerWriter<v1::FlowFactBatch>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  constexpr int kBatch = 500;
  v1::FlowFactBatch batch;
  bool open = true;
  absl::Status s = ForEachFact(*core_, rc, *req, [&](const v1::FlowFact& f) {
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
