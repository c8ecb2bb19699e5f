// FeedbackStore contract on SQLite and the real MariaDB.

#include "common/ids.h"
#include "gtest/gtest.h"
#include "services/feedback/sql_feedback_store.h"
#include "tests/testing/test_databases.h"

namespace perfflow::feedback {
namespace {

using testing::Backend;

class FeedbackStoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMysql && !testing::MysqlConfigured()) {
      GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
    }
    database_ = testing::MakeTestDatabase(GetParam());
    auto store = SqlFeedbackStore::Open(database_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  ReviewRow Row(int round, int verdict, const std::string& reviewer, absl::Time at) {
    ReviewRow r;
    r.review_id = RandomId();
    r.event_id = std::string(32, 'e');
    r.round = round;
    r.verdict = verdict;
    r.reviewer_id = reviewer;
    r.subject_id = "s1";
    r.department_id = "sales";
    r.comment = "协调了交期（附邮件）";
    r.behaviours = {"clarified_delivery_terms"};
    r.cited_evidence = {"evidence/" + std::string(32, 'a'), "evidence/" + std::string(32, 'b')};
    r.specificity = 0.85;
    r.effective = true;
    r.created_at = at;
    r.response = absl::Hours(3);
    return r;
  }

  // The flow step a review reports, pending until the event service has it.
  static event::PendingStep StepOf(const ReviewRow& r) {
    return {"acme", ReviewStepId(r.review_id), "events/" + r.event_id, 3, r.verdict, r.reviewer_id, r.created_at};
  }

  int64_t PendingReports() { return testing::CountRows(*database_.db, "step_reports"); }

  testing::TestDatabase database_;
  std::shared_ptr<SqlFeedbackStore> store_;
};

TEST_P(FeedbackStoreContractTest, OneVerdictPerRoundAndTheTrailRoundTrips) {
  const absl::Time t0 = absl::FromUnixSeconds(1772442000);
  ReviewRow first = Row(1, 3, "s-head", t0);
  ASSERT_TRUE(store_->InsertReview("acme", first, StepOf(first)).ok());
  ReviewRow same_round = Row(1, 1, "s-head", t0);
  EXPECT_TRUE(absl::IsAlreadyExists(store_->InsertReview("acme", same_round, StepOf(same_round))));
  EXPECT_EQ(PendingReports(), 1);  // the refused review left no pending report
  ReviewRow second = Row(2, 1, "s3", t0 + absl::Hours(1));
  ASSERT_TRUE(store_->InsertReview("acme", second, StepOf(second)).ok());
  ReviewRow other = Row(1, 1, "x", t0);
  event::PendingStep other_step = StepOf(other);
  other_step.tenant = "other";
  ASSERT_TRUE(store_->InsertReview("other", other, other_step).ok());
  auto trail = store_->ListReviews("acme", first.event_id);
  ASSERT_TRUE(trail.ok());
  ASSERT_EQ(trail->size(), 2u);
  const ReviewRow& r = (*trail)[0];
  EXPECT_EQ(r.comment, first.comment);
  EXPECT_EQ(r.cited_evidence, first.cited_evidence);
  EXPECT_EQ(r.behaviours, first.behaviours);
  EXPECT_DOUBLE_EQ(r.specificity, 0.85);
  EXPECT_EQ(r.response, absl::Hours(3));
  EXPECT_EQ(r.created_at, t0);

  auto in = store_->ReviewsIn("acme", {t0, t0 + absl::Minutes(30), "", ""});
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->size(), 1u);
  auto by = store_->ReviewsIn("acme", {t0, t0 + absl::Hours(2), "", "s3"});
  ASSERT_TRUE(by.ok());
  EXPECT_EQ(by->size(), 1u);
  EXPECT_EQ(PendingReports(), 3);
  ASSERT_TRUE(store_->DeleteReview("acme", first.review_id).ok());
  EXPECT_EQ(PendingReports(), 2);  // the review and its report go together
  ReviewRow again = Row(1, 1, "s-head", t0);
  EXPECT_TRUE(store_->InsertReview("acme", again, StepOf(again)).ok());
}

TEST_P(FeedbackStoreContractTest, OneConfirmationPerEvent) {
  ConfirmationRow c{std::string(32, 'e'), {1, 3}, "ok", "c-head", absl::FromUnixSeconds(1772442000)};
  event::PendingStep step{"acme", ConfirmStepId(c.event_id), "events/" + c.event_id, 4, 0, "c-head", c.confirmed_at};
  ASSERT_TRUE(store_->InsertConfirmation("acme", c, step).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(store_->InsertConfirmation("acme", c, step)));
  EXPECT_EQ(PendingReports(), 1);
  auto got = store_->GetConfirmation("acme", c.event_id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->scopes, (std::vector<int>{1, 3}));
  ASSERT_TRUE(store_->DeleteConfirmation("acme", c.event_id).ok());
  EXPECT_EQ(PendingReports(), 0);
  auto gone = store_->GetConfirmation("acme", c.event_id);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

INSTANTIATE_TEST_SUITE_P(Backends, FeedbackStoreContractTest, ::testing::Values(Backend::kSqlite, Backend::kMysql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

}  // namespace
}  // namespace perfflow::feedback
