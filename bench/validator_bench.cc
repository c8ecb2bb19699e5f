// Validations per second for an event type with 10 rules, next to a plain
// lookup of the same 10 rules (is each required kind present, is each value
// in its library) measured in the same run. Run: ./scripts/bench.sh validator

#include <benchmark/benchmark.h>

#include <set>

#include "google/protobuf/util/json_util.h"
#include "services/evidence/chain_validator.h"

namespace perfflow::evidence {
namespace {

// 10 rules: 3 required kinds, 2 conditional kinds, 1 co-sign, 2 library
// attributes, 2 custom rules.
constexpr char kTypeYaml[] = R"(
kind: Library
key: causes
values: [material_shortage, supplier_delay, design_change, equipment_failure, test_capacity]
---
kind: Library
key: tiers
values: [strategic, key, standard]
---
kind: EventType
key: bench.ten_rules
display_name: {en: Ten rules}
source: bench
attributes:
  - {name: delay_days, type: integer}
  - {name: delay_reason, type: string, library: causes}
  - {name: tier, type: string, library: tiers}
  - {name: milestone, type: string}
evidence:
  - {kind: a, content_types: [application/pdf], required: true}
  - {kind: b, content_types: [application/pdf], required: true}
  - {kind: c, content_types: [application/pdf], required: true}
  - {kind: d, content_types: [application/pdf], required_when: "attributes.delay_days > 0"}
  - {kind: e, content_types: [application/pdf], required_when: "attributes.milestone in ['bom_freeze', 'sop']", cosign_required: true}
rules:
  - {id: r1, when: "attributes.delay_days > 0", require: "exists attributes.delay_reason"}
  - {id: r2, require: "attributes.tier != 'strategic' or evidence.e.count > 0"}
actions:
  owner_upload: {due_hours: 24}
  manager_review: {due_hours: 48}
)";

struct Fixture {
  Fixture() {
    perfflow::event::v1::ConfigFile file;
    file.set_name("bench.yaml");
    file.set_content(kTypeYaml);
    auto registry = event::ParseRegistryFiles({file});
    view = std::make_unique<event::RegistryView>(*registry);
    rules = std::make_unique<CompiledChainRules>(
        *CompiledChainRules::Compile(*view->FindEventType("bench.ten_rules"), *view));
    (void)google::protobuf::util::JsonStringToMessage(
        R"({"delay_days":3,"delay_reason":"supplier_delay","tier":"strategic","milestone":"bom_freeze"})", &attributes);
    evidence = {{"a", false}, {"b", false}, {"c", false}, {"d", false}, {"e", true}};
  }
  std::unique_ptr<event::RegistryView> view;
  std::unique_ptr<CompiledChainRules> rules;
  google::protobuf::Struct attributes;
  std::vector<EvidenceFact> evidence;
};

const Fixture& F() {
  static const Fixture kFixture;
  return kFixture;
}

void BM_ValidateTenRules(benchmark::State& state) {
  const Fixture& f = F();
  for (auto _ : state) {
    v1::ChainValidation v = f.rules->Validate(f.attributes, f.evidence);
    benchmark::DoNotOptimize(v);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ValidateTenRules);

// The floor: the same 10 checks as direct set/map look-ups, no results built.
void BM_PlainLookupTenRules(benchmark::State& state) {
  const Fixture& f = F();
  const std::set<std::string> causes = {"material_shortage", "supplier_delay", "design_change", "equipment_failure",
                                        "test_capacity"};
  const std::set<std::string> tiers = {"strategic", "key", "standard"};
  for (auto _ : state) {
    std::set<std::string> kinds;
    bool cosigned_e = false;
    for (const auto& e : f.evidence) {
      kinds.insert(e.kind);
      cosigned_e |= e.kind == "e" && e.cosigned;
    }
    const auto& fields = f.attributes.fields();
    const double delay = fields.at("delay_days").number_value();
    const std::string& milestone = fields.at("milestone").string_value();
    int ok = 0;
    ok += kinds.count("a") + kinds.count("b") + kinds.count("c");
    ok += delay <= 0 || kinds.count("d");
    ok += !(milestone == "bom_freeze" || milestone == "sop") || kinds.count("e");
    ok += !kinds.count("e") || cosigned_e;
    ok += causes.count(fields.at("delay_reason").string_value());
    ok += tiers.count(fields.at("tier").string_value());
    ok += delay <= 0 || fields.count("delay_reason");
    ok += fields.at("tier").string_value() != "strategic" || kinds.count("e");
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PlainLookupTenRules);

}  // namespace
}  // namespace perfflow::evidence

BENCHMARK_MAIN();
