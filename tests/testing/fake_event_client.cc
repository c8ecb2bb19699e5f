#include "tests/testing/fake_event_client.h"

#include "gtest/gtest.h"
#include "common/flow/registry.h"
#include "tests/testing/fixtures.h"

namespace perfflow::testing {

namespace t = perfflow::type::v1;

void FakeEventClient::PutCatalogueAndOrg() {
  auto req = CatalogueRequest();
  auto registry = event::ParseRegistryFiles({req.files().begin(), req.files().end()});
  EXPECT_TRUE(registry.ok()) << registry.status();
  registry->set_version(1);
  PutRegistry(*registry);
  const auto org = SmallOrg();
  for (const auto& e : org.employees()) PutEmployee(e);
  for (const auto& d : org.departments()) PutDepartment(d);
}

absl::StatusOr<std::vector<ev1::Department>> FakeEventClient::ListDepartments(const RequestContext&) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  std::vector<ev1::Department> out;
  for (const auto& [id, d] : departments_) out.push_back(d);
  return out;
}

absl::StatusOr<bool> FakeEventClient::SendNotice(const RequestContext&, const ev1::SendNoticeRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  if (!notice_refusal_.ok()) return notice_refusal_;
  for (const auto& n : notices_) {
    if (n.idempotency_key() == request.idempotency_key()) return false;
  }
  notices_.push_back(request);
  return true;
}

void FakeEventClient::set_notice_refusal(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  notice_refusal_ = std::move(status);
}

std::vector<ev1::SendNoticeRequest> FakeEventClient::notices() {
  std::lock_guard<std::mutex> lock(mu_);
  return notices_;
}

void FakeEventClient::PutDepartment(const ev1::Department& d) {
  std::lock_guard<std::mutex> lock(mu_);
  departments_[d.id()] = d;
}

void FakeEventClient::PutEvent(const ev1::Event& e) {
  std::lock_guard<std::mutex> lock(mu_);
  events_[e.name()] = e;
}

void FakeEventClient::PutRegistry(const ev1::Registry& r) {
  std::lock_guard<std::mutex> lock(mu_);
  registries_[r.version()] = r;
}

void FakeEventClient::PutEmployee(const ev1::Employee& e) {
  std::lock_guard<std::mutex> lock(mu_);
  employees_[e.id()] = e;
}

ev1::Event FakeEventClient::event(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  return events_.at(name);
}

std::vector<ev1::RecordFlowStepRequest> FakeEventClient::steps() {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_;
}

std::vector<std::string> FakeEventClient::complete_marks() {
  std::lock_guard<std::mutex> lock(mu_);
  return complete_marks_;
}

void FakeEventClient::set_down(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}

void FakeEventClient::set_refusal(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  refusal_ = std::move(status);
}

void FakeEventClient::set_lost_reply(absl::Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  lost_reply_ = std::move(status);
}

absl::StatusOr<ev1::Event> FakeEventClient::GetEvent(const RequestContext&, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  auto it = events_.find(name);
  if (it == events_.end()) return absl::NotFoundError(name + " not found");
  return it->second;
}

absl::StatusOr<ev1::Registry> FakeEventClient::GetRegistry(const RequestContext&, int64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  if (registries_.empty()) return absl::FailedPreconditionError("no registry");
  if (version == 0) return registries_.rbegin()->second;
  auto it = registries_.find(version);
  if (it == registries_.end()) return absl::NotFoundError("registry version not found");
  return it->second;
}

absl::StatusOr<ev1::Employee> FakeEventClient::GetEmployee(const RequestContext&, const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  auto it = employees_.find(id);
  if (it == employees_.end()) return absl::NotFoundError("employee " + id + " not found");
  return it->second;
}

absl::StatusOr<ev1::Event> FakeEventClient::RecordFlowStep(const RequestContext&,
                                                           const ev1::RecordFlowStepRequest& req) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  if (!refusal_.ok()) return refusal_;
  auto it = events_.find(req.event());
  if (it == events_.end()) return absl::NotFoundError(req.event() + " not found");
  // Idempotent by step_id, as the event service is.
  if (step_ids_.count(req.step_id())) {
    if (!lost_reply_.ok()) return lost_reply_;
    return it->second;
  }
  ev1::Flow* flow = it->second.mutable_flow();
  if (flow->step() == t::FLOW_STEP_ARCHIVED) return absl::FailedPreconditionError("archived");
  if (req.step() == t::FLOW_STEP_ARCHIVED && !flow->times().has_manager_feedback_at()) {
    return absl::FailedPreconditionError("archiving needs the manager's verdict first");
  }
  auto* times = flow->mutable_times();
  if (req.step() == t::FLOW_STEP_MANAGER_FEEDBACK && req.verdict() == t::VERDICT_REDO) {
    // A new round, as the event service's flow machine does.
    flow->set_round(flow->round() + 1);
    flow->set_step(t::FLOW_STEP_TRIGGERED);
    times->clear_owner_action_at();
  } else {
    flow->set_step(req.step());
  }
  if (req.step() == t::FLOW_STEP_OWNER_ACTION) times->mutable_owner_action_at()->set_seconds(1);
  if (req.step() == t::FLOW_STEP_MANAGER_FEEDBACK && req.verdict() != t::VERDICT_REDO) {
    times->mutable_manager_feedback_at()->set_seconds(1);
    flow->set_verdict(req.verdict());
  }
  if (req.step() == t::FLOW_STEP_CROSS_CONFIRM) times->mutable_cross_confirm_at()->set_seconds(1);
  if (req.step() == t::FLOW_STEP_ARCHIVED) times->mutable_archived_at()->set_seconds(1);
  steps_.push_back(req);
  step_ids_.insert(req.step_id());
  if (!lost_reply_.ok()) return lost_reply_;
  return it->second;
}

absl::Status FakeEventClient::MarkEvidenceComplete(const RequestContext&, const std::string& event) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  complete_marks_.push_back(event);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ev1::Event>> FakeEventClient::ListAllEvents(const RequestContext&,
                                                                       ev1::ListEventsRequest request) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  std::vector<ev1::Event> out;
  for (const auto& [name, e] : events_) {
    if (!request.subject_id().empty() && e.subject_id() != request.subject_id()) continue;
    if (!request.event_type().empty() && e.event_type() != request.event_type()) continue;
    out.push_back(e);
  }
  return out;
}

absl::StatusOr<std::vector<ev1::Employee>> FakeEventClient::ListAllEmployees(const RequestContext&,
                                                                             const std::string& department_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (down_) return absl::UnavailableError("event service down");
  std::vector<ev1::Employee> out;
  for (const auto& [id, e] : employees_) {
    if (department_id.empty() || e.department_id() == department_id) out.push_back(e);
  }
  return out;
}

absl::Status FakeEventClient::StreamFlowFacts(const RequestContext&, const ev1::StreamFlowFactsRequest& request,
                                              const std::function<void(const ev1::FlowFact&)>& fact) {
  std::vector<ev1::FlowFact> selected;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (down_) return absl::UnavailableError("event service down");
    ++fact_streams_;
    for (const ev1::FlowFact& f : facts_) {
      const auto& at = f.flow().times().triggered_at();
      if (request.has_start_time() && at.seconds() < request.start_time().seconds()) continue;
      if (request.has_end_time() && at.seconds() >= request.end_time().seconds()) continue;
      if (!request.department_id().empty() && f.department_id() != request.department_id()) continue;
      if (!request.event_type().empty() && f.event_type() != request.event_type()) continue;
      selected.push_back(f);
    }
  }
  for (const ev1::FlowFact& f : selected) fact(f);
  return absl::OkStatus();
}

void FakeEventClient::PutFact(const ev1::FlowFact& fact) {
  std::lock_guard<std::mutex> lock(mu_);
  facts_.push_back(fact);
}

int FakeEventClient::fact_streams() {
  std::lock_guard<std::mutex> lock(mu_);
  return fact_streams_;
}

}  // namespace perfflow::testing
