#pragma once

// gRPC surface of perfflow.calibration.v1.CalibrationService: identity from
// metadata, everything else in CalibrationCore.

#include <memory>

#include "common/request_context.h"
#include "perfflow/calibration/v1/calibration_service.grpc.pb.h"
#include "services/calibration/calibration_core.h"

namespace perfflow::calibration {

class CalibrationServiceImpl final : public v1::CalibrationService::Service {
 public:
  CalibrationServiceImpl(std::shared_ptr<CalibrationCore> core, IdentityOptions identity)
      : core_(std::move(core)), identity_(identity) {}

  grpc::Status CreateSession(grpc::ServerContext* ctx, const v1::CreateSessionRequest* req, v1::Session* resp) override;
  grpc::Status GetSession(grpc::ServerContext* ctx, const v1::GetSessionRequest* req, v1::Session* resp) override;
  grpc::Status ListSessions(grpc::ServerContext* ctx, const v1::ListSessionsRequest* req,
                            v1::ListSessionsResponse* resp) override;
  grpc::Status GenerateBrief(grpc::ServerContext* ctx, const v1::GenerateBriefRequest* req, v1::Brief* resp) override;
  grpc::Status GetBrief(grpc::ServerContext* ctx, const v1::GetBriefRequest* req, v1::Brief* resp) override;
  grpc::Status RenderBrief(grpc::ServerContext* ctx, const v1::RenderBriefRequest* req,
                           v1::RenderBriefResponse* resp) override;
  grpc::Status RecordOutcome(grpc::ServerContext* ctx, const v1::RecordOutcomeRequest* req, v1::Outcome* resp) override;
  grpc::Status ListOutcomes(grpc::ServerContext* ctx, const v1::ListOutcomesRequest* req,
                            v1::ListOutcomesResponse* resp) override;
  grpc::Status VerifyCalibrationLog(grpc::ServerContext* ctx, const v1::VerifyCalibrationLogRequest* req,
                                    v1::VerifyCalibrationLogResponse* resp) override;
  grpc::Status GetHeatmap(grpc::ServerContext* ctx, const v1::GetHeatmapRequest* req, v1::Heatmap* resp) override;
  grpc::Status GetInsights(grpc::ServerContext* ctx, const v1::GetInsightsRequest* req,
                           v1::GetInsightsResponse* resp) override;
  grpc::Status GetFlowBrief(grpc::ServerContext* ctx, const v1::GetFlowBriefRequest* req, v1::FlowBrief* resp) override;
  grpc::Status RecordKpiObservations(grpc::ServerContext* ctx, const v1::RecordKpiObservationsRequest* req,
                                     v1::RecordKpiObservationsResponse* resp) override;
  grpc::Status GetGoalStatus(grpc::ServerContext* ctx, const v1::GetGoalStatusRequest* req,
                             v1::GoalStatus* resp) override;

  grpc::Status ExportPersonData(grpc::ServerContext* ctx, const type::v1::ExportPersonDataRequest* req,
                                grpc::ServerWriter<type::v1::PersonDataPart>* writer) override;
  grpc::Status ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                           type::v1::ErasePersonResponse* resp) override;

 private:
  // Reads the caller's identity, runs `call` and moves its result to `out`.
  template <typename Out, typename Call>
  grpc::Status Serve(grpc::ServerContext* ctx, Out* out, Call call);

  std::shared_ptr<CalibrationCore> core_;
  IdentityOptions identity_;
};

}  // namespace perfflow::calibration
