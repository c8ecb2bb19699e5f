#include "common/service_main.h"

#include <cstdlib>

#include "common/log.h"

namespace perfflow {

void AddServerFlags(FlagSet& flags, ServerFlags* f) {
  flags.AddInt("grpc_port", &f->grpc_port, "gRPC port; 0 picks a free port (logged at start)");
  flags.AddInt("metrics_port", &f->metrics_port, "Prometheus /metrics port; 0 picks a free port (logged at start)");
  flags.AddString("host", &f->host, "address to listen on");
  flags.AddString("db", &f->db, "database: sqlite:/path/file.db or mysql://user@host:port/schema");
  flags.AddBool("dev_mode", &f->dev_mode, "accept calls without x-perfflow-tenant as the demo tenant");
  flags.AddInt("metrics_refresh_seconds", &f->metrics_refresh_seconds, "how often gauges are recomputed");
  flags.AddInt("drain_seconds", &f->drain_seconds, "seconds NOT_SERVING before stopping on SIGTERM");
}

ServerOptions ToServerOptions(const ServerFlags& f) {
  ServerOptions options;
  options.host = f.host;
  options.grpc_port = f.grpc_port;
  options.metrics_port = f.metrics_port;
  options.drain = absl::Seconds(f.drain_seconds);
  return options;
}

void Fatal(const std::string& what, const absl::Status& status) {
  LogError(what, {{"error", std::string(status.message())}});
  std::exit(1);
}

std::shared_ptr<db::Database> OpenDatabaseOrDie(const std::string& url) {
  db::DatabaseOptions options;
  options.url = url;
  if (const char* pw = std::getenv("PERFFLOW_DB_PASSWORD")) options.password = pw;
  auto db = db::OpenDatabase(options);
  if (!db.ok()) Fatal("cannot open the database", db.status());
  return *std::move(db);
}

void ServeUntilSignal(ServerRunner& runner, const std::function<void()>& before_stop) {
  const std::string signal = WaitForShutdownSignal();
  LogInfo("shutting down", {{"signal", signal}});
  if (before_stop) before_stop();
  runner.Shutdown();
}

}  // namespace perfflow
