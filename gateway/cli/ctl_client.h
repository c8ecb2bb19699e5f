#pragma once

// What every perfflowctl command shares: the connection and the caller's
// identity, generic calls by method path, JSON and table output, and the
// exit codes.

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "google/protobuf/message.h"
#include "grpcpp/generic/generic_stub.h"

namespace perfflow::cli {

// Exit codes: 0 done; 1 the service refused or failed; 2 bad usage or input
// files; 3 done in part (some rows rejected); 4 the service is unreachable.
enum ExitCode { kOk = 0, kFailed = 1, kUsage = 2, kPartial = 3, kUnreachable = 4 };

struct Options {
  std::string addr = "127.0.0.1:50051";
  std::string tenant = "demo";
  std::string principal;
  std::string roles;
  // Through the gateway's gRPC port: the caller's credential.
  std::string api_key;
  std::string token;
  int timeout_seconds = 30;
  // "table" (people) or "json" (scripts).
  std::string output = "table";
  bool json() const { return output == "json"; }
};

class Client {
 public:
  explicit Client(Options options);

  // `path` is "/package.Service/Method".
  grpc::Status Call(const std::string& path, const google::protobuf::Message& request,
                    google::protobuf::Message* response);
  // Calls `each` with every message of a server stream.
  grpc::Status Stream(const std::string& path, const google::protobuf::Message& request,
                      const google::protobuf::Descriptor* output,
                      const std::function<void(const google::protobuf::Message&)>& each);

  const Options& options() const { return options_; }

 private:
  void SetMetadata(grpc::ClientContext* ctx) const;

  Options options_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

// The gateway's JSON (gateway::MessageToJson): the protobuf JSON mapping.
std::string ToJson(const google::protobuf::Message& m, bool pretty);

// Prints the status and its field violations to stderr; returns the exit code.
int ReportError(const grpc::Status& status);

// A table with columns sized to their widest cell (CJK counted double).
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace perfflow::cli
