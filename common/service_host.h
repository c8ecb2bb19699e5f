#pragma once

// One service as a library, so that its own binary and the one-process dev
// mode (`perfflowctl dev`) host exactly the same thing: build it, register
// its services on a ServerRunner, Start() its background work once the
// server is up, Stop() that work before the server drains.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "grpcpp/impl/service_type.h"

namespace grpc {
class CallbackGenericService;
}  // namespace grpc

namespace perfflow {

class ServiceHost {
 public:
  virtual ~ServiceHost() = default;

  struct Registered {
    grpc::Service* service;
    std::string name;  // for health, e.g. "perfflow.event.v1.EventService"
  };
  virtual std::vector<Registered> Services() = 0;
  // Serves every method no registered service has (the gateway's proxy).
  virtual grpc::CallbackGenericService* GenericService() { return nullptr; }
  // Readiness: OK while the host can serve (normally: its database answers).
  virtual absl::Status Ready() = 0;
  virtual void Start() {}
  virtual void Stop() {}
};

}  // namespace perfflow
