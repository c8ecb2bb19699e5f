// IngestCombiner over a scripted store: who shares a transaction, what each
// call gets back, and what happens when a shared transaction fails.

#include "services/event/ingest_combiner.h"

#include <memory>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace perfflow::event {
namespace {

NewEvent Event(const std::string& external_id) {
  NewEvent n;
  n.event.event_id = "ev-" + external_id;
  n.event.source = "crm";
  n.event.external_id = external_id;
  n.payload_hash = "hash-" + external_id;
  return n;
}

// A store that records each transaction's tenant and events, holds the
// first transaction until released, and answers each event with itself;
// an event named "bad" fails its transaction as a whole with `failure`.
class ScriptedStore {
 public:
  explicit ScriptedStore(absl::Status failure = absl::InternalError("row refused")) : failure_(std::move(failure)) {}

  IngestCombiner::StoreBatch Function() {
    return [this](const std::string& tenant,
                  const std::vector<NewEvent>& batch) -> absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>> {
      bool first;
      {
        absl::MutexLock lock(&mu_);
        std::vector<std::string> ids;
        for (const NewEvent& n : batch) ids.push_back(n.event.external_id);
        transactions_.push_back({tenant, ids});
        first = transactions_.size() == 1;
      }
      if (first) release_.WaitForNotification();
      std::vector<absl::StatusOr<IngestResult>> results;
      for (const NewEvent& n : batch) {
        if (n.event.external_id == "bad") return failure_;
        results.push_back(IngestResult{n.event, false});
      }
      return results;
    };
  }

  void Release() { release_.Notify(); }

  std::vector<std::pair<std::string, std::vector<std::string>>> Transactions() {
    absl::MutexLock lock(&mu_);
    return transactions_;
  }

 private:
  const absl::Status failure_;
  absl::Notification release_;
  absl::Mutex mu_;
  std::vector<std::pair<std::string, std::vector<std::string>>> transactions_ ABSL_GUARDED_BY(mu_);
};

// Calls Store on threads of their own and collects each result by its id.
class Callers {
 public:
  explicit Callers(IngestCombiner& combiner) : combiner_(combiner) {}
  ~Callers() { Join(); }

  void Start(const std::string& tenant, const std::string& external_id) {
    threads_.emplace_back([this, tenant, external_id] {
      auto r = combiner_.Store(tenant, Event(external_id));
      absl::MutexLock lock(&mu_);
      results_.emplace(external_id, std::move(r));
    });
  }

  void Join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  std::map<std::string, absl::StatusOr<IngestResult>> Results() {
    absl::MutexLock lock(&mu_);
    return results_;
  }

 private:
  IngestCombiner& combiner_;
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::map<std::string, absl::StatusOr<IngestResult>> results_ ABSL_GUARDED_BY(mu_);
};

// Polls (bounded) until `n` calls wait for a transaction.
void AwaitWaiting(IngestCombiner& combiner, size_t n) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (combiner.Waiting() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_EQ(combiner.Waiting(), n);
}

// Polls (bounded) until the store holds its first transaction.
void AwaitHeld(ScriptedStore& store) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (store.Transactions().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  ASSERT_FALSE(store.Transactions().empty());
}

// A call "first" of `first_tenant` that the store holds, then the `queued`
// calls (tenant, id) waiting behind it; then the store lets go and all end.
void RunBehindAHeldCall(ScriptedStore& store, IngestCombiner& combiner, Callers& callers,
                        const std::vector<std::pair<std::string, std::string>>& queued,
                        const std::string& first_tenant = "t1") {
  callers.Start(first_tenant, "first");
  AwaitHeld(store);
  for (const auto& [tenant, id] : queued) callers.Start(tenant, id);
  AwaitWaiting(combiner, queued.size());
  store.Release();
  callers.Join();
}

TEST(IngestCombinerTest, ACallAloneRunsAtOnce) {
  ScriptedStore store;
  store.Release();
  IngestCombiner combiner(store.Function(), 1, 64);
  auto r = combiner.Store("t1", Event("a"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->event.external_id, "a");
  EXPECT_EQ(store.Transactions().size(), 1u);
}

TEST(IngestCombinerTest, CallsArrivingWhileBusyShareTheNextTransactionEachWithItsOwnResult) {
  ScriptedStore store;
  size_t observed_events = 0;
  int observed_transactions = 0;
  IngestCombiner combiner(store.Function(), 1, 64, [&](size_t events) {
    observed_events += events;  // called by the one leader at a time (max 1 transaction)
    ++observed_transactions;
  });
  Callers callers(combiner);
  // The first call holds the only transaction; five more wait for it.
  RunBehindAHeldCall(store, combiner, callers, {{"t1", "b"}, {"t1", "c"}, {"t1", "d"}, {"t1", "e"}, {"t1", "f"}});

  auto transactions = store.Transactions();
  ASSERT_EQ(transactions.size(), 2u);
  EXPECT_EQ(transactions[0].second, std::vector<std::string>{"first"});
  EXPECT_EQ(transactions[1].second.size(), 5u);
  EXPECT_EQ(observed_transactions, 2);
  EXPECT_EQ(observed_events, 6u);
  auto results = callers.Results();
  ASSERT_EQ(results.size(), 6u);
  for (const auto& [id, r] : results) {
    ASSERT_TRUE(r.ok()) << id << ": " << r.status();
    EXPECT_EQ(r->event.external_id, id);
  }
  EXPECT_EQ(combiner.Waiting(), 0u);
}

TEST(IngestCombinerTest, ATransactionHoldsOneTenantAndAtMostMaxBatch) {
  ScriptedStore store;
  IngestCombiner combiner(store.Function(), 1, 2);
  Callers callers(combiner);
  RunBehindAHeldCall(
      store, combiner, callers,
      {{"tenant-a", "a1"}, {"tenant-a", "a2"}, {"tenant-a", "a3"}, {"tenant-b", "b1"}, {"tenant-b", "b2"}}, "tenant-f");

  auto transactions = store.Transactions();
  size_t events = 0;
  for (const auto& [tenant, ids] : transactions) {
    EXPECT_LE(ids.size(), 2u);
    for (const std::string& id : ids) EXPECT_EQ(id[0], tenant.back()) << id << " stored for " << tenant;
    events += ids.size();
  }
  EXPECT_EQ(events, 6u);
  // first; then tenant-a in two (2 + 1) and tenant-b in one.
  EXPECT_EQ(transactions.size(), 4u);
  for (const auto& [id, r] : callers.Results()) EXPECT_TRUE(r.ok()) << id << ": " << r.status();
}

TEST(IngestCombinerTest, ASharedTransactionFailingIsRunAgainOneEventAtATime) {
  ScriptedStore store;
  IngestCombiner combiner(store.Function(), 1, 64);
  Callers callers(combiner);
  RunBehindAHeldCall(store, combiner, callers, {{"t1", "a"}, {"t1", "bad"}, {"t1", "c"}});

  auto results = callers.Results();
  EXPECT_TRUE(results.at("a").ok());
  EXPECT_TRUE(results.at("c").ok());
  EXPECT_EQ(results.at("bad").status().code(), absl::StatusCode::kInternal);
  // first; the shared one of three (failed); then each of the three alone.
  EXPECT_EQ(store.Transactions().size(), 5u);
}

TEST(IngestCombinerTest, AnUnavailableDatabaseFailsTheSharedTransactionsCallsWithoutRetrying) {
  ScriptedStore store(absl::UnavailableError("database unreachable"));
  IngestCombiner combiner(store.Function(), 1, 64);
  Callers callers(combiner);
  RunBehindAHeldCall(store, combiner, callers, {{"t1", "a"}, {"t1", "bad"}, {"t1", "c"}});

  auto results = callers.Results();
  for (const char* id : {"a", "bad", "c"}) EXPECT_TRUE(absl::IsUnavailable(results.at(id).status())) << id;
  EXPECT_EQ(store.Transactions().size(), 2u);
}

TEST(IngestCombinerTest, SeveralTransactionsRunAtOnceUpToTheLimit) {
  // Two transactions at once: the second call is stored while the first is held.
  ScriptedStore store;
  IngestCombiner combiner(store.Function(), 2, 64);
  Callers callers(combiner);
  callers.Start("t1", "first");
  AwaitHeld(store);
  callers.Start("t1", "second");
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (callers.Results().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  auto results = callers.Results();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_TRUE(results.count("second"));
  store.Release();
  callers.Join();
  EXPECT_EQ(callers.Results().size(), 2u);
  EXPECT_EQ(store.Transactions().size(), 2u);
}

}  // namespace
}  // namespace perfflow::event
