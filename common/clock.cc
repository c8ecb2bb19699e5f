#include "common/clock.h"

#include <chrono>

namespace perfflow {

absl::Duration SystemClock::Monotonic() const {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

std::shared_ptr<const Clock> RealClock() {
  static const auto* clock = new std::shared_ptr<const Clock>(std::make_shared<SystemClock>());
  return *clock;
}

void ManualClock::SleepFor(absl::Duration d) const {
  if (d <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  now_ += d;
  slept_ += d;
}

bool ManualClock::AwaitWithTimeout(absl::Mutex& mu, const absl::Condition& cond, absl::Duration timeout) const {
  absl::Time deadline;
  {
    absl::MutexLock lock(&mu_);
    deadline = now_ + timeout;
    ++waiters_;
  }
  // The condition is re-checked whenever `mu` is released; the simulated
  // clock is looked at every millisecond of real time.
  bool holds;
  while (!(holds = mu.AwaitWithTimeout(cond, absl::Milliseconds(1))) && Now() < deadline) {
  }
  absl::MutexLock lock(&mu_);
  --waiters_;
  return holds;
}

}  // namespace perfflow
