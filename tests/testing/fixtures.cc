#include "tests/testing/fixtures.h"

#include "gtest/gtest.h"
#include "services/event/catalogue_loader.h"

namespace perfflow::testing {

absl::Time FixedStart() { return absl::FromUnixSeconds(1772442000); }

v1::ApplyEventTypesRequest CatalogueRequest() {
  auto files = event::ReadCatalogue(std::string(PERFFLOW_SOURCE_DIR) + "/services/event/catalogue");
  EXPECT_TRUE(files.ok()) << files.status();
  v1::ApplyEventTypesRequest req;
  if (files.ok()) {
    for (auto& f : *files) *req.add_files() = f;
  }
  return req;
}

v1::UpsertDirectoryRequest SmallOrg() {
  v1::UpsertDirectoryRequest org;
  auto dept = [&](const std::string& id, const std::string& head) {
    auto* d = org.add_departments();
    d->set_id(id);
    d->set_name(id);
    d->set_head_id(head);
  };
  auto person = [&](const std::string& id, const std::string& dept_id, const std::string& manager) {
    auto* e = org.add_employees();
    e->set_id(id);
    e->set_display_name("Person " + id);
    e->set_department_id(dept_id);
    e->set_grade("P4");
    e->set_manager_id(manager);
  };
  dept("sales", "s-head");
  dept("quality", "q-head");
  dept("production", "p-head");
  dept("supply_chain", "c-head");
  dept("rnd", "r-head");
  person("ceo", "production", "");
  person("s-head", "sales", "ceo");
  person("q-head", "quality", "ceo");
  person("p-head", "production", "ceo");
  person("c-head", "supply_chain", "ceo");
  person("r-head", "rnd", "ceo");
  for (const char* id : {"s1", "s2", "s3"}) person(id, "sales", "s-head");
  person("q1", "quality", "q-head");
  person("p1", "production", "p-head");
  person("r1", "rnd", "r-head");
  return org;
}

v1::IngestEventRequest ContractSigned(const std::string& external_id) {
  v1::IngestEventRequest req;
  req.set_source("crm");
  req.set_external_id(external_id);
  req.set_event_type("crm.contract_signed");
  req.set_subject_id("s1");
  auto& fields = *req.mutable_attributes()->mutable_fields();
  fields["contract_value"].set_number_value(250000);
  fields["customer_tier"].set_string_value("key");
  return req;
}

EventWorld MakeEventWorld(Backend backend, int ingest_transactions) {
  EventWorld w;
  w.database = MakeTestDatabase(backend);
  auto store = event::SqlEventStore::Open(w.database.db);
  EXPECT_TRUE(store.ok()) << store.status();
  w.store = *std::move(store);
  w.clock = std::make_shared<ManualClock>(FixedStart());
  w.core = std::make_shared<event::EventCore>(w.store, w.clock, nullptr, ingest_transactions);
  auto applied = w.core->ApplyEventTypes(InProcessCall(kTenant), CatalogueRequest());
  EXPECT_TRUE(applied.ok()) << applied.status();
  absl::Status org = w.core->UpsertDirectory(InProcessCall(kTenant), SmallOrg());
  EXPECT_TRUE(org.ok()) << org;
  return w;
}

}  // namespace perfflow::testing
