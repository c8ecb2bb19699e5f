#pragma once

#include <memory>

#include "common/db/database.h"
#include "common/db/migrations.h"
#include "services/calibration/calibration_store.h"

namespace perfflow::calibration {

const std::vector<db::Migration>& CalibrationMigrations();

class SqlCalibrationStore : public CalibrationStore {
 public:
  // Applies the migrations, then returns the store.
  static absl::StatusOr<std::unique_ptr<SqlCalibrationStore>> Open(std::shared_ptr<db::Database> db);

  absl::StatusOr<std::pair<v1::Session, bool>> CreateSession(const std::string& tenant, const std::string& id,
                                                             const v1::Session& session) override;
  absl::StatusOr<std::optional<v1::Session>> GetSession(const std::string& tenant, const std::string& id) override;
  absl::StatusOr<std::pair<std::vector<v1::Session>, std::string>> ListSessions(const std::string& tenant,
                                                                                int page_size,
                                                                                const std::string& cursor) override;

  absl::StatusOr<std::vector<DueSession>> DueSessions(absl::Time horizon, int limit) override;

  absl::StatusOr<std::optional<v1::Brief>> SaveBrief(const std::string& tenant, const std::string& session_id,
                                                     v1::Brief brief, bool scheduled) override;
  absl::StatusOr<std::optional<v1::Brief>> GetBrief(const std::string& tenant, const std::string& session_id,
                                                    int64_t version) override;

  absl::StatusOr<v1::Outcome> AppendOutcome(const std::string& tenant, const std::string& session_id,
                                            v1::Outcome outcome, const std::string& rating_before,
                                            const std::optional<ChangeNotice>& notice) override;
  absl::StatusOr<std::vector<DueNotice>> DueNotices(absl::Time now, int limit, const std::string& tenant) override;
  absl::Status MarkNoticeSent(const std::string& tenant, const std::string& key, absl::Time now) override;
  absl::StatusOr<std::optional<std::string>> LatestRating(const std::string& tenant, const std::string& session_id,
                                                          const std::string& employee_id) override;
  absl::StatusOr<v1::VerifyCalibrationLogResponse> VerifyLog(const std::string& tenant) override;
  absl::StatusOr<std::vector<v1::Outcome>> ListOutcomes(const std::string& tenant, const std::string& session_id,
                                                        const std::string& employee_id) override;

  absl::StatusOr<KpiWriteCounts> RecordKpis(const std::string& tenant, const std::vector<KpiValue>& values,
                                            absl::Time now) override;
  absl::StatusOr<std::vector<KpiValue>> Kpis(const std::string& tenant, const std::string& first_period,
                                             const std::string& last_period) override;

  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                           const std::string& person) override;
  absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                           const db::Erasure& erasure) override;

 private:
  explicit SqlCalibrationStore(std::shared_ptr<db::Database> db) : db_(std::move(db)) {}
  // Logs the outcomes recorded before the log existed (migration 2), oldest first.
  absl::Status BackfillLog();
  std::shared_ptr<db::Database> db_;
};

}  // namespace perfflow::calibration
