// perfflow-evidence: the evidence service binary. Flags -> options -> build
// -> serve -> graceful stop.

#include <cstdlib>

#include "common/db/database.h"
#include "common/flags.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/server_runner.h"
#include "services/evidence/evidence_service.h"
#include "services/evidence/sql_evidence_store.h"

namespace {

struct Options {
  int grpc_port = 50052;
  int metrics_port = 9465;
  std::string host = "0.0.0.0";
  std::string db = "sqlite:perfflow-evidence.db";
  std::string event_addr = "127.0.0.1:50051";
  std::string blob_dir = "perfflow-blobs";
  int max_file_mib = 20;
  int max_event_mib = 200;
  int call_timeout_seconds = 5;
  bool dev_mode = false;
  int metrics_refresh_seconds = 15;
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
  perfflow::FlagSet flags("perfflow-evidence",
                          "The perfflow evidence service: streamed uploads into a content-addressed store, the "
                          "evidence-chain validator with supplement guidance, sealing and goal evaluation "
                          "(gRPC perfflow.evidence.v1.EvidenceService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  flags.AddInt("grpc_port", &o.grpc_port, "gRPC port; 0 picks a free port (logged at start)");
  flags.AddInt("metrics_port", &o.metrics_port, "Prometheus /metrics port; 0 picks a free port (logged at start)");
  flags.AddString("host", &o.host, "address to listen on");
  flags.AddString("db", &o.db, "database: sqlite:/path/file.db or mysql://user@host:port/schema");
  flags.AddString("event_addr", &o.event_addr, "gRPC address of perfflow-event");
  flags.AddString("blob_dir", &o.blob_dir, "directory of the content-addressed blob store");
  flags.AddInt("max_file_mib", &o.max_file_mib, "largest accepted file, MiB");
  flags.AddInt("max_event_mib", &o.max_event_mib, "most evidence bytes per event, MiB");
  flags.AddInt("call_timeout_seconds", &o.call_timeout_seconds, "deadline of each call to the event service");
  flags.AddBool("dev_mode", &o.dev_mode, "accept calls without x-perfflow-tenant as the demo tenant");
  flags.AddInt("metrics_refresh_seconds", &o.metrics_refresh_seconds, "how often the completeness gauges are recomputed");
  flags.AddInt("drain_seconds", &o.drain_seconds, "seconds NOT_SERVING before stopping on SIGTERM");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-evidence");
  if (o.max_file_mib <= 0 || o.max_event_mib < o.max_file_mib) {
    Fatal("bad limits", absl::InvalidArgumentError("need 0 < --max_file_mib <= --max_event_mib"));
  }

  perfflow::db::DatabaseOptions db_options;
  db_options.url = o.db;
  if (const char* pw = std::getenv("PERFFLOW_DB_PASSWORD")) db_options.password = pw;
  auto db = perfflow::db::OpenDatabase(db_options);
  if (!db.ok()) Fatal("cannot open the database", db.status());
  std::shared_ptr<perfflow::db::Database> database = *std::move(db);
  auto store = perfflow::evidence::SqlEvidenceStore::Open(database);
  if (!store.ok()) Fatal("cannot prepare the schema", store.status());
  auto blobs = perfflow::evidence::OpenFileBlobStore(o.blob_dir);
  if (!blobs.ok()) Fatal("cannot open the blob store", blobs.status());

  auto registry = std::make_shared<prometheus::Registry>();
  perfflow::evidence::EvidenceMetrics metrics(*registry);
  perfflow::evidence::EvidenceOptions options;
  options.max_file_bytes = int64_t{o.max_file_mib} << 20;
  options.max_event_bytes = int64_t{o.max_event_mib} << 20;
  auto core = std::make_shared<perfflow::evidence::EvidenceCore>(
      *std::move(store), *std::move(blobs),
      perfflow::evidence::NewGrpcEventClient(o.event_addr, absl::Seconds(o.call_timeout_seconds)),
      std::make_shared<perfflow::SystemClock>(), options, &metrics);
  perfflow::evidence::EvidenceServiceImpl service(core, perfflow::IdentityOptions{o.dev_mode});

  perfflow::ServerOptions server_options;
  server_options.host = o.host;
  server_options.grpc_port = o.grpc_port;
  server_options.metrics_port = o.metrics_port;
  server_options.drain = absl::Seconds(o.drain_seconds);
  server_options.bounded_stream_windows = true;  // uploads stream; memory must not follow file size
  perfflow::ServerRunner runner(server_options, registry);
  runner.AddService(&service, "perfflow.evidence.v1.EvidenceService");
  runner.SetReadinessProbe([database] { return database->Ping(); });
  if (absl::Status s = runner.Start(); !s.ok()) Fatal("cannot start the server", s);

  perfflow::PeriodicTask refresher(absl::Seconds(std::max(1, o.metrics_refresh_seconds)), [&] {
    absl::Status s = core->RefreshGauges();
    if (!s.ok()) perfflow::LogWarn("completeness gauges not refreshed", {{"error", std::string(s.message())}});
  });

  const std::string signal = perfflow::WaitForShutdownSignal();
  perfflow::LogInfo("shutting down", {{"signal", signal}});
  refresher.Stop();
  runner.Shutdown();
  return 0;
}
