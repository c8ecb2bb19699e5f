#include "services/event/delivery/event_source.h"

namespace perfflow::event {
namespace {

class CoreEventSource : public EventSource {
 public:
  CoreEventSource(std::shared_ptr<EventCore> core, std::shared_ptr<EventStore> store)
      : core_(std::move(core)), store_(std::move(store)) {}
  absl::StatusOr<std::vector<std::string>> Tenants() override { return store_->Tenants(); }
  absl::StatusOr<std::shared_ptr<const RegistryView>> Registry(const std::string& tenant) override {
    return core_->Registry(tenant);
  }
  absl::StatusOr<std::optional<v1::Employee>> GetEmployee(const std::string& tenant, const std::string& id) override {
    return store_->GetEmployee(tenant, id);
  }
  absl::StatusOr<std::vector<v1::Employee>> GetEmployees(const std::string& tenant,
                                                         const std::vector<std::string>& ids) override {
    return store_->GetEmployees(tenant, ids);
  }
  absl::StatusOr<std::optional<EventRecord>> GetEvent(const std::string& tenant, const std::string& id) override {
    return store_->GetEvent(tenant, id);
  }

 private:
  std::shared_ptr<EventCore> core_;
  std::shared_ptr<EventStore> store_;
};

}  // namespace

std::shared_ptr<EventSource> EventSourceOf(std::shared_ptr<EventCore> core, std::shared_ptr<EventStore> store) {
  return std::make_shared<CoreEventSource>(std::move(core), std::move(store));
}

}  // namespace perfflow::event
