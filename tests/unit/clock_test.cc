// The one time source: simulated time for sleeps, waits, periodic work and
// caches, so none of them needs real time in a test.

#include "common/clock.h"

#include <atomic>
#include <thread>

#include "common/periodic.h"
#include "common/ttl_cache.h"
#include "gtest/gtest.h"

namespace perfflow {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'780'000'000);

// Polls `done` for at most 10 s of real time.
template <typename Done>
bool Eventually(Done done) {
  for (int i = 0; i < 10'000; ++i) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return done();
}

TEST(ManualClockTest, SleepPassesAtOnceAndMovesTheClock) {
  ManualClock clock(kStart);
  clock.SleepFor(absl::Seconds(90));
  clock.SleepFor(-absl::Seconds(5));  // nothing
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(90));
  EXPECT_EQ(clock.Monotonic(), absl::Seconds(90));
  EXPECT_EQ(clock.Slept(), absl::Seconds(90));
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(clock.Monotonic(), absl::Seconds(100));
  EXPECT_EQ(clock.Slept(), absl::Seconds(90));  // advancing is not sleeping
}

TEST(ManualClockTest, AWaitEndsWhenAnotherThreadAdvancesPastIt) {
  ManualClock clock(kStart);
  absl::Mutex mu;
  bool flag = false;
  std::atomic<bool> returned{false};
  bool result = true;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithTimeout(mu, absl::Condition(&flag), absl::Hours(1));
    returned = true;
  });
  ASSERT_TRUE(Eventually([&] { return clock.Waiters() == 1; }));
  clock.Advance(absl::Minutes(59));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(returned.load());  // an hour of simulated time has not passed
  clock.Advance(absl::Minutes(1));
  waiter.join();
  EXPECT_FALSE(result);
}

TEST(ManualClockTest, AWaitEndsWhenTheConditionHolds) {
  ManualClock clock(kStart);
  absl::Mutex mu;
  bool flag = false;
  bool result = false;
  std::thread waiter([&] {
    absl::MutexLock lock(&mu);
    result = clock.AwaitWithTimeout(mu, absl::Condition(&flag), absl::Hours(1));
  });
  {
    absl::MutexLock lock(&mu);
    flag = true;
  }
  waiter.join();
  EXPECT_TRUE(result);
  EXPECT_EQ(clock.Now(), kStart);
}

TEST(PeriodicTaskTest, RunsAgainOnlyWhenTheClocksIntervalHasPassed) {
  auto clock = std::make_shared<ManualClock>(kStart);
  std::atomic<int> runs{0};
  PeriodicTask task(clock, absl::Hours(1), [&] { ++runs; });
  // Runs at once, then waits for the clock.
  ASSERT_TRUE(Eventually([&] { return runs.load() == 1 && clock->Waiters() == 1; }));
  clock->Advance(absl::Minutes(30));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(runs.load(), 1);
  clock->Advance(absl::Minutes(30));
  ASSERT_TRUE(Eventually([&] { return runs.load() == 2 && clock->Waiters() == 1; }));
  clock->Advance(absl::Hours(1));
  EXPECT_TRUE(Eventually([&] { return runs.load() == 3; }));
  // Stopping does not wait for the next hour of simulated time.
  task.Stop();
  EXPECT_EQ(runs.load(), 3);
}

using Cache = TtlCache<std::string, int>;

TEST(TtlCacheTest, EntriesExpireAfterTheTtlOnTheClock) {
  auto clock = std::make_shared<ManualClock>(kStart);
  Cache cache(clock, absl::Seconds(5), 100);
  cache.Put("a", 1);
  clock->Advance(absl::Seconds(4));
  EXPECT_EQ(cache.Get("a"), 1);
  clock->Advance(absl::Seconds(1));
  EXPECT_EQ(cache.Get("a"), std::nullopt);
}

TEST(TtlCacheTest, KeepsOnlyFoundValuesMissesAndErrorsAreAskedAgain) {
  auto clock = std::make_shared<ManualClock>(kStart);
  Cache cache(clock, absl::Minutes(1), 100);
  int loads = 0;
  absl::StatusOr<std::optional<int>> answer = std::optional<int>();
  auto load = [&]() -> absl::StatusOr<std::optional<int>> {
    ++loads;
    return answer;
  };
  EXPECT_EQ(*cache.GetOrLoad("a", load), std::nullopt);
  answer = absl::UnavailableError("database away");
  EXPECT_TRUE(absl::IsUnavailable(cache.GetOrLoad("a", load).status()));
  answer = std::optional<int>(7);
  EXPECT_EQ(*cache.GetOrLoad("a", load), 7);
  EXPECT_EQ(*cache.GetOrLoad("a", load), 7);  // kept
  EXPECT_EQ(loads, 3);
}

TEST(TtlCacheTest, StartsOverWhenFullAndForgetsWhatMatches) {
  auto clock = std::make_shared<ManualClock>(kStart);
  Cache cache(clock, absl::Minutes(1), 2);
  cache.Put("a", 1);
  cache.Put("b", 2);
  cache.Put("b", 3);  // replacing is not growing
  EXPECT_EQ(cache.Get("a"), 1);
  cache.Put("c", 4);
  EXPECT_EQ(cache.Get("a"), std::nullopt);
  EXPECT_EQ(cache.Get("c"), 4);
  cache.Put("d", 5);
  cache.EraseIf([](const std::string& key) { return key == "c"; });
  EXPECT_EQ(cache.Get("c"), std::nullopt);
  EXPECT_EQ(cache.Get("d"), 5);
}

}  // namespace
}  // namespace perfflow
