#pragma once

// The settings replay behind SimulateSettings: the stored chains and tasks of
// a period, with their recorded open, done and archive times, judged under a
// flow-health window and task deadlines, and their timers (reminder, overdue
// warning, escalation) counted as they would have fired by `now`. The same
// replay under today's settings gives the side-by-side baseline.

#include "perfflow/event/v1/event_service.pb.h"
#include "services/event/event_store.h"

namespace perfflow::event {

// `what_if` null: today's settings (the registry's, 48 h window).
v1::SimulationFigures Replay(const ReplayRows& rows, const v1::Registry& registry, const v1::WhatIf* what_if,
                             absl::Time now);

}  // namespace perfflow::event
