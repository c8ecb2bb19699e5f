// perfflow-feedback: the feedback service binary. Flags -> options -> build
// -> serve -> graceful stop.

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/log.h"
#include "common/service_main.h"
#include "grpcpp/create_channel.h"
#include "perfflow/evidence/v1/evidence_service.grpc.pb.h"
#include "services/event/event_client.h"
#include "services/feedback/feedback_service.h"

namespace {

struct Options {
  perfflow::ServerFlags server{50053, 9466, "0.0.0.0", "sqlite:perfflow-feedback.db"};
  std::string event_addr = "127.0.0.1:50051";
  std::string evidence_addr;
  std::string lexicon = "services/feedback/lexicon/default.yaml";
  std::string lexicon_dir;
  std::string policy_file;
  int call_timeout_seconds = 5;
};

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path);
  if (!in) perfflow::Fatal("cannot read " + path, absl::NotFoundError("missing file"));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<const perfflow::feedback::PhraseGuide> GuideOrDie(const std::string& path) {
  auto lexicon = perfflow::feedback::PhraseGuide::ParseLexicon(ReadFileOrDie(path));
  if (!lexicon.ok()) perfflow::Fatal("bad lexicon " + path, lexicon.status());
  auto guide = perfflow::feedback::PhraseGuide::Build(*lexicon);
  if (!guide.ok()) perfflow::Fatal("bad lexicon " + path, guide.status());
  return std::make_shared<const perfflow::feedback::PhraseGuide>(*std::move(guide));
}

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  Options o;
  perfflow::FlagSet flags("perfflow-feedback",
                          "The perfflow feedback service: verdicts per review round, cross-department impact "
                          "confirmation, the phrasing guidance engine and feedback statistics "
                          "(gRPC perfflow.feedback.v1.FeedbackService).\n"
                          "The MySQL password comes from PERFFLOW_DB_PASSWORD, never from a flag.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddString("event_addr", &o.event_addr, "gRPC address of perfflow-event");
  flags.AddString("evidence_addr", &o.evidence_addr,
                  "gRPC address of perfflow-evidence, to name cited evidence (empty: citations are only counted)");
  flags.AddString("lexicon", &o.lexicon, "the default lexicon YAML");
  flags.AddString("lexicon_dir", &o.lexicon_dir, "directory of per-tenant lexicons, <tenant>.yaml (optional)");
  flags.AddString("policy_file", &o.policy_file, "tenant policies YAML: delegates, require_effective_feedback");
  flags.AddInt("call_timeout_seconds", &o.call_timeout_seconds, "deadline of each call to another service");
  flags.ParseOrExit(argc, argv);
  perfflow::SetLogService("perfflow-feedback");

  perfflow::feedback::FeedbackPolicies policies;
  policies.default_guide = GuideOrDie(o.lexicon);
  if (!o.lexicon_dir.empty()) {
    for (const auto& entry : std::filesystem::directory_iterator(o.lexicon_dir)) {
      if (entry.path().extension() == ".yaml") {
        policies.guides[entry.path().stem().string()] = GuideOrDie(entry.path().string());
      }
    }
  }
  if (!o.policy_file.empty()) {
    auto parsed = perfflow::feedback::ParsePolicies(ReadFileOrDie(o.policy_file));
    if (!parsed.ok()) perfflow::Fatal("bad policy file", parsed.status());
    policies.tenants = *std::move(parsed);
  }

  std::shared_ptr<perfflow::db::Database> database = perfflow::OpenDatabaseOrDie(o.server.db);
  auto store = perfflow::feedback::SqlFeedbackStore::Open(database);
  if (!store.ok()) perfflow::Fatal("cannot prepare the schema", store.status());

  const absl::Duration deadline = absl::Seconds(o.call_timeout_seconds);
  perfflow::feedback::EvidenceNamer namer;
  if (!o.evidence_addr.empty()) {
    std::shared_ptr<perfflow::evidence::v1::EvidenceService::Stub> evidence =
        perfflow::evidence::v1::EvidenceService::NewStub(
            grpc::CreateChannel(o.evidence_addr, grpc::InsecureChannelCredentials()));
    namer = [evidence, deadline](const perfflow::RequestContext& rc,
                                 const std::string& name) -> absl::StatusOr<std::string> {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
      perfflow::AttachIdentity(rc, &ctx);
      perfflow::evidence::v1::GetEvidenceRequest req;
      req.set_name(name);
      perfflow::evidence::v1::GetEvidenceResponse resp;
      absl::Status s = perfflow::event::FromGrpcStatus(evidence->GetEvidence(&ctx, req, &resp));
      if (!s.ok()) return s;
      return resp.evidence().kind();
    };
  }
  auto registry = std::make_shared<prometheus::Registry>();
  perfflow::feedback::FeedbackMetrics metrics(*registry);
  auto core = std::make_shared<perfflow::feedback::FeedbackCore>(
      *std::move(store), perfflow::event::NewGrpcEventClient(o.event_addr, deadline),
      std::make_shared<perfflow::SystemClock>(), std::move(policies), std::move(namer), &metrics);
  perfflow::feedback::FeedbackServiceImpl service(core, perfflow::IdentityOptions{o.server.dev_mode});

  perfflow::ServerRunner runner(perfflow::ToServerOptions(o.server), registry);
  runner.AddService(&service, "perfflow.feedback.v1.FeedbackService");
  runner.SetReadinessProbe([database] { return database->Ping(); });
  if (absl::Status s = runner.Start(); !s.ok()) perfflow::Fatal("cannot start the server", s);
  perfflow::ServeUntilSignal(runner, nullptr);
  return 0;
}
