#pragma once

// What delivery reads of the event service, and nothing more: its tenants,
// a tenant's current registry, a person and an event. The workers depend on
// this, not on EventCore or EventStore; EventSourceOf adapts the two.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/flow/registry.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "services/event/event_core.h"
#include "services/event/event_store.h"

namespace perfflow::event {

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual absl::StatusOr<std::vector<std::string>> Tenants() = 0;
  // FAILED_PRECONDITION while the tenant has applied no event types.
  virtual absl::StatusOr<std::shared_ptr<const RegistryView>> Registry(const std::string& tenant) = 0;
  virtual absl::StatusOr<std::optional<v1::Employee>> GetEmployee(const std::string& tenant, const std::string& id) = 0;
  // The employees among `ids`, in one read (unknown ids are left out).
  virtual absl::StatusOr<std::vector<v1::Employee>> GetEmployees(const std::string& tenant,
                                                                 const std::vector<std::string>& ids) = 0;
  virtual absl::StatusOr<std::optional<EventRecord>> GetEvent(const std::string& tenant, const std::string& id) = 0;
};

// The event service's core (its cached registries) and store.
std::shared_ptr<EventSource> EventSourceOf(std::shared_ptr<EventCore> core, std::shared_ptr<EventStore> store);

}  // namespace perfflow::event
