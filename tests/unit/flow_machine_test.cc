#include "services/event/flow_machine.h"

#include "gtest/gtest.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

const absl::Time kT0 = absl::FromUnixSeconds(1772442000);

StepReport Report(FlowStep step, Verdict verdict = t::VERDICT_UNSPECIFIED, absl::Duration after = absl::Hours(1)) {
  return StepReport{step, verdict, kT0 + after};
}

FlowState Fresh(bool cross = false) {
  FlowState s;
  s.triggered_at = kT0;
  s.requires_cross_confirm = cross;
  return s;
}

FlowState Apply(const FlowState& s, const StepReport& r) {
  auto tr = ApplyStep(s, r);
  EXPECT_TRUE(tr.ok()) << tr.status();
  return tr.ok() ? tr->next : s;
}

TEST(FlowMachineTest, HappyPathWithoutCrossConfirm) {
  FlowState s = Fresh();
  EXPECT_EQ(CurrentStep(s), t::FLOW_STEP_TRIGGERED);
  s = Apply(s, Report(t::FLOW_STEP_OWNER_ACTION));
  EXPECT_EQ(CurrentStep(s), t::FLOW_STEP_OWNER_ACTION);
  s = Apply(s, Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS, absl::Hours(2)));
  EXPECT_EQ(CurrentStep(s), t::FLOW_STEP_MANAGER_FEEDBACK);
  EXPECT_EQ(s.verdict, t::VERDICT_MEETS);
  auto tr = ApplyStep(s, Report(t::FLOW_STEP_ARCHIVED, t::VERDICT_UNSPECIFIED, absl::Hours(3)));
  ASSERT_TRUE(tr.ok()) << tr.status();
  EXPECT_TRUE(tr->archived);
  EXPECT_EQ(CurrentStep(tr->next), t::FLOW_STEP_ARCHIVED);
  EXPECT_EQ(*tr->next.archived_at, kT0 + absl::Hours(3));
}

TEST(FlowMachineTest, OwnerActionCompletesOwnerTask) {
  auto tr = ApplyStep(Fresh(), Report(t::FLOW_STEP_OWNER_ACTION));
  ASSERT_TRUE(tr.ok());
  ASSERT_EQ(tr->task_changes.size(), 1u);
  EXPECT_EQ(tr->task_changes[0].kind, t::TASK_KIND_OWNER_UPLOAD);
  EXPECT_EQ(tr->task_changes[0].state, t::TASK_STATE_DONE);
}

TEST(FlowMachineTest, RedoReopensOwnerTaskInNewRound) {
  FlowState s = Apply(Fresh(), Report(t::FLOW_STEP_OWNER_ACTION));
  auto tr = ApplyStep(s, Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_REDO));
  ASSERT_TRUE(tr.ok());
  EXPECT_EQ(tr->next.round, 2);
  EXPECT_EQ(CurrentStep(tr->next), t::FLOW_STEP_TRIGGERED);
  EXPECT_FALSE(tr->next.manager_feedback_at.has_value());
  ASSERT_EQ(tr->task_changes.size(), 1u);
  EXPECT_EQ(tr->task_changes[0].kind, t::TASK_KIND_OWNER_UPLOAD);
  EXPECT_EQ(tr->task_changes[0].state, t::TASK_STATE_OPEN);
  // The owner acts again, then the manager can rate the new round.
  s = Apply(tr->next, Report(t::FLOW_STEP_OWNER_ACTION));
  s = Apply(s, Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_NEEDS_IMPROVEMENT));
  EXPECT_EQ(s.verdict, t::VERDICT_NEEDS_IMPROVEMENT);
}

TEST(FlowMachineTest, CrossConfirmRequiredBeforeArchive) {
  FlowState s = Apply(Fresh(/*cross=*/true), Report(t::FLOW_STEP_OWNER_ACTION));
  s = Apply(s, Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS));
  auto archive = ApplyStep(s, Report(t::FLOW_STEP_ARCHIVED));
  EXPECT_TRUE(absl::IsFailedPrecondition(archive.status())) << archive.status();
  s = Apply(s, Report(t::FLOW_STEP_CROSS_CONFIRM));
  EXPECT_EQ(CurrentStep(s), t::FLOW_STEP_CROSS_CONFIRM);
  EXPECT_TRUE(ApplyStep(s, Report(t::FLOW_STEP_ARCHIVED)).ok());
}

TEST(FlowMachineTest, CrossConfirmMayComeBeforeManagerFeedback) {
  FlowState s = Apply(Fresh(true), Report(t::FLOW_STEP_OWNER_ACTION));
  s = Apply(s, Report(t::FLOW_STEP_CROSS_CONFIRM));
  EXPECT_EQ(CurrentStep(s), t::FLOW_STEP_OWNER_ACTION);
  s = Apply(s, Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS));
  EXPECT_EQ(CurrentStep(s), t::FLOW_STEP_CROSS_CONFIRM);
}

struct IllegalCase {
  const char* name;
  FlowState state;
  StepReport report;
};

void PrintTo(const IllegalCase& c, std::ostream* os) { *os << c.name; }

class IllegalTransitionTest : public ::testing::TestWithParam<IllegalCase> {};

TEST_P(IllegalTransitionTest, IsFailedPrecondition) {
  auto tr = ApplyStep(GetParam().state, GetParam().report);
  EXPECT_TRUE(absl::IsFailedPrecondition(tr.status())) << tr.status();
}

FlowState OwnerDone(bool cross = false) { return Apply(Fresh(cross), Report(t::FLOW_STEP_OWNER_ACTION)); }
FlowState Archived() {
  FlowState s = Apply(OwnerDone(), Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS));
  return Apply(s, Report(t::FLOW_STEP_ARCHIVED));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, IllegalTransitionTest,
    ::testing::Values(IllegalCase{"TriggeredIsNotReportable", Fresh(), Report(t::FLOW_STEP_TRIGGERED)},
                      IllegalCase{"FeedbackBeforeOwner", Fresh(),
                                  Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS)},
                      IllegalCase{"ArchiveBeforeFeedback", OwnerDone(), Report(t::FLOW_STEP_ARCHIVED)},
                      IllegalCase{"OwnerTwice", OwnerDone(), Report(t::FLOW_STEP_OWNER_ACTION)},
                      IllegalCase{"CrossConfirmNotConfigured", OwnerDone(false), Report(t::FLOW_STEP_CROSS_CONFIRM)},
                      IllegalCase{"CrossConfirmBeforeOwner", Fresh(true), Report(t::FLOW_STEP_CROSS_CONFIRM)},
                      IllegalCase{"AnythingAfterArchive", Archived(), Report(t::FLOW_STEP_OWNER_ACTION)},
                      IllegalCase{"ArchiveTwice", Archived(), Report(t::FLOW_STEP_ARCHIVED)}),
    [](const ::testing::TestParamInfo<IllegalCase>& info) { return std::string(info.param.name); });

TEST(FlowMachineTest, FeedbackWithoutVerdictIsInvalidArgument) {
  auto tr = ApplyStep(OwnerDone(), Report(t::FLOW_STEP_MANAGER_FEEDBACK));
  EXPECT_TRUE(absl::IsInvalidArgument(tr.status())) << tr.status();
}

TEST(FlowMachineTest, SecondVerdictInSameRoundIsRejected) {
  FlowState s = Apply(OwnerDone(true), Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_MEETS));
  auto tr = ApplyStep(s, Report(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_REDO));
  EXPECT_TRUE(absl::IsFailedPrecondition(tr.status())) << tr.status();
}

}  // namespace
}  // namespace perfflow::event
