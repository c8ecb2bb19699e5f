#pragma once

// The evidence-chain validator, as plain values: an event type's rules are
// compiled once per registry version, then evaluated against one chain's
// attributes and evidence. No storage, no network.
//
// Rules, each with its own id:
//   evidence:<kind>  required evidence (always, or where required_when holds)
//   cosign:<kind>    evidence that needs a co-signature from another department
//   library:<attr>   attribute values that must come from a named library
//   rule:<id>        the type's own rules: where `when` holds, `require` must

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/condition.h"
#include "google/protobuf/struct.pb.h"
#include "perfflow/evidence/v1/evidence_service.pb.h"
#include "common/flow/registry.h"

namespace perfflow::evidence {

struct EvidenceFact {
  std::string kind;
  bool cosigned = false;
};

class CompiledChainRules {
 public:
  // INVALID_ARGUMENT when a condition does not parse (the registry rejects
  // such types at apply, so this only guards stored data).
  static absl::StatusOr<CompiledChainRules> Compile(const event::v1::EventType& type,
                                                    const event::RegistryView& registry);

  // Outcome, every rule's result and the gaps (without guidance).
  v1::ChainValidation Validate(const google::protobuf::Struct& attributes,
                               const std::vector<EvidenceFact>& evidence) const;

  int rule_count() const;
  const event::v1::EventType& type() const { return type_; }

 private:
  struct EvidenceRule {
    std::string kind;
    std::string description;
    bool always = false;
    std::optional<Condition> when;
  };
  struct LibraryRule {
    std::string attribute;
    std::string library;
    std::vector<std::string> values;
  };
  struct CustomRule {
    std::string id;
    std::string description;
    std::optional<Condition> when;
    Condition require;
  };

  event::v1::EventType type_;
  std::vector<EvidenceRule> evidence_rules_;
  std::vector<std::string> cosign_kinds_;
  std::vector<LibraryRule> library_rules_;
  std::vector<CustomRule> custom_rules_;
};

// Attribute similarity in [0, 1]: the mean over the union of keys of
// 1 for equal strings/bools, 1 - relative difference for numbers, 0 for
// values missing on one side.
double AttributeSimilarity(const google::protobuf::Struct& a, const google::protobuf::Struct& b);

}  // namespace perfflow::evidence
