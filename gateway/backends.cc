#include "gateway/backends.h"

#include <future>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/dynamic_message.h"

namespace perfflow::gateway {

std::string ServiceOf(const std::string& method) {
  size_t slash = method.rfind('/');
  if (method.empty() || method[0] != '/' || slash == 0 || slash == std::string::npos) return "";
  return method.substr(1, slash - 1);
}

grpc::Status CallUnary(grpc::GenericStub& stub, grpc::ClientContext* ctx, const std::string& method,
                       const grpc::ByteBuffer& request, grpc::ByteBuffer* response) {
  std::promise<grpc::Status> done;
  stub.UnaryCall(ctx, method, {}, &request, response, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  return done.get_future().get();
}

std::unique_ptr<google::protobuf::Message> NewMessage(const google::protobuf::Descriptor* type) {
  return std::unique_ptr<google::protobuf::Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

grpc::ByteBuffer Serialize(const google::protobuf::MessageLite& message) {
  std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

bool Parse(const grpc::ByteBuffer& buffer, google::protobuf::MessageLite* message) {
  grpc::Slice slice;
  if (!buffer.TrySingleSlice(&slice).ok() && !buffer.DumpToSingleSlice(&slice).ok()) return false;
  return message->ParseFromArray(slice.begin(), static_cast<int>(slice.size()));
}

StreamCall::StreamCall(std::unique_ptr<grpc::ClientContext> ctx, std::vector<grpc::ByteBuffer> requests)
    : ctx_(std::move(ctx)), requests_(std::move(requests)) {}

StreamCall::~StreamCall() {
  ctx_->TryCancel();
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
}

void StreamCall::Start(grpc::GenericStub* stub, const std::string& method) {
  stub->PrepareBidiStreamingCall(ctx_.get(), method, {}, this);
  OnWriteDone(true);  // writes the first message (or only half-closes)
  StartRead(&incoming_);
  StartCall();
}

void StreamCall::OnWriteDone(bool ok) {
  // One write at a time: the next message once the previous one is out.
  if (!ok) return;
  if (written_ + 1 < requests_.size()) {
    StartWrite(&requests_[written_++]);
  } else if (written_ + 1 == requests_.size()) {
    StartWriteLast(&requests_[written_++], grpc::WriteOptions());
  } else if (requests_.empty() && written_ == 0) {
    ++written_;
    StartWritesDone();
  }
}

void StreamCall::OnReadDone(bool ok) {
  absl::MutexLock lock(&mu_);
  if (ok) {
    has_message_ = true;
  } else {
    reads_done_ = true;
  }
}

void StreamCall::OnDone(const grpc::Status& status) {
  absl::MutexLock lock(&mu_);
  status_ = status;
  done_ = true;
  reads_done_ = true;
}

bool StreamCall::Next(grpc::ByteBuffer* out) {
  bool read_more;
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(this, &StreamCall::Readable));
    if (!has_message_) return false;
    *out = std::move(incoming_);
    incoming_.Clear();
    has_message_ = false;
    read_more = !done_;
  }
  // Outside the lock: a reaction may run on this thread.
  if (read_more) StartRead(&incoming_);
  return true;
}

grpc::Status StreamCall::Finish() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&done_));
  return status_;
}

void Backends::Add(const std::string& service, std::shared_ptr<grpc::Channel> channel, bool check_health) {
  auto stub = std::make_unique<grpc::GenericStub>(channel);
  stubs_[service] = Backend{std::move(channel), std::move(stub), check_health};
}

grpc::GenericStub* Backends::StubFor(const std::string& method) {
  auto it = stubs_.find(ServiceOf(method));
  return it == stubs_.end() ? nullptr : it->second.stub.get();
}

grpc::Status Backends::Unary(const std::string& method, grpc::ClientContext* ctx, const grpc::ByteBuffer& request,
                             grpc::ByteBuffer* response) {
  grpc::GenericStub* stub = StubFor(method);
  if (stub == nullptr) return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "no backend serves " + method);
  return CallUnary(*stub, ctx, method, request, response);
}

std::unique_ptr<StreamCall> Backends::Stream(const std::string& method, std::unique_ptr<grpc::ClientContext> ctx,
                                             std::vector<grpc::ByteBuffer> requests) {
  grpc::GenericStub* stub = StubFor(method);
  if (stub == nullptr) return nullptr;
  auto call = std::make_unique<StreamCall>(std::move(ctx), std::move(requests));
  call->Start(stub, method);
  return call;
}

absl::Status Backends::CheckHealth(absl::Duration timeout) {
  for (auto& [service, backend] : stubs_) {
    if (!backend.check_health) continue;
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    grpc::Slice empty("");  // HealthCheckRequest{service: ""} is empty
    grpc::ByteBuffer request(&empty, 1), response;
    grpc::Status s = CallUnary(*backend.stub, &ctx, "/grpc.health.v1.Health/Check", request, &response);
    if (!s.ok()) return absl::UnavailableError(absl::StrCat(service, ": ", s.error_message()));
    grpc::Slice slice;
    // HealthCheckResponse{status: SERVING} is field 1, varint 1: bytes 08 01.
    if (!response.DumpToSingleSlice(&slice).ok() || slice.size() != 2 || slice.begin()[0] != 0x08 ||
        slice.begin()[1] != 0x01) {
      return absl::UnavailableError(service + " is not serving");
    }
  }
  return absl::OkStatus();
}

}  // namespace perfflow::gateway
