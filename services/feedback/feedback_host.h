#pragma once

// The feedback service as a ServiceHost (perfflow-feedback and the dev mode).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/service_host.h"
#include "prometheus/registry.h"

namespace perfflow::feedback {

struct FeedbackHostOptions {
  std::string db = "sqlite:perfflow-feedback.db";
  bool dev_mode = false;
  std::string event_addr = "127.0.0.1:50051";
  // Empty: cited evidence is only counted, not named.
  std::string evidence_addr;
  std::string lexicon = "services/feedback/lexicon/default.yaml";
  std::string lexicon_dir;
  std::string policy_file;
  int call_timeout_seconds = 5;
  // How often flow steps whose report failed ambiguously are retried.
  int step_retry_seconds = 10;
};

// Errors name the lexicon or policy file that could not be read or parsed.
absl::StatusOr<std::unique_ptr<ServiceHost>> MakeFeedbackHost(const FeedbackHostOptions& options,
                                                              prometheus::Registry& registry);

}  // namespace perfflow::feedback
