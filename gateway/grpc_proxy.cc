#include "gateway/grpc_proxy.h"

#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

#include "common/request_context.h"
#include "common/status.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace perfflow::gateway {
namespace {

namespace pb = google::protobuf;

std::string Metadata(const grpc::GenericCallbackServerContext& ctx, const char* name) {
  auto it = ctx.client_metadata().find(name);
  return it == ctx.client_metadata().end() ? "" : std::string(it->second.data(), it->second.size());
}

// One proxied call: the caller's stream on one side, the service's on the
// other, each message passed on when the other side is ready for it.
class ProxyCall : public grpc::ServerGenericBidiReactor {
 public:
  ProxyCall(grpc::GenericCallbackServerContext* ctx, Backends& backends, Door& door, absl::Duration max_deadline)
      : ctx_(ctx), upstream_(this) {
    const std::string& path = ctx->method();
    const std::string service = ServiceOf(path);
    const pb::MethodDescriptor* method =
        service.empty()
            ? nullptr
            : pb::DescriptorPool::generated_pool()->FindMethodByName(service + "." + path.substr(service.size() + 2));
    grpc::GenericStub* stub = backends.StubFor(path);
    if (method == nullptr || stub == nullptr) {
      Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "unknown method " + path));
      return;
    }
    if (absl::Status s = CheckMetadataSize(*ctx); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    auto principal = door.Authenticate(Metadata(*ctx, "authorization"), Metadata(*ctx, "x-api-key"));
    if (!principal.ok()) {
      Finish(ToGrpcStatus(principal.status()));
      return;
    }
    if (absl::Status s = door.Admit(principal->credential, "grpc"); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    if (absl::Status s = Door::Authorize(*principal, *method); !s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    principal_ = *principal;
    if (!principal_.allowed_sources.empty()) input_type_ = method->input_type();
    absl::Time deadline = absl::Now() + max_deadline;
    absl::Time asked = absl::FromChrono(ctx->deadline());
    if (asked < deadline) deadline = asked;
    client_ctx_ = Door::Forward(principal_, TraceIdFrom(Metadata(*ctx, "traceparent")),
                                RequestIdFrom(Metadata(*ctx, "x-request-id")), deadline);
    stub->PrepareBidiStreamingCall(client_ctx_.get(), path, {}, &upstream_);
    // The hold keeps the service-side call alive (no OnDone) while the
    // caller's side may still start operations on it; released once neither
    // side will (Stop).
    upstream_.AddHold();
    upstream_.StartRead(&from_service_);
    upstream_.StartCall();
    StartRead(&from_caller_);
  }

  // Caller -> service.
  void OnReadDone(bool ok) override {
    if (!ok) {
      // A read ends the same way when the caller half-closes and when it
      // cancels or its deadline passes. Only the first is passed on as a
      // half-close: a cancelled upload must not reach the service complete.
      if (ctx_->IsCancelled()) {
        client_ctx_->TryCancel();
      } else {
        upstream_.StartWritesDone();
      }
      return StopReadingCaller();
    }
    if (input_type_ != nullptr) {
      std::unique_ptr<pb::Message> request = NewMessage(input_type_);
      absl::Status s = Parse(from_caller_, request.get()) ? Door::CheckSources(principal_, *request)
                                                          : absl::InvalidArgumentError("unparsable request");
      if (!s.ok()) {
        {
          absl::MutexLock lock(&mu_);
          override_ = ToGrpcStatus(s);
        }
        client_ctx_->TryCancel();
        return StopReadingCaller();
      }
    }
    upstream_.StartWrite(&from_caller_);
  }

  // Service -> caller.
  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The caller is gone: stop reading from the service.
      client_ctx_->TryCancel();
      return StopReadingService();
    }
    upstream_.StartRead(&from_service_);
  }

  void OnCancel() override {
    if (client_ctx_) client_ctx_->TryCancel();
  }

  void OnDone() override { delete this; }

 private:
  class Upstream : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    explicit Upstream(ProxyCall* call) : call_(call) {}
    void OnWriteDone(bool ok) override {
      if (ok) return call_->StartRead(&call_->from_caller_);
      // The service stopped taking messages: read no more from the caller.
      call_->StopReadingCaller();
    }
    void OnReadDone(bool ok) override {
      if (ok) return call_->StartWrite(&call_->from_service_);
      call_->StopReadingService();
    }
    void OnDone(const grpc::Status& status) override {
      std::optional<grpc::Status> override;
      {
        absl::MutexLock lock(&call_->mu_);
        override = call_->override_;
      }
      // After every service-side reaction: the caller's call may now end.
      call_->Finish(override ? *override : status);
    }

   private:
    ProxyCall* call_;
  };

  enum class Side { kCaller, kService };
  void StopReadingCaller() { Stop(Side::kCaller); }
  void StopReadingService() { Stop(Side::kService); }
  // Releases the hold once neither side will start another operation on the
  // service-side call (outside the lock: OnDone may follow at once).
  void Stop(Side side) {
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (side == Side::kCaller) {
        caller_reads_over_ = true;
      } else {
        service_reads_over_ = true;
      }
      release = caller_reads_over_ && service_reads_over_ && !released_;
      released_ = released_ || release;
    }
    if (release) upstream_.RemoveHold();
  }

  grpc::GenericCallbackServerContext* ctx_;
  Upstream upstream_;
  Principal principal_;
  const pb::Descriptor* input_type_ = nullptr;
  std::unique_ptr<grpc::ClientContext> client_ctx_;
  grpc::ByteBuffer from_caller_;
  grpc::ByteBuffer from_service_;
  absl::Mutex mu_;
  bool caller_reads_over_ ABSL_GUARDED_BY(mu_) = false;
  bool service_reads_over_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  // A refusal of the proxy's own (CheckSources) that replaces the service's status.
  std::optional<grpc::Status> override_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerGenericBidiReactor* GrpcProxy::CreateReactor(grpc::GenericCallbackServerContext* ctx) {
  return new ProxyCall(ctx, *backends_, *door_, max_deadline_);
}

}  // namespace perfflow::gateway
