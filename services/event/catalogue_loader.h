#pragma once

// Keeps tenants' registries in step with a directory of event-type YAML (the
// catalogue ConfigMap mounted in Kubernetes): Poll() re-reads the files and
// applies them to each tenant when their content changed. A bad file is
// logged and leaves the current version in force.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "services/event/event_core.h"

namespace perfflow::event {

// Reads every *.yaml file of `dir` (sorted by name) as ConfigFiles.
absl::StatusOr<std::vector<v1::ConfigFile>> ReadCatalogue(const std::string& dir);

class CatalogueLoader {
 public:
  CatalogueLoader(std::shared_ptr<EventCore> core, std::string dir, std::vector<std::string> tenants);

  // Applies the directory when it changed since the last successful apply.
  // Returns the first error (every tenant is still tried).
  absl::Status Poll();

 private:
  std::shared_ptr<EventCore> core_;
  std::string dir_;
  std::vector<std::string> tenants_;
  std::string applied_digest_;
};

}  // namespace perfflow::event
