// The delivery store's claims on both backends: concurrent claimers never
// share a timer (SKIP LOCKED on MariaDB), an expired claim is fenced, and
// the outbox is claimed and settled the same way.

#include <algorithm>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "services/event/delivery/sql_delivery_store.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

using testing::Backend;
using testing::kTenant;
namespace t = perfflow::type::v1;

// Each claimed message with the outcome `state` (and `last_error`).
std::vector<std::pair<ClaimedMessage, DeliveryOutcome>> Outcomes(const std::vector<ClaimedMessage>& claimed,
                                                                 DeliveryState state,
                                                                 const std::string& last_error = "") {
  DeliveryOutcome outcome;
  outcome.state = state;
  outcome.last_error = last_error;
  std::vector<std::pair<ClaimedMessage, DeliveryOutcome>> out;
  for (const ClaimedMessage& m : claimed) out.emplace_back(m, outcome);
  return out;
}

// Each claim fired to its next timer, with a reminder to its assignee
// carrying `reminder_payload` (no notice when null).
std::vector<TimerFiring> Firings(const std::vector<ClaimedTimer>& claims, const char* reminder_payload) {
  std::vector<TimerFiring> out;
  for (const ClaimedTimer& c : claims) {
    TimerFiring f{c, {}, NextTimer(c.task.timer_level, c.task.due_at, c.task.escalate_after)};
    if (reminder_payload != nullptr) {
      f.notices.push_back({c.task.assignee_id, "task.reminder", "task.reminder:" + c.task.task_id, reminder_payload});
    }
    out.push_back(std::move(f));
  }
  return out;
}

class DeliveryStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMysql && !testing::MysqlConfigured()) {
      GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
    }
    w_ = testing::MakeEventWorld(GetParam());
    store_ = std::make_shared<SqlDeliveryStore>(w_.database.db);
  }

  // 3 tasks per contract; all of their timers are due 1000 h later.
  void IngestContracts(int n) {
    for (int i = 0; i < n; ++i) {
      auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned("c-" + std::to_string(i)));
      ASSERT_TRUE(r.ok()) << r.status();
    }
  }

  absl::Time Later() { return testing::FixedStart() + absl::Hours(1000); }

  int64_t Count(const std::string& sql) { return db::QueryInt(*w_.database.db, sql, {}).value_or(-1); }

  // Runs `claim` (one batch for the owner it is given, as ids) on 4 threads
  // until each gets an empty batch; returns every id claimed, repeats kept.
  std::multiset<std::string> ClaimConcurrently(
      const std::function<absl::StatusOr<std::vector<std::string>>(const std::string& owner)>& claim) {
    std::mutex mu;
    std::multiset<std::string> claimed;
    std::vector<std::thread> claimers;
    for (int c = 0; c < 4; ++c) {
      claimers.emplace_back([&, c] {
        while (true) {
          auto batch = claim("claimer-" + std::to_string(c));
          std::lock_guard<std::mutex> lock(mu);
          if (!batch.ok()) {
            ADD_FAILURE() << batch.status();
            return;
          }
          if (batch->empty()) return;
          claimed.insert(batch->begin(), batch->end());
        }
      });
    }
    for (auto& t : claimers) t.join();
    return claimed;
  }

  testing::EventWorld w_;
  std::shared_ptr<SqlDeliveryStore> store_;
};

TEST_P(DeliveryStoreTest, ADigestRunIsRecordedOncePerTenantKindAndPeriod) {
  const absl::Time now = w_.clock->Now();
  auto before = store_->DigestRecorded(kTenant, "daily_digest", "2026-12-01");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(*before);
  std::vector<Notice> notices = {{"s-head", "daily_digest", "daily_digest:2026-12-01:s-head", "{}"}};
  auto first = store_->RecordDigest(kTenant, "daily_digest", "2026-12-01", notices, now);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(*first);
  auto again = store_->RecordDigest(kTenant, "daily_digest", "2026-12-01", notices, now);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(*again);  // another replica's run: nothing written twice
  EXPECT_TRUE(*store_->DigestRecorded(kTenant, "daily_digest", "2026-12-01"));
  EXPECT_FALSE(*store_->DigestRecorded(kTenant, "daily_digest", "2026-12-02"));
  EXPECT_FALSE(*store_->DigestRecorded(kTenant, "weekly_actions", "2026-12-01"));
  EXPECT_FALSE(*store_->DigestRecorded("other-tenant", "daily_digest", "2026-12-01"));
}

TEST_P(DeliveryStoreTest, ConcurrentClaimersNeverShareATimer) {
  IngestContracts(100);  // 300 tasks
  const auto claimed = ClaimConcurrently([&](const std::string& owner) -> absl::StatusOr<std::vector<std::string>> {
    auto batch = store_->ClaimDueTimers(owner, Later(), absl::Minutes(5), 7);
    if (!batch.ok()) return batch.status();
    std::vector<std::string> ids;
    for (const ClaimedTimer& t : *batch) ids.push_back(t.task.task_id);
    return ids;
  });
  EXPECT_EQ(claimed.size(), 300u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 300u) << "a timer was claimed twice";
}

TEST_P(DeliveryStoreTest, ExpiredClaimIsFencedAndFiresOnce) {
  IngestContracts(1);
  auto a = store_->ClaimDueTimers("a", Later(), absl::Seconds(10), 10);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 3u);
  auto b = store_->ClaimDueTimers("b", Later() + absl::Seconds(11), absl::Seconds(10), 10);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->size(), 3u);
  auto by_b = store_->FireTimers("b", Later() + absl::Seconds(12), Firings(*b, "{}"), absl::ZeroDuration());
  ASSERT_TRUE(by_b.ok()) << by_b.status();
  EXPECT_EQ(by_b->fired.size(), 3u);
  auto by_a = store_->FireTimers("a", Later() + absl::Seconds(13), Firings(*a, "{}"), absl::ZeroDuration());
  ASSERT_TRUE(by_a.ok()) << by_a.status();
  EXPECT_EQ(by_a->fired.size(), 0u);
  EXPECT_EQ(by_a->fenced, 3);
  auto pending = w_.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 3 + 3);  // task.assigned at ingest + one reminder each
}

// One FireTimers call over claims in every condition: those still held fire,
// one claimed again since (here by the same replica, so only its fence tells
// the claims apart) is fenced, and those whose tasks were done since the
// claim are cancelled — nothing written for either.
TEST_P(DeliveryStoreTest, AFiringBatchFiresTheHeldAndSkipsTheFencedAndTheCancelled) {
  std::vector<std::string> events;
  for (const char* id : {"c-0", "c-1"}) {
    auto r = w_.core->Ingest(InProcessCall(kTenant), testing::ContractSigned(id));
    ASSERT_TRUE(r.ok()) << r.status();
    events.push_back(r->event.event_id);
  }
  // The owners' two timers come due first: "a" holds them for 5 s, the four
  // others for a minute, and claims the owners' again when that lease ends.
  auto owners = store_->ClaimDueTimers("a", Later(), absl::Seconds(5), 2);
  auto heads = store_->ClaimDueTimers("a", Later(), absl::Minutes(1), 10);
  ASSERT_TRUE(owners.ok() && heads.ok());
  ASSERT_EQ(owners->size(), 2u);
  ASSERT_EQ(heads->size(), 4u);
  for (const ClaimedTimer& c : *owners) ASSERT_EQ(c.task.assignee_id, "s1");
  auto again = store_->ClaimDueTimers("a", Later() + absl::Seconds(6), absl::Minutes(1), 10);
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->size(), 2u);
  // c-0's owner acts and its manager rates: both their tasks are done.
  for (auto step : {t::FLOW_STEP_OWNER_ACTION, t::FLOW_STEP_MANAGER_FEEDBACK}) {
    v1::RecordFlowStepRequest report;
    report.set_event("events/" + events[0]);
    report.set_step(step);
    report.set_step_id(absl::StrCat("step-", step));
    if (step == t::FLOW_STEP_MANAGER_FEEDBACK) report.set_verdict(t::VERDICT_MEETS);
    auto recorded = w_.core->RecordStep(InProcessCall(kTenant), report);
    ASSERT_TRUE(recorded.ok()) << recorded.status();
  }

  std::vector<TimerFiring> firings = Firings(*owners, "{}");
  for (TimerFiring& f : Firings(*heads, "{}")) firings.push_back(std::move(f));
  auto fired = store_->FireTimers("a", Later() + absl::Seconds(7), firings, absl::ZeroDuration());
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_EQ(fired->fired.size(), 3u) << "c-0's cross-confirmation and c-1's two heads' tasks";
  EXPECT_EQ(fired->fenced, 1) << "c-1's owner task, claimed again";
  EXPECT_EQ(fired->cancelled, 2) << "c-0's owner and manager tasks, done";
  EXPECT_EQ(Count("SELECT COUNT(*) FROM timer_firings WHERE owner = 'a'"), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM outbox WHERE topic = 'task.reminder'"), 3);
  EXPECT_EQ(Count("SELECT COUNT(*) FROM tasks WHERE lease_owner = 'a'"), 3)
      << "the newer claims of the owners' tasks and the done manager task's claim";
  // The newer claim of c-1's owner task fires it.
  auto fired_again =
      store_->FireTimers("a", Later() + absl::Seconds(8), Firings(*again, nullptr), absl::ZeroDuration());
  ASSERT_TRUE(fired_again.ok()) << fired_again.status();
  EXPECT_EQ(fired_again->fired.size(), 1u);
  EXPECT_EQ(fired_again->cancelled, 1);
}

// Warnings written with a hand-off lease come back as claimed by the firing
// owner: nobody else claims them while the lease holds, the owner settles
// them as claimed, and once the lease has run out a claim takes them over
// and fences the owner's late outcome.
TEST_P(DeliveryStoreTest, HandedOffWarningsAreClaimedByTheirFiringOwner) {
  IngestContracts(2);
  auto settle_assigned = store_->ClaimOutbox("relay", Later(), absl::Seconds(10), 100);
  ASSERT_TRUE(settle_assigned.ok()) << settle_assigned.status();
  ASSERT_EQ(
      store_->CompleteDeliveries("relay", Later(), Outcomes(*settle_assigned, DeliveryState::kDelivered)).value_or(-1),
      0);

  auto claims = store_->ClaimDueTimers("a", Later(), absl::Seconds(10), 10);
  ASSERT_TRUE(claims.ok()) << claims.status();
  ASSERT_EQ(claims->size(), 6u);
  std::vector<TimerFiring> firings = Firings(*claims, "{\"n\":1}");
  const absl::Time fired_at = Later() + absl::Seconds(1);
  auto fired = store_->FireTimers("a", fired_at, firings, absl::Seconds(10));
  ASSERT_TRUE(fired.ok()) << fired.status();
  ASSERT_EQ(fired->fired.size(), 6u);
  ASSERT_EQ(fired->handed_off.size(), 6u);
  for (const ClaimedMessage& m : fired->handed_off) {
    EXPECT_EQ(m.tenant, kTenant);
    EXPECT_FALSE(m.task_notice);
    EXPECT_EQ(m.fence, 1);
    EXPECT_EQ(m.attempts, 0);
    EXPECT_EQ(m.message.topic, "task.reminder");
    EXPECT_EQ(m.message.payload_json, "{\"n\":1}");
    EXPECT_EQ(m.message.created_at, fired_at);
  }
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 6) << "pending until delivered";
  auto other = store_->ClaimOutbox("b", fired_at + absl::Seconds(9), absl::Seconds(10), 100);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_TRUE(other->empty()) << "claimed by another relay while the hand-off lease holds";

  // The owner settles half of them in time.
  auto first_half = Outcomes({fired->handed_off.begin(), fired->handed_off.begin() + 3}, DeliveryState::kDelivered);
  auto second_half = Outcomes({fired->handed_off.begin() + 3, fired->handed_off.end()}, DeliveryState::kDelivered);
  ASSERT_EQ(store_->CompleteDeliveries("a", fired_at + absl::Seconds(2), first_half).value_or(-1), 0);
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 3);
  // The rest outlive the lease: another relay claims them (fence 2) and the
  // owner's late outcome writes nothing.
  auto taken = store_->ClaimOutbox("b", fired_at + absl::Seconds(11), absl::Seconds(10), 100);
  ASSERT_TRUE(taken.ok()) << taken.status();
  ASSERT_EQ(taken->size(), 3u);
  for (const ClaimedMessage& m : *taken) EXPECT_EQ(m.fence, 2);
  EXPECT_EQ(store_->CompleteDeliveries("a", fired_at + absl::Seconds(12), second_half).value_or(-1), 3);
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 3);
}

// A notice from a peer service: an outbox row, pending from `at`.
void Enqueue(EventStore& store, const std::string& key, absl::Time at) {
  auto queued = store.EnqueueNotice(kTenant, "s1", "calibration.changed", key, R"({"note":"x"})", at);
  ASSERT_TRUE(queued.ok()) << queued.status();
  ASSERT_TRUE(*queued);
}

// Both places a message lives — outbox rows and tasks' task.assigned
// notices — are claimed, fenced and settled alike.
TEST_P(DeliveryStoreTest, OutboxClaimsSettleOnceAndFenceTheLoser) {
  IngestContracts(2);  // 6 task.assigned notices (task rows)
  const absl::Time now = testing::FixedStart();
  Enqueue(*w_.store, "peer-1", now);
  Enqueue(*w_.store, "peer-2", now);  // and 2 outbox rows
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 8);
  auto a = store_->ClaimOutbox("a", now, absl::Seconds(10), 100);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->size(), 8u);
  int notices = 0;
  for (const ClaimedMessage& m : *a) {
    if (!m.task_notice) continue;
    ++notices;
    EXPECT_EQ(m.message.topic, "task.assigned");
    EXPECT_EQ(m.message.idempotency_key, "task.assigned:" + m.message.message_id);
    EXPECT_NE(m.message.payload_json.find("\"task\":\"tasks/" + m.message.message_id + "\""), std::string::npos)
        << m.message.payload_json;
  }
  EXPECT_EQ(notices, 6);
  auto none = store_->ClaimOutbox("b", now + absl::Seconds(1), absl::Seconds(10), 100);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto b = store_->ClaimOutbox("b", now + absl::Seconds(11), absl::Seconds(10), 100);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->size(), 8u);
  DeliveryOutcome delivered;
  delivered.state = DeliveryState::kDelivered;
  delivered.delivered_to = {"log"};
  std::vector<std::pair<ClaimedMessage, DeliveryOutcome>> by_b, by_a;
  for (const auto& m : *b) by_b.emplace_back(m, delivered);
  for (const auto& m : *a) by_a.emplace_back(m, delivered);
  auto fenced_b = store_->CompleteDeliveries("b", now + absl::Seconds(12), by_b);
  ASSERT_TRUE(fenced_b.ok()) << fenced_b.status();
  EXPECT_EQ(*fenced_b, 0);
  auto fenced_a = store_->CompleteDeliveries("a", now + absl::Seconds(13), by_a);
  ASSERT_TRUE(fenced_a.ok());
  EXPECT_EQ(*fenced_a, 8);
  auto pending = w_.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, 0);
  auto dead = store_->DeadLetters(kTenant);
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, 0);
  auto again = store_->ClaimOutbox("c", now + absl::Hours(1), absl::Seconds(10), 100);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
  EXPECT_EQ(testing::CountRows(*w_.database.db, "outbox"), 2) << "no outbox row for a task";

  // Retention clears the delivered text once, only before the cut-off, only
  // for this tenant; task notices keep no text.
  EXPECT_EQ(store_->ClearDelivered(kTenant, now + absl::Seconds(12)).value_or(-1), 0) << "b delivered them at +12 s";
  EXPECT_EQ(store_->ClearDelivered("other", now + absl::Hours(1)).value_or(-1), 0);
  EXPECT_EQ(store_->ClearDelivered(kTenant, now + absl::Hours(1)).value_or(-1), 2);
  EXPECT_EQ(store_->ClearDelivered(kTenant, now + absl::Hours(1)).value_or(-1), 0);
  EXPECT_EQ(testing::CountRows(*w_.database.db, "outbox"), 2) << "the rows stay";
}

// A relay whose lease ran out and that claimed the same messages again (a
// slow delivery, then the next poll) settles them by its newer claim only:
// the owner is the same, the fence is not. A stale outcome writes nothing.
TEST_P(DeliveryStoreTest, ARelaysExpiredClaimIsFencedByItsOwnNewerClaim) {
  IngestContracts(1);  // 3 task notices
  const absl::Time now = testing::FixedStart();
  Enqueue(*w_.store, "peer-1", now);  // and an outbox row
  auto first = store_->ClaimOutbox("a", now, absl::Seconds(10), 100);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 4u);
  auto second = store_->ClaimOutbox("a", now + absl::Seconds(11), absl::Seconds(10), 100);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 4u);

  auto stale = Outcomes(*first, DeliveryState::kDeadLetter, "stale");
  EXPECT_EQ(store_->CompleteDeliveries("a", now + absl::Seconds(12), stale).value_or(-1), 4);
  EXPECT_EQ(store_->DeadLetters(kTenant).value_or(-1), 0) << "the stale outcome wrote nothing";
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 4);

  // One outcome of the newer claim is for a message someone else took since
  // (a fence that is not the row's): the rest of its group is settled.
  auto fresh = Outcomes(*second, DeliveryState::kDelivered);
  fresh.back().first.fence += 1;
  EXPECT_EQ(store_->CompleteDeliveries("a", now + absl::Seconds(13), fresh).value_or(-1), 1);
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 1) << "the one with the other fence is still pending";
  EXPECT_EQ(store_->DeadLetters(kTenant).value_or(-1), 0);
}

// A claim takes the messages due first, whichever table holds them; a dead
// letter is counted wherever it lives.
TEST_P(DeliveryStoreTest, ClaimsTakeTheDueFirstFromBothPlaces) {
  const absl::Time now = testing::FixedStart();
  Enqueue(*w_.store, "early", now - absl::Minutes(1));
  IngestContracts(1);  // 3 notices due at `now`
  Enqueue(*w_.store, "late", now + absl::Minutes(1));
  auto first = store_->ClaimOutbox("a", now + absl::Minutes(2), absl::Seconds(10), 2);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 2u);
  EXPECT_FALSE((*first)[0].task_notice);
  EXPECT_EQ((*first)[0].message.idempotency_key, "early");
  EXPECT_TRUE((*first)[1].task_notice);
  auto rest = store_->ClaimOutbox("a", now + absl::Minutes(2), absl::Seconds(10), 100);
  ASSERT_TRUE(rest.ok()) << rest.status();
  ASSERT_EQ(rest->size(), 3u);
  EXPECT_TRUE((*rest)[0].task_notice);
  EXPECT_TRUE((*rest)[1].task_notice);
  EXPECT_EQ((*rest)[2].message.idempotency_key, "late");

  auto outcomes = Outcomes(*first, DeliveryState::kDeadLetter, "hook: HTTP 400");
  ASSERT_EQ(store_->CompleteDeliveries("a", now + absl::Minutes(3), outcomes).value_or(-1), 0);
  EXPECT_EQ(store_->DeadLetters(kTenant).value_or(-1), 2) << "one outbox row, one task notice";
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 3) << "the rest are leased, still pending";
}

// A task's timer and its notice have leases of their own: claiming one never
// fences the other.
TEST_P(DeliveryStoreTest, ATasksTimerAndNoticeAreClaimedApart) {
  IngestContracts(1);
  auto timers = store_->ClaimDueTimers("timer", Later(), absl::Minutes(5), 10);
  ASSERT_TRUE(timers.ok()) << timers.status();
  ASSERT_EQ(timers->size(), 3u);
  auto notices = store_->ClaimOutbox("relay", Later(), absl::Minutes(5), 10);
  ASSERT_TRUE(notices.ok()) << notices.status();
  ASSERT_EQ(notices->size(), 3u);
  auto fired = store_->FireTimers("timer", Later() + absl::Seconds(1), Firings(*timers, nullptr), absl::ZeroDuration());
  ASSERT_TRUE(fired.ok()) << fired.status();
  EXPECT_EQ(fired->fired.size(), 3u);
  EXPECT_EQ(fired->fenced, 0);
  EXPECT_EQ(
      store_->CompleteDeliveries("relay", Later() + absl::Seconds(2), Outcomes(*notices, DeliveryState::kDelivered))
          .value_or(-1),
      0);
  EXPECT_EQ(w_.store->OutboxBacklog(kTenant).value_or(-1), 0);
}

// Concurrent relays never share a message, in either place.
TEST_P(DeliveryStoreTest, ConcurrentRelaysNeverShareAMessage) {
  IngestContracts(40);  // 120 task notices
  for (int i = 0; i < 30; ++i) Enqueue(*w_.store, "peer-" + std::to_string(i), testing::FixedStart());
  const auto claimed = ClaimConcurrently([&](const std::string& owner) -> absl::StatusOr<std::vector<std::string>> {
    auto batch = store_->ClaimOutbox(owner, Later(), absl::Minutes(5), 7);
    if (!batch.ok()) return batch.status();
    std::vector<std::string> keys;
    for (const ClaimedMessage& m : *batch) keys.push_back(m.message.idempotency_key);
    return keys;
  });
  EXPECT_EQ(claimed.size(), 150u);
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), 150u) << "a message was claimed twice";
}

// The weekly list: every open task counted, only the soonest `per_person`
// returned, soonest first, whatever the backend.
TEST_P(DeliveryStoreTest, WeeklyActionListsCountAllAndReturnTheSoonest) {
  IngestContracts(12);  // each: a task for the subject, its manager and a confirmer
  auto all = store_->WeeklyActionLists(kTenant, testing::FixedStart(), 1000);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_FALSE(all->empty());
  auto listed = store_->WeeklyActionLists(kTenant, Later(), 5);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), all->size());
  int64_t total = 0;
  for (size_t i = 0; i < all->size(); ++i) {
    const PersonActions& full = (*all)[i];
    const PersonActions& capped = (*listed)[i];
    EXPECT_EQ(capped.assignee_id, full.assignee_id);
    EXPECT_EQ(full.open, static_cast<int64_t>(full.soonest.size()));
    EXPECT_EQ(full.overdue, 0);  // nothing is due yet at the start
    EXPECT_EQ(capped.open, full.open);
    EXPECT_EQ(capped.overdue, full.open);  // 1000 h later everything is
    ASSERT_EQ(capped.soonest.size(), std::min<size_t>(5, full.soonest.size()));
    for (size_t k = 0; k < capped.soonest.size(); ++k) {
      EXPECT_EQ(capped.soonest[k].task_id, full.soonest[k].task_id);  // the same first ones
      if (k > 0) {
        EXPECT_LE(full.soonest[k - 1].due_at, full.soonest[k].due_at);
      }
    }
    total += full.open;
  }
  EXPECT_EQ(total, 12 * 3);
  EXPECT_TRUE(std::any_of(all->begin(), all->end(), [](const PersonActions& p) { return p.open == 12; }));
}

INSTANTIATE_TEST_SUITE_P(Backends, DeliveryStoreTest, ::testing::Values(Backend::kSqlite, Backend::kMysql),
                         [](const auto& info) { return testing::BackendName(info.param); });

}  // namespace
}  // namespace perfflow::event
