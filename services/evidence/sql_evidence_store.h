#pragma once

#include <memory>

#include "common/db/database.h"
#include "common/db/migrations.h"
#include "services/evidence/evidence_store.h"

namespace perfflow::evidence {

const std::vector<db::Migration>& EvidenceMigrations();

class SqlEvidenceStore : public EvidenceStore {
 public:
  static absl::StatusOr<std::unique_ptr<SqlEvidenceStore>> Open(std::shared_ptr<db::Database> db);

  absl::Status InsertEvidence(const std::string& tenant, const EvidenceRow& row, int64_t max_event_bytes) override;
  absl::StatusOr<std::optional<EvidenceRow>> GetEvidence(const std::string& tenant, const std::string& id) override;
  absl::StatusOr<std::vector<EvidenceRow>> ListEvidence(const std::string& tenant,
                                                        const std::string& event_id) override;
  absl::StatusOr<int64_t> EventBytes(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<bool> TenantHasBlob(const std::string& tenant, const std::string& sha256) override;
  absl::StatusOr<int64_t> BlobReferences(const std::string& sha256) override;
  absl::StatusOr<EvidenceRow> DeleteEvidence(const std::string& tenant, const std::string& id) override;
  absl::StatusOr<EvidenceRow> Cosign(const std::string& tenant, const std::string& id, const std::string& by,
                                     absl::Time at) override;
  absl::StatusOr<std::optional<SealRow>> GetSeal(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<SealOutcome> CreateSeal(const std::string& tenant, const std::string& event_id, absl::Time at,
                                         const event::PendingStep& report) override;
  absl::Status DeleteSeal(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<bool> RecordValidation(const std::string& tenant, const ChainStatusRow& row) override;
  absl::Status MarkCompleteReported(const std::string& tenant, const std::string& event_id) override;
  absl::StatusOr<std::vector<ChainStatusRow>> CompleteSealedChains(const std::string& tenant,
                                                                   const std::string& event_type,
                                                                   const std::string& exclude_event_id,
                                                                   int limit) override;
  absl::StatusOr<std::vector<std::string>> Tenants() override;
  absl::StatusOr<std::vector<CompletenessRow>> Completeness(const std::string& tenant) override;
  absl::Status RecordAccess(const std::string& tenant, const AccessRow& row) override;
  absl::StatusOr<std::vector<AccessRow>> ListAccess(const std::string& tenant, const std::string& owner_id,
                                                    int limit) override;
  absl::StatusOr<std::vector<EvidenceRow>> ExpiredEvidence(const std::string& tenant, absl::Time uploaded_before,
                                                           int limit) override;
  absl::StatusOr<int64_t> MarkRemoved(const std::string& tenant, const std::vector<std::string>& ids,
                                      const std::string& reason, absl::Time at) override;
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                           const std::string& person) override;
  absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                           const db::Erasure& erasure) override;
  absl::StatusOr<std::vector<EvidenceRow>> PersonEvidence(const std::string& tenant,
                                                          const std::string& person) override;
  absl::Status Ping() override { return db_->Ping(); }

 private:
  explicit SqlEvidenceStore(std::shared_ptr<db::Database> db) : db_(std::move(db)) {}
  std::shared_ptr<db::Database> db_;
};

}  // namespace perfflow::evidence
