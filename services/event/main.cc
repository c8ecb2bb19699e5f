// perfflow-event: the event service binary. Flags -> options -> build -> serve
// -> graceful stop.

#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "absl/strings/str_split.h"
#include "services/event/catalogue_loader.h"
#include "services/event/demo_seed.h"
#include "services/event/event_service.h"
#include "services/event/sql_event_store.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50051, 9464, "0.0.0.0", "sqlite:perfflow-event.db"};
  bool demo = false;
  std::string catalogue_dir = "services/event/catalogue";
  int demo_events = 300;
  int health_window_days = 30;
  std::string catalogue_tenants;
  int catalogue_poll_seconds = 30;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  Options o;
  perfflow::FlagSet flags("perfflow-event",
                          "The perfflow event service: event-type registry, org directory, idempotent ingestion, "
                          "flow state machine, tasks and flow health (gRPC perfflow.event.v1.EventService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddBool("demo", &o.demo, "seed the demo tenant (catalogue, org, 90 days of events) when it is empty");
  flags.AddString("catalogue_dir", &o.catalogue_dir,
                  "directory of event-type YAML files, used by --demo and --catalogue_tenants");
  flags.AddString("catalogue_tenants", &o.catalogue_tenants,
                  "comma-separated tenants kept in step with --catalogue_dir (re-applied when the files change)");
  flags.AddInt("catalogue_poll_seconds", &o.catalogue_poll_seconds, "how often --catalogue_dir is re-read");
  flags.AddInt("demo_events", &o.demo_events, "number of demo events to seed");
  flags.AddInt("health_window_days", &o.health_window_days, "trailing window of the flow-health gauges");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-event");

  std::shared_ptr<perfflow::db::Database> database = perfflow::OpenDatabaseOrDie(o.server.db);
  auto store = perfflow::event::SqlEventStore::Open(database);
  if (!store.ok()) perfflow::Fatal("cannot prepare the schema", store.status());
  std::shared_ptr<perfflow::event::EventStore> event_store = *std::move(store);

  auto clock = std::make_shared<perfflow::SystemClock>();
  if (o.demo) {
    absl::Status s = perfflow::event::SeedDemoTenant(event_store, perfflow::kDemoTenant, o.catalogue_dir, clock->Now(),
                                                     o.demo_events);
    if (!s.ok()) perfflow::Fatal("cannot seed the demo tenant", s);
  }

  auto registry = std::make_shared<prometheus::Registry>();
  perfflow::event::FlowMetrics metrics(*registry);
  auto core = std::make_shared<perfflow::event::EventCore>(event_store, clock, &metrics);
  perfflow::event::EventServiceImpl service(core, perfflow::IdentityOptions{o.server.dev_mode});

  perfflow::ServerRunner runner(perfflow::ToServerOptions(o.server), registry);
  runner.AddService(&service, "perfflow.event.v1.EventService");
  runner.SetReadinessProbe([database] { return database->Ping(); });
  if (absl::Status s = runner.Start(); !s.ok()) perfflow::Fatal("cannot start the server", s);

  std::unique_ptr<perfflow::PeriodicTask> catalogue_poller;
  if (!o.catalogue_tenants.empty()) {
    auto loader = std::make_shared<perfflow::event::CatalogueLoader>(
        core, o.catalogue_dir, absl::StrSplit(o.catalogue_tenants, ',', absl::SkipEmpty()));
    catalogue_poller = std::make_unique<perfflow::PeriodicTask>(
        absl::Seconds(std::max(1, o.catalogue_poll_seconds)), [loader] { (void)loader->Poll(); });
  }

  perfflow::PeriodicTask refresher(absl::Seconds(std::max(1, o.server.metrics_refresh_seconds)), [&] {
    absl::Status s = core->RefreshGauges(absl::Hours(24 * o.health_window_days));
    if (!s.ok()) perfflow::LogWarn("flow gauges not refreshed", {{"error", std::string(s.message())}});
  });
  perfflow::ServeUntilSignal(runner, [&] {
    refresher.Stop();
    if (catalogue_poller) catalogue_poller->Stop();
  });
  return 0;
}
