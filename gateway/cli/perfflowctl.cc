// perfflowctl: the command line for perfflow. Task commands (apply with a
// diff, import-employees from CSV, ingest, tasks, health, heatmap, brief; see
// gateway/cli/commands.h) print tables or, with --output=json, JSON; any RPC
// can also be called with JSON, like grpcurl for this suite:
//
//   perfflowctl [flags] list
//   perfflowctl [flags] <Method | package.Service/Method> [JSON | @file | -]
//
// Requests and responses use the protobuf JSON mapping. Server-streaming
// methods print one JSON object per line. Exit codes: see ExitCode.

#include <iostream>
#include <sstream>

#include "common/files.h"
#include "common/flags.h"
#include "gateway/backends.h"
#include "gateway/cli/commands.h"
#include "gateway/cli/ctl_client.h"
#include "gateway/cli/dev_mode.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"
#include "perfflow/gateway/v1/gateway_service.pb.h"

namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// The services this CLI knows: every service of these proto files. Naming a
// message of each file also keeps its generated code linked in.
std::vector<const google::protobuf::ServiceDescriptor*> Services() {
  std::vector<const google::protobuf::ServiceDescriptor*> out;
  for (const auto* file :
       {perfflow::event::v1::Event::descriptor()->file(), perfflow::evidence::v1::Evidence::descriptor()->file(),
        perfflow::feedback::v1::Review::descriptor()->file(), perfflow::calibration::v1::Session::descriptor()->file(),
        perfflow::gateway::v1::ApiKey::descriptor()->file()}) {
    for (int i = 0; i < file->service_count(); ++i) out.push_back(file->service(i));
  }
  return out;
}

const MethodDescriptor* FindMethod(const std::string& name) {
  std::string service_name, method_name = name;
  if (size_t slash = name.rfind('/'); slash != std::string::npos) {
    service_name = name.substr(0, slash);
    method_name = name.substr(slash + 1);
  }
  for (const auto* service : Services()) {
    if (!service_name.empty() && service_name != service->full_name()) continue;
    if (const auto* m = service->FindMethodByName(method_name)) return m;
  }
  return nullptr;
}

std::string ReadAll(std::istream& in) {
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int List(bool json) {
  if (json) std::cout << "[";
  bool first = true;
  for (const auto* service : Services()) {
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* m = service->method(i);
      if (json) {
        std::cout << (first ? "" : ",") << "{\"method\":\"" << service->full_name() << "/" << m->name()
                  << "\",\"input\":\"" << m->input_type()->full_name() << "\",\"output\":\""
                  << m->output_type()->full_name()
                  << "\",\"clientStreaming\":" << (m->client_streaming() ? "true" : "false")
                  << ",\"serverStreaming\":" << (m->server_streaming() ? "true" : "false") << "}";
        first = false;
      } else {
        std::cout << service->full_name() << "/" << m->name() << "  (" << (m->client_streaming() ? "stream " : "")
                  << m->input_type()->name() << ") -> " << (m->server_streaming() ? "stream " : "")
                  << m->output_type()->name() << "\n";
      }
    }
  }
  if (json) std::cout << "]\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  namespace cli = perfflow::cli;
  cli::Options o;
  cli::CommandFlags cf;
  cli::DevOptions dev;
  perfflow::FlagSet flags(
      "perfflowctl",
      "The perfflow command line.\n"
      "  perfflowctl apply [--dry_run] <dir | file.yaml>...   validate, show what changes, apply\n"
      "  perfflowctl import-employees <file.csv>              header: id,display_name,department_id,manager_id,\n"
      "                                                       grade,role,contact:<channel>...\n"
      "  perfflowctl import-history <file.csv | file.jsonl>    past closed chains with their step times\n"
      "  perfflowctl ingest <event_type> <subject> [key=value...]\n"
      "  perfflowctl tasks [assignee]                          an inbox (default: --principal)\n"
      "  perfflowctl health [day|week|month]                   flow health tables\n"
      "  perfflowctl heatmap                                   department x event type (calibration service)\n"
      "  perfflowctl [--open] brief <session> [out.html]       generate and render a brief\n"
      "  perfflowctl what-if <settings.yaml> [days]            replay the last days' chains under other settings\n"
      "  perfflowctl export-person <person_id> [out.zip]       everything held about a person (gateway port)\n"
      "  perfflowctl [--yes] erase-person <person_id>          pseudonymise a person everywhere (admins; gateway)\n"
      "  perfflowctl list                                      every RPC\n"
      "  perfflowctl dev                                       the whole suite in this process (SQLite, demo)\n"
      "  perfflowctl <Method | package.Service/Method> [JSON | @file | -]\n"
      "Flags go before the command. --addr is the service's gRPC address, or the gateway's gRPC port (which\n"
      "routes every service) with --api_key or --token. Exit codes: 0 done, 1 refused or failed, 2 bad usage or\n"
      "input, 3 done in part (rows rejected), 4 unreachable.");
  flags.AddString("addr", &o.addr, "gRPC address of the service (or the gateway)");
  flags.AddString("tenant", &o.tenant, "tenant sent as x-perfflow-tenant");
  flags.AddString("principal", &o.principal, "principal sent as x-perfflow-principal");
  flags.AddString("roles", &o.roles, "comma-separated roles sent as x-perfflow-roles (e.g. hr)");
  flags.AddString(
      "api_key", &o.api_key,
      "API key for the gateway's gRPC port (x-api-key; better from PERFFLOW_API_KEY than the command line)");
  flags.AddString("token", &o.token, "bearer token for the gateway's gRPC port (better from PERFFLOW_TOKEN)");
  flags.AddInt("timeout_seconds", &o.timeout_seconds, "deadline of each call");
  flags.AddString("output", &o.output, "table or json");
  flags.AddBool("dry_run", &cf.dry_run, "apply: show what would change, apply nothing");
  flags.AddInt("batch", &cf.batch, "import-employees: rows per UpsertDirectory call");
  flags.AddString("source", &cf.source, "ingest: the event's source (default: the event type's)");
  flags.AddString("external_id", &cf.external_id, "ingest: the idempotency key (default: a new random one)");
  flags.AddBool("open", &cf.open, "brief: open the written file with xdg-open");
  flags.AddBool("yes", &cf.yes, "erase-person: do not ask for the person's id again");
  flags.AddString("state_dir", &dev.state_dir, "dev: directory of the SQLite files and blobs");
  flags.AddString("listen", &dev.host, "dev: address every port listens on");
  flags.AddInt("services_port", &dev.services_port, "dev: gRPC port serving all four services");
  flags.AddInt("services_metrics_port", &dev.services_metrics_port, "dev: the services' /metrics port");
  flags.AddInt("gateway_http_port", &dev.gateway_http_port, "dev: the gateway's HTTP port (0 = pick)");
  flags.AddInt("gateway_grpc_port", &dev.gateway_grpc_port, "dev: the gateway's gRPC port (0 = pick)");
  flags.AddInt("gateway_metrics_port", &dev.gateway_metrics_port, "dev: the gateway's /metrics port (0 = pick)");
  flags.AddString("gateway_config", &dev.gateway_config, "dev: the gateway's YAML configuration");
  flags.AddString("catalogue_dir", &dev.catalogue_dir, "dev: the event-type catalogue of the demo tenant");
  flags.AddString("lexicon", &dev.lexicon, "dev: the feedback lexicon");
  flags.AddInt("demo_events", &dev.demo_events, "dev: demo events over the last 90 days");
  const std::vector<std::string> args = flags.ParseCommandOrExit(argc, argv);
  if (args.empty()) {
    std::cerr << flags.Usage();
    return cli::kUsage;
  }
  if (o.output != "table" && o.output != "json") {
    std::cerr << "error: --output must be table or json\n";
    return cli::kUsage;
  }
  const std::string& command = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "list") return List(o.json());
  if (command == "dev") return cli::RunDev(dev);
  cli::Client client(o);
  if (command == "apply") return cli::Apply(client, rest, cf);
  if (command == "import-employees") {
    if (rest.size() != 1) {
      std::cerr << "usage: perfflowctl import-employees <file.csv>\n";
      return cli::kUsage;
    }
    return cli::ImportEmployees(client, rest[0], cf);
  }
  if (command == "import-history") {
    if (rest.size() != 1) {
      std::cerr << "usage: perfflowctl import-history <file.csv | file.jsonl>\n";
      return cli::kUsage;
    }
    return cli::ImportHistory(client, rest[0], cf);
  }
  if (command == "ingest") return cli::Ingest(client, rest, cf);
  if (command == "tasks") return cli::Tasks(client, rest);
  if (command == "health") return cli::Health(client, rest);
  if (command == "heatmap") return cli::Heatmap(client);
  if (command == "brief") return cli::Brief(client, rest, cf);
  if (command == "what-if") return cli::WhatIf(client, rest);
  if (command == "export-person") return cli::ExportPerson(client, rest);
  if (command == "erase-person") return cli::ErasePerson(client, rest, cf);

  const MethodDescriptor* method = FindMethod(command);
  if (method == nullptr) {
    std::cerr << "error: unknown command or method '" << command << "' (perfflowctl --help, perfflowctl list)\n";
    return cli::kUsage;
  }
  std::string json = "{}";
  if (!rest.empty()) {
    const std::string& arg = rest[0];
    if (arg == "-") {
      json = ReadAll(std::cin);
    } else if (!arg.empty() && arg[0] == '@') {
      auto file = perfflow::ReadTextFile(arg.substr(1));
      if (!file.ok()) {
        std::cerr << "error: " << file.status().message() << "\n";
        return cli::kUsage;
      }
      json = *std::move(file);
    } else {
      json = arg;
    }
  }
  auto request = perfflow::gateway::NewMessage(method->input_type());
  google::protobuf::util::JsonParseOptions parse;
  if (auto s = google::protobuf::util::JsonStringToMessage(json, request.get(), parse); !s.ok()) {
    std::cerr << "error: request is not a valid " << method->input_type()->full_name() << ": " << s.ToString() << "\n";
    return cli::kUsage;
  }
  if (method->client_streaming()) {
    std::cerr << "error: client-streaming methods are not supported by perfflowctl\n";
    return cli::kUsage;
  }
  const std::string path = "/" + method->service()->full_name() + "/" + method->name();
  if (method->server_streaming()) {
    grpc::Status s = client.Stream(path, *request, method->output_type(),
                                   [](const Message& m) { std::cout << cli::ToJson(m, false) << "\n"; });
    return s.ok() ? cli::kOk : cli::ReportError(s);
  }
  auto response = perfflow::gateway::NewMessage(method->output_type());
  grpc::Status s = client.Call(path, *request, response.get());
  if (!s.ok()) return cli::ReportError(s);
  std::cout << cli::ToJson(*response, !o.json()) << "\n";
  return cli::kOk;
}
