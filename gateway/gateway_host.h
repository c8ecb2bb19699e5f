#pragma once

// The gateway as a ServiceHost: what perfflow-gateway and the one-process
// dev mode both run. The HTTP server listens from construction (so its port
// is known); its /readyz turns ready once Start() has checked the backends.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/service_host.h"
#include "prometheus/registry.h"

namespace perfflow::gateway {

struct GatewayHostOptions {
  std::string db = "sqlite:perfflow-gateway.db";
  bool dev_mode = false;
  std::string host = "0.0.0.0";
  int http_port = 8080;
  // YAML (gateway_config.proto); empty = no JWT issuers, no webhook sources.
  std::string config;
  std::string event_addr = "127.0.0.1:50051";
  std::string evidence_addr = "127.0.0.1:50052";
  std::string feedback_addr = "127.0.0.1:50053";
  std::string calibration_addr = "127.0.0.1:50054";
  int max_body_bytes = 1 << 20;
  // A file uploaded on an action page.
  int max_upload_bytes = 20 << 20;
  int http_threads = 64;
  int call_timeout_seconds = 30;
  int read_timeout_seconds = 10;
  int drain_seconds = 5;
};

class GatewayHost : public ServiceHost {
 public:
  virtual int http_port() const = 0;
};

// FailedPrecondition without PERFFLOW_INTERNAL_TOKEN outside dev mode;
// InvalidArgument naming the --config problem.
absl::StatusOr<std::unique_ptr<GatewayHost>> MakeGatewayHost(const GatewayHostOptions& options,
                                                             prometheus::Registry& registry);

}  // namespace perfflow::gateway
