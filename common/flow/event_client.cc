#include "common/flow/event_client.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_join.h"
#include "common/ids.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace perfflow::event {
namespace {

class GrpcEventClient : public EventClient {
 public:
  GrpcEventClient(std::shared_ptr<grpc::Channel> channel, absl::Duration deadline, std::string peer)
      : stub_(ev1::EventService::NewStub(channel)), deadline_(deadline), peer_(std::move(peer)) {}

  absl::StatusOr<ev1::Event> GetEvent(const RequestContext& rc, const std::string& name) override {
    ev1::GetEventRequest req;
    req.set_name(name);
    ev1::GetEventResponse resp;
    auto ctx = Context(rc);
    absl::Status s = FromGrpcStatus(stub_->GetEvent(ctx.get(), req, &resp));
    if (!s.ok()) return s;
    return resp.event();
  }

  absl::StatusOr<ev1::Registry> GetRegistry(const RequestContext& rc, int64_t version) override {
    ev1::GetRegistryRequest req;
    req.set_version(version);
    ev1::GetRegistryResponse resp;
    auto ctx = Context(rc);
    absl::Status s = FromGrpcStatus(stub_->GetRegistry(ctx.get(), req, &resp));
    if (!s.ok()) return s;
    return resp.registry();
  }

  absl::StatusOr<ev1::Employee> GetEmployee(const RequestContext& rc, const std::string& id) override {
    ev1::GetEmployeeRequest req;
    req.set_id(id);
    ev1::GetEmployeeResponse resp;
    auto ctx = Context(rc);
    absl::Status s = FromGrpcStatus(stub_->GetEmployee(ctx.get(), req, &resp));
    if (!s.ok()) return s;
    return resp.employee();
  }

  absl::StatusOr<ev1::Event> RecordFlowStep(const RequestContext& rc, const ev1::RecordFlowStepRequest& req) override {
    ev1::RecordFlowStepResponse resp;
    auto ctx = Context(rc);
    absl::Status s = FromGrpcStatus(stub_->RecordFlowStep(ctx.get(), req, &resp));
    if (!s.ok()) return s;
    return resp.event();
  }

  absl::Status MarkEvidenceComplete(const RequestContext& rc, const std::string& event) override {
    ev1::MarkEvidenceCompleteRequest req;
    req.set_event(event);
    ev1::MarkEvidenceCompleteResponse resp;
    auto ctx = Context(rc);
    return FromGrpcStatus(stub_->MarkEvidenceComplete(ctx.get(), req, &resp));
  }

  absl::StatusOr<bool> SendNotice(const RequestContext& rc, const ev1::SendNoticeRequest& request) override {
    ev1::SendNoticeResponse resp;
    auto ctx = Context(rc);
    absl::Status s = FromGrpcStatus(stub_->SendNotice(ctx.get(), request, &resp));
    if (!s.ok()) return s;
    return resp.created();
  }

  absl::StatusOr<std::vector<ev1::Event>> ListAllEvents(const RequestContext& rc,
                                                        ev1::ListEventsRequest request) override {
    std::vector<ev1::Event> out;
    request.set_page_size(200);
    do {
      ev1::ListEventsResponse resp;
      auto ctx = Context(rc);
      absl::Status s = FromGrpcStatus(stub_->ListEvents(ctx.get(), request, &resp));
      if (!s.ok()) return s;
      for (auto& e : *resp.mutable_events()) out.push_back(std::move(e));
      request.set_page_token(resp.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  absl::StatusOr<std::vector<ev1::Employee>> ListAllEmployees(const RequestContext& rc,
                                                              const std::string& department_id) override {
    std::vector<ev1::Employee> out;
    ev1::ListEmployeesRequest request;
    request.set_department_id(department_id);
    request.set_page_size(500);
    do {
      ev1::ListEmployeesResponse resp;
      auto ctx = Context(rc);
      absl::Status s = FromGrpcStatus(stub_->ListEmployees(ctx.get(), request, &resp));
      if (!s.ok()) return s;
      for (auto& e : *resp.mutable_employees()) out.push_back(std::move(e));
      request.set_page_token(resp.next_page_token());
    } while (!request.page_token().empty());
    return out;
  }

  absl::StatusOr<std::vector<ev1::Department>> ListDepartments(const RequestContext& rc) override {
    ev1::ListDepartmentsResponse resp;
    auto ctx = Context(rc);
    absl::Status s = FromGrpcStatus(stub_->ListDepartments(ctx.get(), ev1::ListDepartmentsRequest(), &resp));
    if (!s.ok()) return s;
    return std::vector<ev1::Department>(resp.departments().begin(), resp.departments().end());
  }

  absl::Status StreamFlowFacts(const RequestContext& rc, const ev1::StreamFlowFactsRequest& request,
                               const std::function<void(const ev1::FlowFact&)>& fact) override {
    auto ctx = Context(rc, std::max(deadline_, absl::Minutes(5)));
    auto reader = stub_->StreamFlowFactBatches(ctx.get(), request);
    ev1::FlowFactBatch batch;
    while (reader->Read(&batch)) {
      for (const ev1::FlowFact& f : batch.facts()) fact(f);
    }
    return FromGrpcStatus(reader->Finish());
  }

 private:
  std::unique_ptr<grpc::ClientContext> Context(const RequestContext& rc) { return Context(rc, deadline_); }

  std::unique_ptr<grpc::ClientContext> Context(const RequestContext& rc, absl::Duration deadline) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    AttachIdentity(rc, ctx.get(), peer_);
    return ctx;
  }

  std::unique_ptr<ev1::EventService::Stub> stub_;
  absl::Duration deadline_;
  std::string peer_;
};

}  // namespace

std::unique_ptr<EventClient> NewGrpcEventClient(const std::string& address, absl::Duration deadline,
                                                const std::string& peer) {
  // round_robin spreads calls over every address a dns:/// target resolves
  // to (the headless Service in Kubernetes).
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  return std::make_unique<GrpcEventClient>(grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args),
                                           deadline, peer);
}

}  // namespace perfflow::event
