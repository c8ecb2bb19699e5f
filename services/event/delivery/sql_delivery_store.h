#pragma once

#include <memory>

#include "common/db/database.h"
#include "services/event/delivery/delivery_store.h"

namespace perfflow::event {

// DeliveryStore over the event service's tables (EventMigrations() creates
// them; open SqlEventStore first).
class SqlDeliveryStore : public DeliveryStore {
 public:
  explicit SqlDeliveryStore(std::shared_ptr<db::Database> db) : db_(std::move(db)) {}

  absl::StatusOr<absl::Time> Now() override;
  absl::StatusOr<std::vector<ClaimedTimer>> ClaimDueTimers(const std::string& owner, absl::Time now,
                                                           absl::Duration lease, int limit) override;
  absl::StatusOr<FireResult> FireTimers(const std::string& owner, absl::Time now,
                                        const std::vector<TimerFiring>& firings,
                                        absl::Duration hand_off_lease) override;
  absl::StatusOr<int64_t> DueTimers(const std::string& tenant, absl::Time now) override;
  absl::StatusOr<std::string> ManagerOf(const std::string& tenant, const std::string& employee_id) override;
  absl::StatusOr<std::vector<std::string>> EmployeesWithRole(const std::string& tenant,
                                                             const std::string& role) override;
  absl::StatusOr<std::vector<ClaimedMessage>> ClaimOutbox(const std::string& owner, absl::Time now,
                                                          absl::Duration lease, int limit) override;
  absl::StatusOr<int> CompleteDeliveries(
      const std::string& owner, absl::Time now,
      const std::vector<std::pair<ClaimedMessage, DeliveryOutcome>>& results) override;
  absl::StatusOr<int64_t> DeadLetters(const std::string& tenant) override;
  absl::StatusOr<int64_t> ClearDelivered(const std::string& tenant, absl::Time delivered_before) override;
  absl::StatusOr<std::vector<TeamTaskCount>> TeamTaskCounts(const std::string& tenant, absl::Time now) override;
  absl::StatusOr<std::vector<PersonActions>> WeeklyActionLists(const std::string& tenant, absl::Time now,
                                                               int per_person) override;
  absl::StatusOr<bool> DigestRecorded(const std::string& tenant, const std::string& kind,
                                      const std::string& period) override;
  absl::StatusOr<bool> RecordDigest(const std::string& tenant, const std::string& kind, const std::string& period,
                                    const std::vector<Notice>& notices, absl::Time now) override;

 private:
  std::shared_ptr<db::Database> db_;
};

}  // namespace perfflow::event
