#include "gateway/cli/ctl_client.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "common/request_context.h"
#include "common/status.h"
#include "gateway/backends.h"
#include "gateway/transcode.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

namespace perfflow::cli {
namespace {

// Display width of UTF-8 text: wide (CJK and beyond U+1100) code points count two.
size_t DisplayWidth(const std::string& s) {
  size_t width = 0;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    uint32_t cp = c;
    size_t len = 1;
    if (c >= 0xF0) {
      len = 4, cp = c & 0x07;
    } else if (c >= 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xC0) {
      len = 2, cp = c & 0x1F;
    }
    for (size_t k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    width += cp >= 0x1100 ? 2 : 1;
    i += len;
  }
  return width;
}

}  // namespace

Client::Client(Options options)
    : options_(std::move(options)),
      stub_(
          std::make_unique<grpc::GenericStub>(grpc::CreateChannel(options_.addr, grpc::InsecureChannelCredentials()))) {
}

void Client::SetMetadata(grpc::ClientContext* ctx) const {
  if (!options_.api_key.empty()) ctx->AddMetadata("x-api-key", options_.api_key);
  if (!options_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + options_.token);
  ctx->AddMetadata(kTenantHeader, options_.tenant);
  if (!options_.principal.empty()) ctx->AddMetadata(kPrincipalHeader, options_.principal);
  if (!options_.roles.empty()) ctx->AddMetadata(kRolesHeader, options_.roles);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(options_.timeout_seconds));
}

grpc::Status Client::Call(const std::string& path, const google::protobuf::Message& request,
                          google::protobuf::Message* response) {
  grpc::ClientContext ctx;
  SetMetadata(&ctx);
  grpc::ByteBuffer resp;
  grpc::Status status = gateway::CallUnary(*stub_, &ctx, path, gateway::Serialize(request), &resp);
  if (status.ok() && !gateway::Parse(resp, response)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "cannot decode the response");
  }
  return status;
}

grpc::Status Client::Stream(const std::string& path, const google::protobuf::Message& request,
                            const google::protobuf::Descriptor* output,
                            const std::function<void(const google::protobuf::Message&)>& each) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  SetMetadata(ctx.get());
  std::vector<grpc::ByteBuffer> requests;
  requests.push_back(gateway::Serialize(request));
  gateway::StreamCall call(std::move(ctx), std::move(requests));
  call.Start(stub_.get(), path);
  grpc::ByteBuffer buffer;
  while (call.Next(&buffer)) {
    std::unique_ptr<google::protobuf::Message> message = gateway::NewMessage(output);
    if (!gateway::Parse(buffer, message.get())) {
      call.Cancel();
      return grpc::Status(grpc::StatusCode::INTERNAL, "cannot decode a streamed message");
    }
    each(*message);
  }
  return call.Finish();
}

std::string ToJson(const google::protobuf::Message& m, bool pretty) {
  absl::StatusOr<std::string> json = gateway::MessageToJson(m, pretty);
  return json.ok() ? *std::move(json) : absl::StrCat("{\"error\":\"", json.status().message(), "\"}");
}

int ReportError(const grpc::Status& status) {
  std::cerr << "error: " << GrpcCodeName(status.error_code()) << ": " << status.error_message() << "\n";
  google::rpc::Status rpc;
  if (!status.error_details().empty() && rpc.ParseFromString(status.error_details())) {
    for (const auto& any : rpc.details()) {
      google::rpc::BadRequest bad;
      if (any.UnpackTo(&bad)) {
        for (const auto& v : bad.field_violations()) std::cerr << "  " << v.field() << ": " << v.description() << "\n";
      }
    }
  }
  const bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  return unreachable ? kUnreachable : kFailed;
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  auto print = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      out << row[i];
      if (i + 1 < row.size()) out << std::string(widths[i] - DisplayWidth(row[i]) + 2, ' ');
    }
    out << "\n";
  };
  print(header);
  std::vector<std::string> rule;
  for (size_t w : widths) rule.push_back(std::string(w, '-'));
  print(rule);
  for (const auto& row : rows) print(row);
}

}  // namespace perfflow::cli
