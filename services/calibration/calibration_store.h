#pragma once

// Storage of the calibration service: sessions, immutable brief versions,
// the outcome history and KPI observations (SqlCalibrationStore keeps them
// in MySQL or SQLite). Every method is scoped to one tenant except the
// scheduler's DueSessions and DueNotices. Thread-safe.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/database.h"
#include "common/db/person_rows.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "services/calibration/brief.h"

namespace perfflow::calibration {

struct DueSession {
  std::string tenant;
  std::string session_id;
};

// The employee is told of a changed rating at `due` (with the session's title).
struct ChangeNotice {
  absl::Time due;
  std::string session_title;
};

// A queued notice whose time has come.
struct DueNotice {
  std::string tenant;
  std::string key;  // "calibration.changed:<log sequence>", the event service's idempotency key too
  std::string recipient_id;
  std::string payload_json;
};

struct KpiWriteCounts {
  int recorded = 0;
  int unchanged = 0;
  int updated = 0;
};

class CalibrationStore {
 public:
  virtual ~CalibrationStore() = default;

  // A repeated id returns the stored session (created=false).
  virtual absl::StatusOr<std::pair<v1::Session, bool>> CreateSession(const std::string& tenant, const std::string& id,
                                                                     const v1::Session& session) = 0;
  virtual absl::StatusOr<std::optional<v1::Session>> GetSession(const std::string& tenant, const std::string& id) = 0;
  virtual absl::StatusOr<std::pair<std::vector<v1::Session>, std::string>> ListSessions(const std::string& tenant,
                                                                                        int page_size,
                                                                                        const std::string& cursor) = 0;

  // Sessions of any tenant scheduled before `horizon` without a scheduled brief.
  virtual absl::StatusOr<std::vector<DueSession>> DueSessions(absl::Time horizon, int limit) = 0;

  // Stores `brief` as the session's next version and returns it with its
  // version. A scheduled brief is written at most once per session: a second
  // one returns nullopt (another replica wrote it).
  virtual absl::StatusOr<std::optional<v1::Brief>> SaveBrief(const std::string& tenant, const std::string& session_id,
                                                             v1::Brief brief, bool scheduled) = 0;
  // Version 0: the latest.
  virtual absl::StatusOr<std::optional<v1::Brief>> GetBrief(const std::string& tenant, const std::string& session_id,
                                                            int64_t version) = 0;

  // Appends `outcome` to the session's history and to the tenant's
  // calibration log in one transaction, with its previous_rating and log
  // entry set. FAILED_PRECONDITION when the person's rating before is no
  // longer `rating_before` (another outcome was recorded meanwhile: re-read).
  // With `notice`, the employee's "calibration.changed" notice is queued in
  // the same transaction (sent by DueNotices / MarkNoticeSent).
  virtual absl::StatusOr<v1::Outcome> AppendOutcome(const std::string& tenant, const std::string& session_id,
                                                    v1::Outcome outcome, const std::string& rating_before,
                                                    const std::optional<ChangeNotice>& notice = std::nullopt) = 0;
  // Unsent notices due by `now`, oldest first: of `tenant`, or of any tenant when it is empty.
  virtual absl::StatusOr<std::vector<DueNotice>> DueNotices(absl::Time now, int limit,
                                                            const std::string& tenant = "") = 0;
  virtual absl::Status MarkNoticeSent(const std::string& tenant, const std::string& key, absl::Time now) = 0;
  // The person's latest final rating in the session (nullopt: none yet).
  virtual absl::StatusOr<std::optional<std::string>> LatestRating(const std::string& tenant,
                                                                  const std::string& session_id,
                                                                  const std::string& employee_id) = 0;
  // Walks the tenant's calibration log: each entry's hash over its content and
  // its predecessor's hash, no gaps, and every outcome row equal to its entry.
  virtual absl::StatusOr<v1::VerifyCalibrationLogResponse> VerifyLog(const std::string& tenant) = 0;
  virtual absl::StatusOr<std::vector<v1::Outcome>> ListOutcomes(const std::string& tenant,
                                                                const std::string& session_id,
                                                                const std::string& employee_id) = 0;

  // All or nothing; idempotent by (kpi, subject, period).
  virtual absl::StatusOr<KpiWriteCounts> RecordKpis(const std::string& tenant, const std::vector<KpiValue>& values,
                                                    absl::Time now) = 0;
  // Observations with first_period <= period <= last_period ("" = unbounded).
  virtual absl::StatusOr<std::vector<KpiValue>> Kpis(const std::string& tenant, const std::string& first_period,
                                                     const std::string& last_period) = 0;

  // Data-subject rights (common/db/person_rows.h). Erasure also rewrites
  // the calibration log entries that name the person, marking each
  // redacted (VerifyLog can then check their links, not their content).
  virtual absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                                   const std::string& person) = 0;
  virtual absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                                   const db::Erasure& erasure) = 0;
};

}  // namespace perfflow::calibration
