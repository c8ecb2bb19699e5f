#pragma once

// An in-memory EventClient for unit tests of services that call the event
// service: events and registry versions are set by the test; reported steps
// move the fake's flow state the way the event service would.

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/flow/event_client.h"

namespace perfflow::testing {

namespace ev1 = ::perfflow::event::v1;

class FakeEventClient : public event::EventClient {
 public:
  // The shipped catalogue as registry version 1 and SmallOrg's employees.
  void PutCatalogueAndOrg();
  void PutEvent(const ev1::Event& e);
  void PutRegistry(const ev1::Registry& r);
  void PutEmployee(const ev1::Employee& e);
  ev1::Event event(const std::string& name);
  std::vector<ev1::RecordFlowStepRequest> steps();
  std::vector<std::string> complete_marks();
  // Makes every call fail with UNAVAILABLE while set.
  void set_down(bool down);
  // RecordFlowStep answers `status` while it is not OK.
  void set_refusal(absl::Status status);
  // RecordFlowStep records the step, then answers `status` (a reply lost
  // after the event service committed) while it is not OK.
  void set_lost_reply(absl::Status status);

  absl::StatusOr<ev1::Event> GetEvent(const RequestContext& rc, const std::string& name) override;
  absl::StatusOr<ev1::Registry> GetRegistry(const RequestContext& rc, int64_t version) override;
  absl::StatusOr<ev1::Employee> GetEmployee(const RequestContext& rc, const std::string& id) override;
  absl::StatusOr<ev1::Event> RecordFlowStep(const RequestContext& rc, const ev1::RecordFlowStepRequest& req) override;
  absl::Status MarkEvidenceComplete(const RequestContext& rc, const std::string& event) override;
  absl::StatusOr<std::vector<ev1::Event>> ListAllEvents(const RequestContext& rc,
                                                        ev1::ListEventsRequest request) override;
  absl::StatusOr<std::vector<ev1::Employee>> ListAllEmployees(const RequestContext& rc,
                                                              const std::string& department_id) override;
  // Streams the facts set with PutFact whose TRIGGERED time is in the range.
  absl::Status StreamFlowFacts(const RequestContext& rc, const ev1::StreamFlowFactsRequest& request,
                               const std::function<void(const ev1::FlowFact&)>& fact) override;
  void PutFact(const ev1::FlowFact& fact);
  absl::StatusOr<std::vector<ev1::Department>> ListDepartments(const RequestContext& rc) override;
  void PutDepartment(const ev1::Department& d);
  // Records notices by idempotency key (a repeated key: created=false);
  // answers `status` instead while set_notice_refusal holds one.
  void set_notice_refusal(absl::Status status);
  absl::StatusOr<bool> SendNotice(const RequestContext& rc, const ev1::SendNoticeRequest& request) override;
  std::vector<ev1::SendNoticeRequest> notices();
  // Requests seen by StreamFlowFacts.
  int fact_streams();

 private:
  std::vector<ev1::FlowFact> facts_;
  std::map<std::string, ev1::Department> departments_;
  int fact_streams_ = 0;
  std::mutex mu_;
  bool down_ = false;
  absl::Status refusal_;
  absl::Status lost_reply_;
  std::set<std::string> step_ids_;
  std::map<std::string, ev1::Event> events_;
  std::map<int64_t, ev1::Registry> registries_;
  std::map<std::string, ev1::Employee> employees_;
  std::vector<ev1::RecordFlowStepRequest> steps_;
  std::vector<std::string> complete_marks_;
  std::vector<ev1::SendNoticeRequest> notices_;
  absl::Status notice_refusal_;
};

}  // namespace perfflow::testing
