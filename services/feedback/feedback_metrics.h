#pragma once

// Feedback metrics. No employee or event ids in labels. Thread-safe.

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "prometheus/counter.h"

#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace perfflow::feedback {

class FeedbackMetrics {
 public:
  explicit FeedbackMetrics(prometheus::Registry& registry);
  // verdict: meets | needs_improvement | redo; quality: effective | vague
  void Review(const std::string& verdict, bool effective, absl::Duration response);

 private:
  prometheus::Family<prometheus::Counter>& reviews_;
  prometheus::Family<prometheus::Histogram>& response_;
  prometheus::Gauge& effective_ratio_;
  absl::Mutex mu_;
  int64_t reviews_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t effective_seen_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace perfflow::feedback
