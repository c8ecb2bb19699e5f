// 8 parallel clients ingest the same 500 external ids: exactly 500 events and
// chains come out, each with its whole chain, and every client sees one id
// per external id — with each call its own transaction and with calls in
// flight sharing transactions (IngestCombiner: then one transaction often
// holds the same id twice, or an id another one stored meanwhile).

#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

using testing::Backend;
using testing::kTenant;

// (backend, ingest transactions at once; 0: no sharing)
class ConcurrentIngestTest : public ::testing::TestWithParam<std::tuple<Backend, int>> {};

TEST_P(ConcurrentIngestTest, EightClientsSameFiveHundredIds) {
  const auto [backend, transactions] = GetParam();
  if (backend == Backend::kMysql && !testing::MysqlConfigured()) {
    GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
  }
  testing::EventWorld w = testing::MakeEventWorld(backend, transactions);
  constexpr int kClients = 8;
  constexpr int kIds = 500;
  std::mutex mu;
  std::map<std::string, std::set<std::string>> event_ids;  // external id -> event ids seen
  std::vector<std::string> errors;
  int duplicates = 0;
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kIds; ++i) {
        // Each client walks the ids in a different order to maximise overlap.
        const std::string ext = "ext-" + std::to_string((i * 7 + c * 61) % kIds);
        auto r = w.core->Ingest(InProcessCall(kTenant), testing::ContractSigned(ext));
        std::lock_guard<std::mutex> lock(mu);
        if (!r.ok()) {
          errors.push_back(std::string(r.status().message()));
          continue;
        }
        event_ids[ext].insert(r->event.event_id);
        duplicates += r->duplicate ? 1 : 0;
      }
    });
  }
  for (auto& t : clients) t.join();
  for (const auto& e : errors) ADD_FAILURE() << "ingest failed: " << e;
  ASSERT_EQ(event_ids.size(), static_cast<size_t>(kIds));
  for (const auto& [ext, ids] : event_ids) EXPECT_EQ(ids.size(), 1u) << ext;
  EXPECT_EQ(duplicates, kClients * kIds - kIds);

  int chains = 0;
  ASSERT_TRUE(w.store
                  ->ForEachFlow(kTenant, {},
                                [&](const EventRecord& e) {
                                  ++chains;
                                  auto full = w.store->GetEvent(kTenant, e.event_id);
                                  EXPECT_TRUE(full.ok() && full->has_value() && (*full)->tasks.size() == 3u)
                                      << e.event_id;
                                  return true;
                                })
                  .ok());
  EXPECT_EQ(chains, kIds);
  auto backlog = w.store->OutboxBacklog(kTenant);
  ASSERT_TRUE(backlog.ok());
  EXPECT_EQ(*backlog, 3 * kIds);
}

INSTANTIATE_TEST_SUITE_P(Backends, ConcurrentIngestTest,
                         ::testing::Combine(::testing::Values(Backend::kSqlite, Backend::kMysql),
                                            ::testing::Values(0, 2)),
                         [](const ::testing::TestParamInfo<std::tuple<Backend, int>>& info) {
                           const int transactions = std::get<1>(info.param);
                           return testing::BackendName(std::get<0>(info.param)) +
                                  (transactions == 0 ? "" : "SharedTransactions");
                         });

}  // namespace
}  // namespace perfflow::event
