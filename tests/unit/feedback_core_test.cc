// FeedbackCore over SQLite and a fake event service: no network.

#include "services/feedback/feedback_core.h"

#include <fstream>
#include <sstream>

#include "common/ids.h"
#include "common/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/feedback/sql_feedback_store.h"
#include "tests/testing/fake_event_client.h"
#include "tests/testing/fixtures.h"

namespace perfflow::feedback {
namespace {

namespace t = perfflow::type::v1;
using ::testing::HasSubstr;

class FeedbackCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = testing::MakeTestDatabase(testing::Backend::kSqlite);
    auto store = SqlFeedbackStore::Open(database_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    events_ = std::make_shared<testing::FakeEventClient>();
    events_->PutCatalogueAndOrg();
    clock_ = std::make_shared<ManualClock>(testing::FixedStart() + absl::Hours(5));
    std::ifstream in(std::string(PERFFLOW_SOURCE_DIR) + "/services/feedback/lexicon/default.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    FeedbackPolicies policies;
    policies.default_guide =
        std::make_shared<const PhraseGuide>(*PhraseGuide::Build(*PhraseGuide::ParseLexicon(ss.str())));
    policies.tenants["acme"].delegates["s-head"].insert("s3");
    policies.tenants["strict"].require_effective_feedback = true;
    reports_ = std::make_shared<event::StepReports>(database_.db, events_, "feedback", nullptr);
    core_ = std::make_shared<FeedbackCore>(
        store_, events_, reports_, clock_, policies,
        [](const RequestContext&, const std::string&) -> absl::StatusOr<std::string> {
          return std::string("contract_scan");
        },
        [this](const RequestContext& rc, const std::string& event) {
          archive_asks_.push_back(rc.principal + " " + event);
        });
    event_ = PutContract();
  }

  std::string PutContract(bool owner_acted = true) {
    event::v1::Event e;
    e.set_name("events/" + RandomId());
    e.set_event_type("crm.contract_signed");
    e.set_subject_id("s1");
    e.set_department_id("sales");
    e.set_registry_version(1);
    e.mutable_flow()->set_round(1);
    e.mutable_flow()->set_requires_cross_confirm(true);
    e.mutable_flow()->set_step(owner_acted ? t::FLOW_STEP_OWNER_ACTION : t::FLOW_STEP_TRIGGERED);
    if (owner_acted) {
      e.mutable_flow()->mutable_times()->mutable_owner_action_at()->set_seconds(
          absl::ToUnixSeconds(testing::FixedStart() + absl::Hours(2)));
    }
    auto* task = e.add_tasks();
    task->set_kind(t::TASK_KIND_CROSS_CONFIRM);
    task->set_assignee_id("c-head");
    events_->PutEvent(e);
    return e.name();
  }

  RequestContext As(const std::string& who, const std::string& tenant = "acme") {
    return RequestContext{tenant, who, {}, ""};
  }

  v1::SubmitReviewRequest Review(t::Verdict verdict, const std::string& comment) {
    v1::SubmitReviewRequest r;
    r.set_event(event_);
    r.set_verdict(verdict);
    r.set_comment(comment);
    return r;
  }

  size_t StoredReviews() {
    auto rows = store_->ListReviews("acme", event_.substr(7));
    return rows.ok() ? rows->size() : 999;
  }

  testing::TestDatabase database_;
  std::shared_ptr<SqlFeedbackStore> store_;
  std::shared_ptr<testing::FakeEventClient> events_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<event::StepReports> reports_;
  // "<principal> <event>" of each request to archive a chain that may be ready.
  std::vector<std::string> archive_asks_;
  std::shared_ptr<FeedbackCore> core_;
  std::string event_;
};

TEST_F(FeedbackCoreTest, ManagerVerdictIsStoredWithQualityAndReported) {
  auto req = Review(t::VERDICT_MEETS, "协调了交付团队确认交期（附客户确认邮件）");
  req.add_chosen_behaviours("clarified_delivery_terms");
  req.add_cited_evidence("evidence/" + std::string(32, 'a'));
  auto r = core_->SubmitReview(As("s-head"), req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->first.has_value());
  EXPECT_TRUE(r->first->effective);
  EXPECT_EQ(r->first->round, 1);
  EXPECT_EQ(r->first->response, absl::Hours(3));
  EXPECT_THAT(r->second.composed_sentence(), HasSubstr("合同签订"));
  EXPECT_THAT(r->second.composed_sentence(), HasSubstr("签约前与交付团队确认了交期与产能"));
  EXPECT_THAT(r->second.composed_sentence(), HasSubstr("合同扫描件"));
  ASSERT_EQ(events_->steps().size(), 1u);
  EXPECT_EQ(events_->steps()[0].step(), t::FLOW_STEP_MANAGER_FEEDBACK);
  EXPECT_EQ(events_->steps()[0].verdict(), t::VERDICT_MEETS);
  // One verdict per round.
  auto second = core_->SubmitReview(As("s-head"), Review(t::VERDICT_REDO, "redo"));
  EXPECT_TRUE(absl::IsFailedPrecondition(second.status())) << second.status();
  EXPECT_EQ(StoredReviews(), 1u);
}

TEST_F(FeedbackCoreTest, RedoStartsANewRoundAndKeepsTheAuditTrail) {
  ASSERT_TRUE(core_->SubmitReview(As("s-head"), Review(t::VERDICT_REDO, "缺少客户签字页，请补充")).ok());
  EXPECT_EQ(events_->event(event_).flow().round(), 2);
  auto early = core_->SubmitReview(As("s-head"), Review(t::VERDICT_MEETS, "ok"));
  EXPECT_TRUE(absl::IsFailedPrecondition(early.status()));  // the owner has not acted again
  event::v1::RecordFlowStepRequest owner;
  owner.set_event(event_);
  owner.set_step(t::FLOW_STEP_OWNER_ACTION);
  ASSERT_TRUE(events_->RecordFlowStep(As("s1"), owner).ok());
  ASSERT_TRUE(core_->SubmitReview(As("s-head"), Review(t::VERDICT_MEETS, "补充了签字页，邮件记录齐全")).ok());
  auto trail = core_->ListReviews(As("s-head"), event_);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 2u);
  EXPECT_EQ((*trail)[0].round, 1);
  EXPECT_EQ((*trail)[0].verdict, t::VERDICT_REDO);
  EXPECT_EQ((*trail)[1].round, 2);
}

TEST_F(FeedbackCoreTest, EachBadReviewIsRejectedAndNothingStored) {
  struct Case {
    RequestContext rc;
    v1::SubmitReviewRequest req;
    absl::StatusCode code;
  };
  auto with = [&](auto mutate) {
    auto r = Review(t::VERDICT_MEETS, "good job");
    mutate(r);
    return r;
  };
  std::vector<Case> cases = {
      {As("s2"), Review(t::VERDICT_MEETS, "good job"), absl::StatusCode::kPermissionDenied},
      {As(""), Review(t::VERDICT_MEETS, "good job"), absl::StatusCode::kUnauthenticated},
      {As("s-head"), with([](auto& r) { r.clear_comment(); }), absl::StatusCode::kInvalidArgument},
      {As("s-head"), with([](auto& r) { r.set_comment(std::string(4001, 'x')); }), absl::StatusCode::kInvalidArgument},
      {As("s-head"), with([](auto& r) { r.set_comment("bad \xC3\x28 utf8"); }), absl::StatusCode::kInvalidArgument},
      {As("s-head"), with([](auto& r) { r.set_verdict(t::VERDICT_UNSPECIFIED); }), absl::StatusCode::kInvalidArgument},
      {As("s-head"), with([](auto& r) { r.add_chosen_behaviours("juggling"); }), absl::StatusCode::kInvalidArgument},
      {As("s-head"), with([](auto& r) { r.add_cited_evidence("file.pdf"); }), absl::StatusCode::kInvalidArgument},
      {As("s-head"), with([](auto& r) { r.set_event("events/" + std::string(32, 'f')); }), absl::StatusCode::kNotFound},
      {As("s-head"), with([](auto& r) { r.set_event("nope"); }), absl::StatusCode::kInvalidArgument},
  };
  for (const Case& c : cases) {
    auto r = core_->SubmitReview(c.rc, c.req);
    EXPECT_EQ(r.status().code(), c.code) << c.req.ShortDebugString() << " -> " << r.status();
  }
  EXPECT_EQ(StoredReviews(), 0u);
  EXPECT_TRUE(events_->steps().empty());

  // Archived chains take no verdict.
  event::v1::Event e = events_->event(event_);
  e.mutable_flow()->set_step(t::FLOW_STEP_ARCHIVED);
  events_->PutEvent(e);
  EXPECT_TRUE(absl::IsFailedPrecondition(core_->SubmitReview(As("s-head"), Review(t::VERDICT_MEETS, "x")).status()));
}

TEST_F(FeedbackCoreTest, DelegateMayReviewAndValidateOnlyStoresNothing) {
  auto hint = Review(t::VERDICT_MEETS, "表现良好");
  hint.set_validate_only(true);
  auto r = core_->SubmitReview(As("s3"), hint);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->first.has_value());
  EXPECT_FALSE(r->second.effective());
  EXPECT_EQ(StoredReviews(), 0u);
  EXPECT_TRUE(core_->SubmitReview(As("s3"), Review(t::VERDICT_MEETS, "表现良好")).ok());
  EXPECT_EQ(StoredReviews(), 1u);
}

TEST_F(FeedbackCoreTest, StrictTenantRequiresSpecificFeedback) {
  auto r = core_->SubmitReview(As("s-head", "strict"), Review(t::VERDICT_MEETS, "good job, keep it up"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("Confirmed lead time and capacity"));
  auto payload = r.status().GetPayload("type.googleapis.com/perfflow.feedback.v1.AnalyzeFeedbackResponse");
  ASSERT_TRUE(payload.has_value());
  v1::AnalyzeFeedbackResponse guidance;
  ASSERT_TRUE(guidance.ParseFromString(std::string(*payload)));
  EXPECT_FALSE(guidance.effective());
  EXPECT_EQ(guidance.suggestions_size(), 3);
  google::rpc::Status rpc = ToRpcStatus(r.status());
  ASSERT_EQ(rpc.details_size(), 1);  // the guidance reaches the caller
  EXPECT_TRUE(events_->steps().empty());
}

TEST_F(FeedbackCoreTest, RefusedFlowStepLeavesNoReview) {
  // The event service's definite "no": the verdict did not happen.
  events_->set_refusal(absl::FailedPreconditionError("the chain moved on"));
  auto r = core_->SubmitReview(As("s-head"), Review(t::VERDICT_MEETS, "good"));
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status())) << r.status();
  EXPECT_EQ(StoredReviews(), 0u);
  EXPECT_EQ(*core_->ReconcileSteps(), 0);  // nothing left pending
}

TEST_F(FeedbackCoreTest, VerdictsAndConfirmationsAskToArchiveOnceTheyReachTheFlow) {
  ASSERT_TRUE(core_->SubmitReview(As("s-head"), Review(t::VERDICT_MEETS, "good")).ok());
  EXPECT_EQ(archive_asks_, std::vector<std::string>{"s-head " + event_});
  v1::ConfirmImpactRequest req;
  req.set_event(event_);
  req.add_scopes(v1::IMPACT_SCOPE_DELIVERY);
  // Not yet in the flow: no ask until the retry lands it.
  events_->set_refusal(absl::UnavailableError("restarting"));
  ASSERT_TRUE(core_->ConfirmImpact(As("c-head"), req).ok());
  EXPECT_EQ(archive_asks_.size(), 1u);
  events_->set_refusal(absl::OkStatus());
  EXPECT_EQ(*core_->ReconcileSteps(), 0);
  EXPECT_EQ(archive_asks_.back(), "c-head " + event_);
}

TEST_F(FeedbackCoreTest, RedoAsksNothingToArchive) {
  ASSERT_TRUE(core_->SubmitReview(As("s-head"), Review(t::VERDICT_REDO, "missing the signature page")).ok());
  EXPECT_TRUE(archive_asks_.empty());
}

TEST_F(FeedbackCoreTest, LostReplyKeepsTheVerdictAndTheRetryConverges) {
  // The event service commits the step, then the reply is lost.
  events_->set_lost_reply(absl::DeadlineExceededError("deadline exceeded"));
  auto r = core_->SubmitReview(As("s-head"), Review(t::VERDICT_MEETS, "good"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(StoredReviews(), 1u);  // never undone on an ambiguous failure
  EXPECT_EQ(events_->event(event_).flow().verdict(), t::VERDICT_MEETS);
  EXPECT_EQ(*core_->ReconcileSteps(), 1);  // still lost: kept
  events_->set_lost_reply(absl::OkStatus());
  EXPECT_EQ(*core_->ReconcileSteps(), 0);
  EXPECT_EQ(events_->steps().size(), 1u);  // recorded once, the retry was a duplicate
  EXPECT_EQ(StoredReviews(), 1u);
}

TEST_F(FeedbackCoreTest, EventServiceDownKeepsTheVerdictUntilTheRetryLandsIt) {
  events_->set_refusal(absl::UnavailableError("event service restarting"));
  auto r = core_->SubmitReview(As("s-head"), Review(t::VERDICT_NEEDS_IMPROVEMENT, "good"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(StoredReviews(), 1u);
  EXPECT_FALSE(events_->event(event_).flow().times().has_manager_feedback_at());
  EXPECT_EQ(*core_->ReconcileSteps(), 1);
  events_->set_refusal(absl::OkStatus());
  EXPECT_EQ(*core_->ReconcileSteps(), 0);
  EXPECT_TRUE(events_->event(event_).flow().times().has_manager_feedback_at());
  ASSERT_EQ(events_->steps().size(), 1u);
  EXPECT_EQ(events_->steps()[0].actor_id(), "s-head");
}

TEST_F(FeedbackCoreTest, StepRefusedOnRetryTakesItsRecordWithIt) {
  v1::ConfirmImpactRequest req;
  req.set_event(event_);
  req.add_scopes(v1::IMPACT_SCOPE_DELIVERY);
  events_->set_refusal(absl::UnavailableError("event service restarting"));
  ASSERT_TRUE(core_->ConfirmImpact(As("c-head"), req).ok());
  EXPECT_TRUE(store_->GetConfirmation("acme", event_.substr(7))->has_value());
  events_->set_refusal(absl::FailedPreconditionError("archived"));
  EXPECT_EQ(*core_->ReconcileSteps(), 0);
  EXPECT_FALSE(store_->GetConfirmation("acme", event_.substr(7))->has_value());
}

TEST_F(FeedbackCoreTest, OnlyTheAssignedConfirmerConfirmsOnce) {
  v1::ConfirmImpactRequest req;
  req.set_event(event_);
  req.add_scopes(v1::IMPACT_SCOPE_DELIVERY);
  req.add_scopes(v1::IMPACT_SCOPE_SUPPLY_CHAIN);
  EXPECT_TRUE(absl::IsPermissionDenied(core_->ConfirmImpact(As("q-head"), req).status()));
  v1::ConfirmImpactRequest bad = req;
  bad.add_scopes(v1::IMPACT_SCOPE_NONE);
  EXPECT_TRUE(absl::IsInvalidArgument(core_->ConfirmImpact(As("c-head"), bad).status()));
  v1::ConfirmImpactRequest empty;
  empty.set_event(event_);
  EXPECT_TRUE(absl::IsInvalidArgument(core_->ConfirmImpact(As("c-head"), empty).status()));
  auto ok = core_->ConfirmImpact(As("c-head"), req);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->scopes.size(), 2u);
  EXPECT_EQ(events_->steps().back().step(), t::FLOW_STEP_CROSS_CONFIRM);
  EXPECT_TRUE(absl::IsFailedPrecondition(core_->ConfirmImpact(As("c-head"), req).status()));
}

TEST_F(FeedbackCoreTest, StatsArithmetic) {
  // Three reviews: response 3 h (effective), 1 h, 5 h; verdicts MEETS, REDO, NEEDS_IMPROVEMENT.
  struct R {
    int owner_hours_ago;
    t::Verdict verdict;
    const char* comment;
    const char* reviewer;
  };
  for (const R& r : std::vector<R>{{3, t::VERDICT_MEETS, "协调了交期（附邮件）", "s-head"},
                                   {1, t::VERDICT_REDO, "继续努力", "s-head"},
                                   {5, t::VERDICT_NEEDS_IMPROVEMENT, "good job", "s3"}}) {
    event_ = PutContract();
    event::v1::Event e = events_->event(event_);
    e.mutable_flow()->mutable_times()->mutable_owner_action_at()->set_seconds(
        absl::ToUnixSeconds(clock_->Now() - absl::Hours(r.owner_hours_ago)));
    events_->PutEvent(e);
    ASSERT_TRUE(core_->SubmitReview(As(r.reviewer), Review(r.verdict, r.comment)).ok());
  }
  auto stats = core_->Stats(As("x"), {});
  ASSERT_TRUE(stats.ok()) << stats.status();
  const auto& o = stats->overall();
  EXPECT_EQ(o.reviews(), 3);
  EXPECT_NEAR(o.effective_rate(), 1.0 / 3.0, 1e-9);
  EXPECT_DOUBLE_EQ(o.median_response_seconds(), 3 * 3600);
  EXPECT_DOUBLE_EQ(o.p90_response_seconds(), 5 * 3600);
  EXPECT_EQ(o.meets(), 1);
  EXPECT_EQ(o.redo(), 1);
  EXPECT_NEAR(o.redo_rate(), 1.0 / 3.0, 1e-9);
  ASSERT_EQ(stats->by_reviewer_size(), 2);
  EXPECT_EQ(stats->by_reviewer(0).key(), "s-head");
  EXPECT_EQ(stats->by_reviewer(0).reviews(), 2);
  // Two responses, 3 h and 1 h: the median is their mean (common/stats.h), as in the briefs.
  EXPECT_DOUBLE_EQ(stats->by_reviewer(0).median_response_seconds(), 2 * 3600);
  ASSERT_EQ(stats->by_month_size(), 1);
  EXPECT_EQ(stats->by_month(0).key(), "2026-03");
}

TEST(PolicyTest, ParsesDelegatesAndRejectsMalformed) {
  auto p = ParsePolicies("tenants:\n  acme:\n    require_effective_feedback: true\n    delegates: {m1: [d1, d2]}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->at("acme").require_effective_feedback);
  EXPECT_EQ(p->at("acme").delegates.at("m1").size(), 2u);
  EXPECT_TRUE(absl::IsInvalidArgument(ParsePolicies("other: 1\n").status()));
}

}  // namespace
}  // namespace perfflow::feedback
