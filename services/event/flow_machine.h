#pragma once

// The flow state machine, as plain values: no storage, no clock. Given a
// chain's state and a reported step, it returns the next state and the task
// changes, or FAILED_PRECONDITION for an illegal transition.
//
//   TRIGGERED -> OWNER_ACTION -> MANAGER_FEEDBACK (+ CROSS_CONFIRM) -> ARCHIVED
//   MANAGER_FEEDBACK with REDO reopens the owner's task in a new round.

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "perfflow/type/v1/flow.pb.h"

namespace perfflow::event {

using perfflow::type::v1::FlowStep;
using perfflow::type::v1::TaskKind;
using perfflow::type::v1::TaskState;
using perfflow::type::v1::Verdict;

struct FlowState {
  absl::Time triggered_at;
  std::optional<absl::Time> owner_action_at;
  std::optional<absl::Time> manager_feedback_at;
  std::optional<absl::Time> cross_confirm_at;
  std::optional<absl::Time> archived_at;
  // Reported by the evidence service; not a step of the chain.
  std::optional<absl::Time> evidence_complete_at;
  bool requires_cross_confirm = false;
  int round = 1;
  Verdict verdict = perfflow::type::v1::VERDICT_UNSPECIFIED;
};

struct StepReport {
  FlowStep step = perfflow::type::v1::FLOW_STEP_UNSPECIFIED;
  Verdict verdict = perfflow::type::v1::VERDICT_UNSPECIFIED;
  absl::Time at;
};

struct TaskChange {
  TaskKind kind;
  TaskState state;
};

struct Transition {
  FlowState next;
  std::vector<TaskChange> task_changes;
  // The chain was archived by this step.
  bool archived = false;
};

// The last step a chain has reached.
FlowStep CurrentStep(const FlowState& state);

absl::StatusOr<Transition> ApplyStep(const FlowState& state, const StepReport& report);

}  // namespace perfflow::event
