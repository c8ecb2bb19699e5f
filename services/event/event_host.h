#pragma once

// The event service as a ServiceHost: what perfflow-event and the
// one-process dev mode both run.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/service_host.h"
#include "prometheus/registry.h"

namespace perfflow::event {

struct EventHostOptions {
  std::string db = "sqlite:perfflow-event.db";
  bool dev_mode = false;
  int metrics_refresh_seconds = 15;
  bool demo = false;
  std::string catalogue_dir = "services/event/catalogue";
  int demo_events = 300;
  int health_window_days = 30;
  std::string catalogue_tenants;
  int catalogue_poll_seconds = 30;
  bool workers = true;
  std::string worker_id;  // default: host-pid
  std::string notify_config;
  int timer_poll_ms = 250;
  int timer_batch = 200;
  int timer_lease_seconds = 30;
  int relay_poll_ms = 250;
  int digest_poll_seconds = 60;
  // How often delivered notifications past Settings.notification_retention_days are cleared.
  int retention_interval_seconds = 3600;
  int fault_delay_before_fire_ms = 0;
  int background_duty_percent = 35;
  // IngestEvent calls write in at most this many transactions at once; calls
  // arriving meanwhile share the next one (0: each call its own transaction).
  int ingest_transactions = 2;
  int health_scan_threads = 2;  // MySQL only; SQLite scans in one query
  // The gateway's public address for signed action links in task
  // notifications (keys from PERFFLOW_ACTION_LINK_KEYS); empty: no links.
  std::string action_base_url;
  int action_link_hours = 72;
};

// Opens the database (migrations), seeds the demo tenant when asked, loads
// the notification routing. Errors name what could not be prepared.
absl::StatusOr<std::unique_ptr<ServiceHost>> MakeEventHost(const EventHostOptions& options,
                                                           prometheus::Registry& registry);

}  // namespace perfflow::event
