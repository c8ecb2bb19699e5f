#pragma once

// Shared test set-up: the shipped catalogue, a small org, and an EventCore
// over a given database with a manual clock.

#include <memory>
#include <string>

#include "common/clock.h"
#include "services/event/event_core.h"
#include "services/event/sql_event_store.h"
#include "tests/testing/test_databases.h"

namespace perfflow::testing {

namespace v1 = ::perfflow::event::v1;

inline constexpr char kTenant[] = "acme";
// 2026-03-02T09:00:00Z, a Monday.
absl::Time FixedStart();

// The shipped catalogue (services/event/catalogue) as an apply request.
v1::ApplyEventTypesRequest CatalogueRequest();

// sales (head s-head, reps s1..s3), quality (head q-head, q1), production
// (head p-head, p1), supply_chain (head c-head), rnd (head r-head, r1);
// every head reports to ceo (in production).
v1::UpsertDirectoryRequest SmallOrg();

// A valid crm.contract_signed ingest for subject s1.
v1::IngestEventRequest ContractSigned(const std::string& external_id);

struct EventWorld {
  TestDatabase database;
  std::shared_ptr<event::SqlEventStore> store;
  std::shared_ptr<ManualClock> clock;
  std::shared_ptr<event::EventCore> core;
};

// A world with the catalogue applied and SmallOrg loaded for kTenant; its
// core shares IngestEvent transactions when `ingest_transactions` > 0.
EventWorld MakeEventWorld(Backend backend, int ingest_transactions = 0);

}  // namespace perfflow::testing
