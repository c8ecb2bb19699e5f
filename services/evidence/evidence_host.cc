#include "services/evidence/evidence_host.h"

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/service_main.h"
#include "common/flow/event_client.h"
#include "services/evidence/evidence_service.h"
#include "services/evidence/sql_evidence_store.h"

namespace perfflow::evidence {
namespace {

class EvidenceHost : public ServiceHost {
 public:
  EvidenceHost(EvidenceHostOptions o, std::shared_ptr<db::Database> database, std::unique_ptr<EvidenceMetrics> metrics,
               std::shared_ptr<EvidenceCore> core)
      : o_(std::move(o)),
        database_(std::move(database)),
        metrics_(std::move(metrics)),
        core_(std::move(core)),
        service_(core_, IdentityOptions{o_.dev_mode}) {}

  std::vector<Registered> Services() override { return {{&service_, "perfflow.evidence.v1.EvidenceService"}}; }
  absl::Status Ready() override { return database_->Ping(); }
  void Start() override {
    refresher_ =
        std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(std::max(1, o_.metrics_refresh_seconds)), [this] {
          absl::Status s = core_->RefreshGauges();
          if (!s.ok()) LogWarn("completeness gauges not refreshed", {{"error", std::string(s.message())}});
        });
    retry_ = std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(std::max(1, o_.step_retry_seconds)), [this] {
      if (auto pending = core_->ReconcileSteps(); !pending.ok()) {
        LogWarn("flow step retry pass failed", {{"error", std::string(pending.status().message())}});
      }
    });
    retention_ =
        std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(std::max(1, o_.retention_interval_seconds)), [this] {
          if (auto removed = core_->EnforceRetention(); !removed.ok()) {
            LogWarn("retention pass failed", {{"error", std::string(removed.status().message())}});
          }
        });
  }
  void Stop() override {
    if (refresher_) refresher_->Stop();
    retry_.reset();
    retention_.reset();
  }

 private:
  EvidenceHostOptions o_;
  std::shared_ptr<db::Database> database_;
  std::unique_ptr<EvidenceMetrics> metrics_;
  std::shared_ptr<EvidenceCore> core_;
  EvidenceServiceImpl service_;
  std::unique_ptr<PeriodicTask> refresher_;
  std::unique_ptr<PeriodicTask> retry_;
  std::unique_ptr<PeriodicTask> retention_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ServiceHost>> MakeEvidenceHost(const EvidenceHostOptions& o,
                                                              prometheus::Registry& registry) {
  if (o.max_file_mib <= 0 || o.max_event_mib < o.max_file_mib) {
    return absl::InvalidArgumentError("need 0 < --max_file_mib <= --max_event_mib");
  }
  auto database = OpenServiceDatabase(o.db);
  if (!database.ok()) return database.status();
  auto store = SqlEvidenceStore::Open(*database);
  if (!store.ok()) return store.status();
  auto blobs = OpenFileBlobStore(o.blob_dir);
  if (!blobs.ok()) return absl::Status(blobs.status().code(), absl::StrCat("blob store: ", blobs.status().message()));
  auto metrics = std::make_unique<EvidenceMetrics>(registry);
  EvidenceOptions options;
  options.max_file_bytes = int64_t{o.max_file_mib} << 20;
  options.max_event_bytes = int64_t{o.max_event_mib} << 20;
  std::shared_ptr<event::EventClient> events =
      event::NewGrpcEventClient(o.event_addr, absl::Seconds(o.call_timeout_seconds), "evidence");
  auto reports = std::make_shared<event::StepReports>(*database, events, "evidence", &registry);
  auto core = std::make_shared<EvidenceCore>(*std::move(store), *std::move(blobs), events, reports, RealClock(),
                                             options, metrics.get());
  return std::unique_ptr<ServiceHost>(new EvidenceHost(o, *std::move(database), std::move(metrics), core));
}

}  // namespace perfflow::evidence
