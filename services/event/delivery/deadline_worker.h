#pragma once

// The event service's background work, safe with any number of replicas on
// one database: the timer worker fires reminders, overdue warnings and
// escalations; the digest scheduler writes daily manager digests and weekly
// action lists at each tenant's local hour; the outbox relay delivers every
// notification through its channels with retries, backoff, a per-destination
// rate limit and a dead-letter state. Each RunOnce() does a bounded amount of
// work so catching up never starves ingestion; callers run them periodically.

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/action_link.h"
#include "common/clock.h"
#include "common/token_bucket.h"
#include "common/ttl_cache.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "services/event/delivery/delivery_store.h"
#include "services/event/delivery/event_source.h"
#include "services/event/delivery/notify.h"

namespace perfflow::event {

// Thread-safe (prometheus-cpp families are).
class DeliveryMetrics {
 public:
  explicit DeliveryMetrics(prometheus::Registry& registry);

  void TimerFired(TimerLevel level, absl::Duration lag);
  void ClaimsLost(int count);
  void SetDueBacklog(const std::string& tenant, int64_t count);
  // result: delivered | retry | dead_letter | rate_limited
  void Notification(const std::string& channel, const std::string& result);
  // Creates the channel's counters at 0 (increase() then sees their first count).
  void KnowChannel(const std::string& channel);
  void SetDeadLetters(const std::string& tenant, int64_t count);
  void DigestSent(const std::string& kind, int64_t messages);

 private:
  prometheus::Family<prometheus::Histogram>& lag_;
  prometheus::Family<prometheus::Counter>& fired_;
  prometheus::Family<prometheus::Counter>& lost_;
  prometheus::Family<prometheus::Gauge>& due_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Family<prometheus::Gauge>& dead_;
  prometheus::Family<prometheus::Counter>& digests_;
};

// The time due work is judged by: the database clock in production, a fake
// clock in unit tests.
using TimeSource = std::function<absl::StatusOr<absl::Time>()>;
TimeSource DatabaseTime(std::shared_ptr<DeliveryStore> store);
TimeSource ClockTime(std::shared_ptr<const Clock> clock);

// The warnings a timer worker fires, handed to the relay of the same replica
// in memory: written already leased to this replica (the owner name the
// relay shares, fence 1) and due to a claim only when that lease ends, so
// that the relay delivers them without claiming them — without the claim's
// read and lease of every message. If the process dies first, their lease
// runs out and any relay claims them. A batch the relay reaches more than
// `max_age` after it was put (half the lease: its lease may be running out)
// is left to such a claim. Bounded: while it holds `max_messages`, warnings
// are written for any relay to claim, as without it. (Ingestion's notices
// are not handed over: that put all of a replica's ingestion's deliveries on
// its own relay; see docs/deadlines.md.)
class HandOff {
 public:
  HandOff(std::shared_ptr<const Clock> clock, absl::Duration max_age, size_t max_messages = 4096)
      : clock_(std::move(clock)), max_age_(max_age), max_messages_(max_messages) {}

  bool HasRoom() const;
  void Put(std::vector<ClaimedMessage> batch);
  // The messages put within max_age, oldest first; the older ones are dropped.
  std::vector<ClaimedMessage> TakeFresh();

 private:
  const std::shared_ptr<const Clock> clock_;
  const absl::Duration max_age_;
  const size_t max_messages_;
  mutable absl::Mutex mu_;
  // (put at, on the clock's monotonic time; the batch)
  std::vector<std::pair<absl::Duration, std::vector<ClaimedMessage>>> batches_ ABSL_GUARDED_BY(mu_);
  size_t messages_ ABSL_GUARDED_BY(mu_) = 0;
};

struct WorkerOptions {
  // This replica's name in leases (host-pid by default).
  std::string owner;
  absl::Duration lease = absl::Seconds(30);
  int batch = 200;
  // Per RunOnce; the rest waits for the next run.
  int max_batches = 10;
  // Share of the time a catching-up worker may spend on batches: after a
  // batch that took t it pauses t * (100 / duty_percent - 1), so a storm of
  // due work leaves the database to ingestion the rest of the time.
  int duty_percent = 100;
  // Shared by a replica's timer worker and relay (see HandOff); none: every
  // warning is claimed by a relay from the database.
  std::shared_ptr<HandOff> hand_off;
  // Fault injection (tests): holds claimed timers this long before firing.
  absl::Duration fault_delay_before_fire = absl::ZeroDuration();
  // Time for pacing, rate limits, jitter and caches (tests use a fake clock);
  // when due work is due is judged by the TimeSource.
  std::shared_ptr<const Clock> clock = RealClock();
};

class TimerWorker {
 public:
  TimerWorker(std::shared_ptr<DeliveryStore> store, TimeSource now, WorkerOptions options, DeliveryMetrics* metrics);

  // Claims and fires due timers; returns how many fired.
  absl::StatusOr<int> RunOnce();

 private:
  absl::StatusOr<std::vector<Notice>> NoticesFor(const ClaimedTimer& claim);

  std::shared_ptr<DeliveryStore> store_;
  TimeSource now_;
  WorkerOptions options_;
  DeliveryMetrics* metrics_;
};

class DigestScheduler {
 public:
  DigestScheduler(std::shared_ptr<EventSource> events, std::shared_ptr<DeliveryStore> store, TimeSource now,
                  DeliveryMetrics* metrics);

  // Writes every digest due now that no replica wrote yet; returns how many
  // digest runs this call recorded.
  absl::StatusOr<int> RunOnce();

 private:
  std::shared_ptr<EventSource> events_;
  std::shared_ptr<DeliveryStore> store_;
  TimeSource now_;
  DeliveryMetrics* metrics_;
  // (tenant, kind) -> last period known to be done, to skip the queries.
  std::map<std::pair<std::string, std::string>, std::string> done_;
};

// Clears the text of notifications delivered longer ago than each tenant's
// Settings.notification_retention_days (see DeliveryStore::ClearDelivered).
class NotificationRetention {
 public:
  NotificationRetention(std::shared_ptr<EventSource> events, std::shared_ptr<DeliveryStore> store, TimeSource now)
      : events_(std::move(events)), store_(std::move(store)), now_(std::move(now)) {}

  // Returns how many notifications were cleared.
  absl::StatusOr<int64_t> RunOnce();

 private:
  std::shared_ptr<EventSource> events_;
  std::shared_ptr<DeliveryStore> store_;
  TimeSource now_;
};

// Signed links in task notifications (see common/action_link.h).
struct ActionLinkOptions {
  std::optional<ActionLinkKeys> keys;
  // The gateway's public address; links read <base_url>/act/<token>.
  std::string base_url;
  absl::Duration ttl = absl::Hours(72);
};

struct RelayOptions {
  WorkerOptions worker;
  uint64_t seed = 0;
  // Without keys or a base URL, notifications carry no links.
  ActionLinkOptions links{};
};

// The action link of a notification for its recipient, <base>/act/<token>:
// to the task for task.assigned, task.reminder and task.overdue (payload
// "task": "tasks/{id}"), to the recipient's inbox for daily_digest and
// weekly_actions; empty for other topics or when links are off.
std::string ActionUrl(const ActionLinkOptions& links, const std::string& tenant, const std::string& topic,
                      const std::string& recipient, const google::protobuf::Struct& payload, absl::Time now);

class OutboxRelay {
 public:
  OutboxRelay(std::shared_ptr<DeliveryStore> store, std::shared_ptr<EventSource> events, NotifyRouting routing,
              TimeSource now, RelayOptions options, DeliveryMetrics* metrics);

  // Delivers what the timer worker handed off, then claims batches and
  // delivers them; returns how many messages were settled (delivered or
  // dead-lettered).
  absl::StatusOr<int> RunOnce();

  // Refreshes the due-timer and dead-letter gauges.
  absl::Status RefreshGauges();

 private:
  // A person from the directory (a card's chain owner), cached for a minute
  // like the recipients; nullopt when unknown.
  std::optional<v1::Employee> Recipient(const std::string& tenant, const std::string& id);
  // (tenant, employee id) -> the employee, nullopt when unknown.
  using Recipients = std::map<std::pair<std::string, std::string>, std::optional<v1::Employee>>;
  // The recipients of a claimed batch: the cached ones, and the others in one
  // read per tenant. Someone unknown is asked for again by the next batch, not
  // by each of their messages.
  Recipients RecipientsOf(const std::vector<ClaimedMessage>& batch);
  // The tenant's current registry (null when none).
  std::shared_ptr<const v1::Registry> Registry(const std::string& tenant);
  // What a card shows of a task notice's event (type, attributes, owner, zone).
  CardContext CardContextFor(const std::string& tenant, const google::protobuf::Struct& payload);
  // Takes a token of `destination`; otherwise returns how long until one.
  std::optional<absl::Duration> TakeToken(const v1::NotifyDestination& destination);
  // Delivers a batch this relay holds and records the outcomes; returns how
  // many were settled.
  absl::StatusOr<int> Settle(const std::vector<ClaimedMessage>& batch, absl::Time now);
  // `employee` is the recipient from the directory (nullopt when unknown).
  DeliveryOutcome Deliver(const ClaimedMessage& claimed, const std::optional<v1::Employee>& employee, absl::Time now);

  std::shared_ptr<DeliveryStore> store_;
  std::shared_ptr<EventSource> events_;
  NotifyRouting routing_;
  TimeSource now_;
  RelayOptions options_;
  DeliveryMetrics* metrics_;
  KeyedTokenBuckets buckets_;
  TtlCache<std::pair<std::string, std::string>, v1::Employee> recipients_;
  std::mt19937_64 rng_;
};

// Pauses on `clock` after a batch that took `took` so batches use at most
// `duty_percent` of the time (no pause at 100).
void PaceBatch(const Clock& clock, absl::Duration took, int duty_percent);

// "host-pid": unique per process.
std::string DefaultOwner();

}  // namespace perfflow::event
