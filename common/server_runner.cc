#include "common/server_runner.h"

#include <signal.h>

#include "common/log.h"
#include "common/request_context.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "prometheus/gauge.h"

namespace perfflow {

ServerRunner::ServerRunner(ServerOptions options, std::shared_ptr<prometheus::Registry> registry)
    : options_(std::move(options)), registry_(std::move(registry)) {}

ServerRunner::~ServerRunner() { Shutdown(); }

void ServerRunner::AddService(grpc::Service* service, std::string name) {
  services_.emplace_back(service, std::move(name));
}

void ServerRunner::SetReadinessProbe(std::function<absl::Status()> probe) { probe_ = std::move(probe); }

int ServerRunner::metrics_port() const { return metrics_ ? metrics_->port() : 0; }

absl::Status ServerRunner::Start() {
  auto metrics = MetricsServer::Start(options_.host, options_.metrics_port, registry_);
  if (!metrics.ok()) return metrics.status();
  metrics_ = *std::move(metrics);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.host + ":" + std::to_string(options_.grpc_port), grpc::InsecureServerCredentials(),
                           &grpc_port_);
  for (auto& [service, name] : services_) builder.RegisterService(service);
  if (generic_ != nullptr) builder.RegisterCallbackGenericService(generic_);
  if (options_.bounded_stream_windows) builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, kMaxGrpcMetadataBytes);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, options_.min_pollers);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, options_.max_pollers);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(
      std::make_unique<ObservabilityInterceptorFactory>(std::make_shared<GrpcServerMetrics>(*registry_)));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  database_up_ = &prometheus::BuildGauge()
                      .Name("perfflow_database_up")
                      .Help("1 while the readiness probe (the database) answers, else 0.")
                      .Register(*registry_)
                      .Add({});
  server_ = builder.BuildAndStart();
  if (!server_ || grpc_port_ == 0) {
    return absl::UnavailableError("cannot listen for gRPC on " + options_.host + ":" +
                                  std::to_string(options_.grpc_port));
  }
  SetServing(probe_ ? probe_().ok() : true);
  readiness_ = std::thread([this] { ReadinessLoop(); });
  LogInfo("listening", {{"grpc_port", std::to_string(grpc_port_)}, {"metrics_port", std::to_string(metrics_->port())}});
  return absl::OkStatus();
}

void ServerRunner::SetServing(bool serving) {
  if (database_up_ != nullptr) database_up_->Set(serving ? 1 : 0);
  auto* health = server_->GetHealthCheckService();
  health->SetServingStatus(serving);
  for (auto& [service, name] : services_) health->SetServingStatus(name, serving);
}

void ServerRunner::ReadinessLoop() {
  bool last = true;
  mu_.Lock();
  while (!stopping_) {
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.readiness_interval);
    if (stopping_ || !probe_) continue;
    mu_.Unlock();
    absl::Status s = probe_();
    mu_.Lock();
    if (stopping_) break;
    if (s.ok() != last) {
      if (s.ok()) {
        LogInfo("readiness: SERVING");
      } else {
        LogWarn("readiness: NOT_SERVING", {{"reason", std::string(s.message())}});
      }
      last = s.ok();
    }
    SetServing(s.ok());
  }
  mu_.Unlock();
}

void ServerRunner::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ || !server_) return;
    stopping_ = true;
  }
  if (readiness_.joinable()) readiness_.join();
  SetServing(false);
  LogInfo("draining", {{"seconds", std::to_string(absl::ToInt64Seconds(options_.drain))}});
  absl::SleepFor(options_.drain);  // let load balancers see NOT_SERVING
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(options_.shutdown_deadline));
  server_->Wait();
  LogInfo("stopped");
}

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void DisableMutexDeadlockDetection() { absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore); }

std::string WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  sigwait(&set, &sig);
  return sig == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace perfflow
