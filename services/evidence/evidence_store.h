#pragma once

// Storage of the evidence service: evidence metadata, seals, and the latest
// validation of each chain (for similar-case guidance and completeness).
// Blob bytes live in the BlobStore. Every method is scoped to one tenant
// except BlobReferences (blobs are shared by content). Thread-safe.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/person_rows.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "common/flow/step_reports.h"

namespace perfflow::evidence {

struct EvidenceRow {
  std::string evidence_id;
  std::string event_id;
  std::string kind;
  std::string file_name;
  std::string content_type;
  int64_t size_bytes = 0;
  std::string sha256;
  std::string note;
  std::string uploader_id;
  absl::Time uploaded_at;
  std::string cosigned_by;
  std::optional<absl::Time> cosigned_at;
  // Set once the bytes were deleted on purpose (the row stays):
  // "retention" or "erasure".
  std::optional<absl::Time> removed_at;
  std::string removed_reason;
};

// Someone other than the uploader read a piece of evidence.
struct AccessRow {
  std::string evidence_id;
  std::string event_id;
  std::string owner_id;
  std::string reader_id;
  absl::Time at;
};

struct SealRow {
  std::string event_id;
  std::string digest;
  int evidence_count = 0;
  absl::Time sealed_at;
};

// What sealing answers: the seal, and whether it was there before the call.
struct SealOutcome {
  SealRow seal;
  bool already_sealed = false;
};

struct ChainStatusRow {
  std::string event_id;
  std::string event_type;
  std::string department_id;
  std::string subject_id;
  std::string attributes_json;
  bool complete = false;
  // Evidence kinds present, comma-separated.
  std::string kinds;
  absl::Time validated_at;
};

struct CompletenessRow {
  std::string department_id;
  std::string event_type;
  int64_t complete = 0;
  int64_t total = 0;
};

class EvidenceStore {
 public:
  virtual ~EvidenceStore() = default;

  // Inserts the row unless the chain is sealed (FAILED_PRECONDITION) or the
  // event's stored bytes would exceed `max_event_bytes` (RESOURCE_EXHAUSTED).
  virtual absl::Status InsertEvidence(const std::string& tenant, const EvidenceRow& row, int64_t max_event_bytes) = 0;
  virtual absl::StatusOr<std::optional<EvidenceRow>> GetEvidence(const std::string& tenant, const std::string& id) = 0;
  // Ordered by upload time, then id.
  virtual absl::StatusOr<std::vector<EvidenceRow>> ListEvidence(const std::string& tenant,
                                                                const std::string& event_id) = 0;
  virtual absl::StatusOr<int64_t> EventBytes(const std::string& tenant, const std::string& event_id) = 0;
  // Whether this tenant already keeps a row with this content.
  virtual absl::StatusOr<bool> TenantHasBlob(const std::string& tenant, const std::string& sha256) = 0;
  // Rows of any tenant that reference the blob and keep its bytes.
  virtual absl::StatusOr<int64_t> BlobReferences(const std::string& sha256) = 0;
  // Deletes the row unless sealed; returns the deleted row.
  virtual absl::StatusOr<EvidenceRow> DeleteEvidence(const std::string& tenant, const std::string& id) = 0;
  virtual absl::StatusOr<EvidenceRow> Cosign(const std::string& tenant, const std::string& id, const std::string& by,
                                             absl::Time at) = 0;

  virtual absl::StatusOr<std::optional<SealRow>> GetSeal(const std::string& tenant, const std::string& event_id) = 0;
  // Creates the seal over the current evidence rows (digest computed inside
  // the transaction); returns the existing seal when there is one.
  // A new seal and `report` (its ARCHIVED step, pending at the event service)
  // commit together.
  virtual absl::StatusOr<SealOutcome> CreateSeal(const std::string& tenant, const std::string& event_id, absl::Time at,
                                                 const event::PendingStep& report) = 0;
  // Removes the seal and its pending report together.
  virtual absl::Status DeleteSeal(const std::string& tenant, const std::string& event_id) = 0;

  // Records the latest validation; returns true when the chain is complete
  // and its completeness has not been reported yet.
  virtual absl::StatusOr<bool> RecordValidation(const std::string& tenant, const ChainStatusRow& row) = 0;
  virtual absl::Status MarkCompleteReported(const std::string& tenant, const std::string& event_id) = 0;
  // Sealed, complete chains of the same type, newest first.
  virtual absl::StatusOr<std::vector<ChainStatusRow>> CompleteSealedChains(const std::string& tenant,
                                                                           const std::string& event_type,
                                                                           const std::string& exclude_event_id,
                                                                           int limit) = 0;
  virtual absl::StatusOr<std::vector<std::string>> Tenants() = 0;
  virtual absl::StatusOr<std::vector<CompletenessRow>> Completeness(const std::string& tenant) = 0;
  virtual absl::Status RecordAccess(const std::string& tenant, const AccessRow& row) = 0;
  // `owner_id`'s evidence as others read it, newest first.
  virtual absl::StatusOr<std::vector<AccessRow>> ListAccess(const std::string& tenant, const std::string& owner_id,
                                                            int limit) = 0;
  // Evidence uploaded before `uploaded_before` whose bytes are still kept,
  // oldest first.
  virtual absl::StatusOr<std::vector<EvidenceRow>> ExpiredEvidence(const std::string& tenant,
                                                                   absl::Time uploaded_before, int limit) = 0;
  // Marks the bytes of `ids` removed (rows already removed are left as they
  // are); returns how many rows were marked. The caller deletes blobs no
  // longer referenced (BlobReferences counts kept rows only).
  virtual absl::StatusOr<int64_t> MarkRemoved(const std::string& tenant, const std::vector<std::string>& ids,
                                              const std::string& reason, absl::Time at) = 0;
  // Data-subject rights (common/db/person_rows.h): the person's rows as
  // JSON files, and their pseudonymisation.
  virtual absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const std::string& tenant,
                                                                   const std::string& person) = 0;
  virtual absl::StatusOr<std::vector<db::ErasedCount>> ErasePerson(const std::string& tenant,
                                                                   const db::Erasure& erasure) = 0;
  // Evidence the person uploaded or that belongs to their chains, bytes
  // still kept.
  virtual absl::StatusOr<std::vector<EvidenceRow>> PersonEvidence(const std::string& tenant,
                                                                  const std::string& person) = 0;
  virtual absl::Status Ping() = 0;
};

// The seal digest: SHA-256 over "evidence_id:sha256\n" of each row in order.
std::string SealDigest(const std::vector<EvidenceRow>& rows);

// The step id of a seal's ARCHIVED step.
inline std::string SealStepId(const std::string& event_id) { return "seal:" + event_id; }

}  // namespace perfflow::evidence
