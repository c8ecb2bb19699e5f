#pragma once

// The calibration service as a ServiceHost (perfflow-calibration and the dev mode).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/service_host.h"
#include "prometheus/registry.h"

namespace perfflow::calibration {

struct CalibrationHostOptions {
  std::string db = "sqlite:perfflow-calibration.db";
  bool dev_mode = false;
  std::string event_addr = "127.0.0.1:50051";
  int call_timeout_seconds = 5;
  int scheduler_poll_seconds = 60;
};

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeCalibrationHost(const CalibrationHostOptions& options,
                                                                 prometheus::Registry& registry);

}  // namespace perfflow::calibration
