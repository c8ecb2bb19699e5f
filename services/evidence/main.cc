// perfflow-evidence: the evidence service binary. Flags -> options -> build
// -> serve -> graceful stop.

#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "services/evidence/evidence_service.h"
#include "services/evidence/sql_evidence_store.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50052, 9465, "0.0.0.0", "sqlite:perfflow-evidence.db"};
  std::string event_addr = "127.0.0.1:50051";
  std::string blob_dir = "perfflow-blobs";
  int max_file_mib = 20;
  int max_event_mib = 200;
  int call_timeout_seconds = 5;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  Options o;
  perfflow::FlagSet flags("perfflow-evidence",
                          "The perfflow evidence service: streamed uploads into a content-addressed store, the "
                          "evidence-chain validator with supplement guidance, sealing and goal evaluation "
                          "(gRPC perfflow.evidence.v1.EvidenceService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddString("event_addr", &o.event_addr, "gRPC address of perfflow-event");
  flags.AddString("blob_dir", &o.blob_dir, "directory of the content-addressed blob store");
  flags.AddInt("max_file_mib", &o.max_file_mib, "largest accepted file, MiB");
  flags.AddInt("max_event_mib", &o.max_event_mib, "most evidence bytes per event, MiB");
  flags.AddInt("call_timeout_seconds", &o.call_timeout_seconds, "deadline of each call to the event service");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-evidence");
  if (o.max_file_mib <= 0 || o.max_event_mib < o.max_file_mib) {
    perfflow::Fatal("bad limits", absl::InvalidArgumentError("need 0 < --max_file_mib <= --max_event_mib"));
  }

  std::shared_ptr<perfflow::db::Database> database = perfflow::OpenDatabaseOrDie(o.server.db);
  auto store = perfflow::evidence::SqlEvidenceStore::Open(database);
  if (!store.ok()) perfflow::Fatal("cannot prepare the schema", store.status());
  auto blobs = perfflow::evidence::OpenFileBlobStore(o.blob_dir);
  if (!blobs.ok()) perfflow::Fatal("cannot open the blob store", blobs.status());

  auto registry = std::make_shared<prometheus::Registry>();
  perfflow::evidence::EvidenceMetrics metrics(*registry);
  perfflow::evidence::EvidenceOptions options;
  options.max_file_bytes = int64_t{o.max_file_mib} << 20;
  options.max_event_bytes = int64_t{o.max_event_mib} << 20;
  auto core = std::make_shared<perfflow::evidence::EvidenceCore>(
      *std::move(store), *std::move(blobs),
      perfflow::event::NewGrpcEventClient(o.event_addr, absl::Seconds(o.call_timeout_seconds)),
      std::make_shared<perfflow::SystemClock>(), options, &metrics);
  perfflow::evidence::EvidenceServiceImpl service(core, perfflow::IdentityOptions{o.server.dev_mode});

  perfflow::ServerOptions server_options = perfflow::ToServerOptions(o.server);
  server_options.bounded_stream_windows = true;  // uploads stream; memory must not follow file size
  perfflow::ServerRunner runner(server_options, registry);
  runner.AddService(&service, "perfflow.evidence.v1.EvidenceService");
  runner.SetReadinessProbe([database] { return database->Ping(); });
  if (absl::Status s = runner.Start(); !s.ok()) perfflow::Fatal("cannot start the server", s);

  perfflow::PeriodicTask refresher(absl::Seconds(std::max(1, o.server.metrics_refresh_seconds)), [&] {
    absl::Status s = core->RefreshGauges();
    if (!s.ok()) perfflow::LogWarn("completeness gauges not refreshed", {{"error", std::string(s.message())}});
  });
  perfflow::ServeUntilSignal(runner, [&] { refresher.Stop(); });
  return 0;
}
