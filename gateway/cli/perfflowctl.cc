// perfflowctl: call any perfflow RPC with JSON, like grpcurl for this suite.
//
//   perfflowctl [flags] list
//   perfflowctl [flags] <Method | package.Service/Method> [JSON | @file | -]
//   perfflowctl [flags] apply <dir-or-file.yaml>...
//
// Requests and responses use the protobuf JSON mapping. Server-streaming
// methods print one JSON object per line.

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <iostream>
#include <sstream>

#include "common/flags.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/dynamic_message.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "perfflow/calibration/v1/calibration_service.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "perfflow/feedback/v1/feedback_service.pb.h"
#include "services/event/demo_seed.h"

namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// The services this CLI knows: every service of these proto files. Naming a
// message of each file also keeps its generated code linked in.
std::vector<const google::protobuf::ServiceDescriptor*> Services() {
  std::vector<const google::protobuf::ServiceDescriptor*> out;
  for (const auto* file : {perfflow::event::v1::Event::descriptor()->file(),
                           perfflow::evidence::v1::Evidence::descriptor()->file(),
                           perfflow::feedback::v1::Review::descriptor()->file(),
                           perfflow::calibration::v1::Session::descriptor()->file()}) {
    for (int i = 0; i < file->service_count(); ++i) out.push_back(file->service(i));
  }
  return out;
}

struct Options {
  std::string addr = "127.0.0.1:50051";
  std::string tenant = "demo";
  std::string principal;
  std::string roles;
  // Through the gateway's gRPC port: the caller's credential.
  std::string api_key;
  std::string token;
  int timeout_seconds = 30;
};

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

std::unique_ptr<Message> NewMessage(const google::protobuf::Descriptor* d) {
  return std::unique_ptr<Message>(google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->New());
}

std::string ToJson(const Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

int PrintError(const grpc::Status& status) {
  std::cerr << "error: " << perfflow::GrpcCodeName(status.error_code()) << ": " << status.error_message() << "\n";
  google::rpc::Status rpc;
  if (!status.error_details().empty() && rpc.ParseFromString(status.error_details())) {
    for (const auto& any : rpc.details()) {
      google::rpc::BadRequest bad;
      if (any.UnpackTo(&bad)) {
        for (const auto& v : bad.field_violations()) std::cerr << "  " << v.field() << ": " << v.description() << "\n";
      }
    }
  }
  return 1;
}

void SetMetadata(grpc::ClientContext& ctx, const Options& o) {
  if (!o.api_key.empty()) ctx.AddMetadata("x-api-key", o.api_key);
  if (!o.token.empty()) ctx.AddMetadata("authorization", "Bearer " + o.token);
  ctx.AddMetadata("x-perfflow-tenant", o.tenant);
  if (!o.principal.empty()) ctx.AddMetadata("x-perfflow-principal", o.principal);
  if (!o.roles.empty()) ctx.AddMetadata("x-perfflow-roles", o.roles);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(o.timeout_seconds));
}

bool Serialize(const Message& m, grpc::ByteBuffer* out) {
  grpc::Slice slice(m.SerializeAsString());
  *out = grpc::ByteBuffer(&slice, 1);
  return true;
}

bool Deserialize(grpc::ByteBuffer* buf, Message* m) {
  std::vector<grpc::Slice> slices;
  if (!buf->Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return m->ParseFromString(bytes);
}

int CallUnary(grpc::GenericStub& stub, const Options& o, const std::string& path, const Message& request,
              Message* response) {
  grpc::ClientContext ctx;
  SetMetadata(ctx, o);
  grpc::ByteBuffer req_buf, resp_buf;
  if (!Serialize(request, &req_buf)) return 1;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status status;
  stub.UnaryCall(&ctx, path, grpc::StubOptions(), &req_buf, &resp_buf, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = std::move(s);
    done = true;
    cv.notify_one();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done; });
  if (!status.ok()) return PrintError(status);
  if (!Deserialize(&resp_buf, response)) {
    std::cerr << "error: cannot decode the response\n";
    return 1;
  }
  std::cout << ToJson(*response, true) << "\n";
  return 0;
}

int CallServerStream(grpc::GenericStub& stub, const Options& o, const std::string& path, const Message& request,
                     const google::protobuf::Descriptor* output) {
  grpc::ClientContext ctx;
  SetMetadata(ctx, o);
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, path, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](void* want) { return cq.Next(&tag, &ok) && tag == want && ok; };
  call->StartCall(reinterpret_cast<void*>(1));
  bool started = step(reinterpret_cast<void*>(1));
  grpc::ByteBuffer req_buf;
  if (started && Serialize(request, &req_buf)) {
    call->Write(req_buf, reinterpret_cast<void*>(2));
    if (step(reinterpret_cast<void*>(2))) {
      call->WritesDone(reinterpret_cast<void*>(3));
      if (step(reinterpret_cast<void*>(3))) {
        while (true) {
          grpc::ByteBuffer buf;
          call->Read(&buf, reinterpret_cast<void*>(4));
          if (!step(reinterpret_cast<void*>(4))) break;
          auto msg = NewMessage(output);
          if (Deserialize(&buf, msg.get())) {
            std::cout << ToJson(*msg, false) << "\n";
          }
        }
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(5)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status.ok() ? 0 : PrintError(status);
}

std::string ReadAll(std::istream& in) {
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int List() {
  for (const auto* service : Services()) {
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* m = service->method(i);
      std::cout << service->full_name() << "/" << m->name() << "  (" << m->input_type()->name() << ") -> "
                << (m->server_streaming() ? "stream " : "") << m->output_type()->name() << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  perfflow::FlagSet flags("perfflowctl",
                          "Calls perfflow RPCs with JSON.\n"
                          "  perfflowctl list\n"
                          "  perfflowctl <Method | package.Service/Method> [JSON | @file | -]\n"
                          "  perfflowctl apply <dir-or-yaml>...   (ApplyEventTypes from YAML files)\n"
                          "Flags go before the command.");
  flags.AddString("addr", &o.addr, "gRPC address of the service (or the gateway)");
  flags.AddString("tenant", &o.tenant, "tenant sent as x-perfflow-tenant");
  flags.AddString("principal", &o.principal, "principal sent as x-perfflow-principal");
  flags.AddString("roles", &o.roles, "comma-separated roles sent as x-perfflow-roles (e.g. hr)");
  flags.AddString("api_key", &o.api_key,
                  "API key for the gateway's gRPC port (x-api-key; better from PERFFLOW_API_KEY than the command line)");
  flags.AddString("token", &o.token, "bearer token for the gateway's gRPC port (better from PERFFLOW_TOKEN)");
  flags.AddInt("timeout_seconds", &o.timeout_seconds, "deadline of each call");
  const std::vector<std::string> args = flags.ParseCommandOrExit(argc, argv);
  if (args.empty()) {
    std::cerr << flags.Usage();
    return 2;
  }
  const std::string& command = args[0];
  if (command == "list") return List();

  auto channel = grpc::CreateChannel(o.addr, grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);

  if (command == "apply") {
    perfflow::event::v1::ApplyEventTypesRequest req;
    for (size_t i = 1; i < args.size(); ++i) {
      const std::string& path = args[i];
      std::ifstream file(path);
      if (file && path.size() > 5 && (path.rfind(".yaml") == path.size() - 5 || path.rfind(".yml") == path.size() - 4)) {
        auto* f = req.add_files();
        f->set_name(path);
        f->set_content(ReadAll(file));
        continue;
      }
      auto files = perfflow::event::ReadCatalogue(path);
      if (!files.ok()) {
        std::cerr << "error: " << files.status().message() << "\n";
        return 2;
      }
      for (auto& f : *files) *req.add_files() = f;
    }
    if (req.files().empty()) {
      std::cerr << "error: apply needs YAML files or directories\n";
      return 2;
    }
    perfflow::event::v1::ApplyEventTypesResponse resp;
    return CallUnary(stub, o, "/perfflow.event.v1.EventService/ApplyEventTypes", req, &resp);
  }

  const MethodDescriptor* method = FindMethod(command);
  if (method == nullptr) {
    std::cerr << "error: unknown method '" << command << "' (perfflowctl list shows them)\n";
    return 2;
  }
  std::string json = "{}";
  if (args.size() > 1) {
    const std::string& arg = args[1];
    if (arg == "-") {
      json = ReadAll(std::cin);
    } else if (!arg.empty() && arg[0] == '@') {
      std::ifstream file(arg.substr(1));
      if (!file) {
        std::cerr << "error: cannot read " << arg.substr(1) << "\n";
        return 2;
      }
      json = ReadAll(file);
    } else {
      json = arg;
    }
  }
  auto request = NewMessage(method->input_type());
  google::protobuf::util::JsonParseOptions parse;
  if (auto s = google::protobuf::util::JsonStringToMessage(json, request.get(), parse); !s.ok()) {
    std::cerr << "error: request is not a valid " << method->input_type()->full_name() << ": " << s.ToString() << "\n";
    return 2;
  }
  const std::string path = "/" + method->service()->full_name() + "/" + method->name();
  if (method->client_streaming()) {
    std::cerr << "error: client-streaming methods are not supported by perfflowctl\n";
    return 2;
  }
  if (method->server_streaming()) return CallServerStream(stub, o, path, *request, method->output_type());
  auto response = NewMessage(method->output_type());
  return CallUnary(stub, o, path, *request, response.get());
}
