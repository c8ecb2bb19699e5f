#include "common/service_main.h"

#include <cstdlib>

#include "common/log.h"
#include "common/request_context.h"

namespace perfflow {

void AddServerFlags(FlagSet& flags, ServerFlags* f) {
  flags.AddInt("grpc_port", &f->grpc_port, "gRPC port; 0 picks a free port (logged at start)");
  flags.AddInt("metrics_port", &f->metrics_port, "Prometheus /metrics port; 0 picks a free port (logged at start)");
  flags.AddString("host", &f->host, "address to listen on");
  flags.AddString("db", &f->db, "database: sqlite:/path/file.db or mysql://user@host:port/schema");
  flags.AddBool("dev_mode", &f->dev_mode, "accept calls without x-perfflow-tenant as the demo tenant");
  flags.AddInt("drain_seconds", &f->drain_seconds, "seconds NOT_SERVING before stopping on SIGTERM");
}

void AddGaugeRefreshFlag(FlagSet& flags, ServerFlags* f) {
  flags.AddInt("metrics_refresh_seconds", &f->metrics_refresh_seconds, "how often gauges are recomputed");
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

absl::StatusOr<std::shared_ptr<db::Database>> OpenServiceDatabase(const std::string& url) {
  db::DatabaseOptions options;
  options.url = url;
  if (const char* pw = std::getenv("PERFFLOW_DB_PASSWORD")) options.password = pw;
  auto db = db::OpenDatabase(options);
  if (!db.ok()) return db.status();
  return std::shared_ptr<db::Database>(*std::move(db));
}

std::shared_ptr<db::Database> OpenDatabaseOrDie(const std::string& url) {
  auto db = OpenServiceDatabase(url);
  if (!db.ok()) Fatal("cannot open the database", db.status());
  return *std::move(db);
}

void ServeHostUntilSignal(ServiceHost& host, const ServerOptions& options,
                          std::shared_ptr<prometheus::Registry> registry) {
  if (absl::Status s = CheckInternalToken(); !s.ok()) Fatal("cannot start the server", s);
  ServerRunner runner(options, std::move(registry));
  for (const auto& s : host.Services()) runner.AddService(s.service, s.name);
  if (auto* generic = host.GenericService()) runner.SetGenericService(generic);
  runner.SetReadinessProbe([&host] { return host.Ready(); });
  if (absl::Status s = runner.Start(); !s.ok()) Fatal("cannot start the server", s);
  host.Start();
  ServeUntilSignal(runner, [&host] { host.Stop(); });
}

std::unique_ptr<ServiceHost> HostOrDie(absl::StatusOr<std::unique_ptr<ServiceHost>> host, const std::string& what) {
  if (!host.ok()) Fatal("cannot start " + what, host.status());
  return *std::move(host);
}

void ServeUntilSignal(ServerRunner& runner, const std::function<void()>& before_stop) {
  const std::string signal = WaitForShutdownSignal();
  LogInfo("shutting down", {{"signal", signal}});
  if (before_stop) before_stop();
  runner.Shutdown();
}

}  // namespace perfflow
