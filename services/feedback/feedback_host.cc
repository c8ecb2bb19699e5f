#include "services/feedback/feedback_host.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "grpcpp/create_channel.h"
#include "perfflow/evidence/v1/evidence_service.grpc.pb.h"
#include "common/flow/event_client.h"
#include "services/feedback/feedback_service.h"
#include "services/feedback/sql_feedback_store.h"

namespace perfflow::feedback {
namespace {

absl::StatusOr<std::shared_ptr<const PhraseGuide>> LoadGuide(const std::string& path) {
  auto text = ReadTextFile(path);
  if (!text.ok()) return text.status();
  auto lexicon = PhraseGuide::ParseLexicon(*text);
  if (!lexicon.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad lexicon ", path, ": ", lexicon.status().message()));
  }
  auto guide = PhraseGuide::Build(*lexicon);
  if (!guide.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("bad lexicon ", path, ": ", guide.status().message()));
  }
  return std::make_shared<const PhraseGuide>(*std::move(guide));
}

absl::StatusOr<FeedbackPolicies> LoadPolicies(const FeedbackHostOptions& o) {
  FeedbackPolicies policies;
  auto guide = LoadGuide(o.lexicon);
  if (!guide.ok()) return guide.status();
  policies.default_guide = *std::move(guide);
  if (!o.lexicon_dir.empty()) {
    for (const auto& entry : std::filesystem::directory_iterator(o.lexicon_dir)) {
      if (entry.path().extension() != ".yaml") continue;
      auto tenant_guide = LoadGuide(entry.path().string());
      if (!tenant_guide.ok()) return tenant_guide.status();
      policies.guides[entry.path().stem().string()] = *std::move(tenant_guide);
    }
  }
  if (!o.policy_file.empty()) {
    auto text = ReadTextFile(o.policy_file);
    if (!text.ok()) return text.status();
    auto parsed = ParsePolicies(*text);
    if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat("bad policy file: ", parsed.status().message()));
    policies.tenants = *std::move(parsed);
  }
  return policies;
}

using EvidenceStub = std::shared_ptr<evidence::v1::EvidenceService::Stub>;

EvidenceStub EvidenceStubFor(const std::string& evidence_addr) {
  if (evidence_addr.empty()) return nullptr;
  return evidence::v1::EvidenceService::NewStub(grpc::CreateChannel(evidence_addr, grpc::InsecureChannelCredentials()));
}

// A call to the evidence service on rc's behalf.
std::unique_ptr<grpc::ClientContext> EvidenceCall(const RequestContext& rc, absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  AttachIdentity(rc, ctx.get(), "feedback");
  return ctx;
}

// Names cited evidence through the evidence service (its kind), when there is one.
EvidenceNamer EvidenceNamerFor(EvidenceStub stub, absl::Duration deadline) {
  if (stub == nullptr) return nullptr;
  return [stub, deadline](const RequestContext& rc, const std::string& name) -> absl::StatusOr<std::string> {
    evidence::v1::GetEvidenceRequest req;
    req.set_name(name);
    evidence::v1::GetEvidenceResponse resp;
    absl::Status s = FromGrpcStatus(stub->GetEvidence(EvidenceCall(rc, deadline).get(), req, &resp));
    if (!s.ok()) return s;
    return resp.evidence().kind();
  };
}

// Seals and archives a chain through the evidence service when it is ready;
// "not ready yet" (FAILED_PRECONDITION) is the common answer, not an error.
ChainArchiver ChainArchiverFor(EvidenceStub stub, absl::Duration deadline) {
  if (stub == nullptr) return nullptr;
  return [stub, deadline](const RequestContext& rc, const std::string& event) {
    evidence::v1::SealEvidenceRequest req;
    req.set_event(event);
    evidence::v1::SealEvidenceResponse resp;
    absl::Status s = FromGrpcStatus(stub->SealEvidence(EvidenceCall(rc, deadline).get(), req, &resp));
    if (s.ok()) {
      LogInfo("chain archived", {{"event", event}});
    } else if (!absl::IsFailedPrecondition(s)) {
      LogWarn("archiving a ready chain failed", {{"event", event}, {"error", std::string(s.message())}});
    }
  };
}

class FeedbackHost : public ServiceHost {
 public:
  FeedbackHost(const FeedbackHostOptions& o, std::shared_ptr<db::Database> database,
               std::unique_ptr<FeedbackMetrics> metrics, std::shared_ptr<FeedbackCore> core)
      : step_retry_(absl::Seconds(std::max(1, o.step_retry_seconds))),
        database_(std::move(database)),
        metrics_(std::move(metrics)),
        core_(std::move(core)),
        service_(core_, IdentityOptions{o.dev_mode}) {}

  std::vector<Registered> Services() override { return {{&service_, "perfflow.feedback.v1.FeedbackService"}}; }
  absl::Status Ready() override { return database_->Ping(); }
  void Start() override {
    retry_ = std::make_unique<PeriodicTask>(RealClock(), step_retry_, [this] {
      if (auto pending = core_->ReconcileSteps(); !pending.ok()) {
        LogWarn("flow step retry pass failed", {{"error", std::string(pending.status().message())}});
      }
    });
  }
  void Stop() override { retry_.reset(); }

 private:
  absl::Duration step_retry_;
  std::shared_ptr<db::Database> database_;
  std::unique_ptr<FeedbackMetrics> metrics_;
  std::shared_ptr<FeedbackCore> core_;
  FeedbackServiceImpl service_;
  std::unique_ptr<PeriodicTask> retry_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeFeedbackHost(const FeedbackHostOptions& o,
                                                              prometheus::Registry& registry) {
  auto policies = LoadPolicies(o);
  if (!policies.ok()) return policies.status();
  auto database = OpenServiceDatabase(o.db);
  if (!database.ok()) return database.status();
  auto store = SqlFeedbackStore::Open(*database);
  if (!store.ok()) return store.status();
  const absl::Duration deadline = absl::Seconds(o.call_timeout_seconds);
  auto metrics = std::make_unique<FeedbackMetrics>(registry);
  std::shared_ptr<event::EventClient> events = event::NewGrpcEventClient(o.event_addr, deadline, "feedback");
  auto reports = std::make_shared<event::StepReports>(*database, events, "feedback", &registry);
  EvidenceStub evidence = EvidenceStubFor(o.evidence_addr);
  auto core = std::make_shared<FeedbackCore>(*std::move(store), events, reports, RealClock(), *std::move(policies),
                                             EvidenceNamerFor(evidence, deadline), ChainArchiverFor(evidence, deadline),
                                             metrics.get());
  return std::unique_ptr<ServiceHost>(new FeedbackHost(o, *std::move(database), std::move(metrics), core));
}

}  // namespace perfflow::feedback
