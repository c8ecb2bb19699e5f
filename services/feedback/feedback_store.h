#pragma once

// Storage of the feedback service: every verdict with its round (the audit
// trail) and impact confirmations. Scoped to one tenant; thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/database.h"
#include "common/db/person_rows.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"
#include "common/flow/step_reports.h"

namespace perfflow::feedback {

struct ReviewRow {
  std::string review_id;
  std::string event_id;
  int round = 1;
  int verdict = 0;
  std::string reviewer_id;
  std::string subject_id;
  std::string department_id;
  std::string comment;
  std::vector<std::string> behaviours;
  std::vector<std::string> cited_evidence;
  double specificity = 0;
  bool effective = false;
  absl::Time created_at;
  absl::Duration response;
};

struct ConfirmationRow {
  std::string event_id;
  std::vector<int> scopes;
  std::string note;
  std::string confirmer_id;
  absl::Time confirmed_at;
};

struct ReviewFilter {
  absl::Time from;
  absl::Time to;
  std::string department_id;
  std::string reviewer_id;
};

class FeedbackStore {
 public:
  virtual ~FeedbackStore() = default;
  // ALREADY_EXISTS when the event's round already has a verdict. The review
  // and `report` (its flow step, pending at the event service) commit together.
  virtual absl::Status InsertReview(const std::string& tenant, const ReviewRow& row,
                                    const event::PendingStep& report) = 0;
  // Removes the review and its pending report together.
  virtual absl::Status DeleteReview(const std::string& tenant, const std::string& review_id) = 0;
  virtual absl::StatusOr<std::vector<ReviewRow>> ListReviews(const std::string& tenant,
                                                             const std::string& event_id) = 0;
  virtual absl::StatusOr<std::vector<ReviewRow>> ReviewsIn(const std::string& tenant, const ReviewFilter& filter) = 0;
  // ALREADY_EXISTS when the event is already confirmed; with its pending report.
  virtual absl::Status InsertConfirmation(const std::string& tenant, const ConfirmationRow& row,
                                          const event::PendingStep& report) = 0;
  virtual absl::Status DeleteConfirmation(const std::string& tenant, const std::string& event_id) = 0;
  virtual absl::StatusOr<std::optional<ConfirmationRow>> GetConfirmation(const std::string& tenant,
                                                                         const std::string& event_id) = 0;
  // Data-subject rights (common/db/person_rows.h): the person's rows as
  // JSON files, and their pseudonymisation.
  virtual absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                                   const std::string& person) = 0;
  virtual absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                                   const db::Erasure& erasure) = 0;
};

// The step ids of the flow steps a review and a confirmation report.
inline std::string ReviewStepId(const std::string& review_id) { return "review:" + review_id; }
inline std::string ConfirmStepId(const std::string& event_id) { return "confirm:" + event_id; }

}  // namespace perfflow::feedback
