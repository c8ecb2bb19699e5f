#include "services/evidence/evidence_metrics.h"

namespace perfflow::evidence {

EvidenceMetrics::EvidenceMetrics(prometheus::Registry& registry)
    : uploads_(prometheus::BuildCounter()
                   .Name("perfflow_evidence_uploads_total")
                   .Help("Evidence uploads by result.")
                   .Register(registry)),
      bytes_(prometheus::BuildCounter()
                 .Name("perfflow_evidence_stored_bytes_total")
                 .Help("Bytes of accepted evidence.")
                 .Register(registry)
                 .Add({})),
      validations_(prometheus::BuildCounter()
                       .Name("perfflow_evidence_validations_total")
                       .Help("Evidence-chain validations by outcome.")
                       .Register(registry)),
      completeness_(prometheus::BuildGauge()
                        .Name("perfflow_evidence_completeness_ratio")
                        .Help("Share of validated chains whose evidence is complete.")
                        .Register(registry)),
      removed_(prometheus::BuildCounter()
                   .Name("perfflow_evidence_removed_total")
                   .Help("Evidence files whose bytes were deleted, by reason (retention, erasure).")
                   .Register(registry)) {}

void EvidenceMetrics::Upload(const std::string& result, int64_t bytes_stored) {
  uploads_.Add({{"result", result}}).Increment();
  if (bytes_stored > 0) bytes_.Increment(static_cast<double>(bytes_stored));
}

void EvidenceMetrics::Validation(const std::string& outcome) { validations_.Add({{"outcome", outcome}}).Increment(); }

void EvidenceMetrics::Removed(const std::string& reason, int64_t items) {
  if (items > 0) removed_.Add({{"reason", reason}}).Increment(static_cast<double>(items));
}

void EvidenceMetrics::SetCompleteness(const std::string& tenant, const std::string& department,
                                      const std::string& event_type, double ratio) {
  completeness_.Add({{"tenant", tenant}, {"department", department}, {"event_type", event_type}}).Set(ratio);
}

}  // namespace perfflow::evidence
