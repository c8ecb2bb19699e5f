// perfflow-calibration: the calibration service binary. Flags -> options ->
// build -> serve (with the T-24 h brief scheduler) -> graceful stop.

#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "services/calibration/calibration_service.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50054, 9467, "0.0.0.0", "sqlite:perfflow-calibration.db"};
  std::string event_addr = "127.0.0.1:50051";
  int call_timeout_seconds = 5;
  int scheduler_poll_seconds = 60;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  Options o;
  perfflow::FlagSet flags("perfflow-calibration",
                          "The perfflow calibration service: sessions, briefs built from flow facts 24 h before each "
                          "session (and on demand), rendering, outcomes, heat map, insights, the flow brief, KPI "
                          "observations and goal status (gRPC perfflow.calibration.v1.CalibrationService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddString("event_addr", &o.event_addr, "gRPC address of perfflow-event");
  flags.AddInt("call_timeout_seconds", &o.call_timeout_seconds,
               "deadline of each unary call to another service (fact streams get at least 5 minutes)");
  flags.AddInt("scheduler_poll_seconds", &o.scheduler_poll_seconds,
               "how often sessions due within 24 h are checked for their scheduled brief");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-calibration");

  std::shared_ptr<perfflow::db::Database> database = perfflow::OpenDatabaseOrDie(o.server.db);
  auto store = perfflow::calibration::CalibrationStore::Open(database);
  if (!store.ok()) perfflow::Fatal("cannot prepare the schema", store.status());
  auto core = std::make_shared<perfflow::calibration::CalibrationCore>(
      *std::move(store), perfflow::event::NewGrpcEventClient(o.event_addr, absl::Seconds(o.call_timeout_seconds)),
      std::make_shared<perfflow::SystemClock>());
  perfflow::calibration::CalibrationServiceImpl service(core, perfflow::IdentityOptions{o.server.dev_mode});

  auto registry = std::make_shared<prometheus::Registry>();
  perfflow::ServerRunner runner(perfflow::ToServerOptions(o.server), registry);
  runner.AddService(&service, "perfflow.calibration.v1.CalibrationService");
  runner.SetReadinessProbe([database] { return database->Ping(); });
  if (absl::Status s = runner.Start(); !s.ok()) perfflow::Fatal("cannot start the server", s);

  perfflow::PeriodicTask scheduler(absl::Seconds(std::max(1, o.scheduler_poll_seconds)), [core] {
    auto written = core->RunScheduler();
    if (!written.ok()) perfflow::LogWarn("brief scheduler run failed", {{"error", std::string(written.status().message())}});
  });
  perfflow::ServeUntilSignal(runner, [&] { scheduler.Stop(); });
  return 0;
}
