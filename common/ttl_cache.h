#pragma once

// A thread-safe map whose entries expire `ttl` after they were stored, on the
// injected clock's monotonic time, holding at most `max_entries` (then it
// starts over). One rule for misses everywhere: only found values are kept —
// a miss or an error is asked again next time, so someone added a moment ago
// is found at once and a passing database error is not remembered.

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace perfflow {

template <typename Key, typename Value>
class TtlCache {
 public:
  TtlCache(std::shared_ptr<const Clock> clock, absl::Duration ttl, size_t max_entries)
      : clock_(std::move(clock)), ttl_(ttl), max_entries_(max_entries) {}

  std::optional<Value> Get(const Key& key) const {
    const absl::Duration now = clock_->Monotonic();
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || now - it->second.stored >= ttl_) return std::nullopt;
    return it->second.value;
  }

  void Put(const Key& key, Value value) {
    const absl::Duration now = clock_->Monotonic();
    absl::MutexLock lock(&mu_);
    if (entries_.size() >= max_entries_ && entries_.find(key) == entries_.end()) entries_.clear();
    entries_[key] = {std::move(value), now};
  }

  // The cached value, or what `load` finds (kept only when found).
  absl::StatusOr<std::optional<Value>> GetOrLoad(const Key& key,
                                                 const std::function<absl::StatusOr<std::optional<Value>>()>& load) {
    if (std::optional<Value> cached = Get(key)) return cached;
    absl::StatusOr<std::optional<Value>> found = load();
    if (found.ok() && found->has_value()) Put(key, **found);
    return found;
  }

  // Forgets the entries whose key matches.
  void EraseIf(const std::function<bool(const Key&)>& matches) {
    absl::MutexLock lock(&mu_);
    for (auto it = entries_.begin(); it != entries_.end();) {
      it = matches(it->first) ? entries_.erase(it) : std::next(it);
    }
  }

 private:
  struct Entry {
    Value value;
    absl::Duration stored;
  };
  const std::shared_ptr<const Clock> clock_;
  const absl::Duration ttl_;
  const size_t max_entries_;
  mutable absl::Mutex mu_;
  std::map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perfflow
