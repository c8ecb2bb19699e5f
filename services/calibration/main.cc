// perfflow-calibration: the calibration service binary. Flags -> options ->
// build -> serve (with the T-24 h brief scheduler) -> graceful stop.

#include "common/log.h"
#include "common/service_main.h"
#include "services/calibration/calibration_host.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50054, 9467, "0.0.0.0", "sqlite:perfflow-calibration.db"};
  perfflow::calibration::CalibrationHostOptions host;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  perfflow::DisableMutexDeadlockDetection();
  Options o;
  perfflow::FlagSet flags("perfflow-calibration",
                          "The perfflow calibration service: sessions, briefs built from flow facts 24 h before each "
                          "session (and on demand), rendering, outcomes, heat map, insights, the flow brief, KPI "
                          "observations and goal status (gRPC perfflow.calibration.v1.CalibrationService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddString("event_addr", &o.host.event_addr, "gRPC address of perfflow-event");
  flags.AddInt("call_timeout_seconds", &o.host.call_timeout_seconds,
               "deadline of each unary call to another service (fact streams get at least 5 minutes)");
  flags.AddInt("scheduler_poll_seconds", &o.host.scheduler_poll_seconds,
               "how often sessions due within 24 h are checked for their scheduled brief");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-calibration");
  o.host.db = o.server.db;
  o.host.dev_mode = o.server.dev_mode;

  auto registry = std::make_shared<prometheus::Registry>();
  auto host =
      perfflow::HostOrDie(perfflow::calibration::MakeCalibrationHost(o.host, *registry), "the calibration service");
  perfflow::ServeHostUntilSignal(*host, perfflow::ToServerOptions(o.server), registry);
  return 0;
}
