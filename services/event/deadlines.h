#pragma once

// The clock of every open task, as plain values: which timer comes next and
// when (ingestion schedules the first, the timer worker the rest). No
// storage, no clock of its own: callers pass the time (the database's, in
// production). The messages timers and digests produce are in
// delivery/messages.h.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "perfflow/event/v1/event_types.pb.h"
#include "perfflow/type/v1/flow.pb.h"

namespace perfflow::event {

// Levels fire in this order, each at most once per task.
enum class TimerLevel { kNone = 0, kReminder = 1, kOverdue = 2, kEscalation = 3 };

// "owner_upload", "manager_review", "cross_confirm".
const char* TaskKindLabel(perfflow::type::v1::TaskKind kind);

// "reminder", "overdue", "escalation".
const char* TimerLevelLabel(TimerLevel level);

struct TimerPolicy {
  absl::Duration reminder_before = absl::Hours(4);
  absl::Duration escalate_after = absl::Hours(24);
  v1::EscalationTarget escalate_to = v1::ESCALATION_TARGET_SKIP_LEVEL_MANAGER;
};

// `spec`'s set fields over `policy`.
void OverlayTimers(const v1::TimerSpec& spec, TimerPolicy& policy);

// The event type's timers over the tenant's settings over built-in defaults.
TimerPolicy EffectiveTimers(const v1::Registry& registry, const v1::EventType& type);

struct ScheduledTimer {
  TimerLevel level = TimerLevel::kNone;
  absl::Time at;
};

// The first timer of a task created at `created` and due at `due`: the
// reminder when it would come after creation, else the overdue warning.
ScheduledTimer FirstTimer(absl::Time created, absl::Time due, const TimerPolicy& policy);

// The timer after `fired`; level kNone when the escalation was the last.
ScheduledTimer NextTimer(TimerLevel fired, absl::Time due, absl::Duration escalate_after);

// A message for one recipient, before it becomes an outbox row.
struct Notice {
  std::string recipient_id;
  std::string topic;
  std::string idempotency_key;
  std::string payload_json;
};

}  // namespace perfflow::event
