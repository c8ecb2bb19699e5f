// Timers, digests and the outbox relay over an embedded SQLite file with a
// manual clock: every time judgement is exact, nothing sleeps.

#include "services/event/delivery/deadline_worker.h"

#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "services/event/delivery/sql_delivery_store.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::kTenant;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// A notice payload naming a task, as task notices carry it.
google::protobuf::Struct Task(const std::string& id) {
  google::protobuf::Struct payload;
  (*payload.mutable_fields())["task"].set_string_value("tasks/" + id);
  return payload;
}

struct Sent {
  std::string url;
  std::map<std::string, std::string> headers;
  std::string body;
};

class DeadlineWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    w_ = testing::MakeEventWorld(testing::Backend::kSqlite);
    deliveries_ = std::make_shared<SqlDeliveryStore>(w_.database.db);
    metrics_ = std::make_unique<DeliveryMetrics>(prometheus_);
    options_.owner = "replica-a";
    options_.lease = absl::Seconds(10);
    options_.clock = w_.clock;
    timers_ = std::make_unique<TimerWorker>(deliveries_, ClockTime(w_.clock), options_, metrics_.get());
  }

  EventRecord Ingest(const std::string& external_id) {
    auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned(external_id));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->event : EventRecord{};
  }

  int Fire() {
    auto n = timers_->RunOnce();
    EXPECT_TRUE(n.ok()) << n.status();
    return n.ok() ? *n : -1;
  }

  // "topic recipient" of every outbox row with `topic`, sorted.
  std::vector<std::string> Outbox(const std::string& topic) {
    std::vector<std::string> out;
    absl::Status s = w_.database.db->RunInTransaction([&](db::Transaction& txn) -> absl::Status {
      out.clear();
      auto rows = txn.Query("SELECT recipient_id FROM outbox WHERE tenant_id = ? AND topic = ? ORDER BY recipient_id",
                            {kTenant, topic});
      if (!rows.ok()) return rows.status();
      for (const auto& r : *rows) out.push_back(r.Str(0));
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  int64_t Scalar(const std::string& sql, const db::Params& params = {}) {
    int64_t v = -1;
    absl::Status s = w_.database.db->RunInTransaction([&](db::Transaction& txn) -> absl::Status {
      auto rows = txn.Query(sql, params);
      if (!rows.ok()) return rows.status();
      v = rows->empty() || rows->front().IsNull(0) ? -1 : rows->front().Int(0);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return v;
  }

  void At(absl::Duration since_start) { w_.clock->Set(testing::FixedStart() + since_start); }

  testing::EventWorld w_;
  std::shared_ptr<SqlDeliveryStore> deliveries_;
  prometheus::Registry prometheus_;
  std::unique_ptr<DeliveryMetrics> metrics_;
  WorkerOptions options_;
  std::unique_ptr<TimerWorker> timers_;
};

TEST_F(DeadlineWorkerTest, RemindsWarnsAndEscalatesOnTimeAndOnlyOnce) {
  // contract_signed: owner s1 due +24 h, review (s-head) and confirmation
  // (c-head) due +48 h; reminders 4 h before; escalation 24 h after.
  Ingest("c-1");
  At(absl::Hours(20) - absl::Milliseconds(1));
  EXPECT_EQ(Fire(), 0) << "a timer fired early";
  At(absl::Hours(20));
  EXPECT_EQ(Fire(), 1);
  EXPECT_THAT(Outbox("task.reminder"), ElementsAre("s1"));
  EXPECT_EQ(Fire(), 0) << "a timer fired twice";
  At(absl::Hours(24));
  EXPECT_EQ(Fire(), 1);
  EXPECT_THAT(Outbox("task.overdue"), ElementsAre("s1"));
  At(absl::Hours(44));
  EXPECT_EQ(Fire(), 2);
  EXPECT_THAT(Outbox("task.reminder"), ElementsAre("c-head", "s-head", "s1"));
  At(absl::Hours(48));
  EXPECT_EQ(Fire(), 3);  // s1's escalation, two overdue warnings
  // s1 -> s-head -> ceo: the skip-level manager hears about it.
  EXPECT_THAT(Outbox("task.escalated"), ElementsAre("ceo"));
  At(absl::Hours(1000));
  EXPECT_EQ(Fire(), 2);  // the heads' escalations: no skip level, no HR -> their manager
  EXPECT_EQ(Fire(), 0);
  EXPECT_THAT(Outbox("task.escalated"), ElementsAre("ceo", "ceo", "ceo"));
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM timer_firings"), 9);
  EXPECT_EQ(Scalar("SELECT MIN(fired_at - timer_at) FROM timer_firings WHERE level < 3"), 0);
}

TEST_F(DeadlineWorkerTest, CompletingATaskCancelsItsPendingTimers) {
  EventRecord e = Ingest("c-1");
  At(absl::Hours(1));
  v1::RecordFlowStepRequest step;
  step.set_event("events/" + e.event_id);
  step.set_step(t::FLOW_STEP_OWNER_ACTION);
  step.set_step_id("owner-1");
  ASSERT_TRUE(w_.core->RecordStep(InProcessCall(kTenant), step).ok());
  At(absl::Hours(1000));
  while (Fire() > 0) {
  }
  // s1 finished before any timer: none of s1's fired; the others' did.
  EXPECT_THAT(Outbox("task.reminder"), ElementsAre("c-head", "s-head"));
  EXPECT_THAT(Outbox("task.overdue"), ElementsAre("c-head", "s-head"));
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM timer_firings t JOIN tasks k ON k.tenant_id = t.tenant_id AND "
                   "k.task_id = t.task_id WHERE k.assignee_id = 's1'"),
            0);
}

TEST_F(DeadlineWorkerTest, TenantSettingsAndEventTypeOffsetsApply) {
  v1::ApplyEventTypesRequest settings;
  auto* f = settings.add_files();
  f->set_name("settings.yaml");
  f->set_content("kind: Settings\ntimers: {reminders_off: true, escalate_to: hr}\n");
  auto applied = w_.core->ApplyEventTypes(InProcessCall(kTenant), settings);
  ASSERT_TRUE(applied.ok()) << applied.status();
  v1::UpsertDirectoryRequest hr;
  auto* person = hr.add_employees();
  person->set_id("hr-1");
  person->set_display_name("HR");
  person->set_department_id("production");
  person->set_role("hr");
  person->set_manager_id("ceo");
  ASSERT_TRUE(w_.core->UpsertDirectory(InProcessCall(kTenant), hr).ok());
  Ingest("c-1");
  At(absl::Hours(23));
  EXPECT_EQ(Fire(), 0) << "reminders are off for this tenant";
  At(absl::Hours(48));
  EXPECT_EQ(Fire(), 3);  // three overdue warnings (s1's came late: it was due at +24 h)
  EXPECT_EQ(Fire(), 1);  // s1's escalation, due at +48 h, comes after its warning
  EXPECT_THAT(Outbox("task.escalated"), ElementsAre("hr-1"));
  EXPECT_TRUE(Outbox("task.reminder").empty());
}

TEST_F(DeadlineWorkerTest, AClaimPastItsLeaseIsFencedAndFiresOnceElsewhere) {
  Ingest("c-1");
  At(absl::Hours(20));
  auto a = deliveries_->ClaimDueTimers("replica-a", w_.clock->Now(), absl::Seconds(10), 100);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  // While A's lease holds, B gets nothing.
  auto early = deliveries_->ClaimDueTimers("replica-b", w_.clock->Now() + absl::Seconds(5), absl::Seconds(10), 100);
  ASSERT_TRUE(early.ok());
  EXPECT_TRUE(early->empty());
  // A stalls past its lease; B takes over and fires.
  const absl::Time later = w_.clock->Now() + absl::Seconds(11);
  auto b = deliveries_->ClaimDueTimers("replica-b", later, absl::Seconds(10), 100);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ(b->front().fence, a->front().fence + 1);
  auto fire = [&](const std::string& owner, const ClaimedTimer& c, absl::Time now) {
    TimerFiring f{c,
                  {{"s1", "task.reminder", "task.reminder:" + c.task.task_id, "{}"}},
                  NextTimer(c.task.timer_level, c.task.due_at, c.task.escalate_after)};
    return deliveries_->FireTimers(owner, now, {f}, absl::ZeroDuration());
  };
  auto by_b = fire("replica-b", b->front(), later);
  ASSERT_TRUE(by_b.ok()) << by_b.status();
  EXPECT_EQ(by_b->fired.size(), 1u);
  // A wakes up and tries to commit: fenced, nothing written.
  auto by_a = fire("replica-a", a->front(), later + absl::Seconds(1));
  ASSERT_TRUE(by_a.ok()) << by_a.status();
  EXPECT_TRUE(by_a->fired.empty());
  EXPECT_EQ(by_a->fenced, 1);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM timer_firings"), 1);
  EXPECT_THAT(Outbox("task.reminder"), ElementsAre("s1"));
  // A claim is also refused when the lease ended, even with no successor.
  At(absl::Hours(24));
  auto c = deliveries_->ClaimDueTimers("replica-a", w_.clock->Now(), absl::Seconds(10), 100);
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 1u);
  auto stale = fire("replica-a", c->front(), w_.clock->Now() + absl::Seconds(11));
  ASSERT_TRUE(stale.ok());
  EXPECT_EQ(stale->fenced, 1);
}

// The delivery store counting the digests' queries.
class CountingDigestQueries : public SqlDeliveryStore {
 public:
  using SqlDeliveryStore::SqlDeliveryStore;
  absl::StatusOr<std::vector<TeamTaskCount>> TeamTaskCounts(const std::string& tenant, absl::Time now) override {
    ++queries;
    return SqlDeliveryStore::TeamTaskCounts(tenant, now);
  }
  absl::StatusOr<std::vector<PersonActions>> WeeklyActionLists(const std::string& tenant, absl::Time now,
                                                               int per_person) override {
    ++queries;
    return SqlDeliveryStore::WeeklyActionLists(tenant, now, per_person);
  }
  int queries = 0;
};

TEST_F(DeadlineWorkerTest, DigestsOncePerPeriodAcrossReplicas) {
  Ingest("c-1");
  // FixedStart is Monday 09:00 UTC; the tenant has no settings (UTC, 09:00).
  auto store_one = std::make_shared<CountingDigestQueries>(w_.database.db);
  auto store_two = std::make_shared<CountingDigestQueries>(w_.database.db);
  DigestScheduler one(EventSourceOf(w_.core, w_.store), store_one, ClockTime(w_.clock), metrics_.get());
  DigestScheduler two(EventSourceOf(w_.core, w_.store), store_two, ClockTime(w_.clock), metrics_.get());
  auto first = one.RunOnce();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 2);  // daily + weekly
  EXPECT_EQ(store_one->queries, 2);
  auto again = two.RunOnce();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 0);
  // The second replica found both runs recorded and did not build them again.
  EXPECT_EQ(store_two->queries, 0);
  // Managers of the assignees: s1 -> s-head; s-head and c-head -> ceo.
  EXPECT_THAT(Outbox("daily_digest"), ElementsAre("ceo", "s-head"));
  EXPECT_THAT(Outbox("weekly_actions"), ElementsAre("c-head", "s-head", "s1"));
  // Next day: the daily digest again, the weekly list not.
  At(absl::Hours(24));
  auto tuesday = two.RunOnce();
  ASSERT_TRUE(tuesday.ok());
  EXPECT_EQ(*tuesday, 1);
  EXPECT_EQ(store_two->queries, 1);  // Tuesday's daily digest
  EXPECT_EQ(Outbox("daily_digest").size(), 4u);
  EXPECT_EQ(Outbox("weekly_actions").size(), 3u);
}

// ------------------------------------------------------------------ relay

// The event source the relay reads, counting its directory reads.
class CountingSource : public EventSource {
 public:
  explicit CountingSource(std::shared_ptr<EventSource> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<std::vector<std::string>> Tenants() override { return inner_->Tenants(); }
  absl::StatusOr<std::shared_ptr<const RegistryView>> Registry(const std::string& tenant) override {
    return inner_->Registry(tenant);
  }
  absl::StatusOr<std::optional<v1::Employee>> GetEmployee(const std::string& tenant, const std::string& id) override {
    ++single_reads;
    return inner_->GetEmployee(tenant, id);
  }
  absl::StatusOr<std::vector<v1::Employee>> GetEmployees(const std::string& tenant,
                                                         const std::vector<std::string>& ids) override {
    batch_reads.push_back(ids);
    return inner_->GetEmployees(tenant, ids);
  }
  absl::StatusOr<std::optional<EventRecord>> GetEvent(const std::string& tenant, const std::string& id) override {
    return inner_->GetEvent(tenant, id);
  }

  int single_reads = 0;
  std::vector<std::vector<std::string>> batch_reads;

 private:
  std::shared_ptr<EventSource> inner_;
};

class RelayTest : public DeadlineWorkerTest {
 protected:
  // A sender that records requests and answers with `answer`.
  HttpSender Recorder() {
    return [this](const std::string& url, const std::vector<std::pair<std::string, std::string>>& headers,
                  const std::string& body, absl::Duration, std::string* reply) {
      Sent s{url, {}, body};
      for (const auto& [k, v] : headers) s.headers[k] = v;
      sent_.push_back(s);
      *reply = reply_;
      return answer_;
    };
  }

  std::unique_ptr<OutboxRelay> Relay(const std::string& yaml, ActionLinkOptions links = {},
                                     std::shared_ptr<EventSource> source = nullptr) {
    auto routing = LoadNotifyConfig(yaml, Recorder(), [](const char* name) -> const char* {
      const std::string n = name;
      if (n == "HOOK_SECRET") return "whsec_c2VjcmV0LWJ5dGVz";
      if (n == "DING_SECRET") return "SECding";
      return nullptr;
    });
    EXPECT_TRUE(routing.ok()) << routing.status();
    RelayOptions options{options_, 42, std::move(links)};
    if (!source) source = EventSourceOf(w_.core, w_.store);
    return std::make_unique<OutboxRelay>(deliveries_, std::move(source), *std::move(routing), ClockTime(w_.clock),
                                         options, metrics_.get());
  }

  // The delivery state and attempts of the task.assigned notice to
  // `recipient` (one task each per contract; the notice is the task row).
  int64_t State(const std::string& recipient) {
    return Scalar("SELECT notice_state FROM tasks WHERE assignee_id = ?", {recipient});
  }
  int64_t Attempts(const std::string& recipient) {
    return Scalar("SELECT notice_attempts FROM tasks WHERE assignee_id = ?", {recipient});
  }

  std::vector<Sent> sent_;
  absl::Status answer_ = absl::OkStatus();
  std::string reply_ = "{\"errcode\":0}";
};

constexpr char kConfig[] = R"(
destinations:
  - {name: hook, type: webhook, url: "https://hooks.example.com/perfflow", secret_env: HOOK_SECRET}
  - {name: ding, type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=abc", secret_env: DING_SECRET}
  - {name: wecom, type: wecom, url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
routes:
  - {departments: [sales], destinations: [hook, ding]}
default_destinations: [wecom]
max_attempts: 3
backoff_initial_ms: 1000
no_jitter: true
)";

TEST_F(RelayTest, RoutesByDepartmentAndDeliversOnce) {
  Ingest("c-1");  // task.assigned to s1, s-head (sales) and c-head (supply_chain)
  auto relay = Relay(kConfig);
  auto settled = relay->RunOnce();
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(*settled, 3);
  std::vector<std::string> urls;
  for (const Sent& s : sent_) urls.push_back(s.url.substr(0, s.url.find('?')));
  EXPECT_THAT(urls, UnorderedElementsAre("https://hooks.example.com/perfflow", "https://hooks.example.com/perfflow",
                                         "https://oapi.dingtalk.com/robot/send", "https://oapi.dingtalk.com/robot/send",
                                         "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"));
  for (const Sent& s : sent_) {
    if (s.url.find("hooks.example.com") == std::string::npos) continue;
    EXPECT_THAT(s.headers.at("webhook-id"), HasSubstr("task.assigned:"));
    EXPECT_THAT(s.headers.at("webhook-signature"), HasSubstr("v1,"));
    EXPECT_EQ(s.headers.at("webhook-timestamp"), std::to_string(absl::ToUnixSeconds(w_.clock->Now())));
  }
  EXPECT_EQ(State("s1"), 1);
  EXPECT_EQ(State("c-head"), 1);
  sent_.clear();
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_TRUE(sent_.empty()) << "a delivered message was sent again";
}

TEST_F(RelayTest, ABatchReadsItsRecipientsOnceAndAsksForTheUnknownAgainNextBatch) {
  // Nine messages to three people, one of them not in the directory.
  std::vector<Notice> notices;
  for (int i = 0; i < 3; ++i) {
    for (const char* who : {"s1", "c-head", "ghost"}) {
      notices.push_back({who, "daily_digest", absl::StrCat("digest:", who, ":", i), "{}"});
    }
  }
  ASSERT_TRUE(deliveries_->RecordDigest(kTenant, "daily_digest", "p1", notices, w_.clock->Now()).ok());
  auto source = std::make_shared<CountingSource>(EventSourceOf(w_.core, w_.store));
  auto relay = Relay(kConfig, {}, source);
  auto settled = relay->RunOnce();
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(*settled, 9);
  ASSERT_EQ(source->batch_reads.size(), 1u) << "one read for the batch";
  EXPECT_THAT(source->batch_reads[0], UnorderedElementsAre("s1", "c-head", "ghost"));
  EXPECT_EQ(source->single_reads, 0);
  // Routed by what the directory says: s1 is in sales (hook and ding), the
  // others go to the default (wecom).
  int hook = 0, wecom = 0;
  for (const Sent& s : sent_) {
    hook += s.url.find("hooks.example.com") != std::string::npos;
    wecom += s.url.find("qyapi.weixin.qq.com") != std::string::npos;
  }
  EXPECT_EQ(hook, 3);
  EXPECT_EQ(wecom, 6);

  // The next batch: the known two come from the cache, the unknown one is
  // asked for again (someone added to the directory meanwhile is found).
  notices = {{"s1", "daily_digest", "digest:s1:next", "{}"}, {"ghost", "daily_digest", "digest:ghost:next", "{}"}};
  ASSERT_TRUE(deliveries_->RecordDigest(kTenant, "daily_digest", "p2", notices, w_.clock->Now()).ok());
  ASSERT_TRUE(relay->RunOnce().ok());
  ASSERT_EQ(source->batch_reads.size(), 2u);
  EXPECT_THAT(source->batch_reads[1], ElementsAre("ghost"));
}

// The warnings a replica's timer worker fires reach its relay in memory:
// written leased to the replica (fence 1), never claimed by another relay,
// delivered once without a claim of their own (a claim would move the fence
// to 2).
TEST_F(RelayTest, ATimerWorkersWarningsAreHandedToItsRelayUnclaimed) {
  options_.hand_off = std::make_shared<HandOff>(w_.clock, options_.lease / 2);
  timers_ = std::make_unique<TimerWorker>(deliveries_, ClockTime(w_.clock), options_, metrics_.get());
  auto relay = Relay(kConfig);
  Ingest("c-1");
  ASSERT_EQ(relay->RunOnce().value_or(-1), 3);  // the task.assigned notices
  At(absl::Hours(20));
  ASSERT_EQ(Fire(), 1);  // s1's reminder
  auto reminder = [&](const std::string& column) {
    return Scalar("SELECT " + column + " FROM outbox WHERE topic = 'task.reminder'");
  };
  EXPECT_EQ(reminder("COUNT(*)"), 1);
  EXPECT_EQ(reminder("fence"), 1);
  EXPECT_EQ(reminder("lease_until"), absl::ToUnixMillis(w_.clock->Now() + options_.lease));
  EXPECT_EQ(reminder("next_attempt_at"), absl::ToUnixMillis(w_.clock->Now() + options_.lease))
      << "due to a claim when the lease ends";
  auto other = deliveries_->ClaimOutbox("replica-b", w_.clock->Now(), absl::Seconds(10), 100);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->empty());

  sent_.clear();
  ASSERT_EQ(relay->RunOnce().value_or(-1), 1);
  EXPECT_EQ(sent_.size(), 2u) << "s1 is in sales: hook and ding";
  EXPECT_EQ(reminder("state"), 1);
  EXPECT_EQ(reminder("fence"), 1) << "delivered without a claim";
  sent_.clear();
  ASSERT_EQ(relay->RunOnce().value_or(-1), 0);
  EXPECT_TRUE(sent_.empty()) << "a handed-off warning was sent twice";
}

// Several hand-offs (two timer batches, taken together and settled in
// batches of the relay's size, here 2): every warning once, none of them
// claimed (fence 1). How many batches they were settled in is not observed.
TEST_F(RelayTest, SeveralHandOffsAreEachDeliveredOnceUnclaimed) {
  options_.batch = 2;
  options_.hand_off = std::make_shared<HandOff>(w_.clock, options_.lease / 2);
  timers_ = std::make_unique<TimerWorker>(deliveries_, ClockTime(w_.clock), options_, metrics_.get());
  auto relay = Relay(kConfig);
  for (const char* id : {"c-1", "c-2", "c-3"}) Ingest(id);
  while (relay->RunOnce().value_or(0) > 0) {
  }
  At(absl::Hours(20));  // s1's three reminders, in timer batches of 2 and 1
  ASSERT_EQ(Fire(), 3);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'task.reminder' AND fence = 1"), 3);
  sent_.clear();
  ASSERT_EQ(relay->RunOnce().value_or(-1), 3);
  EXPECT_EQ(sent_.size(), 6u) << "3 x s1 (sales: hook and ding)";
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM outbox WHERE topic = 'task.reminder' AND state = 1 AND fence = 1"), 3);
  sent_.clear();
  ASSERT_EQ(relay->RunOnce().value_or(-1), 0);
  EXPECT_TRUE(sent_.empty());
}

// A handed-off batch the relay reaches only after its lease ran out is left
// to a claim (here the relay's own): delivered once, by the claim. A full
// hand-off makes the worker write its warnings for any relay to claim.
TEST_F(RelayTest, AHandedOffBatchPastItsLeaseOrOverTheBoundIsClaimedInstead) {
  options_.hand_off = std::make_shared<HandOff>(w_.clock, options_.lease / 2, 1);
  timers_ = std::make_unique<TimerWorker>(deliveries_, ClockTime(w_.clock), options_, metrics_.get());
  auto relay = Relay(kConfig);
  Ingest("c-1");
  ASSERT_EQ(relay->RunOnce().value_or(-1), 3);
  At(absl::Hours(20));
  ASSERT_EQ(Fire(), 1);  // handed off: the bound is one message
  At(absl::Hours(24));
  ASSERT_EQ(Fire(), 1);  // s1's overdue warning: the hand-off is full
  EXPECT_EQ(Scalar("SELECT lease_until FROM outbox WHERE topic = 'task.overdue'"), 0) << "written for any relay";
  At(absl::Hours(24) + options_.lease);  // the reminder's lease has run out
  sent_.clear();
  ASSERT_EQ(relay->RunOnce().value_or(-1), 2);
  EXPECT_EQ(sent_.size(), 4u) << "each warning once, to hook and ding";
  EXPECT_EQ(Scalar("SELECT fence FROM outbox WHERE topic = 'task.reminder'"), 2) << "taken by a claim";
  EXPECT_EQ(Scalar("SELECT fence FROM outbox WHERE topic = 'task.overdue'"), 1);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM outbox WHERE state = 1"), 2);
}

TEST_F(RelayTest, TaskNotificationsCarryASignedLinkForTheirAssignee) {
  Ingest("c-1");
  ActionLinkOptions links;
  links.keys = *ActionLinkKeys::Create({std::string(32, 'k')});
  links.base_url = "https://perfflow.example.com/";
  auto relay = Relay(kConfig, links);
  ASSERT_TRUE(relay->RunOnce().ok());
  int checked = 0;
  for (const Sent& s : sent_) {
    if (s.url.find("hooks.example.com") == std::string::npos) continue;
    google::protobuf::Struct body;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(s.body, &body).ok()) << s.body;
    const auto& data = body.fields().at("data").struct_value().fields();
    const std::string url = data.at("action_url").string_value();
    ASSERT_EQ(url.rfind("https://perfflow.example.com/act/", 0), 0u) << url;
    auto link = links.keys->Verify(url.substr(url.rfind('/') + 1), w_.clock->Now());
    ASSERT_TRUE(link.ok()) << link.status();
    EXPECT_EQ(link->tenant, "acme");
    EXPECT_EQ("tasks/" + link->task_id, data.at("task").string_value());
    EXPECT_EQ(link->expires_at, w_.clock->Now() + absl::Hours(72));
    EXPECT_TRUE(link->person == "s1" || link->person == "s-head") << link->person;
    ++checked;
  }
  EXPECT_EQ(checked, 2);
  // Chat robots get cards: the event by its display name, buttons to the link.
  int cards = 0;
  for (const Sent& s : sent_) {
    google::protobuf::Struct body;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(s.body, &body).ok()) << s.body;
    const auto& f = body.fields();
    if (s.url.find("dingtalk") != std::string::npos) {
      ASSERT_EQ(f.at("msgtype").string_value(), "actionCard") << s.body;
      const auto& card = f.at("actionCard").struct_value().fields();
      EXPECT_THAT(card.at("text").string_value(), HasSubstr("合同签订 Contract signed")) << s.body;
      EXPECT_THAT(card.at("text").string_value(), Not(HasSubstr("crm.contract_signed")));
      const auto& buttons = card.at("btns").list_value().values();
      const std::string title = card.at("title").string_value();
      if (title.find("Review") != std::string::npos) {  // s-head: the three verdicts
        ASSERT_EQ(buttons.size(), 3);
        EXPECT_EQ(buttons[0].struct_value().fields().at("title").string_value(), "达标 Meets");
        EXPECT_THAT(buttons[0].struct_value().fields().at("actionURL").string_value(),
                    AllOf(HasSubstr("https://perfflow.example.com/act/"), HasSubstr("?verdict=VERDICT_MEETS")));
      } else {  // s1: upload
        ASSERT_EQ(buttons.size(), 1) << s.body;
        EXPECT_EQ(buttons[0].struct_value().fields().at("title").string_value(), "上传证据 Upload");
      }
      ++cards;
    } else if (s.url.find("qyapi") != std::string::npos) {  // c-head: confirm
      ASSERT_EQ(f.at("msgtype").string_value(), "template_card") << s.body;
      const auto& card = f.at("template_card").struct_value().fields();
      EXPECT_EQ(card.at("card_type").string_value(), "text_notice");
      const auto& jumps = card.at("jump_list").list_value().values();
      ASSERT_EQ(jumps.size(), 1);
      EXPECT_EQ(jumps[0].struct_value().fields().at("title").string_value(), "确认影响 Confirm");
      EXPECT_EQ(card.at("card_action").struct_value().fields().at("url").string_value(),
                jumps[0].struct_value().fields().at("url").string_value());
      ++cards;
    }
  }
  EXPECT_EQ(cards, 3);
  // Other topics and unconfigured relays carry none.
  EXPECT_EQ(ActionUrl(links, "acme", "task.escalated", "s1", Task("abc"), w_.clock->Now()), "");
  // A digest links to the recipient's inbox.
  const std::string inbox = ActionUrl(links, "acme", "daily_digest", "s-head", {}, w_.clock->Now());
  auto inbox_link = links.keys->Verify(inbox.substr(inbox.rfind('/') + 1), w_.clock->Now());
  ASSERT_TRUE(inbox_link.ok()) << inbox;
  EXPECT_EQ(inbox_link->person, "s-head");
  EXPECT_EQ(inbox_link->task_id, "");
  EXPECT_EQ(ActionUrl({}, "acme", "task.assigned", "s1", Task("abc"), w_.clock->Now()), "");
}

TEST(NotifyTest, ChannelCountersStartAtZero) {
  prometheus::Registry registry;
  DeliveryMetrics metrics(registry);
  metrics.KnowChannel("dingtalk");
  int zeros = 0;
  for (const auto& family : registry.Collect()) {
    if (family.name != "perfflow_notifications_total") continue;
    for (const auto& metric : family.metric) {
      EXPECT_EQ(metric.counter.value, 0.0);
      ++zeros;
    }
  }
  EXPECT_EQ(zeros, 4);  // delivered, retry, dead_letter, rate_limited
}

TEST(NotifyTest, TheLogChannelNeverWritesALinkToken) {
  EXPECT_EQ(RedactActionLinks("[perfflow] New task https://pf.example.com/act/v1.YWJj.ZGVm-_x9 due soon"),
            "[perfflow] New task https://pf.example.com/act/<token> due soon");
  EXPECT_EQ(RedactActionLinks("no link here"), "no link here");
  EXPECT_EQ(RedactActionLinks("/act/a1 and https://x/act/b~2.c/d?e /act/ /act//act/z"),
            "/act/<token> and https://x/act/<token>/d?e /act/ /act//act/<token>");
  EXPECT_EQ(RedactActionLinks("ends with https://x/act/tok"), "ends with https://x/act/<token>");
}

TEST_F(RelayTest, DeliveredNotificationsLoseTheirTextAfterTheTenantsRetention) {
  // Notices from a peer service (outbox rows with text); task notices keep none.
  auto notify = [&](const std::string& key) {
    auto queued =
        w_.store->EnqueueNotice(kTenant, "s1", "calibration.changed", key, R"({"reason":"moved up"})", w_.clock->Now());
    ASSERT_TRUE(queued.ok() && *queued) << queued.status();
  };
  Ingest("c-1");  // three task.assigned notices
  for (const char* key : {"n-1", "n-2", "n-3"}) notify(key);
  auto relay = Relay(kConfig);
  ASSERT_EQ(relay->RunOnce().value_or(-1), 6);
  At(absl::Hours(24 * 5));
  Ingest("c-2");  // three more notices and three more texts, pending
  for (const char* key : {"n-4", "n-5", "n-6"}) notify(key);
  NotificationRetention retention(EventSourceOf(w_.core, w_.store), deliveries_, ClockTime(w_.clock));
  EXPECT_EQ(retention.RunOnce().value_or(-1), 0) << "no retention period: kept";

  v1::ApplyEventTypesRequest settings;
  auto* f = settings.add_files();
  f->set_name("settings.yaml");
  f->set_content("kind: Settings\nnotification_retention_days: 7\n");
  ASSERT_TRUE(w_.core->ApplyEventTypes(InProcessCall(kTenant), settings).ok());
  EXPECT_EQ(retention.RunOnce().value_or(-1), 0) << "delivered 5 days ago: kept";
  At(absl::Hours(24 * 8));
  EXPECT_EQ(retention.RunOnce().value_or(-1), 3);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM outbox WHERE payload = '{}' AND delivered_to = '' AND state = 1"), 3);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM outbox WHERE payload <> '{}' AND state = 0"), 3) << "pending ones untouched";
  EXPECT_EQ(retention.RunOnce().value_or(-1), 0) << "cleared once";
  sent_.clear();
  ASSERT_TRUE(relay->RunOnce().ok());
  // s1 (sales: hook + ding) three texts and one notice, s-head one notice, c-head (wecom) one.
  EXPECT_EQ(sent_.size(), 2u * 5 + 1) << "only the pending messages go out; nothing cleared is sent again";
}

TEST_F(RelayTest, RetriesWithBackoffThenDeadLetters) {
  Ingest("c-1");
  answer_ = absl::UnavailableError("destination answered HTTP 503");
  auto relay = Relay(kConfig);
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_EQ(State("c-head"), 0);
  EXPECT_EQ(Attempts("c-head"), 1);
  // Not before the backoff (1 s, then 2 s) has passed.
  sent_.clear();
  w_.clock->Advance(absl::Milliseconds(999));
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_TRUE(sent_.empty());
  w_.clock->Advance(absl::Milliseconds(1));
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_EQ(Attempts("c-head"), 2);
  w_.clock->Advance(absl::Seconds(2));
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_EQ(State("c-head"), 2) << "three failed attempts dead-letter the message";
  EXPECT_EQ(Attempts("c-head"), 3);
  // Every attempt carried the same idempotency key.
  std::set<std::string> keys;
  for (const Sent& s : sent_) {
    if (s.headers.count("webhook-id")) keys.insert(s.headers.at("webhook-id"));
  }
  EXPECT_EQ(keys.size(), 2u);  // s1's and s-head's messages, each retried under its own key
}

TEST_F(RelayTest, RefusedRequestsDeadLetterAtOnce) {
  Ingest("c-1");
  answer_ = absl::FailedPreconditionError("destination answered HTTP 400");
  auto relay = Relay(kConfig);
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_EQ(State("c-head"), 2);
  EXPECT_EQ(Attempts("c-head"), 1);
}

TEST_F(RelayTest, RobotErrorCodesAreFailures) {
  Ingest("c-1");
  reply_ = "{\"errcode\":310000,\"errmsg\":\"sign not match\"}";
  auto relay = Relay(kConfig);
  ASSERT_TRUE(relay->RunOnce().ok());
  // wecom and dingtalk answered with an error code: refused.
  EXPECT_EQ(State("c-head"), 2);
  EXPECT_EQ(State("s1"), 2);
}

TEST_F(RelayTest, RateLimitDefersWithoutSpendingAttempts) {
  for (int i = 0; i < 3; ++i) Ingest("c-" + std::to_string(i));  // 3 messages to c-head via wecom
  auto relay = Relay(std::string(kConfig) + "\n");
  // 20 per minute: the bucket starts full, so send 20+ to see the limit.
  for (int i = 3; i < 25; ++i) Ingest("c-" + std::to_string(i));
  ASSERT_TRUE(relay->RunOnce().ok());
  auto to_wecom = [&] {
    int n = 0;
    for (const Sent& s : sent_) n += s.url.find("qyapi") != std::string::npos;
    return n;
  };
  EXPECT_EQ(to_wecom(), 20);
  EXPECT_EQ(Scalar("SELECT COUNT(*) FROM tasks WHERE assignee_id = 'c-head' AND notice_state = 0"), 5);
  EXPECT_EQ(Scalar("SELECT MAX(notice_attempts) FROM tasks WHERE assignee_id = 'c-head' AND notice_state = 0"), 0);
  // Three seconds refill one token (20 per minute).
  w_.clock->Advance(absl::Seconds(3));
  ASSERT_TRUE(relay->RunOnce().ok());
  EXPECT_EQ(to_wecom(), 21);
}

TEST(NotifyConfigTest, RejectsBadConfigurationsPrecisely) {
  auto env = [](const char*) -> const char* { return nullptr; };
  auto error = [&](const std::string& yaml) {
    auto r = LoadNotifyConfig(yaml, CurlSender(), env);
    EXPECT_FALSE(r.ok());
    return std::string(r.status().message());
  };
  EXPECT_THAT(error("destinations:\n  - {name: a, type: webhook, url: 'http://example.com/x', secret_env: S}\n"),
              HasSubstr("destinations[0].url: must be https://"));
  EXPECT_THAT(error("destinations:\n  - {name: a, type: webhook, url: 'https://example.com/x', secret_env: S}\n"),
              HasSubstr("environment variable S is not set"));
  EXPECT_THAT(error("destinations:\n  - {name: a, type: webhook, url: 'https://example.com/x'}\n"),
              HasSubstr("secret_env: required"));
  EXPECT_THAT(error("destinations:\n  - {name: a, type: carrier_pigeon}\n"), HasSubstr("carrier_pigeon"));
  EXPECT_THAT(error("default_destinations: [nowhere]\n"), HasSubstr("unknown destination 'nowhere'"));
  EXPECT_THAT(error("destinations:\n  - {name: 'Bad Name', type: log}\n"), HasSubstr("destinations[0].name"));
  EXPECT_THAT(error("max_attempts: 3\nbackoff_jitter: 2\n"), HasSubstr("backoff_jitter is 0..1"));
  EXPECT_THAT(error("colour: blue\n"), HasSubstr("colour"));
  EXPECT_THAT(error("destinations:\n  - {name: log, type: log}\n"), HasSubstr("default_destinations: required"));
}

TEST(PaceBatchTest, SleepsOnTheInjectedClockForTheRestOfTheDuty) {
  ManualClock clock(testing::FixedStart());
  PaceBatch(clock, absl::Milliseconds(10), 25);  // busy 10 of every 40 ms
  EXPECT_EQ(clock.Slept(), absl::Milliseconds(30));
  PaceBatch(clock, absl::Milliseconds(10), 50);
  EXPECT_EQ(clock.Slept(), absl::Milliseconds(40));
  PaceBatch(clock, absl::Milliseconds(10), 100);  // no pause
  EXPECT_EQ(clock.Slept(), absl::Milliseconds(40));
}

}  // namespace
}  // namespace perfflow::event
