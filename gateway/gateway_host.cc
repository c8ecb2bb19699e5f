#include "gateway/gateway_host.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/request_context.h"
#include "common/service_main.h"
#include "common/yaml_proto.h"
#include "gateway/admin_service.h"
#include "gateway/grpc_proxy.h"
#include "gateway/http_server.h"
#include "gateway/person_data_service.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server_builder.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"

namespace perfflow::gateway {
namespace {

absl::StatusOr<v1::GatewayConfig> LoadConfig(const std::string& path) {
  v1::GatewayConfig config;
  if (path.empty()) return config;
  auto text = ReadTextFile(path);
  if (!text.ok()) return absl::NotFoundError("--config: " + std::string(text.status().message()));
  auto docs = LoadYamlDocuments(*text);
  if (!docs.ok()) return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": ", docs.status().message()));
  if (docs->size() != 1) return absl::InvalidArgumentError("--config " + path + ": expected one YAML document");
  if (absl::Status s = YamlToMessage(docs->front(), &config); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--config ", path, ": ", s.message()));
  }
  return config;
}

class Host : public GatewayHost {
 public:
  Host(GatewayHostOptions o, std::shared_ptr<db::Database> database, std::unique_ptr<GatewayAdminServiceImpl> admin,
       std::unique_ptr<PersonDataServiceImpl> person_data, std::unique_ptr<grpc::Server> admin_server,
       std::shared_ptr<Backends> backends, std::unique_ptr<HttpMetrics> metrics, std::unique_ptr<HttpGateway> http,
       std::unique_ptr<GrpcProxy> proxy)
      : o_(std::move(o)),
        database_(std::move(database)),
        admin_(std::move(admin)),
        person_data_(std::move(person_data)),
        admin_server_(std::move(admin_server)),
        backends_(std::move(backends)),
        metrics_(std::move(metrics)),
        http_(std::move(http)),
        proxy_(std::move(proxy)) {}

  ~Host() override {
    Stop();
    admin_server_->Shutdown();
  }

  std::vector<Registered> Services() override { return {}; }
  grpc::CallbackGenericService* GenericService() override { return proxy_.get(); }
  // SERVING while the gateway's database and every service answer.
  absl::Status Ready() override {
    if (absl::Status s = database_->Ping(); !s.ok()) return s;
    return backends_->CheckHealth(absl::Seconds(1));
  }
  int http_port() const override { return http_->port(); }

  void Start() override {
    readiness_ =
        std::make_unique<PeriodicTask>(RealClock(), absl::Seconds(2), [this] { http_->SetReady(Ready().ok()); });
  }

  // /readyz turns 503, the drain period passes, then in-flight requests finish.
  void Stop() override {
    if (stopped_) return;
    stopped_ = true;
    if (readiness_) readiness_->Stop();
    http_->SetReady(false);
    absl::SleepFor(absl::Seconds(o_.drain_seconds));
    http_->Stop();
  }

 private:
  GatewayHostOptions o_;
  std::shared_ptr<db::Database> database_;
  std::unique_ptr<GatewayAdminServiceImpl> admin_;
  std::unique_ptr<PersonDataServiceImpl> person_data_;
  std::unique_ptr<grpc::Server> admin_server_;
  std::shared_ptr<Backends> backends_;
  std::unique_ptr<HttpMetrics> metrics_;
  std::unique_ptr<HttpGateway> http_;
  std::unique_ptr<GrpcProxy> proxy_;
  std::unique_ptr<PeriodicTask> readiness_;
  bool stopped_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<GatewayHost>> MakeGatewayHost(const GatewayHostOptions& o,
                                                             prometheus::Registry& registry) {
  if (absl::Status s = CheckInternalToken(); !s.ok()) return s;
  if (InternalToken().empty()) {
    if (!o.dev_mode) {
      return absl::FailedPreconditionError(
          "PERFFLOW_INTERNAL_TOKEN is not set: the services could not tell the gateway's calls from anyone's");
    }
    LogWarn("PERFFLOW_INTERNAL_TOKEN is not set: services trust identity metadata as sent (dev mode)");
  }
  auto config = LoadConfig(o.config);
  if (!config.ok()) return config.status();
  auto jwt = JwtVerifier::Create({config->jwt_issuers().begin(), config->jwt_issuers().end()}, ProcessEnv());
  if (!jwt.ok()) return jwt.status();
  auto webhooks =
      WebhookSources::Create({config->webhook_sources().begin(), config->webhook_sources().end()}, ProcessEnv());
  if (!webhooks.ok()) return webhooks.status();
  auto database = OpenServiceDatabase(o.db);
  if (!database.ok()) return database.status();
  auto keys = ApiKeyStore::Open(*database);
  if (!keys.ok()) return keys.status();

  auto erasures = ErasureLog::Open(*database);
  if (!erasures.ok()) return erasures.status();

  auto clock = RealClock();
  auto backends = std::make_shared<Backends>();
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  std::vector<std::string> person_data_services;
  auto route = [&](const google::protobuf::ServiceDescriptor* service, const std::string& addr) {
    if (addr.empty()) return;
    backends->Add(service->full_name(), grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
    services.push_back(service);
    person_data_services.push_back(service->full_name());
  };
  // Each service's descriptor through one of its messages, which also links
  // its generated code into the binary. Erasure follows this order: the
  // event service, which holds the directory, last.
  route(evidence::v1::GetEvidenceRequest::descriptor()->file()->FindServiceByName("EvidenceService"), o.evidence_addr);
  route(feedback::v1::SubmitReviewRequest::descriptor()->file()->FindServiceByName("FeedbackService"), o.feedback_addr);
  route(calibration::v1::GetSessionRequest::descriptor()->file()->FindServiceByName("CalibrationService"),
        o.calibration_addr);
  route(event::v1::GetEventRequest::descriptor()->file()->FindServiceByName("EventService"), o.event_addr);

  // The gateway's own services run in-process, reached through the same door.
  auto admin = std::make_unique<GatewayAdminServiceImpl>(*keys, clock, IdentityOptions{false});
  auto person_data = std::make_unique<PersonDataServiceImpl>(backends, person_data_services, *std::move(erasures),
                                                             clock, IdentityOptions{false});
  grpc::ServerBuilder admin_builder;
  admin_builder.RegisterService(admin.get());
  admin_builder.RegisterService(person_data.get());
  std::unique_ptr<grpc::Server> admin_server = admin_builder.BuildAndStart();
  for (const char* name : {"GatewayAdminService", "PersonDataService"}) {
    const auto* service = v1::ApiKey::descriptor()->file()->FindServiceByName(name);
    backends->Add(service->full_name(), admin_server->InProcessChannel(grpc::ChannelArguments()),
                  /*check_health=*/false);
    services.push_back(service);
  }
  auto router = Router::Build(services);
  if (!router.ok()) return router.status();

  auto door = std::make_shared<Door>(*std::move(jwt), *keys, config->rate_limit(), clock, registry);
  auto metrics = std::make_unique<HttpMetrics>(registry);
  HttpOptions http;
  http.host = o.host;
  http.port = o.http_port;
  http.max_body_bytes = static_cast<size_t>(std::max(1, o.max_body_bytes));
  http.action_desk.max_upload_bytes = static_cast<size_t>(std::max(1, o.max_upload_bytes));
  http.threads = std::max(2, o.http_threads);
  http.read_timeout = http.write_timeout = absl::Seconds(std::max(1, o.read_timeout_seconds));
  http.call_timeout = absl::Seconds(std::max(1, o.call_timeout_seconds));
  auto links = ActionLinkKeys::FromEnvironment();
  if (!links.ok()) return links.status();
  http.action_links = *std::move(links);
  for (const auto& issuer : config->jwt_issuers()) {
    if (issuer.sign_in_url().empty()) continue;
    http.sign_in_links.push_back(
        {issuer.display_name().empty() ? issuer.issuer() : issuer.display_name(), issuer.sign_in_url()});
  }
  auto gateway = std::make_unique<HttpGateway>(http, std::make_shared<Router>(*std::move(router)), backends, door,
                                               std::make_shared<WebhookSources>(*std::move(webhooks)), metrics.get());
  if (absl::Status s = gateway->Start(); !s.ok()) return s;
  LogInfo("http listening", {{"http_port", std::to_string(gateway->port())}});
  auto proxy = std::make_unique<GrpcProxy>(backends, door, http.call_timeout);
  return std::unique_ptr<GatewayHost>(new Host(o, *std::move(database), std::move(admin), std::move(person_data),
                                               std::move(admin_server), backends, std::move(metrics),
                                               std::move(gateway), std::move(proxy)));
}

}  // namespace perfflow::gateway
