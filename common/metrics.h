#pragma once

// Prometheus exposition and the standard gRPC server metrics under the
// go-grpc-prometheus names, so existing dashboards work:
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method}
// The same interceptor writes one JSON log line per RPC with its trace id.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace perfflow {

// Serves /metrics for `registry` on `port` (0 = pick a free port).
class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& host, int port,
                                                              std::shared_ptr<prometheus::Registry> registry);
  int port() const { return port_; }

 private:
  MetricsServer(std::unique_ptr<prometheus::Exposer> exposer, int port) : exposer_(std::move(exposer)), port_(port) {}
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
};

struct GrpcServerMetrics {
  explicit GrpcServerMetrics(prometheus::Registry& registry);
  prometheus::Family<prometheus::Counter>& started;
  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Histogram>& handling_seconds;
};

class ObservabilityInterceptorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ObservabilityInterceptorFactory(std::shared_ptr<GrpcServerMetrics> metrics) : metrics_(std::move(metrics)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override;

 private:
  std::shared_ptr<GrpcServerMetrics> metrics_;
};

}  // namespace perfflow
