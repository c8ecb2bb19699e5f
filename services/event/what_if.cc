#include "services/event/what_if.h"

#include <algorithm>
#include <map>

#include "services/event/flow_health.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

int32_t DeadlineOf(const v1::TaskDeadlines& d, t::TaskKind kind) {
  switch (kind) {
    case t::TASK_KIND_OWNER_UPLOAD:
      return d.owner_upload();
    case t::TASK_KIND_MANAGER_REVIEW:
      return d.manager_review();
    case t::TASK_KIND_CROSS_CONFIRM:
      return d.cross_confirm();
    default:
      return 0;
  }
}

}  // namespace

v1::SimulationFigures Replay(const ReplayRows& rows, const v1::Registry& registry, const v1::WhatIf* what_if,
                             absl::Time now) {
  v1::SimulationFigures out;
  const absl::Duration window =
      what_if != nullptr && what_if->closure_hours() > 0 ? absl::Hours(what_if->closure_hours()) : kFlowWindow;
  for (const ReplayChain& c : rows.chains) {
    switch (ClassifyChain(c.triggered_at, c.archived_at, now, window)) {
      case ChainOutcome::kWithin:
        out.set_within(out.within() + 1);
        break;
      case ChainOutcome::kOutside:
        out.set_outside(out.outside() + 1);
        break;
      default:
        out.set_pending(out.pending() + 1);
        break;
    }
  }
  const int64_t decided = out.within() + out.outside();
  out.set_flow_health(decided == 0 ? 0 : static_cast<double>(out.within()) / static_cast<double>(decided));

  std::map<std::string, const v1::EventType*> types;
  for (const auto& type : registry.event_types()) types[type.key()] = &type;
  for (const ReplayTask& task : rows.tasks) {
    TimerPolicy policy;
    auto type = types.find(task.event_type);
    if (type != types.end()) policy = EffectiveTimers(registry, *type->second);
    absl::Time due = task.due_at;
    if (what_if != nullptr) {
      if (what_if->has_timers()) OverlayTimers(what_if->timers(), policy);
      int32_t hours = DeadlineOf(what_if->due_hours(), task.kind);
      auto per_type = what_if->event_types().find(task.event_type);
      if (per_type != what_if->event_types().end() && DeadlineOf(per_type->second, task.kind) > 0) {
        hours = DeadlineOf(per_type->second, task.kind);
      }
      // Deadlines count from the chain's TRIGGERED time, which is when its tasks open.
      if (hours > 0) due = task.created_at + absl::Hours(hours);
    }
    const absl::Time open_until = std::min(task.done_at.value_or(absl::InfiniteFuture()), now);
    if (task.done_at.value_or(now) > due) out.set_late_tasks(out.late_tasks() + 1);
    // Each timer fires when its time comes while the task is still open.
    for (ScheduledTimer timer = FirstTimer(task.created_at, due, policy);
         timer.level != TimerLevel::kNone && timer.at < open_until;
         timer = NextTimer(timer.level, due, policy.escalate_after)) {
      switch (timer.level) {
        case TimerLevel::kReminder:
          out.set_reminders(out.reminders() + 1);
          break;
        case TimerLevel::kOverdue:
          out.set_overdue_warnings(out.overdue_warnings() + 1);
          break;
        case TimerLevel::kEscalation:
          out.set_escalations(out.escalations() + 1);
          break;
        default:
          break;
      }
    }
  }
  return out;
}

}  // namespace perfflow::event
