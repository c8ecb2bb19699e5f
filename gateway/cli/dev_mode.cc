#include "gateway/cli/dev_mode.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/action_link.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/request_context.h"
#include "common/service_main.h"
#include "gateway/gateway_host.h"
#include "grpcpp/create_channel.h"
#include "perfflow/calibration/v1/calibration_service.grpc.pb.h"
#include "perfflow/event/v1/event_service.grpc.pb.h"
#include "perfflow/evidence/v1/evidence_service.grpc.pb.h"
#include "services/calibration/calibration_host.h"
#include "services/event/event_host.h"
#include "services/evidence/evidence_host.h"
#include "services/feedback/feedback_host.h"

namespace perfflow::cli {
namespace {

namespace ev1 = perfflow::event::v1;
namespace vv1 = perfflow::evidence::v1;
namespace cv1 = perfflow::calibration::v1;

// Demo data the event service's seed lacks, written through the services'
// own APIs: evidence on chains still open, monthly KPI observations.
// Signed links to the inboxes of a few demo people with open tasks, to open
// in a browser (valid 72 hours).
std::string InboxLinks(const std::string& services_addr, const std::string& base_url) {
  auto keys = ActionLinkKeys::FromEnvironment();
  if (!keys.ok() || !*keys) return "";
  auto stub = ev1::EventService::NewStub(grpc::CreateChannel(services_addr, grpc::InsecureChannelCredentials()));
  RequestContext admin;
  admin.tenant = kDemoTenant;
  admin.roles = {"admin"};
  grpc::ClientContext list_ctx;
  AttachIdentity(admin, &list_ctx);
  ev1::ListEmployeesRequest list;
  list.set_page_size(200);
  ev1::ListEmployeesResponse employees;
  if (!stub->ListEmployees(&list_ctx, list, &employees).ok()) return "";
  std::string out = "  action links (a person's inbox, valid 72 h; the demo's key is new each start):\n";
  int shown = 0;
  for (const auto& e : employees.employees()) {
    grpc::ClientContext ctx;
    AttachIdentity(admin, &ctx);
    ev1::ListTasksRequest tasks_request;
    tasks_request.set_assignee_id(e.id());
    tasks_request.set_state(type::v1::TASK_STATE_OPEN);
    tasks_request.set_page_size(1);
    ev1::ListTasksResponse tasks;
    if (!stub->ListTasks(&ctx, tasks_request, &tasks).ok() || tasks.tasks().empty()) continue;
    const std::string token = (*keys)->Sign({kDemoTenant, "", e.id(), absl::Now() + absl::Hours(72)});
    absl::StrAppend(&out, "    ", e.display_name(), " (", e.id(), ")  ", base_url, "/act/", token, "\n");
    if (++shown == 3) break;
  }
  return shown == 0 ? "" : out + "\n";
}

class ExtraDemoSeed {
 public:
  explicit ExtraDemoSeed(const std::string& addr)
      : channel_(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials())),
        events_(ev1::EventService::NewStub(channel_)),
        evidence_(vv1::EvidenceService::NewStub(channel_)),
        calibration_(cv1::CalibrationService::NewStub(channel_)),
        rng_(20261127) {}

  void Run() {
    ev1::GetRegistryResponse registry;
    grpc::ClientContext ctx;
    Identity(&ctx, "dev-seed", "admin,hr,system");
    if (!events_->GetRegistry(&ctx, ev1::GetRegistryRequest(), &registry).ok()) return;
    const int uploads = SeedEvidence(registry.registry());
    const int kpis = SeedKpis(registry.registry());
    LogInfo("demo evidence and KPI observations seeded",
            {{"evidence_uploads", std::to_string(uploads)}, {"kpi_observations", std::to_string(kpis)}});
  }

 private:
  static void Identity(grpc::ClientContext* ctx, const std::string& principal, const std::string& roles) {
    ctx->AddMetadata(kTenantHeader, kDemoTenant);
    ctx->AddMetadata(kPrincipalHeader, principal);
    ctx->AddMetadata(kRolesHeader, roles);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  }

  // One file per evidence kind on the open chains whose evidence the seed
  // marked complete, and on most of those whose owner has not acted yet (the
  // first upload reports the owner's action); chains the seed left with gaps
  // keep them.
  int SeedEvidence(const ev1::Registry& registry) {
    std::map<std::string, const ev1::EventType*> types;
    for (const auto& t : registry.event_types()) types[t.key()] = &t;
    int uploads = 0;
    std::string page_token;
    do {
      ev1::ListEventsRequest req;
      req.set_page_size(200);
      req.set_page_token(page_token);
      ev1::ListEventsResponse resp;
      grpc::ClientContext ctx;
      Identity(&ctx, "dev-seed", "admin,hr,system");
      if (!events_->ListEvents(&ctx, req, &resp).ok()) break;
      for (const ev1::Event& e : resp.events()) {
        const auto& times = e.flow().times();
        const bool gaps = times.has_owner_action_at() && !times.has_evidence_complete_at();
        if (e.flow().step() == type::v1::FLOW_STEP_ARCHIVED || gaps ||
            (!times.has_owner_action_at() && rng_() % 100 < 25)) {
          continue;
        }
        auto type = types.find(e.event_type());
        if (type == types.end()) continue;
        for (const auto& spec : type->second->evidence()) uploads += Upload(e, spec) ? 1 : 0;
      }
      page_token = resp.next_page_token();
    } while (!page_token.empty());
    return uploads;
  }

  bool Upload(const ev1::Event& event, const ev1::EvidenceSpec& spec) {
    std::string content_type, body;
    for (const std::string& type : spec.content_types()) {
      if (type == "application/pdf") {
        content_type = type;
        body = absl::StrCat("%PDF-1.7\n% ", spec.kind(), " for ", event.name(), "\n%%EOF\n");
        break;
      }
      if (type == "image/png" && content_type.empty()) {
        content_type = type;
        body = absl::StrCat(std::string("\x89PNG\r\n\x1a\n", 8), spec.kind(), event.name());
      }
    }
    if (content_type.empty()) return false;
    grpc::ClientContext ctx;
    Identity(&ctx, event.subject_id(), "");
    vv1::UploadEvidenceResponse resp;
    auto writer = evidence_->UploadEvidence(&ctx, &resp);
    vv1::UploadEvidenceRequest meta;
    meta.mutable_metadata()->set_event(event.name());
    meta.mutable_metadata()->set_kind(spec.kind());
    meta.mutable_metadata()->set_file_name(spec.kind() + (content_type == "image/png" ? ".png" : ".pdf"));
    meta.mutable_metadata()->set_content_type(content_type);
    vv1::UploadEvidenceRequest chunk;
    chunk.set_chunk(body);
    const bool sent = writer->Write(meta) && writer->Write(chunk);
    writer->WritesDone();
    return writer->Finish().ok() && sent;
  }

  // Every goal tenant-wide for the last three months around its target, and
  // each salesperson's renewal rate (the brief's business dimension).
  int SeedKpis(const ev1::Registry& registry) {
    cv1::RecordKpiObservationsRequest req;
    const absl::Time now = absl::Now();
    std::vector<std::string> months;
    for (int m = 2; m >= 0; --m) {
      months.push_back(absl::FormatTime("%Y-%m", now - absl::Hours(24 * 30 * m), absl::UTCTimeZone()));
    }
    std::uniform_real_distribution<double> spread(0.85, 1.08);
    for (const auto& goal : registry.goals()) {
      for (const std::string& month : months) {
        auto* o = req.add_observations();
        o->set_kpi(goal.key());
        o->set_period(month);
        o->set_value(goal.target() * spread(rng_));
      }
    }
    ev1::ListEmployeesRequest sales;
    sales.set_department_id("sales");
    sales.set_page_size(500);
    ev1::ListEmployeesResponse people;
    grpc::ClientContext list_ctx;
    Identity(&list_ctx, "dev-seed", "admin,hr,system");
    if (events_->ListEmployees(&list_ctx, sales, &people).ok()) {
      std::uniform_real_distribution<double> renewal(0.55, 0.97);
      for (const auto& person : people.employees()) {
        for (const std::string& month : months) {
          auto* o = req.add_observations();
          o->set_kpi("sales.renewal_rate");
          o->set_subject_id(person.id());
          o->set_period(month);
          o->set_value(renewal(rng_));
        }
      }
    }
    cv1::RecordKpiObservationsResponse resp;
    grpc::ClientContext ctx;
    Identity(&ctx, "dev-seed", "hr");
    grpc::Status s = calibration_->RecordKpiObservations(&ctx, req, &resp);
    if (!s.ok()) LogWarn("demo KPI observations not recorded", {{"error", s.error_message()}});
    return s.ok() ? req.observations_size() : 0;
  }

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ev1::EventService::Stub> events_;
  std::unique_ptr<vv1::EvidenceService::Stub> evidence_;
  std::unique_ptr<cv1::CalibrationService::Stub> calibration_;
  std::mt19937 rng_;
};

// `relative` (a path inside the source tree) under the working directory or
// under a parent of the running binary (build/bin/perfflowctl sits two levels
// below the tree's root); empty when neither has it.
std::string FindInSourceTree(const std::string& relative) {
  namespace fs = std::filesystem;
  if (fs::exists(relative)) return relative;
  std::error_code error;
  fs::path dir = fs::read_symlink("/proc/self/exe", error);
  if (error) return "";
  for (dir = dir.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
    if (fs::exists(dir / relative)) return (dir / relative).string();
  }
  return "";
}

// The flag's value, else the shipped file; exits with a clear message when there is none.
std::string ShippedOrDie(const std::string& flag_value, const std::string& relative, const char* flag) {
  if (!flag_value.empty()) return flag_value;
  std::string found = FindInSourceTree(relative);
  if (found.empty()) {
    std::cerr << "perfflowctl dev: cannot find " << relative << " in the working directory or above the binary; pass --"
              << flag << "\n";
    std::exit(2);
  }
  return found;
}

}  // namespace

int RunDev(const DevOptions& o) {
  BlockShutdownSignals();
  SetLogService("perfflow-dev");
  std::filesystem::create_directories(o.state_dir);
  const std::string db = "sqlite:" + o.state_dir + "/";
  const std::string services_addr = absl::StrCat(o.host, ":", o.services_port);
  const bool fresh = !std::filesystem::exists(o.state_dir + "/event.db");

  // Signed action links: a throwaway key unless one is configured.
  if (std::getenv(kActionLinkKeysEnv) == nullptr) setenv(kActionLinkKeysEnv, (RandomId() + RandomId()).c_str(), 1);
  const std::string public_host = o.host == "0.0.0.0" ? "127.0.0.1" : o.host;

  // The four services on one server, each from its host library.
  auto registry = std::make_shared<prometheus::Registry>();
  event::EventHostOptions event;
  if (o.gateway_http_port != 0) {
    event.action_base_url = absl::StrCat("http://", public_host, ":", o.gateway_http_port);
  }
  event.db = db + "event.db";
  event.dev_mode = true;
  event.demo = true;
  event.catalogue_dir = ShippedOrDie(o.catalogue_dir, "services/event/catalogue", "catalogue_dir");
  // The demo tenant follows the catalogue files, also across restarts on old state.
  event.catalogue_tenants = kDemoTenant;
  event.demo_events = o.demo_events;
  evidence::EvidenceHostOptions evidence;
  evidence.db = db + "evidence.db";
  evidence.dev_mode = true;
  evidence.event_addr = services_addr;
  evidence.blob_dir = o.state_dir + "/blobs";
  feedback::FeedbackHostOptions feedback;
  feedback.db = db + "feedback.db";
  feedback.dev_mode = true;
  feedback.event_addr = feedback.evidence_addr = services_addr;
  feedback.lexicon = ShippedOrDie(o.lexicon, "services/feedback/lexicon/default.yaml", "lexicon");
  calibration::CalibrationHostOptions calibration;
  calibration.db = db + "calibration.db";
  calibration.dev_mode = true;
  calibration.event_addr = services_addr;
  std::vector<std::unique_ptr<ServiceHost>> hosts;
  hosts.push_back(HostOrDie(event::MakeEventHost(event, *registry), "the event service"));
  hosts.push_back(HostOrDie(evidence::MakeEvidenceHost(evidence, *registry), "the evidence service"));
  hosts.push_back(HostOrDie(feedback::MakeFeedbackHost(feedback, *registry), "the feedback service"));
  hosts.push_back(HostOrDie(calibration::MakeCalibrationHost(calibration, *registry), "the calibration service"));

  auto server_options = [&o](int grpc_port, int metrics_port) {
    ServerOptions options;
    options.host = o.host;
    options.grpc_port = grpc_port;
    options.metrics_port = metrics_port;
    options.drain = absl::Seconds(1);
    return options;
  };
  ServerRunner services(server_options(o.services_port, o.services_metrics_port), registry);
  for (const auto& host : hosts) {
    for (const auto& s : host->Services()) services.AddService(s.service, s.name);
  }
  services.SetReadinessProbe([&hosts] {
    for (const auto& host : hosts) {
      if (absl::Status s = host->Ready(); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (absl::Status s = services.Start(); !s.ok()) Fatal("cannot start the services' server", s);
  for (const auto& host : hosts) host->Start();
  if (fresh) ExtraDemoSeed(services_addr).Run();

  // The gateway in front, on its own server (its gRPC port is the door).
  auto gateway_registry = std::make_shared<prometheus::Registry>();
  gateway::GatewayHostOptions gw;
  gw.db = db + "gateway.db";
  gw.dev_mode = true;
  gw.host = o.host;
  gw.http_port = o.gateway_http_port;
  gw.config = o.gateway_config;
  gw.event_addr = gw.evidence_addr = gw.feedback_addr = gw.calibration_addr = services_addr;
  gw.drain_seconds = 1;
  auto gateway_host = gateway::MakeGatewayHost(gw, *gateway_registry);
  if (!gateway_host.ok()) Fatal("cannot start the gateway", gateway_host.status());
  ServerRunner door(server_options(o.gateway_grpc_port, o.gateway_metrics_port), gateway_registry);
  door.SetGenericService((*gateway_host)->GenericService());
  door.SetReadinessProbe([&gateway_host] { return (*gateway_host)->Ready(); });
  if (absl::Status s = door.Start(); !s.ok()) Fatal("cannot start the gateway's server", s);
  (*gateway_host)->Start();

  LogInfo("dev ready", {{"services_grpc_port", std::to_string(services.grpc_port())},
                        {"services_metrics_port", std::to_string(services.metrics_port())},
                        {"gateway_http_port", std::to_string((*gateway_host)->http_port())},
                        {"gateway_grpc_port", std::to_string(door.grpc_port())},
                        {"gateway_metrics_port", std::to_string(door.metrics_port())}});
  std::cerr << absl::StrFormat(
      "\nperfflow dev: the four services and the gateway in one process on SQLite (%s/), demo tenant \"demo\"\n"
      "  services (gRPC, all four)  %s:%d   metrics http://%s:%d/metrics\n"
      "  gateway HTTP/JSON          http://%s:%d   (/v1/..., /v1/webhooks/{source}, /people/...)\n"
      "  gateway gRPC               %s:%d   metrics http://%s:%d/metrics\n\n",
      o.state_dir, o.host, services.grpc_port(), o.host, services.metrics_port(), o.host, (*gateway_host)->http_port(),
      o.host, door.grpc_port(), o.host, door.metrics_port());
  std::cerr << InboxLinks(services_addr, absl::StrCat("http://", public_host, ":", (*gateway_host)->http_port()));

  const std::string signal = WaitForShutdownSignal();
  LogInfo("shutting down", {{"signal", signal}});
  (*gateway_host)->Stop();
  door.Shutdown();
  for (const auto& host : hosts) host->Stop();
  services.Shutdown();
  return 0;
}

}  // namespace perfflow::cli
