#pragma once

// Group commit for single-event ingestion: the IngestEvent calls in flight on
// one replica share transactions. At most `max_transactions` ingestion
// transactions run at once; a call that arrives while they are all busy
// waits, and when one ends, one waiting call takes every waiting call of its
// tenant (up to `max_batch`) into one EventStore::IngestBatch — multi-row
// INSERTs and one COMMIT for all of them. Each call returns only after the
// transaction holding its event committed, with its own result (accepted,
// duplicate — also of another call in the same transaction —, or conflict),
// exactly as if it had been stored alone.
//
// Under light load nothing waits: each call runs its own transaction at once.
// A shared transaction that fails as a whole for any reason but an
// unavailable database is run again one event at a time, so one event's
// fault is never another's. Thread-safe.

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/event/event_store.h"

namespace perfflow::event {

class IngestCombiner {
 public:
  using StoreBatch = std::function<absl::StatusOr<std::vector<absl::StatusOr<IngestResult>>>(
      const std::string& tenant, const std::vector<NewEvent>& batch)>;
  // Called with the number of events of each transaction run (may be empty).
  using Observe = std::function<void(size_t events)>;

  // max_transactions >= 1, max_batch >= 1.
  IngestCombiner(StoreBatch store, int max_transactions, size_t max_batch, Observe observe = nullptr);

  // Stores `event` of `tenant` (see above); blocks until it is committed or failed.
  absl::StatusOr<IngestResult> Store(const std::string& tenant, NewEvent event);

  // Calls waiting for a transaction (tests).
  size_t Waiting() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Call;

  // Stores `batch` of `tenant` in one transaction: one result per event, in order.
  std::vector<absl::StatusOr<IngestResult>> Run(const std::string& tenant, const std::vector<NewEvent>& batch);

  const StoreBatch store_;
  const int max_transactions_;
  const size_t max_batch_;
  const Observe observe_;

  absl::Mutex mu_;
  std::vector<Call*> waiting_ ABSL_GUARDED_BY(mu_);  // oldest first, not yet in a transaction
  int running_ ABSL_GUARDED_BY(mu_) = 0;             // transactions in progress
};

}  // namespace perfflow::event
