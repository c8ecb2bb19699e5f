#pragma once

// Runs a function now and then every `interval` of the clock's time on its
// own thread until stopped (or destroyed). Stopping wakes the thread at once.

#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace perfflow {

class PeriodicTask {
 public:
  PeriodicTask(std::shared_ptr<const Clock> clock, absl::Duration interval, std::function<void()> fn)
      : clock_(std::move(clock)), interval_(interval), fn_(std::move(fn)), thread_([this] { Loop(); }) {}
  ~PeriodicTask() { Stop(); }
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    mu_.Lock();
    while (!stopping_) {
      mu_.Unlock();
      fn_();
      mu_.Lock();
      // Wakes at once when Stop() sets stopping_.
      clock_->AwaitWithTimeout(mu_, absl::Condition(&stopping_), interval_);
    }
    mu_.Unlock();
  }

  const std::shared_ptr<const Clock> clock_;
  const absl::Duration interval_;
  std::function<void()> fn_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace perfflow
