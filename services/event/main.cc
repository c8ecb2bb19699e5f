// perfflow-event: the event service binary. Flags -> options -> build -> serve
// -> graceful stop.

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "services/event/catalogue_loader.h"
#include "services/event/deadline_worker.h"
#include "services/event/demo_seed.h"
#include "services/event/event_service.h"
#include "services/event/sql_delivery_store.h"
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
  bool workers = true;
  std::string worker_id = perfflow::event::DefaultOwner();
  std::string notify_config;
  int timer_poll_ms = 250;
  int timer_batch = 200;
  int timer_lease_seconds = 30;
  int relay_poll_ms = 250;
  int digest_poll_seconds = 60;
  int fault_delay_before_fire_ms = 0;
  int background_duty_percent = 50;
};

// The relay's routing: the configuration file, or the log channel alone.
perfflow::event::NotifyRouting LoadRoutingOrDie(const std::string& path) {
  if (path.empty()) return perfflow::event::LogOnlyRouting();
  std::ifstream in(path);
  if (!in) perfflow::Fatal("cannot read --notify_config", absl::NotFoundError(path));
  std::stringstream text;
  text << in.rdbuf();
  auto routing = perfflow::event::LoadNotifyConfig(text.str(), perfflow::event::CurlSender(),
                                                   [](const char* name) { return std::getenv(name); });
  if (!routing.ok()) {
    perfflow::Fatal("invalid --notify_config",
                    absl::InvalidArgumentError(absl::StrCat(path, ": ", routing.status().message())));
  }
  return *std::move(routing);
}

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
  flags.AddBool("workers", &o.workers,
                "run the timer worker, digest scheduler and outbox relay (safe on every replica)");
  flags.AddString("worker_id", &o.worker_id, "this replica's name in work leases (default host-pid)");
  flags.AddString("notify_config", &o.notify_config,
                  "YAML file of notification destinations and routes (default: log channel only)");
  flags.AddInt("timer_poll_ms", &o.timer_poll_ms, "how often due timers are claimed");
  flags.AddInt("timer_batch", &o.timer_batch, "timers (and outbox messages) claimed per batch");
  flags.AddInt("timer_lease_seconds", &o.timer_lease_seconds,
               "how long a claim is held before another replica may take it over");
  flags.AddInt("relay_poll_ms", &o.relay_poll_ms, "how often the outbox is drained");
  flags.AddInt("digest_poll_seconds", &o.digest_poll_seconds, "how often digests are checked for being due");
  flags.AddInt("background_duty_percent", &o.background_duty_percent,
               "while catching up, timers and the relay spend at most this share of the time on batches "
               "(1-100), leaving the database to ingestion");
  flags.AddInt("fault_delay_before_fire_ms", &o.fault_delay_before_fire_ms,
               "fault injection for tests: hold claimed timers this long before firing (0 in production)");
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

  // Background work, judged by the database clock.
  std::unique_ptr<perfflow::event::DeliveryMetrics> delivery_metrics;
  std::vector<std::unique_ptr<perfflow::PeriodicTask>> workers;
  std::shared_ptr<perfflow::event::OutboxRelay> relay;
  if (o.workers) {
    auto routing = LoadRoutingOrDie(o.notify_config);
    delivery_metrics = std::make_unique<perfflow::event::DeliveryMetrics>(*registry);
    auto deliveries = std::make_shared<perfflow::event::SqlDeliveryStore>(database);
    const auto db_time = perfflow::event::DatabaseTime(deliveries);
    perfflow::event::WorkerOptions wo;
    wo.owner = o.worker_id;
    wo.batch = std::max(1, o.timer_batch);
    wo.lease = absl::Seconds(std::max(1, o.timer_lease_seconds));
    wo.fault_delay_before_fire = absl::Milliseconds(std::max(0, o.fault_delay_before_fire_ms));
    wo.duty_percent = std::clamp(o.background_duty_percent, 1, 100);
    auto timers = std::make_shared<perfflow::event::TimerWorker>(deliveries, db_time, wo, delivery_metrics.get());
    auto digests = std::make_shared<perfflow::event::DigestScheduler>(core, event_store, deliveries, db_time,
                                                                      delivery_metrics.get());
    relay = std::make_shared<perfflow::event::OutboxRelay>(deliveries, event_store, std::move(routing), db_time,
                                                           perfflow::event::RelayOptions{wo, clock, 0},
                                                           delivery_metrics.get());
    auto report = [](const char* what, const absl::Status& s) {
      if (!s.ok()) perfflow::LogWarn(what, {{"error", std::string(s.message())}});
    };
    workers.push_back(std::make_unique<perfflow::PeriodicTask>(
        absl::Milliseconds(std::max(10, o.timer_poll_ms)), [timers, report] {
          report("timer worker run failed", timers->RunOnce().status());
        }));
    workers.push_back(std::make_unique<perfflow::PeriodicTask>(
        absl::Milliseconds(std::max(10, o.relay_poll_ms)), [relay, report] {
          report("outbox relay run failed", relay->RunOnce().status());
        }));
    workers.push_back(std::make_unique<perfflow::PeriodicTask>(
        absl::Seconds(std::max(1, o.digest_poll_seconds)), [digests, report] {
          report("digest run failed", digests->RunOnce().status());
        }));
  }

  perfflow::PeriodicTask refresher(absl::Seconds(std::max(1, o.server.metrics_refresh_seconds)), [&] {
    absl::Status s = core->RefreshGauges(absl::Hours(24 * o.health_window_days));
    if (s.ok() && relay) s = relay->RefreshGauges();
    if (!s.ok()) perfflow::LogWarn("flow gauges not refreshed", {{"error", std::string(s.message())}});
  });
  perfflow::ServeUntilSignal(runner, [&] {
    refresher.Stop();
    if (catalogue_poller) catalogue_poller->Stop();
    for (auto& w : workers) w->Stop();
  });
  return 0;
}
