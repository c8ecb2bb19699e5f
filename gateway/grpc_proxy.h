#pragma once

// The gateway's gRPC port for platform teams: every perfflow service method
// (unary and streaming alike) proxied message by message to its service,
// behind the same door as HTTP: credentials from the "authorization"
// (Bearer) or "x-api-key" metadata, role rules, rate limits, identity and
// deadline forwarded.

#include <memory>

#include "absl/time/time.h"
#include "gateway/backends.h"
#include "gateway/door.h"
#include "grpcpp/generic/async_generic_service.h"

namespace perfflow::gateway {

class GrpcProxy : public grpc::CallbackGenericService {
 public:
  GrpcProxy(std::shared_ptr<Backends> backends, std::shared_ptr<Door> door, absl::Duration max_deadline)
      : backends_(std::move(backends)), door_(std::move(door)), max_deadline_(max_deadline) {}

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

 private:
  std::shared_ptr<Backends> backends_;
  std::shared_ptr<Door> door_;
  absl::Duration max_deadline_;
};

}  // namespace perfflow::gateway
