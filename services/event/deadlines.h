#pragma once

// The clock of every open task, as plain values: which timer comes next, when
// the daily and weekly digests are due in a tenant's own time zone, how long
// a failed delivery waits, and the messages these produce. No storage, no
// clock of its own: callers pass the time (the database's, in production).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "perfflow/event/v1/event_types.pb.h"
#include "perfflow/type/v1/flow.pb.h"
#include "services/event/notify.h"

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

// Where and when a tenant's people get their digests.
struct TenantSchedule {
  absl::TimeZone zone = absl::UTCTimeZone();
  int digest_hour = 9;
  int weekly_hour = 9;
};

TenantSchedule ScheduleOf(const v1::Registry& registry);

// Periods whose digest is due at `now`: the daily manager digest is due from
// digest_hour on each local day ("2026-11-27"); the weekly action list from
// weekly_hour on Monday through the rest of that ISO week ("2026-W48").
struct DigestPeriods {
  std::optional<std::string> daily;
  std::optional<std::string> weekly;
};

DigestPeriods DuePeriods(absl::Time now, const TenantSchedule& schedule);

// Wait before delivery attempt `attempt + 1` after `attempt` failures:
// initial * 2^(attempt-1), capped at max, spread by +/- jitter (0..1) using
// `unit`, a uniform random number in [0, 1).
absl::Duration Backoff(int attempt, absl::Duration initial, absl::Duration max, double jitter, double unit);

// ---- digests

// One row of a manager's team view: open and overdue tasks of one event type.
struct TeamTaskCount {
  std::string manager_id;
  std::string event_type;
  int64_t open = 0;
  int64_t overdue = 0;
};

struct OpenTask {
  std::string assignee_id;
  std::string task_id;
  std::string event_id;
  std::string event_type;
  perfflow::type::v1::TaskKind kind = perfflow::type::v1::TASK_KIND_UNSPECIFIED;
  absl::Time due_at;
};

// A message for one recipient, before it becomes an outbox row.
struct Notice {
  std::string recipient_id;
  std::string topic;
  std::string idempotency_key;
  std::string payload_json;
};

// One "daily_digest" notice per manager with at least one open item.
std::vector<Notice> ManagerDigests(const std::vector<TeamTaskCount>& rows, const std::string& period);

// One "weekly_actions" notice per person with open tasks, each task with the
// goals its event type serves (`goals_of` maps event type -> goal keys).
std::vector<Notice> WeeklyActions(const std::vector<OpenTask>& tasks,
                                  const std::function<std::vector<std::string>(const std::string&)>& goals_of,
                                  const std::string& period, absl::Time now);

// One line a person reads in a chat robot, from a notice's topic and payload.
std::string NoticeText(const std::string& topic, const std::string& payload_json);

// What a card shows beside the payload: the event's type (null when it left
// the registry), attributes and owner, and the tenant's time zone.
struct CardContext {
  std::shared_ptr<const v1::Registry> registry;  // keeps `type` alive
  const v1::EventType* type = nullptr;
  google::protobuf::Struct attributes;
  std::string owner_name;
  absl::TimeZone zone = absl::UTCTimeZone();
};

// The card of a task notice (task.assigned / reminder / overdue) or a digest,
// with buttons to `action_url`; nullopt for other topics.
std::optional<Card> NoticeCard(const std::string& topic, const google::protobuf::Struct& payload,
                               const std::string& action_url, const CardContext& context);

}  // namespace perfflow::event
