#pragma once

// What timers and digests say, as plain values: when a tenant's digests are
// due in its own time zone, how long a failed delivery waits, the digest
// notices, and the text and card a person reads.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "perfflow/event/v1/event_types.pb.h"
#include "perfflow/type/v1/flow.pb.h"
#include "services/event/deadlines.h"
#include "services/event/delivery/notify.h"

namespace perfflow::event {

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
  std::string task_id;
  std::string event_id;
  std::string event_type;
  perfflow::type::v1::TaskKind kind = perfflow::type::v1::TASK_KIND_UNSPECIFIED;
  absl::Time due_at;
};

// One person's open tasks for the weekly list: all of them counted, the
// soonest due listed (at most kMaxWeeklyActions, soonest first).
struct PersonActions {
  std::string assignee_id;
  int64_t open = 0;
  int64_t overdue = 0;
  std::vector<OpenTask> soonest;
};

// One "daily_digest" notice per manager with at least one open item.
std::vector<Notice> ManagerDigests(const std::vector<TeamTaskCount>& rows, const std::string& period);

// A weekly notice lists at most this many actions, the soonest due first; its
// "open" and "overdue" count all of them and "more" says how many are not
// listed (a person with thousands of open tasks would otherwise get a payload
// past what the outbox column holds, built in the worker's memory).
inline constexpr int kMaxWeeklyActions = 50;

// One "weekly_actions" notice per person, each listed task with the goals its
// event type serves (`goals_of` maps event type -> goal keys).
std::vector<Notice> WeeklyActions(const std::vector<PersonActions>& people,
                                  const std::function<std::vector<std::string>(const std::string&)>& goals_of,
                                  const std::string& period);

// One line a person reads in a chat robot, from a notice's topic and payload.
std::string NoticeText(const std::string& topic, const google::protobuf::Struct& payload);

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
