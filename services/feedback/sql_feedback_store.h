#pragma once

#include <memory>

#include "common/db/database.h"
#include "common/db/migrations.h"
#include "services/feedback/feedback_store.h"

namespace perfflow::feedback {

const std::vector<db::Migration>& FeedbackMigrations();

class SqlFeedbackStore : public FeedbackStore {
 public:
  static absl::StatusOr<std::unique_ptr<SqlFeedbackStore>> Open(std::shared_ptr<db::Database> db);
  absl::Status InsertReview(const std::string& tenant, const ReviewRow& row, const event::PendingStep& report) override;
  absl::Status DeleteReview(const std::string& tenant, const std::string& review_id) override;
  absl::StatusOr<std::vector<ReviewRow>> ListReviews(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<std::vector<ReviewRow>> ReviewsIn(const std::string& tenant, const ReviewFilter& filter) override;
  absl::Status InsertConfirmation(const std::string& tenant, const ConfirmationRow& row,
                                  const event::PendingStep& report) override;
  absl::Status DeleteConfirmation(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<std::optional<ConfirmationRow>> GetConfirmation(const std::string& tenant,
                                                                 const std::string& event_id) override;
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                           const std::string& person) override;
  absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                           const db::Erasure& erasure) override;

 private:
  explicit SqlFeedbackStore(std::shared_ptr<db::Database> db) : db_(std::move(db)) {}
  std::shared_ptr<db::Database> db_;
};

}  // namespace perfflow::feedback
