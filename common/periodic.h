#pragma once

// Runs a function now and then every `interval` on its own thread until
// stopped (or destroyed). Stopping wakes the thread at once.

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perfflow {

class PeriodicTask {
 public:
  PeriodicTask(absl::Duration interval, std::function<void()> fn)
      : interval_(interval), fn_(std::move(fn)), thread_([this] { Loop(); }) {}
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
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
    }
    mu_.Unlock();
  }

  absl::Duration interval_;
  std::function<void()> fn_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace perfflow
