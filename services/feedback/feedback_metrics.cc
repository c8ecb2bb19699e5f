#include "services/feedback/feedback_metrics.h"

namespace perfflow::feedback {

FeedbackMetrics::FeedbackMetrics(prometheus::Registry& registry)
    : reviews_(prometheus::BuildCounter()
                   .Name("perfflow_feedback_reviews_total")
                   .Help("Manager verdicts by verdict and quality (effective: names a behaviour and cites evidence).")
                   .Register(registry)),
      response_(prometheus::BuildHistogram()
                    .Name("perfflow_feedback_response_seconds")
                    .Help("Time from the owner's action to the manager's verdict.")
                    .Register(registry)),
      effective_ratio_(prometheus::BuildGauge()
                           .Name("perfflow_feedback_effective_ratio")
                           .Help("Share of verdicts since start that name a concrete behaviour and cite evidence.")
                           .Register(registry)
                           .Add({})) {}

void FeedbackMetrics::Review(const std::string& verdict, bool effective, absl::Duration response) {
  reviews_.Add({{"verdict", verdict}, {"quality", effective ? "effective" : "vague"}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {600,       1800,      3600,      4 * 3600,  8 * 3600,
                                                                   24 * 3600, 48 * 3600, 72 * 3600, 168 * 3600};
  response_.Add({}, kBuckets).Observe(absl::ToDoubleSeconds(response));
  absl::MutexLock lock(&mu_);
  ++reviews_seen_;
  effective_seen_ += effective ? 1 : 0;
  effective_ratio_.Set(static_cast<double>(effective_seen_) / static_cast<double>(reviews_seen_));
}

}  // namespace perfflow::feedback
