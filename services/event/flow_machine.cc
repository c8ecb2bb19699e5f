#include "services/event/flow_machine.h"

#include "absl/strings/str_cat.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

absl::Status Illegal(absl::string_view why) { return absl::FailedPreconditionError(why); }

}  // namespace

FlowStep CurrentStep(const FlowState& s) {
  if (s.archived_at) return t::FLOW_STEP_ARCHIVED;
  if (s.manager_feedback_at) {
    return s.requires_cross_confirm && s.cross_confirm_at ? t::FLOW_STEP_CROSS_CONFIRM : t::FLOW_STEP_MANAGER_FEEDBACK;
  }
  if (s.owner_action_at) return t::FLOW_STEP_OWNER_ACTION;
  return t::FLOW_STEP_TRIGGERED;
}

absl::StatusOr<Transition> ApplyStep(const FlowState& state, const StepReport& report) {
  if (state.archived_at) return Illegal("the chain is archived and sealed; no further steps");
  Transition tr{state, {}, false};
  FlowState& next = tr.next;
  switch (report.step) {
    case t::FLOW_STEP_TRIGGERED:
      return Illegal("TRIGGERED is recorded at ingestion and cannot be reported");

    case t::FLOW_STEP_OWNER_ACTION:
      if (state.owner_action_at) {
        return Illegal(absl::StrCat("the owner action of round ", state.round, " is already recorded"));
      }
      next.owner_action_at = report.at;
      tr.task_changes.push_back({t::TASK_KIND_OWNER_UPLOAD, t::TASK_STATE_DONE});
      return tr;

    case t::FLOW_STEP_MANAGER_FEEDBACK:
      if (report.verdict == t::VERDICT_UNSPECIFIED) {
        return absl::InvalidArgumentError("verdict: required for MANAGER_FEEDBACK");
      }
      if (!state.owner_action_at) return Illegal("manager feedback needs the owner's action first");
      if (state.manager_feedback_at) return Illegal("the manager's verdict for this chain is already recorded");
      next.verdict = report.verdict;
      if (report.verdict == t::VERDICT_REDO) {
        // A new round: the owner acts again; the manager's task stays open.
        next.round = state.round + 1;
        next.owner_action_at.reset();
        tr.task_changes.push_back({t::TASK_KIND_OWNER_UPLOAD, t::TASK_STATE_OPEN});
        return tr;
      }
      next.manager_feedback_at = report.at;
      tr.task_changes.push_back({t::TASK_KIND_MANAGER_REVIEW, t::TASK_STATE_DONE});
      return tr;

    case t::FLOW_STEP_CROSS_CONFIRM:
      if (!state.requires_cross_confirm) return Illegal("this event type asks for no cross-department confirmation");
      if (state.cross_confirm_at) return Illegal("the impact is already confirmed");
      if (!state.owner_action_at) return Illegal("impact confirmation needs the owner's action first");
      next.cross_confirm_at = report.at;
      tr.task_changes.push_back({t::TASK_KIND_CROSS_CONFIRM, t::TASK_STATE_DONE});
      return tr;

    case t::FLOW_STEP_ARCHIVED:
      if (!state.manager_feedback_at) return Illegal("archiving needs the manager's verdict first");
      if (state.requires_cross_confirm && !state.cross_confirm_at) {
        return Illegal("archiving needs the cross-department confirmation first");
      }
      next.archived_at = report.at;
      tr.archived = true;
      return tr;

    default:
      return absl::InvalidArgumentError("step: required (OWNER_ACTION, MANAGER_FEEDBACK, CROSS_CONFIRM or ARCHIVED)");
  }
}

}  // namespace perfflow::event
