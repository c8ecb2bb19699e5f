#pragma once

// Calls to the services by method path, without generated stubs: unary
// calls and server streams of serialized messages over grpc::GenericStub.

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace perfflow::gateway {

// A streaming call: the request messages are written in order (then the
// half-close), and the replies are read one at a time: the next one is
// requested from the service only when the previous one was taken (flow
// control follows the HTTP client).
class StreamCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamCall(std::unique_ptr<grpc::ClientContext> ctx, std::vector<grpc::ByteBuffer> requests);
  // Waits for the call to end (cancelling it if still running).
  ~StreamCall() override;

  void Start(grpc::GenericStub* stub, const std::string& method);
  // The next message; false once the stream ended (see Finish).
  bool Next(grpc::ByteBuffer* out);
  // The final status, after Next returned false.
  grpc::Status Finish();
  void Cancel() { ctx_->TryCancel(); }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  bool Readable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return has_message_ || reads_done_; }

  std::unique_ptr<grpc::ClientContext> ctx_;
  std::vector<grpc::ByteBuffer> requests_;
  size_t written_ = 0;
  grpc::ByteBuffer incoming_;
  absl::Mutex mu_;
  bool has_message_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

class Backends {
 public:
  // `service` is the full name, e.g. "perfflow.event.v1.EventService".
  // `check_health`: whether readiness asks the backend's gRPC health service.
  void Add(const std::string& service, std::shared_ptr<grpc::Channel> channel, bool check_health = true);
  bool Has(const std::string& service) const { return stubs_.count(service) > 0; }

  // `method` is the gRPC path "/package.Service/Method".
  grpc::Status Unary(const std::string& method, grpc::ClientContext* ctx, const grpc::ByteBuffer& request,
                     grpc::ByteBuffer* response);
  // nullptr when no backend serves the method's service.
  std::unique_ptr<StreamCall> Stream(const std::string& method, std::unique_ptr<grpc::ClientContext> ctx,
                                     std::vector<grpc::ByteBuffer> requests);
  grpc::GenericStub* StubFor(const std::string& method);

  // OK when every backend answers its gRPC health check with SERVING.
  absl::Status CheckHealth(absl::Duration timeout);

 private:
  struct Backend {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<grpc::GenericStub> stub;
    bool check_health;
  };
  std::map<std::string, Backend> stubs_;
};

// One unary call by method path, blocking until it ends.
grpc::Status CallUnary(grpc::GenericStub& stub, grpc::ClientContext* ctx, const std::string& method,
                       const grpc::ByteBuffer& request, grpc::ByteBuffer* response);

// A new, empty message of a generated type.
std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* type);

// The service part of "/package.Service/Method".
std::string ServiceOf(const std::string& method);

grpc::ByteBuffer Serialize(const google::protobuf::MessageLite& message);
bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::MessageLite* message);

}  // namespace perfflow::gateway
