// perfflow-feedback: the feedback service binary. Flags -> options -> build
// -> serve -> graceful stop.

#include "common/log.h"
#include "common/service_main.h"
#include "services/feedback/feedback_host.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50053, 9466, "0.0.0.0", "sqlite:perfflow-feedback.db"};
  perfflow::feedback::FeedbackHostOptions host;
};

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  perfflow::DisableMutexDeadlockDetection();
  Options o;
  perfflow::FlagSet flags("perfflow-feedback",
                          "The perfflow feedback service: verdicts per review round, cross-department impact "
                          "confirmation, the phrasing guidance engine and feedback statistics "
                          "(gRPC perfflow.feedback.v1.FeedbackService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddString("event_addr", &o.host.event_addr, "gRPC address of perfflow-event");
  flags.AddString("evidence_addr", &o.host.evidence_addr,
                  "gRPC address of perfflow-evidence, to name cited evidence (empty: citations are only counted)");
  flags.AddString("lexicon", &o.host.lexicon, "the default lexicon YAML");
  flags.AddString("lexicon_dir", &o.host.lexicon_dir, "directory of per-tenant lexicons, <tenant>.yaml (optional)");
  flags.AddString("policy_file", &o.host.policy_file, "tenant policies YAML: delegates, require_effective_feedback");
  flags.AddInt("call_timeout_seconds", &o.host.call_timeout_seconds, "deadline of each call to another service");
  flags.AddInt("step_retry_seconds", &o.host.step_retry_seconds,
               "how often verdicts and confirmations whose flow step did not reach the event service are retried");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-feedback");
  o.host.db = o.server.db;
  o.host.dev_mode = o.server.dev_mode;

  auto registry = std::make_shared<prometheus::Registry>();
  auto host = perfflow::HostOrDie(perfflow::feedback::MakeFeedbackHost(o.host, *registry), "the feedback service");
  perfflow::ServeHostUntilSignal(*host, perfflow::ToServerOptions(o.server), registry);
  return 0;
}
