#pragma once

// Time is injected: domain code asks a Clock, tests and the demo seeder set it.
//
// One Clock answers every question about time the code makes decisions on:
// what time it is (recorded and shown), how long since something happened
// (caches, pacing) and waiting (sleeps, periodic work). A ManualClock makes
// all three deterministic in unit tests. What stays on real time on purpose:
// deadlines handed to the kernel or to gRPC, log stamps and latency
// histograms (they measure the machine, not the domain), and the drain wait at
// shutdown (load balancers see NOT_SERVING in real time).

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace perfflow {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall time.
  virtual absl::Time Now() const = 0;
  // Time that never goes back, as a duration since an arbitrary start: for
  // intervals (a cache entry's age, how long a batch took).
  virtual absl::Duration Monotonic() const = 0;
  // Blocks the calling thread for `d` of this clock's time.
  virtual void SleepFor(absl::Duration d) const = 0;
  // With `mu` held: waits until `cond` holds or `timeout` of this clock's
  // time has passed. Returns whether `cond` holds.
  virtual bool AwaitWithTimeout(absl::Mutex& mu, const absl::Condition& cond, absl::Duration timeout) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) = 0;
};

class SystemClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  absl::Duration Monotonic() const override;
  void SleepFor(absl::Duration d) const override { absl::SleepFor(d); }
  bool AwaitWithTimeout(absl::Mutex& mu, const absl::Condition& cond, absl::Duration timeout) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return mu.AwaitWithTimeout(cond, timeout);
  }
};

// The process's real clock, shared.
std::shared_ptr<const Clock> RealClock();

// Simulated time: moves only when told to (Set, Advance) or when someone
// sleeps on it (SleepFor passes at once and moves the clock on). Waits end
// when the condition holds or another thread advances the clock past them.
class ManualClock : public Clock {
 public:
  explicit ManualClock(absl::Time start) : start_(start), now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  absl::Duration Monotonic() const override {
    absl::MutexLock lock(&mu_);
    return now_ - start_;
  }
  void SleepFor(absl::Duration d) const override;
  bool AwaitWithTimeout(absl::Mutex& mu, const absl::Condition& cond, absl::Duration timeout) const override
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Set(absl::Time t) {
    absl::MutexLock lock(&mu_);
    now_ = t;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  // How many threads wait on this clock now (tests advance it once they do).
  int Waiters() const {
    absl::MutexLock lock(&mu_);
    return waiters_;
  }
  // Total time slept on this clock (what pacing asked for).
  absl::Duration Slept() const {
    absl::MutexLock lock(&mu_);
    return slept_;
  }

 private:
  const absl::Time start_;
  mutable absl::Mutex mu_;
  // Mutable: a sleep on simulated time moves it, through a const Clock.
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_);
  mutable absl::Duration slept_ ABSL_GUARDED_BY(mu_);
  mutable int waiters_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace perfflow
