#pragma once

// What every perfflow server's main shares: the common flags, opening the
// database (password from PERFFLOW_DB_PASSWORD), fatal start-up errors, and
// serving until SIGTERM/SIGINT. Each main still reads as
// flags -> options -> build -> serve -> graceful stop.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/db/database.h"
#include "common/flags.h"
#include "common/server_runner.h"
#include "common/service_host.h"

namespace perfflow {

struct ServerFlags {
  int grpc_port;
  int metrics_port;
  std::string host = "0.0.0.0";
  std::string db;
  bool dev_mode = false;
  int metrics_refresh_seconds = 15;
  int drain_seconds = 5;
};

// Registers --grpc_port, --metrics_port, --host, --db, --dev_mode and --drain_seconds.
void AddServerFlags(FlagSet& flags, ServerFlags* f);

// --metrics_refresh_seconds, for the services whose gauges are recomputed
// periodically (event, evidence); the others do not take a flag they would ignore.
void AddGaugeRefreshFlag(FlagSet& flags, ServerFlags* f);

ServerOptions ToServerOptions(const ServerFlags& f);

// Logs `what` with the status as one JSON line and exits 1.
[[noreturn]] void Fatal(const std::string& what, const absl::Status& status);

// Opens a database URL (password from PERFFLOW_DB_PASSWORD).
absl::StatusOr<std::shared_ptr<db::Database>> OpenServiceDatabase(const std::string& url);

// Opens --db or exits with a clear message.
std::shared_ptr<db::Database> OpenDatabaseOrDie(const std::string& url);

// Blocks until SIGTERM/SIGINT, then runs `before_stop` and drains the server.
void ServeUntilSignal(ServerRunner& runner, const std::function<void()>& before_stop);

// A binary's main after its flags: hosts `host` on its own server (readiness
// from the host) until SIGTERM/SIGINT; exits 1 with a clear message when it
// cannot start.
void ServeHostUntilSignal(ServiceHost& host, const ServerOptions& options,
                          std::shared_ptr<prometheus::Registry> registry);

// Unwraps a host or exits 1 naming `what` ("the event service") and the reason.
std::unique_ptr<ServiceHost> HostOrDie(absl::StatusOr<std::unique_ptr<ServiceHost>> host, const std::string& what);

}  // namespace perfflow
