#include "services/event/delivery/deadline_worker.h"

#include <unistd.h>

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/struct_json.h"
#include "common/timestamps.h"
#include "google/protobuf/struct.pb.h"

namespace perfflow::event {
namespace {

const prometheus::Histogram::BucketBoundaries& LagBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600};
  return kBuckets;
}

std::string Rfc3339(absl::Time t) { return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone()); }

std::string TimerPayload(const ClaimedTimer& claim) {
  google::protobuf::Struct p;
  auto& f = *p.mutable_fields();
  f["event"].set_string_value("events/" + claim.task.event_id);
  f["event_type"].set_string_value(claim.task.event_type);
  f["task"].set_string_value("tasks/" + claim.task.task_id);
  f["kind"].set_string_value(TaskKindLabel(claim.task.kind));
  f["assignee"].set_string_value(claim.task.assignee_id);
  f["level"].set_string_value(TimerLevelLabel(claim.task.timer_level));
  f["due_at"].set_string_value(Rfc3339(claim.task.due_at));
  return StructToJson(p).value();  // strings only: always representable
}

}  // namespace

// ------------------------------------------------------------------ metrics

DeliveryMetrics::DeliveryMetrics(prometheus::Registry& registry)
    : lag_(prometheus::BuildHistogram()
               .Name("perfflow_timer_fire_lag_seconds")
               .Help("Time from a timer's due time to its firing (fired_at - due_at), by level.")
               .Register(registry)),
      fired_(prometheus::BuildCounter()
                 .Name("perfflow_timers_fired_total")
                 .Help("Timers fired, by level (reminder, overdue, escalation).")
                 .Register(registry)),
      lost_(prometheus::BuildCounter()
                .Name("perfflow_timer_claims_lost_total")
                .Help("Claimed timers this replica could not commit: its lease ended and the fencing token moved on.")
                .Register(registry)),
      due_(prometheus::BuildGauge()
               .Name("perfflow_timers_due_backlog")
               .Help("Open tasks whose next timer is due and not yet fired.")
               .Register(registry)),
      notifications_(prometheus::BuildCounter()
                         .Name("perfflow_notifications_total")
                         .Help("Notification delivery attempts by channel and result "
                               "(delivered, retry, dead_letter, rate_limited).")
                         .Register(registry)),
      dead_(prometheus::BuildGauge()
                .Name("perfflow_outbox_dead_letters")
                .Help("Notifications that exhausted their attempts (or were refused) and wait for an operator.")
                .Register(registry)),
      digests_(prometheus::BuildCounter()
                   .Name("perfflow_digest_messages_total")
                   .Help("Digest messages written to the outbox, by kind (daily_digest, weekly_actions).")
                   .Register(registry)) {
  // Series that exist before the first event, so dashboards and alerts see zeros.
  lost_.Add({});
  for (TimerLevel level : {TimerLevel::kReminder, TimerLevel::kOverdue, TimerLevel::kEscalation}) {
    lag_.Add({{"level", TimerLevelLabel(level)}}, LagBuckets());
    fired_.Add({{"level", TimerLevelLabel(level)}});
  }
}

void DeliveryMetrics::TimerFired(TimerLevel level, absl::Duration lag) {
  lag_.Add({{"level", TimerLevelLabel(level)}}, LagBuckets()).Observe(absl::ToDoubleSeconds(lag));
  fired_.Add({{"level", TimerLevelLabel(level)}}).Increment();
}

void DeliveryMetrics::ClaimsLost(int count) { lost_.Add({}).Increment(count); }

void DeliveryMetrics::SetDueBacklog(const std::string& tenant, int64_t count) {
  due_.Add({{"tenant", tenant}}).Set(static_cast<double>(count));
}

void DeliveryMetrics::Notification(const std::string& channel, const std::string& result) {
  notifications_.Add({{"channel", channel}, {"result", result}}).Increment();
}

void DeliveryMetrics::KnowChannel(const std::string& channel) {
  for (const char* result : {"delivered", "retry", "dead_letter", "rate_limited"}) {
    notifications_.Add({{"channel", channel}, {"result", result}});
  }
}

void DeliveryMetrics::SetDeadLetters(const std::string& tenant, int64_t count) {
  dead_.Add({{"tenant", tenant}}).Set(static_cast<double>(count));
}

void DeliveryMetrics::DigestSent(const std::string& kind, int64_t messages) {
  digests_.Add({{"kind", kind}}).Increment(static_cast<double>(messages));
}

// ------------------------------------------------------------------ time

TimeSource DatabaseTime(std::shared_ptr<DeliveryStore> store) {
  return [store] { return store->Now(); };
}

TimeSource ClockTime(std::shared_ptr<const Clock> clock) {
  return [clock]() -> absl::StatusOr<absl::Time> { return clock->Now(); };
}

void PaceBatch(const Clock& clock, absl::Duration took, int duty_percent) {
  if (duty_percent <= 0 || duty_percent >= 100) return;
  clock.SleepFor(took * (100.0 / duty_percent - 1));
}

std::string DefaultOwner() {
  char host[64] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return absl::StrCat(host[0] ? host : "host", "-", getpid()).substr(0, 64);
}

// ------------------------------------------------------------------ timers

TimerWorker::TimerWorker(std::shared_ptr<DeliveryStore> store, TimeSource now, WorkerOptions options,
                         DeliveryMetrics* metrics)
    : store_(std::move(store)), now_(std::move(now)), options_(std::move(options)), metrics_(metrics) {}

absl::StatusOr<std::vector<Notice>> TimerWorker::NoticesFor(const ClaimedTimer& claim) {
  const TaskRecord& task = claim.task;
  const std::string payload = TimerPayload(claim);
  switch (task.timer_level) {
    case TimerLevel::kReminder:
      return std::vector<Notice>{{task.assignee_id, "task.reminder", "task.reminder:" + task.task_id, payload}};
    case TimerLevel::kOverdue:
      return std::vector<Notice>{{task.assignee_id, "task.overdue", "task.overdue:" + task.task_id, payload}};
    case TimerLevel::kEscalation:
      break;
    default:
      return std::vector<Notice>{};
  }
  // Escalation: the skip-level manager, else HR, else the direct manager.
  std::vector<std::string> audience;
  auto manager = store_->ManagerOf(claim.tenant, task.assignee_id);
  if (!manager.ok()) return manager.status();
  if (task.escalate_to == v1::ESCALATION_TARGET_SKIP_LEVEL_MANAGER && !manager->empty()) {
    auto skip = store_->ManagerOf(claim.tenant, *manager);
    if (!skip.ok()) return skip.status();
    if (!skip->empty()) audience.push_back(*skip);
  }
  if (audience.empty()) {
    auto hr = store_->EmployeesWithRole(claim.tenant, "hr");
    if (!hr.ok()) return hr.status();
    audience = *hr;
  }
  if (audience.empty() && !manager->empty()) audience.push_back(*manager);
  std::vector<Notice> out;
  for (const std::string& who : audience) {
    out.push_back({who, "task.escalated", absl::StrCat("task.escalated:", task.task_id, ":", who), payload});
  }
  return out;
}

absl::StatusOr<int> TimerWorker::RunOnce() {
  int fired = 0;
  for (int b = 0; b < options_.max_batches; ++b) {
    const absl::Duration batch_start = options_.clock->Monotonic();
    auto now = now_();
    if (!now.ok()) return now.status();
    auto claimed = store_->ClaimDueTimers(options_.owner, *now, options_.lease, options_.batch);
    if (!claimed.ok()) return claimed.status();
    if (claimed->empty()) break;
    std::vector<TimerFiring> firings;
    for (const ClaimedTimer& c : *claimed) {
      auto notices = NoticesFor(c);
      if (!notices.ok()) return notices.status();
      firings.push_back({c, *std::move(notices), NextTimer(c.task.timer_level, c.task.due_at, c.task.escalate_after)});
    }
    if (options_.fault_delay_before_fire > absl::ZeroDuration())
      options_.clock->SleepFor(options_.fault_delay_before_fire);
    auto at = now_();
    if (!at.ok()) return at.status();
    const bool hand_off = options_.hand_off && options_.hand_off->HasRoom();
    auto result = store_->FireTimers(options_.owner, *at, firings, hand_off ? options_.lease : absl::ZeroDuration());
    if (!result.ok()) return result.status();
    if (!result->handed_off.empty()) options_.hand_off->Put(std::move(result->handed_off));
    for (const auto& [level, lag] : result->fired) metrics_->TimerFired(level, lag);
    if (result->fenced > 0) {
      metrics_->ClaimsLost(result->fenced);
      LogWarn("timer claims lost to another replica", {{"count", std::to_string(result->fenced)}});
    }
    fired += static_cast<int>(result->fired.size());
    if (static_cast<int>(claimed->size()) < options_.batch) break;
    PaceBatch(*options_.clock, options_.clock->Monotonic() - batch_start, options_.duty_percent);
  }
  return fired;
}

// ------------------------------------------------------------------ hand-off

bool HandOff::HasRoom() const {
  absl::MutexLock lock(&mu_);
  return messages_ < max_messages_;
}

void HandOff::Put(std::vector<ClaimedMessage> batch) {
  const absl::Duration at = clock_->Monotonic();
  absl::MutexLock lock(&mu_);
  messages_ += batch.size();
  batches_.emplace_back(at, std::move(batch));
}

std::vector<ClaimedMessage> HandOff::TakeFresh() {
  const absl::Duration now = clock_->Monotonic();
  std::vector<std::pair<absl::Duration, std::vector<ClaimedMessage>>> taken;
  {
    absl::MutexLock lock(&mu_);
    taken.swap(batches_);
    messages_ = 0;
  }
  std::vector<ClaimedMessage> fresh;
  for (auto& [at, batch] : taken) {
    if (now - at > max_age_) continue;
    fresh.insert(fresh.end(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
  }
  return fresh;
}

// ------------------------------------------------------------------ digests

DigestScheduler::DigestScheduler(std::shared_ptr<EventSource> events, std::shared_ptr<DeliveryStore> store,
                                 TimeSource now, DeliveryMetrics* metrics)
    : events_(std::move(events)), store_(std::move(store)), now_(std::move(now)), metrics_(metrics) {}

absl::StatusOr<int> DigestScheduler::RunOnce() {
  auto now = now_();
  if (!now.ok()) return now.status();
  auto tenants = events_->Tenants();
  if (!tenants.ok()) return tenants.status();
  int recorded = 0;
  for (const std::string& tenant : *tenants) {
    auto registry = events_->Registry(tenant);
    if (!registry.ok()) continue;  // no registry yet: nothing to digest
    const DigestPeriods due = DuePeriods(*now, ScheduleOf((*registry)->registry()));
    auto run = [&](const char* kind, const std::optional<std::string>& period,
                   const std::function<absl::StatusOr<std::vector<Notice>>()>& build) -> absl::Status {
      if (!period || done_[{tenant, kind}] == *period) return absl::OkStatus();
      // Another replica's run: its queries (seconds over many open tasks) are not repeated.
      auto recorded_before = store_->DigestRecorded(tenant, kind, *period);
      if (!recorded_before.ok()) return recorded_before.status();
      if (*recorded_before) {
        done_[{tenant, kind}] = *period;
        return absl::OkStatus();
      }
      auto notices = build();
      if (!notices.ok()) return notices.status();
      auto wrote = store_->RecordDigest(tenant, kind, *period, *notices, *now);
      if (!wrote.ok()) return wrote.status();
      done_[{tenant, kind}] = *period;
      if (*wrote) {
        ++recorded;
        metrics_->DigestSent(kind, static_cast<int64_t>(notices->size()));
      }
      return absl::OkStatus();
    };
    absl::Status daily = run("daily_digest", due.daily, [&]() -> absl::StatusOr<std::vector<Notice>> {
      auto rows = store_->TeamTaskCounts(tenant, *now);
      if (!rows.ok()) return rows.status();
      return ManagerDigests(*rows, *due.daily);
    });
    if (!daily.ok()) return daily;
    absl::Status weekly = run("weekly_actions", due.weekly, [&]() -> absl::StatusOr<std::vector<Notice>> {
      auto people = store_->WeeklyActionLists(tenant, *now, kMaxWeeklyActions);
      if (!people.ok()) return people.status();
      std::shared_ptr<const RegistryView> view = *registry;
      return WeeklyActions(
          *people, [view](const std::string& type) { return view->GoalsFor(type); }, *due.weekly);
    });
    if (!weekly.ok()) return weekly;
  }
  return recorded;
}

// ------------------------------------------------------------------ relay

OutboxRelay::OutboxRelay(std::shared_ptr<DeliveryStore> store, std::shared_ptr<EventSource> events,
                         NotifyRouting routing, TimeSource now, RelayOptions options, DeliveryMetrics* metrics)
    : store_(std::move(store)),
      events_(std::move(events)),
      routing_(std::move(routing)),
      now_(std::move(now)),
      options_(std::move(options)),
      metrics_(metrics),
      recipients_(options_.worker.clock, absl::Minutes(1), 50000),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
  if (metrics_ != nullptr) {
    for (const auto& [name, destination] : routing_.destinations) {
      metrics_->KnowChannel(ChannelLabel(destination.config.type()));
    }
  }
}

std::optional<absl::Duration> OutboxRelay::TakeToken(const v1::NotifyDestination& destination) {
  const double per_minute = destination.rate_per_minute() > 0 ? destination.rate_per_minute() : 20;
  return buckets_.Take(destination.name(), per_minute / 60, per_minute, options_.worker.clock->Now());
}

std::optional<v1::Employee> OutboxRelay::Recipient(const std::string& tenant, const std::string& id) {
  auto found = recipients_.GetOrLoad({tenant, id}, [&] { return events_->GetEmployee(tenant, id); });
  return found.ok() ? *found : std::nullopt;
}

OutboxRelay::Recipients OutboxRelay::RecipientsOf(const std::vector<ClaimedMessage>& batch) {
  Recipients found;
  std::map<std::string, std::vector<std::string>> missing;  // tenant -> ids
  for (const ClaimedMessage& c : batch) {
    auto [it, added] = found.try_emplace({c.tenant, c.message.recipient_id});
    if (!added) continue;
    it->second = recipients_.Get(it->first);
    if (!it->second) missing[c.tenant].push_back(c.message.recipient_id);
  }
  for (const auto& [tenant, ids] : missing) {
    auto employees = events_->GetEmployees(tenant, ids);
    if (!employees.ok()) {
      // Delivered without the directory's handles, as for someone unknown.
      LogWarn("reading the recipients failed",
              {{"tenant", tenant}, {"error", std::string(employees.status().message())}});
      continue;
    }
    for (v1::Employee& e : *employees) {
      recipients_.Put({tenant, e.id()}, e);
      found[{tenant, e.id()}] = std::move(e);
    }
  }
  return found;
}

std::shared_ptr<const v1::Registry> OutboxRelay::Registry(const std::string& tenant) {
  auto view = events_->Registry(tenant);
  if (!view.ok()) return nullptr;
  // Shares ownership of the view the registry lives in.
  return std::shared_ptr<const v1::Registry>(*view, &(*view)->registry());
}

CardContext OutboxRelay::CardContextFor(const std::string& tenant, const google::protobuf::Struct& payload) {
  CardContext context;
  auto event_name = payload.fields().find("event");
  if (event_name == payload.fields().end()) return context;
  const std::string event_id(absl::StripPrefix(event_name->second.string_value(), "events/"));
  auto event = events_->GetEvent(tenant, event_id);
  if (!event.ok() || !*event) return context;
  (void)JsonToStruct((*event)->attributes_json, &context.attributes);
  if (auto owner = Recipient(tenant, (*event)->subject_id)) context.owner_name = owner->display_name();
  context.registry = Registry(tenant);
  if (context.registry) {
    for (const auto& type : context.registry->event_types()) {
      if (type.key() == (*event)->event_type) context.type = &type;
    }
    context.zone = ZoneOrUtc(context.registry->settings().time_zone());
  }
  return context;
}

std::string ActionUrl(const ActionLinkOptions& links, const std::string& tenant, const std::string& topic,
                      const std::string& recipient, const google::protobuf::Struct& payload, absl::Time now) {
  if (!links.keys || links.base_url.empty()) return "";
  std::string task_id;  // empty: the recipient's inbox
  if (topic == "task.assigned" || topic == "task.reminder" || topic == "task.overdue") {
    auto task = payload.fields().find("task");
    if (task == payload.fields().end() || task->second.string_value().rfind("tasks/", 0) != 0) return "";
    task_id = task->second.string_value().substr(6);
  } else if (topic != "daily_digest" && topic != "weekly_actions") {
    return "";
  }
  const std::string token = links.keys->Sign({tenant, task_id, recipient, now + links.ttl});
  std::string base = links.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/act/" + token;
}

DeliveryOutcome OutboxRelay::Deliver(const ClaimedMessage& claimed, const std::optional<v1::Employee>& employee,
                                     absl::Time now) {
  const v1::NotifyConfig& config = routing_.config;
  // The payload is read once; a corrupt one is delivered as an empty object
  // (its text then names no task) rather than held back forever.
  google::protobuf::Struct payload;
  if (absl::Status read = JsonToStruct(claimed.message.payload_json, &payload); !read.ok()) {
    LogWarn("notification payload is not a JSON object", {{"tenant", claimed.tenant},
                                                          {"idempotency_key", claimed.message.idempotency_key},
                                                          {"error", std::string(read.message())}});
  }
  std::string text = NoticeText(claimed.message.topic, payload);
  // Every channel carries the same link; the payload gets it as action_url.
  const std::string action_url = ActionUrl(options_.links, claimed.tenant, claimed.message.topic,
                                           claimed.message.recipient_id, payload, options_.worker.clock->Now());
  // A message with a link is also a card with buttons.
  std::optional<Card> card;
  if (!action_url.empty()) {
    card = NoticeCard(claimed.message.topic, payload, action_url, CardContextFor(claimed.tenant, payload));
    (*payload.mutable_fields())["action_url"].set_string_value(action_url);
    text += " " + action_url;
  }
  DeliveryOutcome outcome;
  outcome.delivered_to = claimed.delivered_to;
  const std::string department = employee ? employee->department_id() : "";
  std::vector<std::string> destinations = routing_.Route(department);
  bool retry = false, refused = false;
  std::vector<std::string> failed_channels;
  std::optional<absl::Duration> wait;
  for (const std::string& name : destinations) {
    if (std::count(outcome.delivered_to.begin(), outcome.delivered_to.end(), name)) continue;
    const LoadedDestination& dest = routing_.destinations.at(name);
    const std::string channel = ChannelLabel(dest.config.type());
    if (auto need = TakeToken(dest.config)) {
      wait = wait ? std::max(*wait, *need) : *need;
      metrics_->Notification(channel, "rate_limited");
      continue;
    }
    Outgoing out;
    out.tenant = claimed.tenant;
    out.idempotency_key = claimed.message.idempotency_key;
    out.topic = claimed.message.topic;
    out.recipient_id = claimed.message.recipient_id;
    if (employee) {
      auto handle = employee->contacts().find(channel);
      if (handle != employee->contacts().end()) out.handle = handle->second;
    }
    out.payload = payload;
    out.text = text;
    out.card = card;
    out.now = options_.worker.clock->Now();
    absl::Status sent = dest.channel->Send(out);
    if (sent.ok()) {
      outcome.delivered_to.push_back(name);
      metrics_->Notification(channel, "delivered");
      continue;
    }
    outcome.last_error = absl::StrCat(name, ": ", sent.message());
    failed_channels.push_back(channel);
    if (absl::IsUnavailable(sent) || absl::IsDeadlineExceeded(sent) || absl::IsResourceExhausted(sent)) {
      retry = true;
    } else {
      refused = true;
    }
  }
  const int max_attempts = config.max_attempts() > 0 ? config.max_attempts() : 8;
  const bool attempted = retry || refused || outcome.delivered_to.size() > claimed.delivered_to.size();
  outcome.attempted = attempted;
  if (!retry && !refused && !wait) {
    outcome.state = DeliveryState::kDelivered;
  } else if (refused || (retry && claimed.attempts + 1 >= max_attempts)) {
    outcome.state = DeliveryState::kDeadLetter;
  } else if (retry) {
    const absl::Duration initial =
        absl::Milliseconds(config.backoff_initial_ms() > 0 ? config.backoff_initial_ms() : 30000);
    const absl::Duration max = absl::Milliseconds(config.backoff_max_ms() > 0 ? config.backoff_max_ms() : 3600000);
    const double jitter = config.no_jitter() ? 0 : config.backoff_jitter() > 0 ? config.backoff_jitter() : 0.2;
    const double unit = std::uniform_real_distribution<double>(0, 1)(rng_);
    outcome.next_attempt_at = now + Backoff(claimed.attempts + 1, initial, max, jitter, unit);
    if (wait) outcome.next_attempt_at = std::max(outcome.next_attempt_at, now + *wait);
  } else {
    outcome.next_attempt_at = now + *wait;
  }
  for (const std::string& channel : failed_channels) {
    metrics_->Notification(channel, outcome.state == DeliveryState::kDeadLetter ? "dead_letter" : "retry");
  }
  return outcome;
}

absl::StatusOr<int> OutboxRelay::Settle(const std::vector<ClaimedMessage>& batch, absl::Time now) {
  int settled = 0;
  const Recipients recipients = RecipientsOf(batch);
  std::vector<std::pair<ClaimedMessage, DeliveryOutcome>> results;
  for (const ClaimedMessage& c : batch) {
    DeliveryOutcome outcome = Deliver(c, recipients.at({c.tenant, c.message.recipient_id}), now);
    if (outcome.state == DeliveryState::kDeadLetter) {
      LogWarn("notification dead-lettered",
              {{"tenant", c.tenant}, {"idempotency_key", c.message.idempotency_key}, {"error", outcome.last_error}});
    }
    if (outcome.state != DeliveryState::kPending) ++settled;
    results.emplace_back(c, std::move(outcome));
  }
  auto fenced = store_->CompleteDeliveries(options_.worker.owner, now, results);
  if (!fenced.ok()) return fenced.status();
  // Fenced: another relay took the message over and records it itself.
  return settled - *fenced;
}

absl::StatusOr<int> OutboxRelay::RunOnce() {
  int settled = 0;
  if (options_.worker.hand_off) {
    // Settled in batches of the claim's size: one read of the recipients and
    // one transaction of outcomes each, however small the hand-offs were.
    std::vector<ClaimedMessage> handed = options_.worker.hand_off->TakeFresh();
    const size_t batch = static_cast<size_t>(std::max(1, options_.worker.batch));
    for (size_t begin = 0; begin < handed.size(); begin += batch) {
      const absl::Duration batch_start = options_.worker.clock->Monotonic();
      auto now = now_();
      if (!now.ok()) return now.status();
      const auto first = handed.begin() + begin;
      auto n = Settle({first, first + std::min(batch, handed.size() - begin)}, *now);
      if (!n.ok()) return n.status();
      settled += *n;
      PaceBatch(*options_.worker.clock, options_.worker.clock->Monotonic() - batch_start, options_.worker.duty_percent);
    }
  }
  for (int b = 0; b < options_.worker.max_batches; ++b) {
    const absl::Duration batch_start = options_.worker.clock->Monotonic();
    auto now = now_();
    if (!now.ok()) return now.status();
    auto claimed = store_->ClaimOutbox(options_.worker.owner, *now, options_.worker.lease, options_.worker.batch);
    if (!claimed.ok()) return claimed.status();
    if (claimed->empty()) break;
    auto n = Settle(*claimed, *now);
    if (!n.ok()) return n.status();
    settled += *n;
    if (static_cast<int>(claimed->size()) < options_.worker.batch) break;
    PaceBatch(*options_.worker.clock, options_.worker.clock->Monotonic() - batch_start, options_.worker.duty_percent);
  }
  return settled;
}

absl::Status OutboxRelay::RefreshGauges() {
  auto now = now_();
  if (!now.ok()) return now.status();
  auto tenants = events_->Tenants();
  if (!tenants.ok()) return tenants.status();
  for (const std::string& tenant : *tenants) {
    auto due = store_->DueTimers(tenant, *now);
    if (!due.ok()) return due.status();
    metrics_->SetDueBacklog(tenant, *due);
    auto dead = store_->DeadLetters(tenant);
    if (!dead.ok()) return dead.status();
    metrics_->SetDeadLetters(tenant, *dead);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> NotificationRetention::RunOnce() {
  auto now = now_();
  if (!now.ok()) return now.status();
  auto tenants = events_->Tenants();
  if (!tenants.ok()) return tenants.status();
  int64_t cleared = 0;
  for (const std::string& tenant : *tenants) {
    auto registry = events_->Registry(tenant);
    if (!registry.ok()) continue;  // no event types yet: nothing was sent
    const int days = (*registry)->registry().settings().notification_retention_days();
    if (days <= 0) continue;
    auto n = store_->ClearDelivered(tenant, *now - absl::Hours(24) * days);
    if (!n.ok()) return n.status();
    if (*n > 0) {
      LogInfo("delivered notifications past their retention cleared",
              {{"tenant", tenant}, {"messages", std::to_string(*n)}, {"retention_days", std::to_string(days)}});
    }
    cleared += *n;
  }
  return cleared;
}

}  // namespace perfflow::event
