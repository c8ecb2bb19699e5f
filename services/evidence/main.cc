// perfflow-evidence: the evidence service binary. Flags -> options -> build
// -> serve -> graceful stop.

#include "common/log.h"
#include "common/service_main.h"
#include "services/evidence/evidence_host.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50052, 9465, "0.0.0.0", "sqlite:perfflow-evidence.db"};
  perfflow::evidence::EvidenceHostOptions host;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  perfflow::DisableMutexDeadlockDetection();
  Options o;
  perfflow::FlagSet flags("perfflow-evidence",
                          "The perfflow evidence service: streamed uploads into a content-addressed store, the "
                          "evidence-chain validator with supplement guidance, sealing and goal evaluation "
                          "(gRPC perfflow.evidence.v1.EvidenceService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  perfflow::AddGaugeRefreshFlag(flags, &o.server);
  flags.AddString("event_addr", &o.host.event_addr, "gRPC address of perfflow-event");
  flags.AddString("blob_dir", &o.host.blob_dir, "directory of the content-addressed blob store");
  flags.AddInt("max_file_mib", &o.host.max_file_mib, "largest accepted file, MiB");
  flags.AddInt("max_event_mib", &o.host.max_event_mib, "most evidence bytes per event, MiB");
  flags.AddInt("call_timeout_seconds", &o.host.call_timeout_seconds, "deadline of each call to the event service");
  flags.AddInt("step_retry_seconds", &o.host.step_retry_seconds,
               "how often seals whose ARCHIVED step did not reach the event service are retried");
  flags.AddInt("retention_interval_seconds", &o.host.retention_interval_seconds,
               "how often evidence past its tenant's retention period (Settings.evidence_retention_days) is deleted");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-evidence");
  o.host.db = o.server.db;
  o.host.dev_mode = o.server.dev_mode;
  o.host.metrics_refresh_seconds = o.server.metrics_refresh_seconds;

  auto registry = std::make_shared<prometheus::Registry>();
  auto host = perfflow::HostOrDie(perfflow::evidence::MakeEvidenceHost(o.host, *registry), "the evidence service");
  perfflow::ServerOptions server_options = perfflow::ToServerOptions(o.server);
  server_options.bounded_stream_windows = true;  // uploads stream; memory must not follow file size
  perfflow::ServeHostUntilSignal(*host, server_options, registry);
  return 0;
}
