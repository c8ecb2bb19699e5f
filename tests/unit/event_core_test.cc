// EventCore over an embedded SQLite file with a manual clock: no network.

#include "services/event/event_core.h"

#include <limits>
#include <set>

#include "services/event/demo_seed.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using ::testing::HasSubstr;
using testing::kTenant;

class EventCoreTest : public ::testing::Test {
 protected:
  void SetUp() override { w_ = testing::MakeEventWorld(testing::Backend::kSqlite); }

  int64_t EventCount() {
    auto page = w_.store->ListEvents(kTenant, {}, 500, "");
    EXPECT_TRUE(page.ok());
    return page.ok() ? static_cast<int64_t>(page->items.size()) : -1;
  }

  absl::StatusOr<StepResult> Step(const std::string& event_id, FlowStep step, Verdict verdict = t::VERDICT_UNSPECIFIED,
                                  const std::string& step_id = "") {
    v1::RecordFlowStepRequest r;
    r.set_event("events/" + event_id);
    r.set_step(step);
    r.set_verdict(verdict);
    r.set_step_id(step_id.empty() ? "step-" + std::to_string(++steps_) : step_id);
    return w_.core->RecordStep(InProcessCall(kTenant), r);
  }

  // Rejected with `code`, mentioning `text`, and nothing stored.
  void ExpectRejected(const v1::IngestEventRequest& req, absl::StatusCode code, const std::string& text) {
    const int64_t before = EventCount();
    auto r = w_.core->Ingest(InProcessCall(kTenant), req);
    EXPECT_EQ(r.status().code(), code) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(text));
    EXPECT_EQ(EventCount(), before);
  }

  testing::EventWorld w_;
  int steps_ = 0;
};

TEST_F(EventCoreTest, IngestOpensChainWithTasksAndDeadlines) {
  auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->duplicate);
  const EventRecord& e = r->event;
  EXPECT_EQ(e.department_id, "sales");
  EXPECT_EQ(e.registry_version, 1);
  EXPECT_EQ(e.flow.triggered_at, testing::FixedStart());
  EXPECT_TRUE(e.flow.requires_cross_confirm);
  ASSERT_EQ(e.tasks.size(), 3u);
  std::map<TaskKind, TaskRecord> by_kind;
  for (const auto& task : e.tasks) by_kind[task.kind] = task;
  EXPECT_EQ(by_kind[t::TASK_KIND_OWNER_UPLOAD].assignee_id, "s1");
  EXPECT_EQ(by_kind[t::TASK_KIND_OWNER_UPLOAD].due_at, testing::FixedStart() + absl::Hours(24));
  EXPECT_EQ(by_kind[t::TASK_KIND_MANAGER_REVIEW].assignee_id, "s-head");
  EXPECT_EQ(by_kind[t::TASK_KIND_MANAGER_REVIEW].due_at, testing::FixedStart() + absl::Hours(48));
  // Confirmer: head of the first listed department (supply_chain).
  EXPECT_EQ(by_kind[t::TASK_KIND_CROSS_CONFIRM].assignee_id, "c-head");
  auto backlog = w_.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 3);
}

TEST_F(EventCoreTest, NobodyConfirmsTheImpactOfTheirOwnWork) {
  // c-head heads supply chain but works in quality: their contract's impact
  // is confirmed by the next listed department's head.
  v1::UpsertDirectoryRequest move;
  auto* head = move.add_employees();
  head->set_id("c-head");
  head->set_display_name("Head of supply chain");
  head->set_department_id("quality");
  head->set_manager_id("ceo");
  ASSERT_TRUE(w_.core->UpsertDirectory(InProcessCall(kTenant), move).ok());
  v1::IngestEventRequest req = testing::ContractSigned("own-1");
  req.set_subject_id("c-head");
  auto r = w_.core->Ingest(InProcessCall(kTenant), req);
  ASSERT_TRUE(r.ok()) << r.status();
  int confirmations = 0;
  for (const auto& task : r->event.tasks) {
    if (task.kind != t::TASK_KIND_CROSS_CONFIRM) continue;
    EXPECT_EQ(task.assignee_id, "p-head");
    ++confirmations;
  }
  EXPECT_EQ(confirmations, 1);
}

TEST_F(EventCoreTest, TheDemoTenantHasDistinctNames) {
  ASSERT_TRUE(SeedDemoTenant(w_.store, "demo", std::string(PERFFLOW_SOURCE_DIR) + "/services/event/catalogue",
                             w_.clock->Now(), 20)
                  .ok());
  auto people = w_.store->ListEmployees("demo", {}, 500, "");
  ASSERT_TRUE(people.ok()) << people.status();
  std::set<std::string> names;
  for (const auto& e : people->items) names.insert(e.display_name());
  EXPECT_EQ(people->items.size(), 51u);
  EXPECT_EQ(names.size(), people->items.size()) << "two demo people share a display name";
}

TEST_F(EventCoreTest, SamePayloadIsDuplicateDifferentPayloadIsConflict) {
  auto first = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(first.ok());
  w_.clock->Advance(absl::Minutes(5));
  auto again = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->event.event_id, first->event.event_id);
  EXPECT_EQ(again->event.tasks.size(), 3u);

  v1::IngestEventRequest changed = testing::ContractSigned("c-1");
  (*changed.mutable_attributes()->mutable_fields())["contract_value"].set_number_value(1);
  ExpectRejected(changed, absl::StatusCode::kAlreadyExists, "different payload");
  EXPECT_EQ(EventCount(), 1);
}

TEST_F(EventCoreTest, EachBadInputIsRejectedAndNothingStored) {
  auto req = [](auto mutate) {
    v1::IngestEventRequest r = testing::ContractSigned("bad");
    mutate(r);
    return r;
  };
  ExpectRejected(req([](auto& r) { r.set_event_type("crm.nope"); }), absl::StatusCode::kInvalidArgument,
                 "unknown event type 'crm.nope'");
  ExpectRejected(req([](auto& r) { r.set_subject_id("ghost"); }), absl::StatusCode::kInvalidArgument,
                 "'ghost' is not in the directory");
  ExpectRejected(req([](auto& r) { r.set_source("erp"); }), absl::StatusCode::kInvalidArgument,
                 "comes from source 'crm'");
  for (const std::string& source : {std::string(), std::string("Crm"), std::string("1crm"), std::string("crm/x"),
                                    std::string("c") + std::string(64, 'r')}) {
    ExpectRejected(req([&](auto& r) { r.set_source(source); }), absl::StatusCode::kInvalidArgument,
                   "source: required: 1-64 of a-z0-9_.- starting with a letter");
  }
  ExpectRejected(req([](auto& r) { r.clear_external_id(); }), absl::StatusCode::kInvalidArgument, "external_id");
  ExpectRejected(req([](auto& r) { r.mutable_attributes()->mutable_fields()->erase("customer_tier"); }),
                 absl::StatusCode::kInvalidArgument, "attributes.customer_tier: required");
  ExpectRejected(
      req([](auto& r) { (*r.mutable_attributes()->mutable_fields())["contract_value"].set_string_value("lots"); }),
      absl::StatusCode::kInvalidArgument, "attributes.contract_value: must be a number");
  ExpectRejected(req([](auto& r) {
                   (*r.mutable_attributes()->mutable_fields())["notes"].set_string_value(std::string(70000, 'x'));
                 }),
                 absl::StatusCode::kInvalidArgument, "exceeds the 65536-byte limit");
  ExpectRejected(req([](auto& r) {
                   auto& notes = *(*r.mutable_attributes()->mutable_fields())["notes"].mutable_list_value();
                   notes.add_values()->set_number_value(std::numeric_limits<double>::infinity());
                 }),
                 absl::StatusCode::kInvalidArgument, "attributes: not representable as JSON: NaN and infinity");
  // Pilot scope: mes.equipment_daily_check is enabled for production only.
  ExpectRejected(req([](auto& r) {
                   r.set_source("mes");
                   r.set_event_type("mes.equipment_daily_check");
                   r.mutable_attributes()->Clear();
                   (*r.mutable_attributes()->mutable_fields())["equipment_id"].set_string_value("cnc-7");
                   (*r.mutable_attributes()->mutable_fields())["abnormal"].set_bool_value(false);
                 }),
                 absl::StatusCode::kFailedPrecondition, "not enabled for department sales");
  EXPECT_EQ(EventCount(), 0);
}

TEST_F(EventCoreTest, DisabledTypeIsRejected) {
  v1::ApplyEventTypesRequest disable;
  auto registry = w_.core->Registry(kTenant);
  ASSERT_TRUE(registry.ok());
  *disable.add_event_types() = *(*registry)->FindEventType("crm.contract_signed");
  disable.mutable_event_types(0)->set_disabled(true);
  auto applied = w_.core->ApplyEventTypes(InProcessCall(kTenant), disable);
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ(applied->version, 2);
  ExpectRejected(testing::ContractSigned("d-1"), absl::StatusCode::kFailedPrecondition, "disabled");
}

TEST_F(EventCoreTest, ApplyIsAllOrNothingAndVersioned) {
  v1::ApplyEventTypesRequest bad;
  auto* f = bad.add_files();
  f->set_name("bad.yaml");
  f->set_content(R"(
kind: EventType
key: crm.new_type
display_name: {en: New}
source: crm
actions:
  owner_upload: {due_hours: 4}
  manager_review: {due_hours: 8}
goals: [no.such.goal]
)");
  auto r = w_.core->ApplyEventTypes(InProcessCall(kTenant), bad);
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("file bad.yaml, document 1"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("unknown goal 'no.such.goal'"));
  auto latest = w_.store->LatestRegistryVersion(kTenant);
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(*latest, 1);  // nothing applied

  // Events keep the version they were opened under.
  auto before = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("v-1"));
  ASSERT_TRUE(before.ok());
  // The same catalogue again changes nothing: no new version.
  auto same = w_.core->ApplyEventTypes(InProcessCall(kTenant), testing::CatalogueRequest());
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->version, 1);
  v1::ApplyEventTypesRequest changed;
  auto* lib = changed.add_libraries();
  lib->set_key("regions");
  lib->add_values("north");
  auto again = w_.core->ApplyEventTypes(InProcessCall(kTenant), changed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->version, 2);
  auto after = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("v-2"));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(before->event.registry_version, 1);
  EXPECT_EQ(after->event.registry_version, 2);
  auto old = w_.core->Registry(kTenant, 1);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ((*old)->version(), 1);
}

TEST_F(EventCoreTest, ChainStepsToArchivedAndStepIdsAreIdempotent) {
  auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(r.ok());
  const std::string id = r->event.event_id;
  w_.clock->Advance(absl::Hours(3));
  auto owner = Step(id, t::FLOW_STEP_OWNER_ACTION, t::VERDICT_UNSPECIFIED, "upload-1");
  ASSERT_TRUE(owner.ok()) << owner.status();
  auto repeat = Step(id, t::FLOW_STEP_OWNER_ACTION, t::VERDICT_UNSPECIFIED, "upload-1");
  ASSERT_TRUE(repeat.ok()) << repeat.status();
  EXPECT_TRUE(repeat->duplicate);
  auto reused = Step(id, t::FLOW_STEP_ARCHIVED, t::VERDICT_UNSPECIFIED, "upload-1");
  EXPECT_TRUE(absl::IsAlreadyExists(reused.status())) << reused.status();

  auto early = Step(id, t::FLOW_STEP_ARCHIVED);
  EXPECT_TRUE(absl::IsFailedPrecondition(early.status())) << early.status();

  w_.clock->Advance(absl::Hours(5));
  ASSERT_TRUE(Step(id, t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS).ok());
  ASSERT_TRUE(Step(id, t::FLOW_STEP_CROSS_CONFIRM).ok());
  w_.clock->Advance(absl::Hours(1));
  auto archived = Step(id, t::FLOW_STEP_ARCHIVED);
  ASSERT_TRUE(archived.ok()) << archived.status();
  const EventRecord& e = archived->event;
  EXPECT_EQ(CurrentStep(e.flow), t::FLOW_STEP_ARCHIVED);
  EXPECT_EQ(*e.flow.owner_action_at, testing::FixedStart() + absl::Hours(3));
  EXPECT_EQ(*e.flow.manager_feedback_at, testing::FixedStart() + absl::Hours(8));
  EXPECT_EQ(*e.flow.archived_at, testing::FixedStart() + absl::Hours(9));
  for (const auto& task : e.tasks) EXPECT_EQ(task.state, t::TASK_STATE_DONE) << task.kind;
}

TEST_F(EventCoreTest, RedoReopensOwnerTask) {
  auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(r.ok());
  const std::string id = r->event.event_id;
  ASSERT_TRUE(Step(id, t::FLOW_STEP_OWNER_ACTION).ok());
  auto redo = Step(id, t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_REDO);
  ASSERT_TRUE(redo.ok()) << redo.status();
  EXPECT_EQ(redo->event.flow.round, 2);
  auto inbox = w_.store->ListTasks(kTenant, "s1", t::TASK_STATE_OPEN, 10, "");
  ASSERT_TRUE(inbox.ok());
  ASSERT_EQ(inbox->items.size(), 1u);
  EXPECT_EQ(inbox->items[0].kind, t::TASK_KIND_OWNER_UPLOAD);
}

TEST_F(EventCoreTest, StepOnUnknownEventIsNotFoundAndBadNameIsInvalid) {
  auto missing = Step(std::string(32, 'a'), t::FLOW_STEP_OWNER_ACTION);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  v1::RecordFlowStepRequest r;
  r.set_event("evt/123");
  r.set_step(t::FLOW_STEP_OWNER_ACTION);
  r.set_step_id("x");
  EXPECT_TRUE(absl::IsInvalidArgument(w_.core->RecordStep(InProcessCall(kTenant), r).status()));
}

TEST_F(EventCoreTest, FlowHealthFollowsTheClock) {
  // Three chains at T0: archived at +10 h, archived at +50 h, never archived.
  std::vector<std::string> ids;
  for (const char* ext : {"h-1", "h-2", "h-3"}) {
    auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned(ext));
    ASSERT_TRUE(r.ok());
    ids.push_back(r->event.event_id);
    ASSERT_TRUE(Step(ids.back(), t::FLOW_STEP_OWNER_ACTION).ok());
    ASSERT_TRUE(Step(ids.back(), t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS).ok());
    ASSERT_TRUE(Step(ids.back(), t::FLOW_STEP_CROSS_CONFIRM).ok());
  }
  const absl::Time t0 = testing::FixedStart();
  w_.clock->Set(t0 + absl::Hours(10));
  ASSERT_TRUE(Step(ids[0], t::FLOW_STEP_ARCHIVED).ok());

  HealthQuery q;
  q.from = t0 - absl::Hours(1);
  q.to = t0 + absl::Hours(1);
  auto at10 = w_.core->FlowHealth(InProcessCall(kTenant), q);
  ASSERT_TRUE(at10.ok()) << at10.status();
  EXPECT_EQ(at10->overall.within, 1);
  EXPECT_EQ(at10->overall.outside, 0);
  EXPECT_EQ(at10->overall.pending, 2);
  EXPECT_DOUBLE_EQ(at10->overall.ratio(), 1.0);

  w_.clock->Set(t0 + absl::Hours(50));
  ASSERT_TRUE(Step(ids[1], t::FLOW_STEP_ARCHIVED).ok());
  auto at50 = w_.core->FlowHealth(InProcessCall(kTenant), q);
  ASSERT_TRUE(at50.ok());
  EXPECT_EQ(at50->overall.within, 1);
  EXPECT_EQ(at50->overall.outside, 2);
  EXPECT_EQ(at50->overall.pending, 0);
  EXPECT_NEAR(at50->overall.ratio(), 1.0 / 3.0, 1e-9);
  EXPECT_EQ(at50->by_department.at("sales").outside, 2);
  EXPECT_EQ(at50->by_event_type.at("crm.contract_signed").within, 1);

  HealthQuery backwards = q;
  backwards.from = q.to;
  backwards.to = q.from;
  EXPECT_TRUE(absl::IsInvalidArgument(w_.core->FlowHealth(InProcessCall(kTenant), backwards).status()));
}

TEST_F(EventCoreTest, TenantsAreIsolated) {
  auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-1"));
  ASSERT_TRUE(r.ok());
  auto other = w_.store->GetEvent("other", r->event.event_id);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->has_value());
  // The other tenant has no registry at all.
  auto ingest = w_.core->Ingest(InProcessCall("other"), testing::ContractSigned("c-1"));
  EXPECT_TRUE(absl::IsFailedPrecondition(ingest.status())) << ingest.status();
  v1::RecordFlowStepRequest step;
  step.set_event("events/" + r->event.event_id);
  step.set_step(t::FLOW_STEP_OWNER_ACTION);
  step.set_step_id("x");
  EXPECT_TRUE(absl::IsNotFound(w_.core->RecordStep(InProcessCall("other"), step).status()));
}

TEST_F(EventCoreTest, DirectoryBatchIsAllOrNothing) {
  v1::UpsertDirectoryRequest batch;
  auto* good = batch.add_employees();
  good->set_id("s9");
  good->set_display_name("Good");
  good->set_department_id("sales");
  good->set_manager_id("s-head");
  auto* bad = batch.add_employees();
  bad->set_id("s10");
  bad->set_display_name("Bad");
  bad->set_department_id("sales");
  bad->set_manager_id("nobody");
  absl::Status s = w_.core->UpsertDirectory(InProcessCall(kTenant), batch);
  ASSERT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("employees[1].manager_id"));
  auto found = w_.store->GetEmployee(kTenant, "s9");
  ASSERT_TRUE(found.ok());
  EXPECT_FALSE(found->has_value());
}

// The assignee of the manager review task of an ingested event.
std::string ReviewerOf(const absl::StatusOr<IngestResult>& r) {
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return "";
  for (const TaskRecord& task : r->event.tasks) {
    if (task.kind == t::TASK_KIND_MANAGER_REVIEW) return task.assignee_id;
  }
  return "";
}

v1::UpsertDirectoryRequest Employee(const std::string& id, const std::string& manager) {
  v1::UpsertDirectoryRequest batch;
  auto* e = batch.add_employees();
  e->set_id(id);
  e->set_display_name("Person " + id);
  e->set_department_id("sales");
  e->set_manager_id(manager);
  return batch;
}

TEST_F(EventCoreTest, DirectoryChangeReachesTheNextEventAtOnceOnThisReplica) {
  EXPECT_EQ(ReviewerOf(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-1"))), "s-head");
  ASSERT_TRUE(w_.core->UpsertDirectory(InProcessCall(kTenant), Employee("s1", "ceo")).ok());
  EXPECT_EQ(ReviewerOf(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-2"))), "ceo");
}

TEST_F(EventCoreTest, DirectoryChangeThroughAnotherReplicaReachesIngestionWithinTheTtl) {
  // Two replicas on one database; this one has read s1 for an event.
  EventCore other(w_.store, w_.clock, nullptr);
  EXPECT_EQ(ReviewerOf(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-1"))), "s-head");
  ASSERT_TRUE(other.UpsertDirectory(InProcessCall(kTenant), Employee("s1", "ceo")).ok());
  w_.clock->Advance(absl::Seconds(4));
  EXPECT_EQ(ReviewerOf(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-2"))),
            "s-head");  // remembered
  w_.clock->Advance(absl::Seconds(1));
  EXPECT_EQ(ReviewerOf(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-3"))), "ceo");
}

TEST_F(EventCoreTest, EventTypesAppliedThroughAnotherReplicaReachIngestionWithinTheTtl) {
  EventCore other(w_.store, w_.clock, nullptr);
  ASSERT_TRUE(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-1")).ok());  // registry v1 cached here
  v1::ApplyEventTypesRequest disable;
  *disable.add_event_types() = *(*other.Registry(kTenant))->FindEventType("crm.contract_signed");
  disable.mutable_event_types(0)->set_disabled(true);
  ASSERT_TRUE(other.ApplyEventTypes(InProcessCall(kTenant), disable).ok());
  w_.clock->Advance(absl::Seconds(4));
  EXPECT_TRUE(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-2")).ok());  // still v1 here
  w_.clock->Advance(absl::Seconds(1));
  ExpectRejected(testing::ContractSigned("d-3"), absl::StatusCode::kFailedPrecondition, "disabled");
}

TEST_F(EventCoreTest, SubjectMissingFromTheDirectoryIsNotRemembered) {
  EventCore other(w_.store, w_.clock, nullptr);
  v1::IngestEventRequest req = testing::ContractSigned("d-1");
  req.set_subject_id("s9");
  ExpectRejected(req, absl::StatusCode::kInvalidArgument, "'s9' is not in the directory");
  ASSERT_TRUE(other.UpsertDirectory(InProcessCall(kTenant), Employee("s9", "s-head")).ok());
  EXPECT_EQ(ReviewerOf(w_.core->Ingest(InProcessCall(kTenant), req)), "s-head");
}

TEST_F(EventCoreTest, AnErasedPersonIsForgottenAtOnceByIngestion) {
  // s1 is cached by this replica's ingestion, then erased here.
  ASSERT_TRUE(w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("d-1")).ok());
  RequestContext gateway{kTenant, "root", {"admin"}, ""};
  gateway.peer = kGatewayPeer;
  type::v1::ErasePersonRequest erase;
  erase.set_person_id("s1");
  erase.set_pseudonym("erased-0000000000000001");
  auto erased = w_.core->ErasePerson(gateway, erase);
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->pseudonym(), "erased-0000000000000001");
  ExpectRejected(testing::ContractSigned("d-2"), absl::StatusCode::kInvalidArgument, "'s1' is not in the directory");
  auto events = w_.store->ListEvents(kTenant, {}, 10, "");
  ASSERT_TRUE(events.ok());
  ASSERT_EQ(events->items.size(), 1u);
  EXPECT_EQ(events->items[0].subject_id, "erased-0000000000000001");
}

}  // namespace
}  // namespace perfflow::event
