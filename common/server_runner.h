#pragma once

// Hosts gRPC services with the parts every perfflow server has: health
// (readiness follows a probe, normally the database), reflection, metrics on
// a separate port, JSON logs, and a graceful stop on SIGTERM/SIGINT:
// NOT_SERVING -> drain period -> shutdown with a deadline.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/metrics.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "prometheus/gauge.h"

namespace perfflow {

struct ServerOptions {
  std::string host = "0.0.0.0";
  int grpc_port = 0;     // 0 = pick a free port
  int metrics_port = 0;  // 0 = pick a free port
  absl::Duration readiness_interval = absl::Seconds(2);
  absl::Duration drain = absl::Seconds(5);
  absl::Duration shutdown_deadline = absl::Seconds(10);
  // Bounds per-stream buffering for services that take large client streams
  // (HTTP/2 BDP probing would otherwise grow windows to several MiB).
  bool bounded_stream_windows = false;
  // Threads of the synchronous server that wait for calls. gRPC's default
  // keeps at most 2: a thread that finishes a call while 2 others wait
  // exits, and the next call starts a new one (clone, stack mmap/munmap) —
  // with 16 calls in flight, about one thread per call. Idle waiting threads
  // cost nothing but their stacks.
  int min_pollers = 2;
  int max_pollers = 32;
};

class ServerRunner {
 public:
  ServerRunner(ServerOptions options, std::shared_ptr<prometheus::Registry> registry);
  ~ServerRunner();

  // `name` is the full service name for health, e.g. "perfflow.event.v1.EventService".
  void AddService(grpc::Service* service, std::string name);
  // Serves every method no registered service has (the gateway's proxy).
  void SetGenericService(grpc::CallbackGenericService* service) { generic_ = service; }
  // Readiness: SERVING while the probe returns OK.
  void SetReadinessProbe(std::function<absl::Status()> probe);

  // Binds both ports and starts serving; logs the bound ports.
  absl::Status Start();
  int grpc_port() const { return grpc_port_; }
  int metrics_port() const;

  // Marks NOT_SERVING, waits the drain period, stops the server.
  void Shutdown();

 private:
  void ReadinessLoop();
  void SetServing(bool serving);

  ServerOptions options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::vector<std::pair<grpc::Service*, std::string>> services_;
  grpc::CallbackGenericService* generic_ = nullptr;
  std::function<absl::Status()> probe_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MetricsServer> metrics_;
  int grpc_port_ = 0;
  prometheus::Gauge* database_up_ = nullptr;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread readiness_;
};

// Blocks SIGTERM and SIGINT in this thread and the threads it later starts;
// call first in main.
void BlockShutdownSignals();
// Turns off absl::Mutex's lock-order checking for this process. Debian builds
// Abseil without NDEBUG, so every Lock (gRPC's own locks included) records
// its edges in one global graph: 1.4% of the event service's profile under
// load, the graph alone.
// The servers' mains call it; tests keep the checking on.
void DisableMutexDeadlockDetection();
// Waits for SIGTERM or SIGINT; returns the signal's name.
std::string WaitForShutdownSignal();

}  // namespace perfflow
