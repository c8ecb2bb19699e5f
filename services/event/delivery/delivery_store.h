#pragma once

// Storage of the event service's due work: task timers, the notification
// outbox and digest runs. Due work is shared by every replica on one
// database: a replica claims a bounded batch (SKIP LOCKED on MySQL) under a
// lease and a fencing token, and its results commit only while the lease and
// the token are still its own. Times passed in come from the database clock
// (Now()), so replicas with skewed clocks agree.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "services/event/delivery/messages.h"
#include "services/event/event_store.h"

namespace perfflow::event {

// A timer this replica holds until lease_until.
struct ClaimedTimer {
  std::string tenant;
  TaskRecord task;
  int64_t fence = 0;
};

// What firing a claimed timer writes: the notices and the task's next timer.
struct TimerFiring {
  ClaimedTimer claim;
  std::vector<Notice> notices;
  ScheduledTimer next;
};

struct OutboxMessage {
  std::string message_id;
  // Unique per tenant; the relay's deduplication key downstream.
  std::string idempotency_key;
  std::string topic;
  std::string recipient_id;
  std::string payload_json;
  absl::Time created_at;
};

// A message this replica holds until its lease ends: an outbox row, or the
// "task.assigned" notice of a task row (message_id is then the task id).
struct ClaimedMessage {
  std::string tenant;
  OutboxMessage message;
  // Where the message lives: an outbox row or a task row.
  bool task_notice = false;
  int attempts = 0;
  // Destinations that already accepted it (on an earlier attempt).
  std::vector<std::string> delivered_to;
  int64_t fence = 0;
};

struct FireResult {
  // Lag (fired_at - timer_at) of each timer this call fired.
  std::vector<std::pair<TimerLevel, absl::Duration>> fired;
  // Claims another replica took over (lease expired, token moved on).
  int fenced = 0;
  // Tasks completed since the claim; their timers stop.
  int cancelled = 0;
  // The notices written already leased to the firing owner (see FireTimers'
  // hand_off_lease), as a claim of them would have returned them.
  std::vector<ClaimedMessage> handed_off;
};

struct DeliveryOutcome {
  DeliveryState state = DeliveryState::kPending;
  // Counts as an attempt (a rate-limit deferral does not).
  bool attempted = true;
  absl::Time next_attempt_at;
  std::string last_error;
  std::vector<std::string> delivered_to;
};

class DeliveryStore {
 public:
  virtual ~DeliveryStore() = default;

  // The database clock.
  virtual absl::StatusOr<absl::Time> Now() = 0;

  // Claims up to `limit` timers due at `now` (timer_at <= now) on open tasks
  // whose lease has ended, leasing them to `owner` until now + lease.
  virtual absl::StatusOr<std::vector<ClaimedTimer>> ClaimDueTimers(const std::string& owner, absl::Time now,
                                                                   absl::Duration lease, int limit) = 0;

  // In one transaction: for each firing still held by `owner` with its fence
  // and an unexpired lease at `now`, and due at `now`, records (task, level) as
  // fired (a unique key: never twice), writes its notices to the outbox and
  // moves the task to its next timer. Others count as fenced or cancelled.
  // With a `hand_off_lease`, the notices are written already leased to
  // `owner` until now + hand_off_lease (fence 1), due to a claim only then,
  // and returned as claimed, so the owner's relay can deliver them without
  // claiming them; zero writes them for any relay to claim at once.
  virtual absl::StatusOr<FireResult> FireTimers(const std::string& owner, absl::Time now,
                                                const std::vector<TimerFiring>& firings,
                                                absl::Duration hand_off_lease) = 0;

  // Open tasks whose timer is due at `now`.
  virtual absl::StatusOr<int64_t> DueTimers(const std::string& tenant, absl::Time now) = 0;

  // The escalation audience of a task.
  virtual absl::StatusOr<std::string> ManagerOf(const std::string& tenant, const std::string& employee_id) = 0;
  virtual absl::StatusOr<std::vector<std::string>> EmployeesWithRole(const std::string& tenant,
                                                                     const std::string& role) = 0;

  // Outbox relay: like ClaimDueTimers, over pending messages whose
  // next_attempt_at has come — outbox rows and tasks' "task.assigned"
  // notices together, the `limit` due first.
  virtual absl::StatusOr<std::vector<ClaimedMessage>> ClaimOutbox(const std::string& owner, absl::Time now,
                                                                  absl::Duration lease, int limit) = 0;
  // Records the outcomes of a batch in one transaction, each only while
  // `owner` still holds its message with its fence; returns how many were
  // fenced (another relay owns them now).
  virtual absl::StatusOr<int> CompleteDeliveries(
      const std::string& owner, absl::Time now,
      const std::vector<std::pair<ClaimedMessage, DeliveryOutcome>>& results) = 0;
  // Messages dead-lettered, outbox rows and task notices (the pending
  // backlog is EventStore::OutboxBacklog).
  virtual absl::StatusOr<int64_t> DeadLetters(const std::string& tenant) = 0;
  // Clears the payload ("{}") and channels of outbox messages delivered
  // before `delivered_before`; returns how many were cleared (none twice).
  // A task notice stores no payload (it is built from the task row).
  virtual absl::StatusOr<int64_t> ClearDelivered(const std::string& tenant, absl::Time delivered_before) = 0;

  // Digests: team counts of open tasks by manager and event type, and each
  // person's open tasks for the weekly list — counted (overdue: due before
  // `now`), the `per_person` soonest due listed; by assignee. Only those rows
  // leave the database, however many tasks are open.
  virtual absl::StatusOr<std::vector<TeamTaskCount>> TeamTaskCounts(const std::string& tenant, absl::Time now) = 0;
  virtual absl::StatusOr<std::vector<PersonActions>> WeeklyActionLists(const std::string& tenant, absl::Time now,
                                                                       int per_person) = 0;
  // Whether the (kind, period) run is recorded: a replica asks before it
  // builds a digest another replica already sent.
  virtual absl::StatusOr<bool> DigestRecorded(const std::string& tenant, const std::string& kind,
                                              const std::string& period) = 0;
  // Records the (kind, period) run and writes its notices in one transaction;
  // false when another replica already did.
  virtual absl::StatusOr<bool> RecordDigest(const std::string& tenant, const std::string& kind,
                                            const std::string& period, const std::vector<Notice>& notices,
                                            absl::Time now) = 0;
};

}  // namespace perfflow::event
