// perfflow-gateway: the one door. HTTP/JSON for every annotated RPC, signed
// webhooks, the gRPC port for platform teams, API keys and bearer JWTs, rate
// limits, request ids and traceparent. Flags -> config -> build -> serve ->
// graceful stop. `perfflow-gateway [flags] create-api-key` bootstraps the
// first admin key straight into the gateway's database.

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/periodic.h"
#include "common/request_context.h"
#include "common/service_main.h"
#include "common/yaml_proto.h"
#include "gateway/admin_service.h"
#include "gateway/grpc_proxy.h"
#include "gateway/http_server.h"
#include "grpcpp/create_channel.h"
#include "perfflow/calibration/v1/calibration_service.grpc.pb.h"
#include "perfflow/event/v1/event_service.grpc.pb.h"
#include "perfflow/evidence/v1/evidence_service.grpc.pb.h"
#include "perfflow/feedback/v1/feedback_service.grpc.pb.h"

namespace {

namespace gw = perfflow::gateway;

struct Options {
  perfflow::ServerFlags server{50050, 9463, "0.0.0.0", "sqlite:perfflow-gateway.db"};
  int http_port = 8080;
  std::string config;
  std::string event_addr = "127.0.0.1:50051";
  std::string evidence_addr = "127.0.0.1:50052";
  std::string feedback_addr = "127.0.0.1:50053";
  std::string calibration_addr = "127.0.0.1:50054";
  int max_body_bytes = 1 << 20;
  int http_threads = 64;
  int call_timeout_seconds = 30;
  int read_timeout_seconds = 10;
  // create-api-key
  std::string tenant = "demo";
  std::string roles = "admin";
  std::string principal = "bootstrap-admin";
  std::string display_name = "bootstrap admin key";
  std::string sources;
};

perfflow::gateway::v1::GatewayConfig LoadConfigOrDie(const std::string& path) {
  perfflow::gateway::v1::GatewayConfig config;
  if (path.empty()) return config;
  std::ifstream in(path);
  if (!in) perfflow::Fatal("cannot read --config", absl::NotFoundError(path));
  std::stringstream text;
  text << in.rdbuf();
  auto docs = perfflow::LoadYamlDocuments(text.str());
  if (!docs.ok()) perfflow::Fatal("malformed --config " + path, docs.status());
  if (docs->size() != 1) perfflow::Fatal("malformed --config " + path, absl::InvalidArgumentError("expected one YAML document"));
  if (absl::Status s = perfflow::YamlToMessage(docs->front(), &config); !s.ok()) {
    perfflow::Fatal("invalid --config " + path, s);
  }
  return config;
}

int CreateApiKey(const Options& o, const std::shared_ptr<gw::ApiKeyStore>& keys) {
  gw::v1::CreateApiKeyRequest req;
  req.set_display_name(o.display_name);
  req.set_principal(o.principal);
  for (absl::string_view r : absl::StrSplit(o.roles, ',', absl::SkipEmpty())) req.add_roles(std::string(r));
  for (absl::string_view s : absl::StrSplit(o.sources, ',', absl::SkipEmpty())) req.add_allowed_sources(std::string(s));
  if (!perfflow::IsValidTenant(o.tenant)) {
    std::cerr << "create-api-key: --tenant must be 1-64 characters of [a-z0-9_-]\n";
    return 2;
  }
  auto created = keys->Create(o.tenant, req, absl::Now());
  if (!created.ok()) {
    std::cerr << "create-api-key: " << created.status().message() << "\n";
    return 1;
  }
  // The key itself goes to stdout only, once; it is stored hashed.
  std::cout << created->key << "\n";
  std::cerr << "created " << created->api_key.name() << " for tenant " << o.tenant << " (roles " << o.roles
            << "); the key is shown only now\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  perfflow::BlockShutdownSignals();
  Options o;
  perfflow::FlagSet flags(
      "perfflow-gateway",
      "The perfflow gateway: HTTP/JSON for every RPC (from google.api.http annotations), signed webhooks at POST "
      "/v1/webhooks/{source}, the same services on its gRPC port, API keys and bearer JWTs, per-caller rate "
      "limits, x-request-id and traceparent.\n"
      "Commands: (none) serve; create-api-key  print a new API key for --tenant with --roles (bootstrap).\n"
      "PERFFLOW_INTERNAL_TOKEN (required outside --dev_mode) is the credential the services accept identity "
      "metadata with; the MySQL password comes from PERFFLOW_DB_PASSWORD; secrets named in --config come from "
      "their environment variables.");
  perfflow::AddServerFlags(flags, &o.server);
  flags.AddInt("http_port", &o.http_port, "HTTP/JSON and webhook port (0 = pick a free port)");
  flags.AddString("config", &o.config, "YAML file: jwt_issuers, webhook_sources, rate_limit (see gateway_config.proto)");
  flags.AddString("event_addr", &o.event_addr, "gRPC address of perfflow-event");
  flags.AddString("evidence_addr", &o.evidence_addr, "gRPC address of perfflow-evidence (empty = not routed)");
  flags.AddString("feedback_addr", &o.feedback_addr, "gRPC address of perfflow-feedback (empty = not routed)");
  flags.AddString("calibration_addr", &o.calibration_addr, "gRPC address of perfflow-calibration (empty = not routed)");
  flags.AddInt("max_body_bytes", &o.max_body_bytes, "largest HTTP request body accepted (413 beyond)");
  flags.AddInt("http_threads", &o.http_threads, "HTTP worker threads (each serves one request at a time)");
  flags.AddInt("call_timeout_seconds", &o.call_timeout_seconds, "deadline of a unary call to a service (and the cap on gRPC callers' deadlines)");
  flags.AddInt("read_timeout_seconds", &o.read_timeout_seconds, "HTTP read and write timeout");
  flags.AddString("tenant", &o.tenant, "create-api-key: the key's tenant");
  flags.AddString("roles", &o.roles, "create-api-key: comma-separated roles");
  flags.AddString("principal", &o.principal, "create-api-key: the principal the key acts as");
  flags.AddString("display_name", &o.display_name, "create-api-key: a label");
  flags.AddString("sources", &o.sources, "create-api-key: event sources the key may ingest for (empty = any)");
  std::vector<std::string> command = flags.ParseCommandOrExit(argc, argv);
  perfflow::SetLogService("perfflow-gateway");

  std::shared_ptr<perfflow::db::Database> database = perfflow::OpenDatabaseOrDie(o.server.db);
  auto keys = gw::ApiKeyStore::Open(database);
  if (!keys.ok()) perfflow::Fatal("cannot prepare the schema", keys.status());
  if (!command.empty()) {
    if (command[0] == "create-api-key" && command.size() == 1) return CreateApiKey(o, *keys);
    std::cerr << "unknown command; see --help\n";
    return 2;
  }
  if (perfflow::InternalToken().empty()) {
    if (!o.server.dev_mode) {
      perfflow::Fatal("PERFFLOW_INTERNAL_TOKEN is not set",
                      absl::FailedPreconditionError("the services could not tell the gateway's calls from anyone's"));
    }
    perfflow::LogWarn("PERFFLOW_INTERNAL_TOKEN is not set: services trust identity metadata as sent (dev mode)");
  }

  const gw::v1::GatewayConfig config = LoadConfigOrDie(o.config);
  auto jwt = gw::JwtVerifier::Create({config.jwt_issuers().begin(), config.jwt_issuers().end()}, gw::ProcessEnv());
  if (!jwt.ok()) perfflow::Fatal("invalid --config", jwt.status());
  auto webhooks = gw::WebhookSources::Create({config.webhook_sources().begin(), config.webhook_sources().end()},
                                             gw::ProcessEnv());
  if (!webhooks.ok()) perfflow::Fatal("invalid --config", webhooks.status());

  auto clock = std::make_shared<perfflow::SystemClock>();
  // The admin service runs in-process, reached through the same door.
  gw::GatewayAdminServiceImpl admin(*keys, clock, perfflow::IdentityOptions{false});
  grpc::ServerBuilder admin_builder;
  admin_builder.RegisterService(&admin);
  std::unique_ptr<grpc::Server> admin_server = admin_builder.BuildAndStart();

  auto backends = std::make_shared<gw::Backends>();
  std::vector<const google::protobuf::ServiceDescriptor*> services;
  auto route = [&](const google::protobuf::ServiceDescriptor* service, const std::string& addr) {
    if (addr.empty()) return;
    backends->Add(service->full_name(), grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
    services.push_back(service);
  };
  // Each service's descriptor through one of its messages, which also links
  // its generated code into this binary.
  route(perfflow::event::v1::GetEventRequest::descriptor()->file()->FindServiceByName("EventService"), o.event_addr);
  route(perfflow::evidence::v1::GetEvidenceRequest::descriptor()->file()->FindServiceByName("EvidenceService"),
        o.evidence_addr);
  route(perfflow::feedback::v1::SubmitReviewRequest::descriptor()->file()->FindServiceByName("FeedbackService"),
        o.feedback_addr);
  route(perfflow::calibration::v1::GetSessionRequest::descriptor()->file()->FindServiceByName("CalibrationService"),
        o.calibration_addr);
  backends->Add(gw::v1::GatewayAdminService::service_full_name(),
                admin_server->InProcessChannel(grpc::ChannelArguments()), /*check_health=*/false);
  services.push_back(gw::v1::ApiKey::descriptor()->file()->FindServiceByName("GatewayAdminService"));
  auto router = gw::Router::Build(services);
  if (!router.ok()) perfflow::Fatal("bad http annotations", router.status());

  auto door = std::make_shared<gw::Door>(*std::move(jwt), *keys, config.rate_limit(), clock);
  auto registry = std::make_shared<prometheus::Registry>();
  gw::HttpMetrics metrics(*registry);
  gw::HttpOptions http;
  http.host = o.server.host;
  http.port = o.http_port;
  http.max_body_bytes = static_cast<size_t>(std::max(1, o.max_body_bytes));
  http.threads = std::max(2, o.http_threads);
  http.read_timeout = http.write_timeout = absl::Seconds(std::max(1, o.read_timeout_seconds));
  http.call_timeout = absl::Seconds(std::max(1, o.call_timeout_seconds));
  gw::HttpGateway gateway(http, std::make_shared<gw::Router>(*std::move(router)), backends, door,
                          std::make_shared<gw::WebhookSources>(*std::move(webhooks)), &metrics);

  gw::GrpcProxy proxy(backends, door, &metrics, http.call_timeout);
  perfflow::ServerRunner runner(perfflow::ToServerOptions(o.server), registry);
  runner.SetGenericService(&proxy);
  runner.SetReadinessProbe([database, backends] {
    if (absl::Status s = database->Ping(); !s.ok()) return s;
    return backends->CheckHealth(absl::Seconds(1));
  });
  if (absl::Status s = gateway.Start(); !s.ok()) perfflow::Fatal("cannot start the HTTP server", s);
  perfflow::LogInfo("http listening", {{"http_port", std::to_string(gateway.port())}});
  if (absl::Status s = runner.Start(); !s.ok()) perfflow::Fatal("cannot start the server", s);

  perfflow::PeriodicTask readiness(absl::Seconds(2), [&gateway, database, backends] {
    gateway.SetReady(database->Ping().ok() && backends->CheckHealth(absl::Seconds(1)).ok());
  });
  perfflow::ServeUntilSignal(runner, [&] {
    readiness.Stop();
    gateway.SetReady(false);
    absl::SleepFor(absl::Seconds(o.server.drain_seconds));
    gateway.Stop();
  });
  admin_server->Shutdown();
  return 0;
}
