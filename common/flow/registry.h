#pragma once

// The event-type registry: parsing YAML documents (kind EventType, Library or
// Goal), validating a whole registry (all or nothing, precise paths), merging
// an apply into the current version, and looking things up.

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status.h"
#include "google/protobuf/struct.pb.h"
#include "perfflow/event/v1/event_service.pb.h"
#include "perfflow/event/v1/event_types.pb.h"

namespace perfflow::event {

// Documents of one apply: parsed from YAML files and/or given as messages.
// Errors name the file, the document and the field path.
// `origins` (optional) maps "event_types[key]" (and libraries/goals) to
// "file F, document N" so later semantic errors can name their source.
absl::StatusOr<v1::Registry> ParseRegistryFiles(const std::vector<v1::ConfigFile>& files,
                                                std::map<std::string, std::string>* origins = nullptr);

// A key given twice in one registry or one apply.
std::vector<FieldViolation> DuplicateKeys(const v1::Registry& registry);

// Every reason `registry` is not self-consistent (empty when it is).
std::vector<FieldViolation> ValidateRegistry(const v1::Registry& registry);

// `base` with each item of `delta` added or replaced by key.
v1::Registry MergeRegistry(const v1::Registry& base, const v1::Registry& delta);

// Read-only index over one registry version. Immutable after construction;
// safe to share between threads.
class RegistryView {
 public:
  explicit RegistryView(v1::Registry registry);

  int64_t version() const { return registry_.version(); }
  const v1::Registry& registry() const { return registry_; }
  const v1::EventType* FindEventType(const std::string& key) const;
  const v1::Library* FindLibrary(const std::string& key) const;
  // Goals the event type serves: its own list plus goals naming it.
  std::vector<std::string> GoalsFor(const std::string& event_type) const;

 private:
  v1::Registry registry_;
  std::map<std::string, int> event_types_;
  std::map<std::string, int> libraries_;
  std::map<std::string, std::vector<std::string>> goals_by_type_;
};

// Attribute values against the event type's schema: required, types,
// allowed values and libraries. Field paths read "attributes.<name>".
std::vector<FieldViolation> ValidateAttributes(const v1::EventType& type, const google::protobuf::Struct& attributes,
                                               const RegistryView& registry);

// True when the event type is enabled for people of `department_id`.
bool EnabledForDepartment(const v1::EventType& type, const std::string& department_id);

}  // namespace perfflow::event
