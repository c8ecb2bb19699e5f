// perfflow-event: the event service binary. Flags -> options -> build -> serve
// -> graceful stop.

#include <cstdlib>

#include "common/db/database.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/server_runner.h"
#include "services/event/demo_seed.h"
#include "services/event/event_service.h"
#include "services/event/sql_event_store.h"

namespace {

struct Options {
  int grpc_port = 50051;
  int metrics_port = 9464;
  std::string host = "0.0.0.0";
  std::string db = "sqlite:perfflow-event.db";
  bool dev_mode = false;
  bool demo = false;
  std::string catalogue_dir = "services/event/catalogue";
  int demo_events = 300;
  int metrics_refresh_seconds = 15;
  int health_window_days = 30;
  int drain_seconds = 5;
};

[[noreturn]] void Fatal(const std::string& what, const absl::Status& status) {
  perfflow::LogError(what, {{"error", std::string(status.message())}});
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  Options o;
  perfflow::FlagSet flags("perfflow-event",
                          "The perfflow event service: event-type registry, org directory, idempotent ingestion, "
                          "flow state machine, tasks and flow health (gRPC perfflow.event.v1.EventService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  flags.AddInt("grpc_port", &o.grpc_port, "gRPC port; 0 picks a free port (logged at start)");
  flags.AddInt("metrics_port", &o.metrics_port, "Prometheus /metrics port; 0 picks a free port (logged at start)");
  flags.AddString("host", &o.host, "address to listen on");
  flags.AddString("db", &o.db, "database: sqlite:/path/file.db or mysql://user@host:port/schema");
  flags.AddBool("dev_mode", &o.dev_mode, "accept calls without x-perfflow-tenant as the demo tenant");
  flags.AddBool("demo", &o.demo, "seed the demo tenant (catalogue, org, 90 days of events) when it is empty");
  flags.AddString("catalogue_dir", &o.catalogue_dir, "directory of event-type YAML files used by --demo");
  flags.AddInt("demo_events", &o.demo_events, "number of demo events to seed");
  flags.AddInt("metrics_refresh_seconds", &o.metrics_refresh_seconds, "how often flow gauges are recomputed");
  flags.AddInt("health_window_days", &o.health_window_days, "trailing window of the flow-health gauges");
  flags.AddInt("drain_seconds", &o.drain_seconds, "seconds NOT_SERVING before stopping on SIGTERM");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-event");

  perfflow::db::DatabaseOptions db_options;
  db_options.url = o.db;
  if (const char* pw = std::getenv("PERFFLOW_DB_PASSWORD")) db_options.password = pw;
  auto db = perfflow::db::OpenDatabase(db_options);
  if (!db.ok()) Fatal("cannot open the database", db.status());
  std::shared_ptr<perfflow::db::Database> database = *std::move(db);
  auto store = perfflow::event::SqlEventStore::Open(database);
  if (!store.ok()) Fatal("cannot prepare the schema", store.status());
  std::shared_ptr<perfflow::event::EventStore> event_store = *std::move(store);

  auto clock = std::make_shared<perfflow::SystemClock>();
  if (o.demo) {
    absl::Status s = perfflow::event::SeedDemoTenant(event_store, perfflow::kDemoTenant, o.catalogue_dir, clock->Now(),
                                                     o.demo_events);
    if (!s.ok()) Fatal("cannot seed the demo tenant", s);
  }

  auto registry = std::make_shared<prometheus::Registry>();
  perfflow::event::FlowMetrics metrics(*registry);
  auto core = std::make_shared<perfflow::event::EventCore>(event_store, clock, &metrics);
  perfflow::event::EventServiceImpl service(core, perfflow::IdentityOptions{o.dev_mode});

  perfflow::ServerOptions server_options;
  server_options.host = o.host;
  server_options.grpc_port = o.grpc_port;
  server_options.metrics_port = o.metrics_port;
  server_options.drain = absl::Seconds(o.drain_seconds);
  perfflow::ServerRunner runner(server_options, registry);
  runner.AddService(&service, "perfflow.event.v1.EventService");
  runner.SetReadinessProbe([database] { return database->Ping(); });
  if (absl::Status s = runner.Start(); !s.ok()) Fatal("cannot start the server", s);

  // Flow gauges: recomputed on a timer, stopped with the server.
  perfflow::PeriodicTask refresher(absl::Seconds(std::max(1, o.metrics_refresh_seconds)), [&] {
    absl::Status s = core->RefreshGauges(absl::Hours(24 * o.health_window_days));
    if (!s.ok()) perfflow::LogWarn("flow gauges not refreshed", {{"error", std::string(s.message())}});
  });

  const std::string signal = perfflow::WaitForShutdownSignal();
  perfflow::LogInfo("shutting down", {{"signal", signal}});
  refresher.Stop();
  runner.Shutdown();
  return 0;
}
