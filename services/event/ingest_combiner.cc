#include "services/event/ingest_combiner.h"

#include <algorithm>
#include <optional>
#include <utility>

namespace perfflow::event {

struct IngestCombiner::Call {
  const std::string& tenant;
  NewEvent event;
  bool taken = false;  // in a transaction
  std::optional<absl::StatusOr<IngestResult>> result;
};

IngestCombiner::IngestCombiner(StoreBatch store, int max_transactions, size_t max_batch, Observe observe)
    : store_(std::move(store)),
      max_transactions_(std::max(1, max_transactions)),
      max_batch_(std::max<size_t>(1, max_batch)),
      observe_(std::move(observe)) {}

absl::StatusOr<IngestResult> IngestCombiner::Store(const std::string& tenant, NewEvent event) {
  Call me{tenant, std::move(event), false, std::nullopt};
  struct Turn {
    IngestCombiner* self;
    Call* me;
  } turn{this, &me};
  // Done, or free to lead a transaction.
  const absl::Condition my_turn(
      +[](Turn* t) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return t->me->result.has_value() || (!t->me->taken && t->self->running_ < t->self->max_transactions_);
      },
      &turn);
  mu_.Lock();
  waiting_.push_back(&me);
  while (true) {
    mu_.Await(my_turn);
    if (me.result) break;
    // Lead: the tenant's waiting calls, oldest first. Should older calls
    // fill the batch, this one waits for the next turn.
    std::vector<Call*> calls;
    for (auto it = waiting_.begin(); it != waiting_.end() && calls.size() < max_batch_;) {
      if ((*it)->tenant != tenant) {
        ++it;
        continue;
      }
      (*it)->taken = true;
      calls.push_back(*it);
      it = waiting_.erase(it);
    }
    ++running_;
    mu_.Unlock();
    // The events are the leader's now: their calls only wait for results.
    std::vector<NewEvent> batch;
    batch.reserve(calls.size());
    for (Call* call : calls) batch.push_back(std::move(call->event));
    auto results = Run(tenant, batch);
    mu_.Lock();
    --running_;
    for (size_t i = 0; i < calls.size(); ++i) calls[i]->result = std::move(results[i]);
  }
  mu_.Unlock();
  return *std::move(me.result);
}

size_t IngestCombiner::Waiting() {
  absl::MutexLock lock(&mu_);
  return waiting_.size();
}

std::vector<absl::StatusOr<IngestResult>> IngestCombiner::Run(const std::string& tenant,
                                                              const std::vector<NewEvent>& batch) {
  if (observe_) observe_(batch.size());
  auto stored = store_(tenant, batch);
  std::vector<absl::StatusOr<IngestResult>> results;
  if (stored.ok()) {
    results = *std::move(stored);
  } else if (batch.size() > 1 && !absl::IsUnavailable(stored.status())) {
    // Not the database: perhaps one event's fault. Each alone, so it is only that one's.
    for (const NewEvent& event : batch) {
      if (observe_) observe_(1);
      auto alone = store_(tenant, {event});
      results.push_back(alone.ok() ? std::move(alone->front()) : absl::StatusOr<IngestResult>(alone.status()));
    }
  } else {
    results.assign(batch.size(), stored.status());
  }
  if (results.size() != batch.size()) {
    results.assign(batch.size(), absl::InternalError("the store answered a batch with a different count"));
  }
  return results;
}

}  // namespace perfflow::event
