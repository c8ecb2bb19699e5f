// perfflow-event: the event service binary. Flags -> options -> build -> serve
// -> graceful stop.

#include "common/log.h"
#include "common/service_main.h"
#include "services/event/delivery/deadline_worker.h"
#include "services/event/event_host.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50051, 9464, "0.0.0.0", "sqlite:perfflow-event.db"};
  perfflow::event::EventHostOptions host;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  perfflow::DisableMutexDeadlockDetection();
  Options o;
  perfflow::FlagSet flags("perfflow-event",
                          "The perfflow event service: event-type registry, org directory, idempotent ingestion, "
                          "flow state machine, tasks and flow health (gRPC perfflow.event.v1.EventService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  perfflow::AddGaugeRefreshFlag(flags, &o.server);
  perfflow::event::EventHostOptions& h = o.host;
  h.worker_id = perfflow::event::DefaultOwner();
  flags.AddBool("demo", &h.demo, "seed the demo tenant (catalogue, org, 90 days of events) when it is empty");
  flags.AddString("catalogue_dir", &h.catalogue_dir,
                  "directory of event-type YAML files, used by --demo and --catalogue_tenants");
  flags.AddString("catalogue_tenants", &h.catalogue_tenants,
                  "comma-separated tenants kept in step with --catalogue_dir (re-applied when the files change)");
  flags.AddInt("catalogue_poll_seconds", &h.catalogue_poll_seconds, "how often --catalogue_dir is re-read");
  flags.AddInt("demo_events", &h.demo_events, "number of demo events to seed");
  flags.AddInt("health_window_days", &h.health_window_days, "trailing window of the flow-health gauges");
  flags.AddBool("workers", &h.workers,
                "run the timer worker, digest scheduler and outbox relay (safe on every replica)");
  flags.AddString("worker_id", &h.worker_id, "this replica's name in work leases (default host-pid)");
  flags.AddString("action_base_url", &h.action_base_url,
                  "public address of perfflow-gateway for signed action links in task notifications "
                  "(keys in PERFFLOW_ACTION_LINK_KEYS, comma-separated, signing key first); empty: no links");
  flags.AddInt("action_link_hours", &h.action_link_hours, "how long an action link stays valid");
  flags.AddString("notify_config", &h.notify_config,
                  "YAML file of notification destinations and routes (default: log channel only)");
  flags.AddInt("timer_poll_ms", &h.timer_poll_ms, "how often due timers are claimed");
  flags.AddInt("timer_batch", &h.timer_batch, "timers (and outbox messages) claimed per batch");
  flags.AddInt("timer_lease_seconds", &h.timer_lease_seconds,
               "how long a claim is held before another replica may take it over");
  flags.AddInt("relay_poll_ms", &h.relay_poll_ms, "how often the outbox is drained");
  flags.AddInt("digest_poll_seconds", &h.digest_poll_seconds, "how often digests are checked for being due");
  flags.AddInt("retention_interval_seconds", &h.retention_interval_seconds,
               "how often delivered notifications past their tenant's retention period are cleared");
  flags.AddInt("background_duty_percent", &h.background_duty_percent,
               "while catching up, timers and the relay spend at most this share of the time on batches "
               "(1-100), leaving the database to ingestion");
  flags.AddInt("ingest_transactions", &h.ingest_transactions,
               "IngestEvent calls write in at most this many database transactions at once; calls arriving "
               "meanwhile share the next one, each answered after its commit (0: every call its own transaction)");
  flags.AddInt("health_scan_threads", &h.health_scan_threads,
               "on MySQL, flow health scans runs of days on this many connections at once (1-8; a query uses "
               "one core of the database server); SQLite always scans in one query");
  flags.AddInt("fault_delay_before_fire_ms", &h.fault_delay_before_fire_ms,
               "fault injection for tests: hold claimed timers this long before firing (0 in production)");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-event");
  h.db = o.server.db;
  h.dev_mode = o.server.dev_mode;
  h.metrics_refresh_seconds = o.server.metrics_refresh_seconds;

  auto registry = std::make_shared<prometheus::Registry>();
  auto host = perfflow::HostOrDie(perfflow::event::MakeEventHost(h, *registry), "the event service");
  perfflow::ServeHostUntilSignal(*host, perfflow::ToServerOptions(o.server), registry);
  return 0;
}
