#pragma once

// The event service as its peers see it (the owner of events, the registry,
// the directory and flow state). The gRPC implementation forwards the
// caller's tenant, principal, roles and traceparent and sets a deadline on
// every call. Thread-safe.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/request_context.h"
#include "perfflow/event/v1/event_service.grpc.pb.h"

namespace perfflow::event {

namespace ev1 = ::perfflow::event::v1;

class EventClient {
 public:
  virtual ~EventClient() = default;
  virtual absl::StatusOr<ev1::Event> GetEvent(const RequestContext& rc, const std::string& name) = 0;
  virtual absl::StatusOr<ev1::Registry> GetRegistry(const RequestContext& rc, int64_t version) = 0;
  virtual absl::StatusOr<ev1::Employee> GetEmployee(const RequestContext& rc, const std::string& id) = 0;
  virtual absl::StatusOr<ev1::Event> RecordFlowStep(const RequestContext& rc,
                                                    const ev1::RecordFlowStepRequest& req) = 0;
  virtual absl::Status MarkEvidenceComplete(const RequestContext& rc, const std::string& event) = 0;
  // Every event matching the request (all pages).
  virtual absl::StatusOr<std::vector<ev1::Event>> ListAllEvents(const RequestContext& rc,
                                                                ev1::ListEventsRequest request) = 0;
  // Every employee (of `department_id` when set), all pages.
  virtual absl::StatusOr<std::vector<ev1::Employee>> ListAllEmployees(const RequestContext& rc,
                                                                      const std::string& department_id) = 0;
  virtual absl::StatusOr<std::vector<ev1::Department>> ListDepartments(const RequestContext& rc) = 0;
  // Streams the flow facts of the request to `fact`, one at a time (read in
  // batches of up to 500; the caller aggregates). Streams get at least 5 minutes.
  virtual absl::Status StreamFlowFacts(const RequestContext& rc, const ev1::StreamFlowFactsRequest& request,
                                       const std::function<void(const ev1::FlowFact&)>& fact) = 0;
  // Queues a notice to one person; false when its idempotency key was queued before.
  virtual absl::StatusOr<bool> SendNotice(const RequestContext& rc, const ev1::SendNoticeRequest& request) = 0;
};

// `peer` names the calling service: the event service trusts the steps it
// reports for the principal (see RecordFlowStep).
std::unique_ptr<EventClient> NewGrpcEventClient(const std::string& address, absl::Duration deadline,
                                                const std::string& peer);

}  // namespace perfflow::event
