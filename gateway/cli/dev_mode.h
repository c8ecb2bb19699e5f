#pragma once

// `perfflowctl dev`: the whole suite in one process on SQLite — the four
// services (one gRPC port serves them all) and the gateway, built from the
// same host libraries as the separate binaries — with the demo tenant: the
// event service's seeded org and 90 days of chains, plus evidence on the open
// chains and monthly KPI observations (deterministic, seeded). Prints the
// URLs and serves until SIGTERM/SIGINT.

#include <string>

namespace perfflow::cli {

struct DevOptions {
  std::string state_dir = ".perfflow";
  std::string host = "127.0.0.1";
  int services_port = 50051;
  int services_metrics_port = 9464;
  int gateway_grpc_port = 50050;
  int gateway_http_port = 8080;
  int gateway_metrics_port = 9463;
  // The gateway's YAML configuration (JWT issuers, webhook sources).
  std::string gateway_config;
  // Empty: the files shipped in the source tree, found from the working
  // directory or from where the perfflowctl binary lives (any directory works).
  std::string catalogue_dir;
  std::string lexicon;
  int demo_events = 300;
};

// Returns the process exit code.
int RunDev(const DevOptions& options);

}  // namespace perfflow::cli
