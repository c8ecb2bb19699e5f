#pragma once

// Runs a function now and then every `interval` on its own thread until
// stopped (or destroyed). Stopping wakes the thread at once.

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

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
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_) {
      lock.unlock();
      fn_();
      lock.lock();
      cv_.wait_for(lock, absl::ToChronoMilliseconds(interval_), [this] { return stopping_; });
    }
  }

  absl::Duration interval_;
  std::function<void()> fn_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace perfflow
