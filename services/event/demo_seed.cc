#include "services/event/demo_seed.h"

#include <algorithm>
#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/log.h"
#include "services/event/catalogue_loader.h"
#include "services/event/event_core.h"

namespace perfflow::event {
namespace {

namespace t = perfflow::type::v1;

struct DemoDepartment {
  const char* id;
  const char* name;
};

constexpr DemoDepartment kDepartments[] = {{"sales", "Sales"},
                                           {"quality", "Quality"},
                                           {"production", "Production"},
                                           {"supply_chain", "Supply Chain"},
                                           {"rnd", "R&D"}};

constexpr const char* kSurnames[] = {"Zhang", "Wang", "Li", "Zhao", "Chen", "Liu", "Yang", "Huang", "Zhou", "Wu"};
constexpr const char* kGivenNames[] = {"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Tao", "Hui", "Qiang", "Xin"};

v1::UpsertDirectoryRequest DemoOrg() {
  v1::UpsertDirectoryRequest org;
  auto* gm = org.add_employees();
  gm->set_id("e000");
  gm->set_display_name("Sun Hao");
  gm->set_department_id("production");
  gm->set_grade("M5");
  gm->set_role("general_manager");
  int n = 1;
  for (size_t d = 0; d < std::size(kDepartments); ++d) {
    auto* dept = org.add_departments();
    dept->set_id(kDepartments[d].id);
    dept->set_name(kDepartments[d].name);
    const std::string head = absl::StrCat("e", d + 1, "00");
    dept->set_head_id(head);
    for (int i = 0; i < 10; ++i, ++n) {
      auto* e = org.add_employees();
      e->set_id(i == 0 ? head : absl::StrCat("e", d + 1, "0", i));
      // Distinct names for the 50 people: n and n + 10k share a surname, never a given name.
      e->set_display_name(absl::StrCat(kSurnames[n % 10], " ", kGivenNames[(n / 10 + 3 * n) % 10]));
      e->set_department_id(kDepartments[d].id);
      e->set_grade(i == 0 ? "M3" : (i < 4 ? "P5" : "P4"));
      e->set_role(i == 0 ? "manager" : "engineer");
      e->set_manager_id(i == 0 ? "e000" : head);
      (*e->mutable_contacts())["email"] = absl::StrCat(e->id(), "@demo.perfflow.local");
    }
  }
  return org;
}

// A value that satisfies `spec` (first library or allowed value for strings).
google::protobuf::Value DemoValue(const v1::AttributeSpec& spec, const RegistryView& registry, std::mt19937& rng) {
  google::protobuf::Value v;
  switch (spec.type()) {
    case v1::ATTRIBUTE_TYPE_NUMBER:
      v.set_number_value(std::uniform_int_distribution<int>(1, 500)(rng) * 1000.0);
      break;
    case v1::ATTRIBUTE_TYPE_INTEGER:
      v.set_number_value(std::uniform_int_distribution<int>(0, 5)(rng));
      break;
    case v1::ATTRIBUTE_TYPE_BOOL:
      v.set_bool_value(rng() % 2 == 0);
      break;
    case v1::ATTRIBUTE_TYPE_TIMESTAMP:
      v.set_string_value("2026-09-01T08:00:00Z");
      break;
    default: {
      std::vector<std::string> choices(spec.allowed_values().begin(), spec.allowed_values().end());
      if (const v1::Library* lib = registry.FindLibrary(spec.library())) {
        choices.assign(lib->values().begin(), lib->values().end());
      }
      v.set_string_value(choices.empty() ? absl::StrCat("demo-", rng() % 1000) : choices[rng() % choices.size()]);
    }
  }
  return v;
}

}  // namespace

absl::Status SeedDemoTenant(std::shared_ptr<EventStore> store, const std::string& tenant,
                            const std::string& catalogue_dir, absl::Time now, int events) {
  auto existing = store->ListEvents(tenant, {}, 1, "");
  if (!existing.ok()) return existing.status();
  if (!existing->items.empty()) {
    LogInfo("demo tenant already seeded", {{"tenant", tenant}});
    return absl::OkStatus();
  }
  auto clock = std::make_shared<ManualClock>(now - absl::Hours(24 * 91));
  EventCore core(store, clock, nullptr);

  auto files = ReadCatalogue(catalogue_dir);
  if (!files.ok()) return files.status();
  v1::ApplyEventTypesRequest apply;
  for (auto& f : *files) *apply.add_files() = std::move(f);
  auto applied = core.ApplyEventTypes(InProcessCall(tenant), apply);
  if (!applied.ok()) return applied.status();
  const v1::UpsertDirectoryRequest org = DemoOrg();
  if (absl::Status s = core.UpsertDirectory(InProcessCall(tenant), org); !s.ok()) return s;
  auto registry = core.Registry(tenant);
  if (!registry.ok()) return registry.status();

  std::mt19937 rng(20261127);
  int accepted = 0;
  for (int i = 0; i < events; ++i) {
    // Spread over the last 90 days, oldest first.
    const absl::Time triggered = now - absl::Hours(24 * 90) + absl::Seconds(int64_t{90 * 86400} * i / events);
    clock->Set(triggered);
    const v1::Employee& subject = org.employees(1 + rng() % (org.employees_size() - 1));
    std::vector<const v1::EventType*> candidates;
    for (const auto& type : (*registry)->registry().event_types()) {
      if (!type.disabled() && EnabledForDepartment(type, subject.department_id())) candidates.push_back(&type);
    }
    if (candidates.empty()) continue;
    const v1::EventType& type = *candidates[rng() % candidates.size()];
    v1::IngestEventRequest req;
    req.set_source(type.source());
    req.set_external_id(absl::StrCat("demo-", i));
    req.set_event_type(type.key());
    req.set_subject_id(subject.id());
    req.mutable_occurred_at()->set_seconds(absl::ToUnixSeconds(triggered - absl::Minutes(5)));
    for (const auto& spec : type.attributes()) {
      (*req.mutable_attributes()->mutable_fields())[spec.name()] = DemoValue(spec, **registry, rng);
    }
    auto ingested = core.Ingest(InProcessCall(tenant), req);
    if (!ingested.ok()) {
      LogWarn("demo event skipped", {{"event_type", type.key()}, {"reason", std::string(ingested.status().message())}});
      continue;
    }
    ++accepted;
    // A healthy-ish flow: most chains close in time, some late, recent ones open.
    const std::string name = "events/" + ingested->event.event_id;
    absl::Time at = triggered;
    int step_number = 0;
    auto step = [&](FlowStep s, Verdict verdict, int max_hours) {
      at += absl::Minutes(std::uniform_int_distribution<int>(30, max_hours * 60)(rng));
      if (at > now) return false;
      clock->Set(at);
      v1::RecordFlowStepRequest r;
      r.set_event(name);
      r.set_step(s);
      r.set_verdict(verdict);
      r.set_step_id(absl::StrCat("demo-", i, "-", ++step_number));
      return core.RecordStep(InProcessCall(tenant), r).ok();
    };
    const bool slow = rng() % 100 < 25;
    const int pace = slow ? 40 : 14;
    if (!step(t::FLOW_STEP_OWNER_ACTION, t::VERDICT_UNSPECIFIED, pace)) continue;
    // Most owners upload everything the type asks for within a few hours of
    // acting; the rest leave gaps, and a chain with gaps is never archived
    // (the evidence service archives only a validated, sealed chain).
    const bool evidence_complete = rng() % 100 < 85;
    if (evidence_complete) {
      const absl::Time complete_at = std::min(now, at + absl::Minutes(std::uniform_int_distribution<int>(0, 180)(rng)));
      if (!store->MarkEvidenceComplete(tenant, ingested->event.event_id, complete_at).ok()) continue;
    }
    if (rng() % 100 < 8) {
      if (!step(t::FLOW_STEP_MANAGER_FEEDBACK, t::VERDICT_REDO, pace)) continue;
      if (!step(t::FLOW_STEP_OWNER_ACTION, t::VERDICT_UNSPECIFIED, pace)) continue;
    }
    const Verdict verdict = rng() % 100 < 80 ? t::VERDICT_MEETS : t::VERDICT_NEEDS_IMPROVEMENT;
    if (!step(t::FLOW_STEP_MANAGER_FEEDBACK, verdict, pace)) continue;
    if (ingested->event.flow.requires_cross_confirm &&
        !step(t::FLOW_STEP_CROSS_CONFIRM, t::VERDICT_UNSPECIFIED, pace)) {
      continue;
    }
    if (!evidence_complete || rng() % 100 < 7) continue;  // left open
    step(t::FLOW_STEP_ARCHIVED, t::VERDICT_UNSPECIFIED, 6);
  }
  LogInfo("demo tenant seeded", {{"tenant", tenant},
                                 {"registry_version", std::to_string(applied->version)},
                                 {"employees", std::to_string(org.employees_size())},
                                 {"events", std::to_string(accepted)}});
  return absl::OkStatus();
}

}  // namespace perfflow::event
