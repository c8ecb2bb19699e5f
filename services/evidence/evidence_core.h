#pragma once

// The evidence service's domain: uploads into the blob store, validation
// with supplement guidance, sealing, seal verification and goal evaluation.
// It talks to the event service only through EventClient and owns only its
// own tables. Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/person_data.h"
#include "common/request_context.h"
#include "common/flow/event_client.h"
#include "common/flow/step_reports.h"
#include "services/evidence/blob_store.h"
#include "services/evidence/chain_validator.h"
#include "services/evidence/evidence_metrics.h"
#include "services/evidence/evidence_store.h"

namespace perfflow::evidence {

struct EvidenceOptions {
  int64_t max_file_bytes = 20 << 20;
  int64_t max_event_bytes = 200 << 20;
  int similar_cases = 3;
};

// A seal and every way the stored evidence no longer matches it.
struct SealCheck {
  SealRow seal;
  std::vector<std::string> problems;
  // Items whose bytes were removed on purpose (retention, erasure).
  int removed = 0;
};

struct UploadResult {
  EvidenceRow row;
  bool deduplicated = false;
};

class EvidenceCore {
 public:
  // `metrics` may be null.
  // `reports` keeps each seal's ARCHIVED step until the event service has
  // it (same database as `store`).
  EvidenceCore(std::shared_ptr<EvidenceStore> store, std::shared_ptr<BlobStore> blobs,
               std::shared_ptr<event::EventClient> events, std::shared_ptr<event::StepReports> reports,
               std::shared_ptr<const Clock> clock, EvidenceOptions options, EvidenceMetrics* metrics);

  // `next` yields the stream's messages in order and returns false at its end;
  // `half_closed` then says whether the client ended the stream itself (false:
  // it cancelled, or its deadline passed). Only a complete upload is stored:
  // anything else leaves no blob, no row and no step (CANCELLED).
  absl::StatusOr<UploadResult> Upload(const RequestContext& rc,
                                      const std::function<bool(v1::UploadEvidenceRequest*)>& next,
                                      const std::function<bool()>& half_closed);
  // Reads apply the event's viewer rules (asked of the event service for
  // verified callers): PERMISSION_DENIED for anyone who may not see the event.
  absl::StatusOr<EvidenceRow> Get(const RequestContext& rc, const std::string& name);
  absl::StatusOr<std::vector<EvidenceRow>> List(const RequestContext& rc, const std::string& event);
  // Calls `chunk` with the stored bytes in pieces; stops when it returns false.
  // Records a person reading someone else's evidence before they get the
  // bytes (an unrecorded read is refused); the uploader's own and peer
  // services' reads are not recorded.
  absl::Status RecordAccess(const RequestContext& rc, const EvidenceRow& row);
  // Get, then FAILED_PRECONDITION when the bytes were removed, then the
  // access recorded (RecordAccess): what a download may serve.
  absl::StatusOr<EvidenceRow> OpenForDownload(const RequestContext& rc, const std::string& name);
  // The caller's own evidence accesses, or anyone's for HR and admins.
  absl::StatusOr<std::vector<AccessRow>> ListAccess(const RequestContext& rc, const v1::ListEvidenceAccessRequest& req);
  absl::Status Download(const RequestContext& rc, const EvidenceRow& row,
                        const std::function<bool(absl::string_view)>& chunk);
  absl::Status Delete(const RequestContext& rc, const std::string& name);
  absl::StatusOr<EvidenceRow> Cosign(const RequestContext& rc, const std::string& name);

  absl::StatusOr<v1::ChainValidation> Validate(const RequestContext& rc, const std::string& event);
  absl::StatusOr<SealOutcome> Seal(const RequestContext& rc, const std::string& event);
  absl::StatusOr<SealCheck> Verify(const RequestContext& rc, const std::string& event);
  absl::StatusOr<v1::EvaluateGoalResponse> EvaluateGoal(const RequestContext& rc, const v1::EvaluateGoalRequest& req);

  absl::Status RefreshGauges();
  // Retries ARCHIVED steps whose report was lost or failed ambiguously; a
  // seal the event service refuses for good is removed. Returns how many are
  // still pending.
  absl::StatusOr<int> ReconcileSteps();
  // Deletes the bytes of evidence older than each tenant's
  // Settings.evidence_retention_days (rows stay, marked "retention"), at
  // most `batch` items per tenant per pass. Returns how many were removed.
  absl::StatusOr<int64_t> EnforceRetention(int batch = 500);

  // Data-subject rights: this service's part, for the gateway only.
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const RequestContext& rc,
                                                           const type::v1::ExportPersonDataRequest& req);
  absl::StatusOr<type::v1::ErasePersonResponse> ErasePerson(const RequestContext& rc,
                                                            const type::v1::ErasePersonRequest& req);
  // The person's evidence whose bytes are kept (checked by ExportPerson), and
  // where each file goes in the archive.
  absl::StatusOr<std::vector<EvidenceRow>> PersonFiles(const RequestContext& rc,
                                                       const type::v1::ExportPersonDataRequest& req);
  static std::string ArchivePath(const EvidenceRow& row);

 private:
  // Marks `rows` removed for `reason` and deletes the blobs no row keeps.
  absl::StatusOr<int64_t> RemoveBytes(const std::string& tenant, const std::vector<EvidenceRow>& rows,
                                      const std::string& reason);
  // Deletes the blob unless a kept row of any tenant still references it.
  absl::Status DropUnsharedBlob(const std::string& sha256);
  absl::Status CheckViewer(const RequestContext& rc, const std::string& event);
  absl::StatusOr<std::shared_ptr<const CompiledChainRules>> RulesFor(const RequestContext& rc,
                                                                     const event::v1::Event& event);
  absl::StatusOr<v1::ChainValidation> ValidateEvent(const RequestContext& rc, const event::v1::Event& event);
  // Seals and archives `event` when this validation made it ready: the
  // verdict in, the confirmation where asked, the evidence complete. Chains
  // archive themselves whichever of these comes last (the feedback service
  // asks after a verdict or confirmation).
  void ArchiveIfReady(const RequestContext& rc, const event::v1::Event& event, const v1::ChainValidation& validation);
  void AddGuidance(const RequestContext& rc, const event::v1::Event& event, const CompiledChainRules& rules,
                   v1::ChainValidation& validation);
  absl::StatusOr<UploadResult> StreamUpload(const RequestContext& rc, const v1::UploadMetadata& meta,
                                            const event::v1::Event& event,
                                            const std::function<bool(v1::UploadEvidenceRequest*)>& next,
                                            const std::function<bool()>& half_closed);

  std::shared_ptr<EvidenceStore> store_;
  std::shared_ptr<BlobStore> blobs_;
  std::shared_ptr<event::EventClient> events_;
  std::shared_ptr<event::StepReports> reports_;
  std::shared_ptr<const Clock> clock_;
  EvidenceOptions options_;
  EvidenceMetrics* metrics_;

  absl::Mutex mu_;
  // "tenant/version/type" -> compiled rules; registry versions are immutable.
  std::map<std::string, std::shared_ptr<const CompiledChainRules>> rules_ ABSL_GUARDED_BY(mu_);
};

}  // namespace perfflow::evidence
