#pragma once

// Evidence metrics. No employee or event ids in labels. Thread-safe.

#include <string>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"

namespace perfflow::evidence {

class EvidenceMetrics {
 public:
  explicit EvidenceMetrics(prometheus::Registry& registry);
  // result: accepted | rejected | denied | error
  void Upload(const std::string& result, int64_t bytes_stored);
  // outcome: complete | incomplete
  void Validation(const std::string& outcome);
  // reason: retention | erasure
  void Removed(const std::string& reason, int64_t items);
  void SetCompleteness(const std::string& tenant, const std::string& department, const std::string& event_type,
                       double ratio);

 private:
  prometheus::Family<prometheus::Counter>& uploads_;
  prometheus::Counter& bytes_;
  prometheus::Family<prometheus::Counter>& validations_;
  prometheus::Family<prometheus::Gauge>& completeness_;
  prometheus::Family<prometheus::Counter>& removed_;
};

}  // namespace perfflow::evidence
