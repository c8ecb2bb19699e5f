#include "services/evidence/chain_validator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace perfflow::evidence {
namespace {

using google::protobuf::Value;

std::string Text(const event::v1::LocalizedText& t, const std::string& fallback) {
  if (!t.en().empty()) return t.en();
  if (!t.zh().empty()) return t.zh();
  return fallback;
}

absl::StatusOr<std::optional<Condition>> MaybeParse(const std::string& text) {
  if (text.empty()) return std::optional<Condition>();
  auto c = Condition::Parse(text);
  if (!c.ok()) return c.status();
  return std::optional<Condition>(*std::move(c));
}

CondValue FromValue(const Value& v) {
  switch (v.kind_case()) {
    case Value::kNumberValue:
      return v.number_value();
    case Value::kStringValue:
      return v.string_value();
    case Value::kBoolValue:
      return v.bool_value();
    default:
      return std::monostate{};
  }
}

void AddRule(v1::ChainValidation& out, const std::string& rule, const std::string& description, v1::RuleOutcome outcome,
             const std::string& detail, const std::string& kind = "") {
  auto* r = out.add_rules();
  r->set_rule(rule);
  r->set_description(description);
  r->set_outcome(outcome);
  r->set_detail(detail);
  if (outcome == v1::RULE_OUTCOME_MISSING || outcome == v1::RULE_OUTCOME_VIOLATED) {
    auto* gap = out.add_gaps();
    gap->set_rule(rule);
    gap->set_description(detail.empty() ? description : detail);
    gap->set_evidence_kind(kind);
  }
}

}  // namespace

absl::StatusOr<CompiledChainRules> CompiledChainRules::Compile(const event::v1::EventType& type,
                                                               const event::RegistryView& registry) {
  CompiledChainRules c;
  c.type_ = type;
  for (const auto& spec : type.evidence()) {
    if (spec.required() || !spec.required_when().empty()) {
      auto when = MaybeParse(spec.required_when());
      if (!when.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("evidence ", spec.kind(), ": ", when.status().message()));
      }
      c.evidence_rules_.push_back({spec.kind(), Text(spec.display_name(), spec.kind()),
                                   spec.required() && spec.required_when().empty(), *std::move(when)});
    }
    if (spec.cosign_required()) c.cosign_kinds_.push_back(spec.kind());
  }
  for (const auto& attr : type.attributes()) {
    if (attr.library().empty()) continue;
    const event::v1::Library* lib = registry.FindLibrary(attr.library());
    LibraryRule rule{attr.name(), attr.library(), {}};
    if (lib != nullptr) rule.values.assign(lib->values().begin(), lib->values().end());
    std::sort(rule.values.begin(), rule.values.end());
    c.library_rules_.push_back(std::move(rule));
  }
  for (const auto& rule : type.rules()) {
    auto when = MaybeParse(rule.when());
    if (!when.ok()) return absl::InvalidArgumentError(absl::StrCat("rule ", rule.id(), ": ", when.status().message()));
    auto require = Condition::Parse(rule.require());
    if (!require.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("rule ", rule.id(), ": ", require.status().message()));
    }
    c.custom_rules_.push_back({rule.id(), Text(rule.description(), rule.id()), *std::move(when), *std::move(require)});
  }
  return c;
}

int CompiledChainRules::rule_count() const {
  return static_cast<int>(evidence_rules_.size() + cosign_kinds_.size() + library_rules_.size() + custom_rules_.size());
}

v1::ChainValidation CompiledChainRules::Validate(const google::protobuf::Struct& attributes,
                                                 const std::vector<EvidenceFact>& evidence) const {
  std::map<std::string, int> count;
  std::map<std::string, bool> cosigned;
  for (const EvidenceFact& e : evidence) {
    ++count[e.kind];
    cosigned[e.kind] = cosigned[e.kind] || e.cosigned;
  }
  const CondResolver resolve = [&](const std::string& path) -> std::optional<CondValue> {
    std::vector<absl::string_view> parts = absl::StrSplit(path, '.');
    if (parts.size() == 2 && parts[0] == "attributes") {
      auto it = attributes.fields().find(std::string(parts[1]));
      if (it == attributes.fields().end()) return std::nullopt;
      return FromValue(it->second);
    }
    if (parts.size() == 3 && parts[0] == "evidence") {
      const std::string kind(parts[1]);
      if (parts[2] == "count") return static_cast<double>(count.count(kind) ? count.at(kind) : 0);
      if (parts[2] == "cosigned") return cosigned.count(kind) ? cosigned.at(kind) : false;
    }
    return std::nullopt;
  };

  v1::ChainValidation out;
  out.set_event_type(type_.key());
  std::set<std::string> not_required;  // kinds whose condition does not hold for this chain
  for (const EvidenceRule& r : evidence_rules_) {
    const std::string id = "evidence:" + r.kind;
    if (!r.always && !(r.when && r.when->Evaluate(resolve))) {
      not_required.insert(r.kind);
      AddRule(out, id, r.description, v1::RULE_OUTCOME_NOT_APPLICABLE,
              "required only when " + (r.when ? r.when->text() : ""));
    } else if (count[r.kind] > 0) {
      AddRule(out, id, r.description, v1::RULE_OUTCOME_SATISFIED, absl::StrCat(count[r.kind], " uploaded"));
    } else {
      AddRule(out, id, r.description, v1::RULE_OUTCOME_MISSING,
              absl::StrCat(r.description, " (", r.kind, ") is missing"), r.kind);
    }
  }
  for (const std::string& kind : cosign_kinds_) {
    const std::string id = "cosign:" + kind;
    const std::string description = kind + " is co-signed by another department";
    // Evidence the chain does not need needs no co-signature either.
    if (not_required.count(kind)) {
      AddRule(out, id, description, v1::RULE_OUTCOME_NOT_APPLICABLE, kind + " is not required for this chain");
    } else if (count[kind] == 0) {
      AddRule(out, id, description, v1::RULE_OUTCOME_NOT_APPLICABLE, "no " + kind + " uploaded");
    } else if (cosigned[kind]) {
      AddRule(out, id, description, v1::RULE_OUTCOME_SATISFIED, "");
    } else {
      AddRule(out, id, description, v1::RULE_OUTCOME_MISSING, kind + " needs a co-signature from another department",
              kind);
    }
  }
  for (const LibraryRule& r : library_rules_) {
    const std::string id = "library:" + r.attribute;
    const std::string description = r.attribute + " comes from library " + r.library;
    auto it = attributes.fields().find(r.attribute);
    if (it == attributes.fields().end() || it->second.kind_case() != Value::kStringValue) {
      AddRule(out, id, description, v1::RULE_OUTCOME_NOT_APPLICABLE, "not given");
    } else if (std::binary_search(r.values.begin(), r.values.end(), it->second.string_value())) {
      AddRule(out, id, description, v1::RULE_OUTCOME_SATISFIED, "");
    } else {
      AddRule(out, id, description, v1::RULE_OUTCOME_VIOLATED,
              "'" + it->second.string_value() + "' is not in library " + r.library);
    }
  }
  for (const CustomRule& r : custom_rules_) {
    const std::string id = "rule:" + r.id;
    if (r.when && !r.when->Evaluate(resolve)) {
      AddRule(out, id, r.description, v1::RULE_OUTCOME_NOT_APPLICABLE, "");
    } else if (r.require.Evaluate(resolve)) {
      AddRule(out, id, r.description, v1::RULE_OUTCOME_SATISFIED, "");
    } else {
      AddRule(out, id, r.description, v1::RULE_OUTCOME_VIOLATED,
              r.description + ": " + r.require.text() + " does not hold");
    }
  }
  out.set_outcome(out.gaps().empty() ? v1::CHAIN_OUTCOME_COMPLETE : v1::CHAIN_OUTCOME_INCOMPLETE);
  return out;
}

double AttributeSimilarity(const google::protobuf::Struct& a, const google::protobuf::Struct& b) {
  std::set<std::string> keys;
  for (const auto& [k, v] : a.fields()) keys.insert(k);
  for (const auto& [k, v] : b.fields()) keys.insert(k);
  if (keys.empty()) return 0;
  double total = 0;
  for (const std::string& k : keys) {
    auto ia = a.fields().find(k);
    auto ib = b.fields().find(k);
    if (ia == a.fields().end() || ib == b.fields().end()) continue;
    const Value& x = ia->second;
    const Value& y = ib->second;
    if (x.kind_case() != y.kind_case()) continue;
    if (x.kind_case() == Value::kNumberValue) {
      const double scale = std::max({std::fabs(x.number_value()), std::fabs(y.number_value()), 1.0});
      total += std::max(0.0, 1.0 - std::fabs(x.number_value() - y.number_value()) / scale);
    } else if (x.kind_case() == Value::kStringValue) {
      total += x.string_value() == y.string_value() ? 1 : 0;
    } else if (x.kind_case() == Value::kBoolValue) {
      total += x.bool_value() == y.bool_value() ? 1 : 0;
    }
  }
  return total / static_cast<double>(keys.size());
}

}  // namespace perfflow::evidence
