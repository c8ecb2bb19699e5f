// The server runner on a real loopback port: health follows the readiness
// probe, reflection and metrics are served, shutdown turns NOT_SERVING.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/ids.h"
#include "common/server_runner.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "services/event/event_service.h"
#include "tests/testing/fixtures.h"

namespace perfflow {
namespace {

// grpc.health.v1.Health/Check through a generic unary call (the health proto
// is not compiled into C++ here; the response's only field is the status).
int HealthStatus(grpc::Channel& channel, const std::string& service) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1), resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) { done.set_value(s); });
  grpc::Status s = done.get_future().get();
  if (!s.ok()) return -1;
  std::vector<grpc::Slice> slices;
  (void)resp.Dump(&slices);
  std::string bytes;
  for (auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;  // field 1, varint
}

constexpr int kServing = 1;
constexpr int kNotServing = 2;

// Polls `f` until it returns `want`, for at most 10 seconds.
bool Eventually(const std::function<int()>& f, int want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (f() == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(ServerRunnerTest, ReadinessFollowsProbeAndShutdownDrains) {
  testing::EventWorld w = testing::MakeEventWorld(testing::Backend::kSqlite);
  event::EventServiceImpl service(w.core, IdentityOptions{true});
  ServerOptions options;
  options.host = "127.0.0.1";
  options.readiness_interval = absl::Milliseconds(20);
  options.drain = absl::ZeroDuration();
  std::atomic<bool> db_up{true};
  ServerRunner runner(options, std::make_shared<prometheus::Registry>());
  runner.AddService(&service, "perfflow.event.v1.EventService");
  runner.SetReadinessProbe([&] { return db_up ? absl::OkStatus() : absl::UnavailableError("database unavailable"); });
  ASSERT_TRUE(runner.Start().ok());
  ASSERT_GT(runner.grpc_port(), 0);
  ASSERT_GT(runner.metrics_port(), 0);

  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(runner.grpc_port()), grpc::InsecureChannelCredentials());
  EXPECT_EQ(HealthStatus(*channel, ""), kServing);
  EXPECT_EQ(HealthStatus(*channel, "perfflow.event.v1.EventService"), kServing);
  db_up = false;
  EXPECT_TRUE(Eventually([&] { return HealthStatus(*channel, "perfflow.event.v1.EventService"); }, kNotServing));
  db_up = true;
  EXPECT_TRUE(Eventually([&] { return HealthStatus(*channel, ""); }, kServing));

  // A real RPC through the interceptor shows up in /metrics.
  auto stub = event::v1::EventService::NewStub(channel);
  grpc::ClientContext ctx;
  event::v1::GetEventResponse resp;
  grpc::Status s = stub->GetEvent(&ctx, event::v1::GetEventRequest(), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  runner.Shutdown();
  EXPECT_NE(HealthStatus(*channel, ""), kServing);
}

// Records which thread serves each call.
class ThreadRecordingService : public event::v1::EventService::Service {
 public:
  grpc::Status GetEvent(grpc::ServerContext*, const event::v1::GetEventRequest*,
                        event::v1::GetEventResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    threads_.insert(gettid());
    ++calls_;
    return grpc::Status::OK;
  }
  std::pair<size_t, int> ThreadsAndCalls() {
    std::lock_guard<std::mutex> lock(mu_);
    return {threads_.size(), calls_};
  }

 private:
  std::mutex mu_;
  std::set<pid_t> threads_;
  int calls_ = 0;
};

// The synchronous server keeps its threads between calls. gRPC's default
// (at most 2 waiting threads) ends a thread after nearly every call under
// concurrency and starts a new one for the next: with the default this test
// saw 400 distinct threads for its 400 calls.
TEST(ServerRunnerTest, ConcurrentCallsReuseTheServersThreads) {
  ThreadRecordingService service;
  ServerOptions options;
  options.host = "127.0.0.1";
  options.drain = absl::ZeroDuration();
  ServerRunner runner(options, std::make_shared<prometheus::Registry>());
  runner.AddService(&service, "perfflow.event.v1.EventService");
  ASSERT_TRUE(runner.Start().ok());
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(runner.grpc_port()), grpc::InsecureChannelCredentials());
  auto stub = event::v1::EventService::NewStub(channel);
  std::vector<std::thread> clients;
  std::atomic<int> failed{0};
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        event::v1::GetEventResponse resp;
        if (!stub->GetEvent(&ctx, event::v1::GetEventRequest(), &resp).ok()) ++failed;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(failed, 0);
  const auto [threads, calls] = service.ThreadsAndCalls();
  EXPECT_EQ(calls, 400);
  EXPECT_LE(threads, 16u) << "threads are started per call";
  runner.Shutdown();
}

TEST(DatabaseTest, UnreachableMysqlIsUnavailableWithoutDetail) {
  auto db = db::OpenMysql("mysql://nobody@127.0.0.1:1/perfflow", "", 2, 2);
  ASSERT_FALSE(db.ok());
  EXPECT_TRUE(absl::IsUnavailable(db.status())) << db.status();
  EXPECT_EQ(db.status().message(), "database unavailable");
}

TEST(DatabaseTest, MalformedUrlsAreInvalidArgument) {
  for (const char* url : {"postgres://x@y/z", "mysql://host-only", "mysql://u@h:1/bad-schema!",
                          "sqlite:", "mysql://u@h:1/s?pool_size=0", "mysql://u@h:1/s?pool_size=257",
                          "mysql://u@h:1/s?pool_size=", "mysql://u@h:1/s?pool_size=4&x=1", "mysql://u@h:1/s?pools=4"}) {
    auto db = db::OpenDatabase({url, "", 2, 2});
    EXPECT_TRUE(absl::IsInvalidArgument(db.status())) << url << " -> " << db.status();
  }
}

// A statement runs only with exactly as many parameters as it has
// placeholders, on both backends — also after it ran with the right number
// (MySQL keeps a prepared statement's last values; none may be reused).
TEST(DatabaseTest, AStatementRunsOnlyWithAllItsParameters) {
  for (testing::Backend backend : {testing::Backend::kSqlite, testing::Backend::kMysql}) {
    if (backend == testing::Backend::kMysql && !testing::MysqlConfigured()) continue;
    SCOPED_TRACE(testing::BackendName(backend));
    testing::TestDatabase test_db = testing::MakeTestDatabase(backend);
    auto sum = [&](const db::Params& params) {
      int64_t value = -1;
      absl::Status s = test_db.db->RunInTransaction([&](db::Transaction& txn) {
        auto rows = txn.Query("SELECT ? + ?", params);
        if (rows.ok()) value = rows->front().Int(0);
        return rows.status();
      });
      return s.ok() ? absl::StatusOr<int64_t>(value) : absl::StatusOr<int64_t>(s);
    };
    EXPECT_EQ(sum({int64_t{2}, int64_t{3}}).value_or(-1), 5);
    for (const db::Params& wrong :
         {db::Params{int64_t{2}}, db::Params{}, db::Params{int64_t{1}, int64_t{2}, int64_t{3}}}) {
      auto r = sum(wrong);
      EXPECT_TRUE(absl::IsInternal(r.status())) << r.status();
      EXPECT_NE(r.status().message().find("placeholders"), std::string::npos) << r.status();
    }
    EXPECT_EQ(sum({int64_t{4}, int64_t{3}}).value_or(-1), 7);
  }
}

// A string parameter over 256 KiB (Connector/C++ sends it as long data from
// the caller's string at execution, not from a copy) arrives whole, beside
// short ones, and a later execution of the statement with short strings only
// sends those.
TEST(DatabaseTest, LongStringParametersArriveWhole) {
  for (testing::Backend backend : {testing::Backend::kSqlite, testing::Backend::kMysql}) {
    if (backend == testing::Backend::kMysql && !testing::MysqlConfigured()) continue;
    SCOPED_TRACE(testing::BackendName(backend));
    testing::TestDatabase test_db = testing::MakeTestDatabase(backend);
    auto echo = [&](const std::string& a, const std::string& b) {
      std::string out;
      absl::Status s = test_db.db->RunInTransaction([&](db::Transaction& txn) {
        auto rows = txn.Query("SELECT ?, ?", {a, b});
        if (rows.ok()) out = rows->front().Str(0) + "|" + rows->front().Str(1);
        return rows.status();
      });
      EXPECT_TRUE(s.ok()) << s;
      return out;
    };
    const std::string big(300 * 1024, 'x'), other(400 * 1024, 'y');
    EXPECT_EQ(echo(big, "short"), big + "|short");
    EXPECT_EQ(echo("a", other), "a|" + other);
    EXPECT_EQ(echo("a", "b"), "a|b");
  }
}

// ?pool_size=N in the URL bounds the connections a service opens: with 2,
// a third transaction waits until one of two open ones ends.
TEST(DatabaseTest, PoolSizeFromTheUrlBoundsTheConnections) {
  if (!testing::MysqlConfigured()) GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
  const char* pw = std::getenv("PERFFLOW_TEST_MYSQL_PASSWORD");
  const std::string schema = "t_pool_" + RandomId().substr(0, 12);
  auto opened = db::OpenMysql(std::string(std::getenv("PERFFLOW_TEST_MYSQL_URL")) + "/" + schema + "?pool_size=2",
                              pw ? pw : "", /*pool_size=*/16, /*max_attempts=*/2);
  ASSERT_TRUE(opened.ok()) << opened.status();
  db::Database& db = **opened;
  absl::Notification release;
  std::atomic<int> entered{0};
  auto hold = [&] {
    return std::async(std::launch::async, [&] {
      return db.RunInTransaction([&](db::Transaction& txn) {
        auto r = txn.Query("SELECT 1", {});
        ++entered;
        release.WaitForNotification();
        return r.status();
      });
    });
  };
  auto first = hold();
  auto second = hold();
  for (int i = 0; i < 2000 && entered.load() < 2; ++i) absl::SleepFor(absl::Milliseconds(5));
  ASSERT_EQ(entered.load(), 2);
  int64_t connections = -1;
  auto third = std::async(std::launch::async, [&] {
    return db.RunInTransaction([&](db::Transaction& txn) {
      auto r = txn.Query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE()", {});
      if (r.ok()) connections = r->front().Int(0);
      return r.status();
    });
  });
  // A pool of 16 would run it at once; 2 keeps it waiting for a connection.
  EXPECT_EQ(third.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
  release.Notify();
  EXPECT_TRUE(first.get().ok());
  EXPECT_TRUE(second.get().ok());
  EXPECT_TRUE(third.get().ok());
  EXPECT_EQ(connections, 2);
  (void)db.ExecuteDdl("DROP DATABASE IF EXISTS `" + schema + "`");
}

}  // namespace
}  // namespace perfflow
