#pragma once

// The evidence service as a ServiceHost (perfflow-evidence and the dev mode).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/service_host.h"
#include "prometheus/registry.h"

namespace perfflow::evidence {

struct EvidenceHostOptions {
  std::string db = "sqlite:perfflow-evidence.db";
  bool dev_mode = false;
  int metrics_refresh_seconds = 15;
  std::string event_addr = "127.0.0.1:50051";
  std::string blob_dir = "perfflow-blobs";
  int max_file_mib = 20;
  int max_event_mib = 200;
  int call_timeout_seconds = 5;
  // How often seals whose ARCHIVED step did not reach the event service are retried.
  int step_retry_seconds = 10;
  // How often evidence past its tenant's retention period is looked for.
  int retention_interval_seconds = 3600;
};

// InvalidArgument for inconsistent limits; errors name what could not be opened.
absl::StatusOr<std::unique_ptr<ServiceHost>> MakeEvidenceHost(const EvidenceHostOptions& options,
                                                              prometheus::Registry& registry);

}  // namespace perfflow::evidence
