#include "services/event/deadlines.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

}  // namespace

const char* TaskKindLabel(t::TaskKind kind) {
  switch (kind) {
    case t::TASK_KIND_OWNER_UPLOAD:
      return "owner_upload";
    case t::TASK_KIND_MANAGER_REVIEW:
      return "manager_review";
    case t::TASK_KIND_CROSS_CONFIRM:
      return "cross_confirm";
    default:
      return "unknown";
  }
}

const char* TimerLevelLabel(TimerLevel level) {
  switch (level) {
    case TimerLevel::kReminder:
      return "reminder";
    case TimerLevel::kOverdue:
      return "overdue";
    case TimerLevel::kEscalation:
      return "escalation";
    default:
      return "none";
  }
}

void OverlayTimers(const v1::TimerSpec& spec, TimerPolicy& policy) {
  if (spec.reminder_before_hours() > 0) policy.reminder_before = absl::Hours(spec.reminder_before_hours());
  if (spec.reminders_off()) policy.reminder_before = absl::ZeroDuration();
  if (spec.escalate_after_hours() > 0) policy.escalate_after = absl::Hours(spec.escalate_after_hours());
  if (spec.escalate_to() != v1::ESCALATION_TARGET_UNSPECIFIED) policy.escalate_to = spec.escalate_to();
}

TimerPolicy EffectiveTimers(const v1::Registry& registry, const v1::EventType& type) {
  TimerPolicy policy;
  if (registry.settings().has_timers()) OverlayTimers(registry.settings().timers(), policy);
  if (type.actions().has_timers()) OverlayTimers(type.actions().timers(), policy);
  return policy;
}

ScheduledTimer FirstTimer(absl::Time created, absl::Time due, const TimerPolicy& policy) {
  if (policy.reminder_before > absl::ZeroDuration() && due - policy.reminder_before > created) {
    return {TimerLevel::kReminder, due - policy.reminder_before};
  }
  return {TimerLevel::kOverdue, due};
}

ScheduledTimer NextTimer(TimerLevel fired, absl::Time due, absl::Duration escalate_after) {
  switch (fired) {
    case TimerLevel::kReminder:
      return {TimerLevel::kOverdue, due};
    case TimerLevel::kOverdue:
      return {TimerLevel::kEscalation, due + escalate_after};
    default:
      return {TimerLevel::kNone, absl::InfiniteFuture()};
  }
}

}  // namespace perfflow::event
