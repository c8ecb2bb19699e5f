// The settings replay with hand-computed answers.

#include "services/event/what_if.h"

#include "gtest/gtest.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

const absl::Time kT0 = absl::FromUnixSeconds(1780000000);
absl::Time At(double hours) { return kT0 + absl::Minutes(hours * 60); }

v1::Registry OneType() {
  v1::Registry r;
  auto* type = r.add_event_types();
  type->set_key("t");
  type->mutable_actions()->mutable_owner_upload()->set_due_hours(24);
  type->mutable_actions()->mutable_manager_review()->set_due_hours(48);
  return r;  // timers: the built-in 4 h reminder, 24 h escalation
}

ReplayRows Rows() {
  ReplayRows rows;
  rows.chains = {{"t", At(0), At(30)},                                       // archived after 30 h
                 {"t", At(0), At(60)},                                       // after 60 h
                 {"t", At(190), std::nullopt}};                              // opened 10 h before now
  rows.tasks = {{"t", t::TASK_KIND_OWNER_UPLOAD, At(0), At(24), At(22)},     // done 2 h early
                {"t", t::TASK_KIND_MANAGER_REVIEW, At(0), At(48), At(80)}};  // done 32 h late
  return rows;
}

TEST(WhatIfTest, TodaysSettingsReplayTheRecordedTimes) {
  const v1::SimulationFigures f = Replay(Rows(), OneType(), nullptr, At(200));
  EXPECT_EQ(f.within(), 1);
  EXPECT_EQ(f.outside(), 1);
  EXPECT_EQ(f.pending(), 1);
  EXPECT_DOUBLE_EQ(f.flow_health(), 0.5);
  EXPECT_EQ(f.late_tasks(), 1);
  EXPECT_EQ(f.reminders(), 2);         // at 20 h (upload still open) and 44 h (review)
  EXPECT_EQ(f.overdue_warnings(), 1);  // the review at 48 h
  EXPECT_EQ(f.escalations(), 1);       // the review at 72 h, still open until 80 h
}

TEST(WhatIfTest, OtherWindowDeadlinesAndTimers) {
  v1::WhatIf w;
  w.set_closure_hours(72);
  w.mutable_due_hours()->set_owner_upload(12);
  w.mutable_timers()->set_reminders_off(true);
  w.mutable_timers()->set_escalate_after_hours(12);
  const v1::SimulationFigures f = Replay(Rows(), OneType(), &w, At(200));
  EXPECT_EQ(f.within(), 2);  // 30 h and 60 h are both within 72 h
  EXPECT_EQ(f.pending(), 1);
  EXPECT_DOUBLE_EQ(f.flow_health(), 1.0);
  EXPECT_EQ(f.late_tasks(), 2);  // the upload done at 22 h is now late (due 12 h)
  EXPECT_EQ(f.reminders(), 0);
  EXPECT_EQ(f.overdue_warnings(), 2);  // upload at 12 h, review at 48 h
  EXPECT_EQ(f.escalations(), 1);       // review at 60 h; the upload's (24 h) comes after it was done

  // A per-type deadline wins over the one for every type.
  (*w.mutable_event_types())["t"].set_owner_upload(30);
  const v1::SimulationFigures per_type = Replay(Rows(), OneType(), &w, At(200));
  EXPECT_EQ(per_type.late_tasks(), 1);
  EXPECT_EQ(per_type.overdue_warnings(), 1);
}

TEST(WhatIfTest, TimersNotYetDueAreNotCounted) {
  // At 46 h: the upload's reminder fired at 20 h, the review's at 44 h; nothing else yet.
  const v1::SimulationFigures f = Replay(Rows(), OneType(), nullptr, At(46));
  EXPECT_EQ(f.reminders(), 2);
  EXPECT_EQ(f.overdue_warnings(), 0);
  EXPECT_EQ(f.escalations(), 0);
}

}  // namespace
}  // namespace perfflow::event
