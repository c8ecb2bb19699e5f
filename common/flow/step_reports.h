#pragma once

// Flow steps a peer service reports to the event service (a verdict, an
// impact confirmation, an archive), kept in the peer's own database until the
// event service has them.
//
// The peer writes its record and the pending report in one transaction, then
// reports. A definite refusal (the event service answered no: wrong state,
// bad request, not allowed) means the step did not happen: the caller undoes
// its record. Any other failure is ambiguous (the reply may have been lost
// after the event service committed): the record stays, the report stays
// pending, and Reconcile retries it with the same step_id until it lands
// (RecordFlowStep is idempotent by step_id). Nothing is undone on a guess.
//
// Thread-safe. The table lives in each reporting service's own database
// (StepReportsMigration).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/db/database.h"
#include "common/db/migrations.h"
#include "common/request_context.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "common/flow/event_client.h"

namespace perfflow::event {

struct PendingStep {
  std::string tenant;
  // Caller-chosen and stable: "review:<id>", "confirm:<event id>", "seal:<event id>".
  std::string step_id;
  std::string event;  // events/{id}
  int step = 0;
  int verdict = 0;
  // The person who acted; the report is made as them.
  std::string actor_id;
  absl::Time created_at;
};

// The step_reports table, as migration `version` of a service.
db::Migration StepReportsMigration(int version);

// True when `status` is the event service's definite "no": the step was not
// recorded and will not be by retrying.
bool IsDefiniteRefusal(const absl::Status& status);

class StepReports {
 public:
  // `service` labels the metrics (perfflow_step_reports_total{service,result},
  // perfflow_step_reports_pending{service}); `registry` may be null.
  StepReports(std::shared_ptr<db::Database> db, std::shared_ptr<EventClient> events, const std::string& service,
              prometheus::Registry* registry);

  // Inside the caller's transaction, beside its record.
  static absl::Status Add(db::Transaction& tx, const PendingStep& step);
  // Inside the caller's transaction, when it undoes its record.
  static absl::Status Remove(db::Transaction& tx, const std::string& tenant, const std::string& step_id);

  enum class Outcome { kReported, kRefused, kPending };
  struct Result {
    Outcome outcome;
    absl::Status status;  // the event service's answer when not reported
  };
  // Reports `step` as `rc` and forgets it once the event service has it.
  Result Report(const RequestContext& rc, const PendingStep& step);

  // Undoes the record behind a refused step and its pending row, in one
  // transaction of the caller's store.
  using Undo = std::function<absl::Status(const PendingStep& step)>;
  // Called for each step the pass delivered (may be null).
  using Landed = std::function<void(const RequestContext& actor, const PendingStep& step)>;
  // One pass over the oldest pending steps (at most `limit`), each reported
  // as its actor through the internal credential. Returns how many steps are
  // pending afterwards (all tenants).
  absl::StatusOr<int> Reconcile(const Undo& undo, const Landed& landed = nullptr, int limit = 100);

 private:
  absl::StatusOr<std::vector<PendingStep>> Oldest(int limit);
  void Count(const char* result);

  std::shared_ptr<db::Database> db_;
  std::shared_ptr<EventClient> events_;
  std::string service_;
  prometheus::Family<prometheus::Counter>* reports_ = nullptr;
  prometheus::Gauge* pending_ = nullptr;
};

}  // namespace perfflow::event
