// perfflow-gateway: the one door. HTTP/JSON for every annotated RPC, signed
// webhooks, the gRPC port for platform teams, API keys and bearer JWTs, rate
// limits, request ids and traceparent. Flags -> config -> build -> serve ->
// graceful stop. `perfflow-gateway [flags] create-api-key` bootstraps the
// first admin key straight into the gateway's database.

#include <iostream>

#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/request_context.h"
#include "common/service_main.h"
#include "gateway/auth.h"
#include "gateway/gateway_host.h"

namespace {

namespace gw = perfflow::gateway;

struct Options {
  perfflow::ServerFlags server{50050, 9463, "0.0.0.0", "sqlite:perfflow-gateway.db"};
  gw::GatewayHostOptions host;
  // create-api-key
  std::string tenant = "demo";
  std::string roles = "admin";
  std::string principal = "bootstrap-admin";
  std::string display_name = "bootstrap admin key";
  std::string sources;
};

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
  perfflow::DisableMutexDeadlockDetection();
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
  flags.AddInt("http_port", &o.host.http_port, "HTTP/JSON and webhook port (0 = pick a free port)");
  flags.AddString("config", &o.host.config,
                  "YAML file: jwt_issuers, webhook_sources, rate_limit (see gateway_config.proto)");
  flags.AddString("event_addr", &o.host.event_addr, "gRPC address of perfflow-event");
  flags.AddString("evidence_addr", &o.host.evidence_addr, "gRPC address of perfflow-evidence (empty = not routed)");
  flags.AddString("feedback_addr", &o.host.feedback_addr, "gRPC address of perfflow-feedback (empty = not routed)");
  flags.AddString("calibration_addr", &o.host.calibration_addr,
                  "gRPC address of perfflow-calibration (empty = not routed)");
  flags.AddInt("max_body_bytes", &o.host.max_body_bytes, "largest HTTP request body accepted (413 beyond)");
  flags.AddInt("max_upload_bytes", &o.host.max_upload_bytes,
               "largest file a person uploads on an action page (413 beyond)");
  flags.AddInt("http_threads", &o.host.http_threads, "HTTP worker threads (each serves one request at a time)");
  flags.AddInt("call_timeout_seconds", &o.host.call_timeout_seconds,
               "deadline of a unary call to a service (and the cap on gRPC callers' deadlines)");
  flags.AddInt("read_timeout_seconds", &o.host.read_timeout_seconds, "HTTP read and write timeout");
  flags.AddString("tenant", &o.tenant, "create-api-key: the key's tenant");
  flags.AddString("roles", &o.roles, "create-api-key: comma-separated roles");
  flags.AddString("principal", &o.principal, "create-api-key: the principal the key acts as");
  flags.AddString("display_name", &o.display_name, "create-api-key: a label");
  flags.AddString("sources", &o.sources, "create-api-key: event sources the key may ingest for (empty = any)");
  std::vector<std::string> command = flags.ParseCommandOrExit(argc, argv);
  perfflow::SetLogService("perfflow-gateway");

  if (!command.empty()) {
    if (command[0] != "create-api-key" || command.size() != 1) {
      std::cerr << "unknown command; see --help\n";
      return 2;
    }
    auto keys = gw::ApiKeyStore::Open(perfflow::OpenDatabaseOrDie(o.server.db));
    if (!keys.ok()) perfflow::Fatal("cannot prepare the schema", keys.status());
    return CreateApiKey(o, *keys);
  }
  o.host.db = o.server.db;
  o.host.dev_mode = o.server.dev_mode;
  o.host.host = o.server.host;
  o.host.drain_seconds = o.server.drain_seconds;
  auto registry = std::make_shared<prometheus::Registry>();
  auto host = gw::MakeGatewayHost(o.host, *registry);
  if (!host.ok()) perfflow::Fatal("cannot start", host.status());
  perfflow::ServeHostUntilSignal(**host, perfflow::ToServerOptions(o.server), registry);
  return 0;
}
