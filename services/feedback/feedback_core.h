#pragma once

// The feedback service's domain: verdicts per review round, impact
// confirmation, the guidance engine in context, and statistics. It calls the
// event service through EventClient and owns only its own tables.
// Thread-safe.

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/person_data.h"
#include "common/request_context.h"
#include "common/flow/event_client.h"
#include "services/feedback/feedback_metrics.h"
#include "services/feedback/feedback_store.h"
#include "services/feedback/phrase_guide.h"

namespace perfflow::feedback {

inline constexpr size_t kMaxCommentChars = 4000;

struct TenantPolicy {
  // A comment must name a concrete behaviour and cite evidence.
  bool require_effective_feedback = false;
  // manager id -> employees who may review in their place.
  std::map<std::string, std::set<std::string>> delegates;
};

struct FeedbackPolicies {
  std::map<std::string, TenantPolicy> tenants;
  // tenant -> its own lexicon; others use the default.
  std::map<std::string, std::shared_ptr<const PhraseGuide>> guides;
  std::shared_ptr<const PhraseGuide> default_guide;
};

// Parses the policy YAML:
//   tenants:
//     demo:
//       require_effective_feedback: true
//       delegates: {s-head: [s2]}
absl::StatusOr<std::map<std::string, TenantPolicy>> ParsePolicies(const std::string& yaml);

// Display name of a cited evidence's kind ("evidence/{id}" -> "Signed contract
// scan"); may be unset, then the guide only counts the citation.
using EvidenceNamer = std::function<absl::StatusOr<std::string>(const RequestContext&, const std::string& name)>;

// Asks the evidence service to seal and archive `event` if it is ready (the
// verdict in, the confirmation where asked, the evidence complete): chains
// archive themselves whichever of these comes last. May be unset.
using ChainArchiver = std::function<void(const RequestContext&, const std::string& event)>;

class FeedbackCore {
 public:
  // `reports` keeps the verdicts' and confirmations' flow steps until the
  // event service has them (same database as `store`).
  FeedbackCore(std::shared_ptr<FeedbackStore> store, std::shared_ptr<event::EventClient> events,
               std::shared_ptr<event::StepReports> reports, std::shared_ptr<const Clock> clock,
               FeedbackPolicies policies, EvidenceNamer evidence_namer, ChainArchiver archiver = nullptr,
               FeedbackMetrics* metrics = nullptr);

  absl::StatusOr<v1::AnalyzeFeedbackResponse> Analyze(const RequestContext& rc, const v1::AnalyzeFeedbackRequest& req);
  // The review (unset with validate_only) and the guidance.
  absl::StatusOr<std::pair<std::optional<ReviewRow>, v1::AnalyzeFeedbackResponse>> SubmitReview(
      const RequestContext& rc, const v1::SubmitReviewRequest& req);
  absl::StatusOr<std::vector<ReviewRow>> ListReviews(const RequestContext& rc, const std::string& event);
  absl::StatusOr<ConfirmationRow> ConfirmImpact(const RequestContext& rc, const v1::ConfirmImpactRequest& req);
  absl::StatusOr<v1::GetFeedbackStatsResponse> Stats(const RequestContext& rc, const v1::GetFeedbackStatsRequest& req);
  // Retries the flow steps whose report was lost or failed ambiguously; a
  // step the event service refuses for good takes its review or confirmation
  // with it. Returns how many are still pending.
  absl::StatusOr<int> ReconcileSteps();

  // Data-subject rights: this service's part, for the gateway only.
  absl::StatusOr<std::vector<db::PersonFile>> ExportPerson(const RequestContext& rc,
                                                           const type::v1::ExportPersonDataRequest& req);
  absl::StatusOr<type::v1::ErasePersonResponse> ErasePerson(const RequestContext& rc,
                                                            const type::v1::ErasePersonRequest& req);

 private:
  const PhraseGuide& GuideFor(const std::string& tenant) const;
  TenantPolicy PolicyFor(const std::string& tenant) const;
  // Reports a stored record's flow step; `undo` removes the record (and the
  // pending report) when the event service refuses the step for good.
  absl::Status SettleReport(const RequestContext& rc, const event::PendingStep& step,
                            const std::function<absl::Status()>& undo);
  // After a verdict or confirmation reached the flow: it may be the last piece.
  void ArchiveIfLast(const RequestContext& rc, const event::PendingStep& step);
  absl::StatusOr<v1::AnalyzeFeedbackResponse> AnalyzeInContext(const RequestContext& rc, const std::string& text,
                                                               const event::v1::Event* event,
                                                               const std::vector<std::string>& chosen,
                                                               const std::vector<std::string>& cited);

  std::shared_ptr<FeedbackStore> store_;
  std::shared_ptr<event::EventClient> events_;
  std::shared_ptr<event::StepReports> reports_;
  std::shared_ptr<const Clock> clock_;
  FeedbackPolicies policies_;
  EvidenceNamer evidence_namer_;
  ChainArchiver archiver_;
  FeedbackMetrics* metrics_;
};

}  // namespace perfflow::feedback
