#include "common/metrics.h"

#include <chrono>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"
#include "common/log.h"
#include "common/request_context.h"
#include "common/status.h"
#include "grpcpp/server_context.h"

namespace perfflow {
namespace {

const prometheus::Histogram::BucketBoundaries& HandlingBuckets() {
  // go-grpc-prometheus defaults (Prometheus DefBuckets).
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                                   0.5,   1,    2.5,   5,    10};
  return kBuckets;
}

std::string GrpcType(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
    default:
      return "unary";
  }
}

class ObservabilityInterceptor : public grpc::experimental::Interceptor {
 public:
  ObservabilityInterceptor(grpc::experimental::ServerRpcInfo* info, std::shared_ptr<GrpcServerMetrics> metrics)
      : metrics_(std::move(metrics)), start_(std::chrono::steady_clock::now()) {
    absl::string_view full = info->method() ? info->method() : "";
    // "/package.Service/Method"
    if (!full.empty() && full[0] == '/') full.remove_prefix(1);
    size_t slash = full.find('/');
    service_ = std::string(full.substr(0, slash));
    method_ = slash == absl::string_view::npos ? "" : std::string(full.substr(slash + 1));
    type_ = GrpcType(info->type());
    // The caller's deadline as it arrived (logged, so propagation is visible).
    if (grpc::ServerContextBase* ctx = info->server_context()) {
      if (ctx->deadline() != std::chrono::system_clock::time_point::max()) {
        deadline_ms_ =
            std::chrono::duration_cast<std::chrono::milliseconds>(ctx->deadline() - std::chrono::system_clock::now())
                .count();
      }
    }
    metrics_->started.Add({{"grpc_type", type_}, {"grpc_service", service_}, {"grpc_method", method_}}).Increment();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      if (auto* md = methods->GetRecvInitialMetadata()) {
        auto it = md->find("traceparent");
        if (it != md->end()) {
          trace_id_ = TraceIdFromTraceparent(absl::string_view(it->second.data(), it->second.size()));
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      received_message_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      grpc::Status status = methods->GetSendStatus();
      // gRPC answers a request it cannot parse (malformed protobuf, invalid
      // UTF-8 in a string field) with a bare INTERNAL before any handler runs;
      // to the caller that is bad input.
      if (status.error_code() == grpc::StatusCode::INTERNAL && status.error_message().empty() && !received_message_) {
        status =
            grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                         "the request could not be parsed (malformed protobuf or invalid UTF-8 in a string field)");
        methods->ModifySendStatus(status);
      }
      Finish(status);
    }
    methods->Proceed();
  }

  ~ObservabilityInterceptor() override {
    if (!finished_) Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

 private:
  void Finish(const grpc::Status& status) {
    finished_ = true;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::string code(GrpcCodeName(status.error_code()));
    metrics_->handled
        .Add({{"grpc_type", type_}, {"grpc_service", service_}, {"grpc_method", method_}, {"grpc_code", code}})
        .Increment();
    metrics_->handling_seconds
        .Add({{"grpc_type", type_}, {"grpc_service", service_}, {"grpc_method", method_}}, HandlingBuckets())
        .Observe(seconds);
    if (service_ == "grpc.health.v1.Health" || service_.rfind("grpc.reflection", 0) == 0) return;
    LogFields fields = {{"grpc_service", service_},
                        {"grpc_method", method_},
                        {"grpc_code", code},
                        {"duration_ms", std::to_string(static_cast<int64_t>(seconds * 1000))}};
    if (!trace_id_.empty()) fields.push_back({"trace_id", trace_id_});
    if (deadline_ms_) fields.push_back({"deadline_ms", std::to_string(*deadline_ms_)});
    if (status.ok()) {
      LogInfo("rpc", fields);
    } else {
      fields.push_back({"error", status.error_message()});
      LogWarn("rpc", fields);
    }
  }

  std::shared_ptr<GrpcServerMetrics> metrics_;
  std::chrono::steady_clock::time_point start_;
  std::string service_, method_, type_, trace_id_;
  std::optional<int64_t> deadline_ms_;
  bool received_message_ = false;
  bool finished_ = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& host, int port,
                                                                    std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(host + ":" + std::to_string(port));
  } catch (const std::exception& e) {
    return absl::UnavailableError("cannot listen for /metrics on " + host + ":" + std::to_string(port) + ": " +
                                  e.what());
  }
  exposer->RegisterCollectable(registry);
  std::vector<int> ports = exposer->GetListeningPorts();
  int bound = ports.empty() ? port : ports.front();
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(exposer), bound));
}

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry)
    : started(prometheus::BuildCounter()
                  .Name("grpc_server_started_total")
                  .Help("Total number of RPCs started on the server.")
                  .Register(registry)),
      handled(prometheus::BuildCounter()
                  .Name("grpc_server_handled_total")
                  .Help("Total number of RPCs completed on the server, regardless of success or failure.")
                  .Register(registry)),
      handling_seconds(prometheus::BuildHistogram()
                           .Name("grpc_server_handling_seconds")
                           .Help("Histogram of response latency (seconds) of gRPC that had been application-level "
                                 "handled by the server.")
                           .Register(registry)) {}

grpc::experimental::Interceptor* ObservabilityInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new ObservabilityInterceptor(info, metrics_);
}

}  // namespace perfflow
