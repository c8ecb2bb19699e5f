#include "services/calibration/calibration_service.h"

#include "common/status.h"

namespace perfflow::calibration {

template <typename Out, typename Call>
grpc::Status CalibrationServiceImpl::Serve(grpc::ServerContext* ctx, Out* out, Call call) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  absl::StatusOr<Out> result = call(rc);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status CalibrationServiceImpl::CreateSession(grpc::ServerContext* ctx, const v1::CreateSessionRequest* req,
                                                   v1::Session* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->CreateSession(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GetSession(grpc::ServerContext* ctx, const v1::GetSessionRequest* req,
                                                v1::Session* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GetSession(rc, req->name()); });
}

grpc::Status CalibrationServiceImpl::ListSessions(grpc::ServerContext* ctx, const v1::ListSessionsRequest* req,
                                                  v1::ListSessionsResponse* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->ListSessions(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GenerateBrief(grpc::ServerContext* ctx, const v1::GenerateBriefRequest* req,
                                                   v1::Brief* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GenerateBrief(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GetBrief(grpc::ServerContext* ctx, const v1::GetBriefRequest* req,
                                              v1::Brief* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GetBrief(rc, *req); });
}

grpc::Status CalibrationServiceImpl::RenderBrief(grpc::ServerContext* ctx, const v1::RenderBriefRequest* req,
                                                 v1::RenderBriefResponse* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->RenderBrief(rc, *req); });
}

grpc::Status CalibrationServiceImpl::RecordOutcome(grpc::ServerContext* ctx, const v1::RecordOutcomeRequest* req,
                                                   v1::Outcome* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->RecordOutcome(rc, *req); });
}

grpc::Status CalibrationServiceImpl::VerifyCalibrationLog(grpc::ServerContext* ctx,
                                                          const v1::VerifyCalibrationLogRequest* req,
                                                          v1::VerifyCalibrationLogResponse* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->VerifyCalibrationLog(rc, *req); });
}

grpc::Status CalibrationServiceImpl::ListOutcomes(grpc::ServerContext* ctx, const v1::ListOutcomesRequest* req,
                                                  v1::ListOutcomesResponse* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->ListOutcomes(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GetHeatmap(grpc::ServerContext* ctx, const v1::GetHeatmapRequest* req,
                                                v1::Heatmap* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GetHeatmap(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GetInsights(grpc::ServerContext* ctx, const v1::GetInsightsRequest* req,
                                                 v1::GetInsightsResponse* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GetInsights(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GetFlowBrief(grpc::ServerContext* ctx, const v1::GetFlowBriefRequest* req,
                                                  v1::FlowBrief* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GetFlowBrief(rc, *req); });
}

grpc::Status CalibrationServiceImpl::RecordKpiObservations(grpc::ServerContext* ctx,
                                                           const v1::RecordKpiObservationsRequest* req,
                                                           v1::RecordKpiObservationsResponse* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->RecordKpiObservations(rc, *req); });
}

grpc::Status CalibrationServiceImpl::GetGoalStatus(grpc::ServerContext* ctx, const v1::GetGoalStatusRequest* req,
                                                   v1::GoalStatus* resp) {
  return Serve(ctx, resp, [&](const RequestContext& rc) { return core_->GetGoalStatus(rc, *req); });
}

grpc::Status CalibrationServiceImpl::ExportPersonData(grpc::ServerContext* ctx,
                                                      const type::v1::ExportPersonDataRequest* req,
                                                      grpc::ServerWriter<type::v1::PersonDataPart>* writer) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendExport(core_->ExportPerson(rc, *req), writer);
}

grpc::Status CalibrationServiceImpl::ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                                                 type::v1::ErasePersonResponse* resp) {
  PERFFLOW_CONTEXT_OR_RETURN(rc, ctx, identity_);
  return SendErased(core_->ErasePerson(rc, *req), resp);
}

}  // namespace perfflow::calibration
