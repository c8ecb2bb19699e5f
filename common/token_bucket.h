#pragma once

// Token buckets by key (a destination, an API key, a webhook source): each
// key refills at `rate_per_second` up to `burst` tokens and starts full.
// Thread-safe; time comes from the caller so tests can use a fake clock.

#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace perfflow {

class KeyedTokenBuckets {
 public:
  // Takes one token of `key`; otherwise returns how long until one is there.
  std::optional<absl::Duration> Take(const std::string& key, double rate_per_second, double burst, absl::Time now) {
    absl::MutexLock lock(&mu_);
    if (buckets_.size() > kMaxKeys) buckets_.clear();  // full buckets are the default anyway
    auto [it, fresh] = buckets_.try_emplace(key, Bucket{burst, now});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens = std::min(burst, b.tokens + absl::ToDoubleSeconds(now - b.updated) * rate_per_second);
      b.updated = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return std::nullopt;
    }
    return absl::Seconds((1 - b.tokens) / rate_per_second);
  }

 private:
  static constexpr size_t kMaxKeys = 100000;
  struct Bucket {
    double tokens = 0;
    absl::Time updated;
  };
  absl::Mutex mu_;
  std::map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perfflow
