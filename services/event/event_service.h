#pragma once

// gRPC surface of perfflow.event.v1.EventService: reads the caller's context,
// calls EventCore (which validates and applies the role rules), converts
// records to protos, maps the status once.

#include <memory>

#include "common/request_context.h"
#include "perfflow/event/v1/event_service.grpc.pb.h"
#include "services/event/event_core.h"

namespace perfflow::event {

class EventServiceImpl final : public v1::EventService::Service {
 public:
  EventServiceImpl(std::shared_ptr<EventCore> core, IdentityOptions identity)
      : core_(std::move(core)), identity_(identity) {}

  grpc::Status ApplyEventTypes(grpc::ServerContext* ctx, const v1::ApplyEventTypesRequest* req,
                               v1::ApplyEventTypesResponse* resp) override;
  grpc::Status GetRegistry(grpc::ServerContext* ctx, const v1::GetRegistryRequest* req,
                           v1::GetRegistryResponse* resp) override;
  grpc::Status UpsertDirectory(grpc::ServerContext* ctx, const v1::UpsertDirectoryRequest* req,
                               v1::UpsertDirectoryResponse* resp) override;
  grpc::Status ListEmployees(grpc::ServerContext* ctx, const v1::ListEmployeesRequest* req,
                             v1::ListEmployeesResponse* resp) override;
  grpc::Status GetEmployee(grpc::ServerContext* ctx, const v1::GetEmployeeRequest* req,
                           v1::GetEmployeeResponse* resp) override;
  grpc::Status ListDepartments(grpc::ServerContext* ctx, const v1::ListDepartmentsRequest* req,
                               v1::ListDepartmentsResponse* resp) override;
  grpc::Status IngestEvent(grpc::ServerContext* ctx, const v1::IngestEventRequest* req,
                           v1::IngestEventResponse* resp) override;
  grpc::Status BatchIngestEvents(grpc::ServerContext* ctx, const v1::BatchIngestEventsRequest* req,
                                 v1::BatchIngestEventsResponse* resp) override;
  grpc::Status GetEvent(grpc::ServerContext* ctx, const v1::GetEventRequest* req, v1::GetEventResponse* resp) override;
  grpc::Status ListEvents(grpc::ServerContext* ctx, const v1::ListEventsRequest* req,
                          v1::ListEventsResponse* resp) override;
  grpc::Status ListTasks(grpc::ServerContext* ctx, const v1::ListTasksRequest* req,
                         v1::ListTasksResponse* resp) override;
  grpc::Status GetTask(grpc::ServerContext* ctx, const v1::GetTaskRequest* req, v1::GetTaskResponse* resp) override;
  grpc::Status RecordFlowStep(grpc::ServerContext* ctx, const v1::RecordFlowStepRequest* req,
                              v1::RecordFlowStepResponse* resp) override;
  grpc::Status MarkEvidenceComplete(grpc::ServerContext* ctx, const v1::MarkEvidenceCompleteRequest* req,
                                    v1::MarkEvidenceCompleteResponse* resp) override;
  grpc::Status SendNotice(grpc::ServerContext* ctx, const v1::SendNoticeRequest* req,
                          v1::SendNoticeResponse* resp) override;
  grpc::Status ImportHistory(grpc::ServerContext* ctx, const v1::ImportHistoryRequest* req,
                             v1::ImportHistoryResponse* resp) override;
  grpc::Status SimulateSettings(grpc::ServerContext* ctx, const v1::SimulateSettingsRequest* req,
                                v1::SimulateSettingsResponse* resp) override;
  grpc::Status GetFlowHealth(grpc::ServerContext* ctx, const v1::GetFlowHealthRequest* req,
                             v1::GetFlowHealthResponse* resp) override;
  grpc::Status StreamFlowFacts(grpc::ServerContext* ctx, const v1::StreamFlowFactsRequest* req,
                               grpc::ServerWriter<v1::FlowFact>* writer) override;
  grpc::Status StreamFlowFactBatches(grpc::ServerContext* ctx, const v1::StreamFlowFactsRequest* req,
                                     grpc::ServerWriter<v1::FlowFactBatch>* writer) override;

  grpc::Status ExportPersonData(grpc::ServerContext* ctx, const type::v1::ExportPersonDataRequest* req,
                                grpc::ServerWriter<type::v1::PersonDataPart>* writer) override;
  grpc::Status ErasePerson(grpc::ServerContext* ctx, const type::v1::ErasePersonRequest* req,
                           type::v1::ErasePersonResponse* resp) override;

 private:
  template <typename Results, typename Response>
  void ToBatchResults(const std::string& tenant, const Results& results, Response* resp);

  std::shared_ptr<EventCore> core_;
  IdentityOptions identity_;
};

// Record -> proto conversions, shared by the service and tests.
void ToProto(const EventRecord& record, const RegistryView* registry, absl::Time now, v1::Event* out);
void ToProto(const TaskRecord& task, const RegistryView* registry, absl::Time now, v1::Task* out);

}  // namespace perfflow::event
