// The machine's own limits next to perfflow's ingestion paths, in one process
// and one run (DESIGN.md §8). Each measurement keeps `concurrency` calls in
// flight (one thread each, closed loop) for --seconds; rounds are interleaved
// limit / path / limit / path so both see the same machine, and the medians
// are reported:
//
//   raw_single   one-row INSERTs through Connector/C++, autocommit (durable:
//                the server runs innodb_flush_log_at_trx_commit=1), one
//                connection per thread
//   raw_batch    100-row INSERTs, one statement and commit each
//   raw_echo     an empty unary gRPC call to an in-process generic server
//                over loopback TCP
//   same_work    the statements one IngestEvent performs, by hand through
//                Connector/C++ into copies of the event service's tables
//                (the same-work floor, see SameWork)
//   candidate    with --candidate: the same floor over another data model
//                (its own schema), to measure a model before building it or
//                after leaving it
//   ingest       perfflow IngestEvent (the event row + its tasks)
//   compare      with --compare_addr: IngestEvent on a second perfflow-event
//                (another build, its own schema) in the same rounds
//   batch        perfflow BatchIngestEvents with 100 events a call
//
// Prints one JSON object on stdout (rates per second; rows or events).
// Run by bench/limits_bench.py, which starts the event service.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/statement.h>
#include <mysql_driver.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/flags.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "perfflow/event/v1/event_service.grpc.pb.h"

namespace {

namespace ev = perfflow::event::v1;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string mysql_url;  // mysql://user@host:port
  std::string schema = "limits_bench";
  std::string event_addr;
  // The event service's schema (its tables are copied for the same-work floor).
  std::string event_schema;
  std::string tenant = "bench";
  int seconds = 4;
  int rounds = 3;
  int concurrency = 16;
  int batch_concurrency = 4;
  int batch_size = 100;
  // Processes whose CPU per event is reported (0: not measured).
  int event_pid = 0;
  int mysql_pid = 0;
  // A data model to measure beside the floor (empty: none); see Model.
  std::string candidate;
  // A second perfflow-event whose IngestEvent is measured beside the first
  // (empty: none), and its pid for its CPU per event.
  std::string compare_addr;
  int compare_pid = 0;
};

[[noreturn]] void Die(const std::string& what) {
  std::cerr << "limits_bench: " << what << "\n";
  std::exit(1);
}

// CPU seconds (user + system) process `pid` has used, from /proc/<pid>/stat
// (0 for pid 0; "self" for this process).
double CpuSeconds(const std::string& pid) {
  if (pid == "0") return 0;
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  std::istringstream rest(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::stod(field);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Context switches (voluntary and not) so far of each of `pid`'s threads, by
// thread id, from /proc/<pid>/task/*/status: each time a MariaDB connection
// thread sleeps between two statements and is woken again counts (none for
// pid 0).
std::map<std::string, double> ContextSwitches(const std::string& pid) {
  std::map<std::string, double> out;
  if (pid == "0") return out;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + pid + "/task", ec)) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("voluntary_ctxt_switches:", 0) == 0 || line.rfind("nonvoluntary_ctxt_switches:", 0) == 0) {
        out[task.path().filename()] += std::stod(line.substr(line.find(':') + 1));
      }
    }
  }
  return out;
}

// The switches between two snapshots of the threads alive at both (a thread
// that ends or starts in between is left out: its counts go with it).
double SwitchesBetween(const std::map<std::string, double>& before, const std::map<std::string, double>& after) {
  double total = 0;
  for (const auto& [tid, count] : after) {
    if (auto it = before.find(tid); it != before.end()) total += count - it->second;
  }
  return total;
}

// What one measurement used: items, and CPU seconds of the watched processes.
struct Usage {
  long items = 0;
  std::map<std::string, double> cpu;       // pid -> seconds
  std::map<std::string, double> switches;  // pid -> context switches of its threads
  // Microseconds of `pid`'s CPU per item.
  double PerItemUs(const std::string& pid) const { return PerItem(cpu, pid) * 1e6; }
  double SwitchesPerItem(const std::string& pid) const { return PerItem(switches, pid); }

 private:
  double PerItem(const std::map<std::string, double>& totals, const std::string& pid) const {
    auto it = totals.find(pid);
    return items == 0 || it == totals.end() ? 0 : it->second / static_cast<double>(items);
  }
};

// Runs `op(thread, iteration)` on `threads` threads for `seconds`; returns
// operations per second (each op may count several items: its return value).
// With `usage`, adds the items and the CPU `pids` used meanwhile.
double Closed(int threads, int seconds, const std::function<int(int, long)>& op, Usage* usage = nullptr,
              const std::vector<std::string>& pids = {}) {
  std::map<std::string, double> cpu_before;
  std::map<std::string, std::map<std::string, double>> switches_before;
  for (const std::string& pid : pids) {
    cpu_before[pid] = CpuSeconds(pid);
    switches_before[pid] = ContextSwitches(pid);
  }
  std::atomic<bool> stop{false};
  std::atomic<long> items{0};
  std::vector<std::thread> pool;
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      long local = 0;
      try {
        for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) local += op(t, i);
      } catch (const std::exception& e) {
        Die(e.what());
      }
      items += local;
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  if (usage != nullptr) {
    usage->items += items.load();
    for (const std::string& pid : pids) {
      usage->cpu[pid] += CpuSeconds(pid) - cpu_before[pid];
      usage->switches[pid] += SwitchesBetween(switches_before[pid], ContextSwitches(pid));
    }
  }
  return items.load() / elapsed;
}

// ------------------------------------------------------------ raw MariaDB

sql::ConnectOptionsMap ConnectOptions(const Options& o) {
  std::smatch m;
  if (!std::regex_match(o.mysql_url, m, std::regex(R"(^mysql://([^:@/]+)@([^:/]+):(\d+)$)"))) {
    Die("--mysql_url must be mysql://user@host:port");
  }
  const char* pwd = std::getenv("PERFFLOW_DB_PASSWORD");
  sql::ConnectOptionsMap options;
  options["hostName"] = sql::SQLString(m[2].str());
  options["port"] = std::stoi(m[3].str());
  options["userName"] = sql::SQLString(m[1].str());
  options["password"] = sql::SQLString(pwd == nullptr ? "" : pwd);
  return options;
}

class RawMysql {
 public:
  RawMysql(const Options& o, int connections) {
    sql::ConnectOptionsMap options = ConnectOptions(o);
    auto* driver = sql::mysql::get_mysql_driver_instance();
    {
      std::unique_ptr<sql::Connection> admin(driver->connect(options));
      std::unique_ptr<sql::Statement> s(admin->createStatement());
      s->execute("CREATE DATABASE IF NOT EXISTS `" + o.schema + "`");
      s->execute("CREATE TABLE IF NOT EXISTS `" + o.schema +
                 "`.raw_rows (tenant_id VARCHAR(64) NOT NULL, row_id CHAR(32) NOT NULL, "
                 "payload VARCHAR(255) NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, row_id))");
    }
    options["schema"] = sql::SQLString(o.schema);
    std::string batch_sql = "INSERT INTO raw_rows (tenant_id, row_id, payload, created_at) VALUES ";
    for (int r = 0; r < o.batch_size; ++r) absl::StrAppend(&batch_sql, r == 0 ? "" : ",", "(?, ?, ?, ?)");
    for (int i = 0; i < connections; ++i) {
      Connection c;
      c.conn.reset(driver->connect(options));
      c.single.reset(c.conn->prepareStatement(
          "INSERT INTO raw_rows (tenant_id, row_id, payload, created_at) VALUES (?, ?, ?, ?)"));
      c.batch.reset(c.conn->prepareStatement(batch_sql));
      conns_.push_back(std::move(c));
    }
  }

  // One durable one-row insert on connection `c`.
  int InsertOne(int c, long i) {
    sql::PreparedStatement* st = conns_[c].single.get();
    st->setString(1, "bench");
    st->setString(2, NextRowId());
    st->setString(3, "crm.contract_signed s1 100000 key");
    st->setInt64(4, i);
    st->executeUpdate();
    return 1;
  }

  // One durable `rows`-row insert (one statement, one commit) on connection `c`.
  int InsertBatch(int c, long i, int rows) {
    sql::PreparedStatement* st = conns_[c].batch.get();
    for (int r = 0; r < rows; ++r) {
      st->setString(4 * r + 1, "bench");
      st->setString(4 * r + 2, NextRowId());
      st->setString(4 * r + 3, "crm.contract_signed s1 100000 key");
      st->setInt64(4 * r + 4, i);
    }
    st->executeUpdate();
    return rows;
  }

 private:
  // Unique within the run's fresh schema, as wide as an event id.
  std::string NextRowId() { return absl::StrFormat("%032x", ++rows_); }

  std::atomic<long> rows_{0};

  struct Connection {
    std::unique_ptr<sql::Connection> conn;
    std::unique_ptr<sql::PreparedStatement> single;
    std::unique_ptr<sql::PreparedStatement> batch;  // batch_size rows
  };
  std::vector<Connection> conns_;
};

// ------------------------------------------------------------ same-work floor

// Exactly the statements one IngestEvent of a new id performs today, written
// by hand: the event row (its flow and idempotency key are columns of it; the
// unique index refuses a stored id, no look-up first), the event's task rows
// (each its own task.assigned notice) as one multi-row INSERT, then COMMIT — READ COMMITTED, autocommit
// off, one connection per thread, statements prepared once. The tables are
// copies (CREATE TABLE ... LIKE) of the event service's, so the indexes are
// the same; the rows per event and the attributes are taken from an event
// the service stored (call after one IngestEvent).
//
// A candidate model runs the same work over changed tables in `schema`:
//   outbox_rows  the model before migration 11: the tasks without their
//                notice columns and index, and a task.assigned outbox row
//                per task beside them (the relay's side is not measured)
class SameWork {
 public:
  enum class Model { kToday, kOutboxRows };

  static Model ParseModel(const std::string& name) {
    if (name == "outbox_rows") return Model::kOutboxRows;
    Die("--candidate must be outbox_rows");
  }

  SameWork(const Options& o, int connections, const std::string& schema, Model model) : tenant_(o.tenant) {
    sql::ConnectOptionsMap options = ConnectOptions(o);
    auto* driver = sql::mysql::get_mysql_driver_instance();
    const std::string& from = o.event_schema;
    {
      std::unique_ptr<sql::Connection> admin(driver->connect(options));
      std::unique_ptr<sql::Statement> s(admin->createStatement());
      s->execute("CREATE DATABASE IF NOT EXISTS `" + schema + "`");
      for (const char* table : {"events", "tasks", "outbox"}) {
        s->execute(absl::StrCat("CREATE TABLE IF NOT EXISTS `", schema, "`.", table, " LIKE `", from, "`.", table));
      }
      if (model == Model::kOutboxRows) {
        s->execute(absl::StrCat("DROP INDEX IF EXISTS tasks_notice_due ON `", schema, "`.tasks"));
        for (const char* column : {"state", "attempts", "next_attempt_at", "lease_owner", "lease_until", "fence",
                                   "last_error", "delivered_to", "delivered_at"}) {
          s->execute(absl::StrCat("ALTER TABLE `", schema, "`.tasks DROP COLUMN IF EXISTS notice_", column));
        }
      }
      auto count = [&](const std::string& table, const std::string& also) {
        std::unique_ptr<sql::ResultSet> r(s->executeQuery(
            absl::StrCat("SELECT COUNT(*) FROM `", from, "`.", table, " WHERE tenant_id = '", o.tenant, "'", also)));
        return r->next() ? r->getInt64(1) : 0;
      };
      const int64_t events = count("events", "");
      if (events == 0) Die("the same-work floor needs one event stored by the service first");
      tasks_ = static_cast<int>(count("tasks", "") / events);
      auto first = [&](const std::string& sql) {
        std::unique_ptr<sql::ResultSet> r(s->executeQuery(sql));
        return r->next() ? std::string(r->getString(1)) : std::string();
      };
      attributes_ = first(absl::StrCat("SELECT attributes FROM `", from, "`.events LIMIT 1"));
    }
    if (model == Model::kOutboxRows) {
      outbox_ = tasks_;
      // The payload ingestion wrote before migration 11 (the relay now builds it from the task row).
      payload_ = absl::StrCat("{\"event\":\"events/", std::string(32, '0'),
                              "\",\"event_type\":\"crm.contract_signed\",\"task\":\"tasks/", std::string(32, '0'),
                              "\",\"kind\":\"manager_review\",\"due_at\":\"2026-12-04T05:19:52Z\"}");
    }
    notices_ = model == Model::kToday;
    options["schema"] = sql::SQLString(schema);
    auto rows = [](int n, const char* one) {
      std::string out;
      for (int i = 0; i < n; ++i) absl::StrAppend(&out, i == 0 ? "" : ", ", one);
      return out;
    };
    for (int i = 0; i < connections; ++i) {
      Connection c;
      c.conn.reset(driver->connect(options));
      {
        std::unique_ptr<sql::Statement> s(c.conn->createStatement());
        s->execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
      }
      c.conn->setAutoCommit(false);
      c.event.reset(c.conn->prepareStatement(
          "INSERT INTO events (tenant_id, event_id, event_type, source, external_id, subject_id, department_id, "
          "occurred_at, attributes, registry_version, imported, payload_hash, step, round, verdict, "
          "requires_cross_confirm, triggered_at, triggered_day, owner_action_at, manager_feedback_at, "
          "cross_confirm_at, archived_at, evidence_complete_at) VALUES "
          "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL)"));
      if (tasks_ > 0) {
        c.tasks.reset(c.conn->prepareStatement(
            std::string("INSERT INTO tasks (tenant_id, task_id, event_id, event_type, kind, assignee_id, state, "
                        "due_at, created_at, completed_at, timer_level, timer_at, escalate_after_ms, escalate_to") +
            (notices_ ? ", notice_state, notice_next_attempt_at) VALUES " : ") VALUES ") +
            rows(tasks_, notices_ ? "(?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, 0, ?)"
                                  : "(?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)")));
      }
      if (outbox_ > 0) {
        c.outbox.reset(c.conn->prepareStatement(
            "INSERT INTO outbox (tenant_id, message_id, idempotency_key, topic, recipient_id, payload, created_at, "
            "state, attempts) VALUES " +
            rows(outbox_, "(?, ?, ?, ?, ?, ?, ?, 0, 0)")));
      }
      c.commit.reset(c.conn->createStatement());
      conns_.push_back(std::move(c));
    }
  }

  int rows_per_event() const { return 1 + tasks_ + outbox_; }

  // One event's statements and commit on connection `c`.
  int Ingest(int c, long /*iteration*/) {
    Connection& k = conns_[c];
    const std::string id = absl::StrFormat("%032x", ++events_);
    const std::string external = absl::StrCat("floor-", id);
    const int64_t now = absl::ToUnixMillis(absl::Now());
    SetAll(k.event.get(), {tenant_, id, "crm.contract_signed", "crm", external, "s1", "sales"}, {now});
    k.event->setString(9, attributes_);
    k.event->setInt64(10, 1);
    k.event->setInt64(11, 0);
    k.event->setString(12, std::string(64, 'a'));
    int at = 12;  // the flow: TRIGGERED, round 1, no verdict, cross-confirmed, now
    for (int64_t v : {int64_t{1}, int64_t{1}, int64_t{0}, int64_t{1}, now, now / 86'400'000}) {
      k.event->setInt64(++at, v);
    }
    k.event->executeUpdate();
    const int per_task = notices_ ? 14 : 13;
    for (int t = 0; t < tasks_; ++t) {
      const int at = per_task * t;
      k.tasks->setString(at + 1, tenant_);
      k.tasks->setString(at + 2, absl::StrCat(id.substr(8), "-t", t));
      k.tasks->setString(at + 3, id);
      k.tasks->setString(at + 4, "crm.contract_signed");
      k.tasks->setInt64(at + 5, t + 1);
      k.tasks->setString(at + 6, "s1");
      k.tasks->setInt64(at + 7, 1);
      k.tasks->setInt64(at + 8, now + 86'400'000);
      k.tasks->setInt64(at + 9, now);
      k.tasks->setInt64(at + 10, 1);
      k.tasks->setInt64(at + 11, now + 72'000'000);
      k.tasks->setInt64(at + 12, 86'400'000);
      k.tasks->setInt64(at + 13, 1);
      if (notices_) k.tasks->setInt64(at + 14, now);  // the notice is due at once
    }
    if (k.tasks) k.tasks->executeUpdate();
    for (int m = 0; m < outbox_; ++m) {
      const int at = 7 * m;
      k.outbox->setString(at + 1, tenant_);
      k.outbox->setString(at + 2, absl::StrCat(id.substr(8), "-m", m));
      k.outbox->setString(at + 3, absl::StrCat("task.assigned:", id, "-", m));
      k.outbox->setString(at + 4, "task.assigned");
      k.outbox->setString(at + 5, "s1");
      k.outbox->setString(at + 6, payload_);
      k.outbox->setInt64(at + 7, now);
    }
    if (k.outbox) k.outbox->executeUpdate();
    k.commit->execute("COMMIT");
    return 1;
  }

 private:
  // Binds `strings` then `numbers` to parameters 1, 2, ...
  static void SetAll(sql::PreparedStatement* st, std::initializer_list<std::string> strings,
                     std::initializer_list<int64_t> numbers) {
    int i = 0;
    for (const std::string& v : strings) st->setString(++i, v);
    for (int64_t v : numbers) st->setInt64(++i, v);
  }

  struct Connection {
    std::unique_ptr<sql::Connection> conn;
    std::unique_ptr<sql::PreparedStatement> event, tasks, outbox;
    std::unique_ptr<sql::Statement> commit;
  };
  const std::string tenant_;
  int tasks_ = 0;
  int outbox_ = 0;
  bool notices_ = true;  // each task row is its own notice
  std::string attributes_;
  std::string payload_;
  std::atomic<long> events_{0};
  std::vector<Connection> conns_;
};

// ------------------------------------------------------------ raw gRPC echo

// A generic service that answers every call with the request's bytes.
class EchoService : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Reactor : public grpc::ServerGenericBidiReactor {
     public:
      Reactor() { StartRead(&buffer_); }
      void OnReadDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::OK);
        StartWriteAndFinish(&buffer_, grpc::WriteOptions(), grpc::Status::OK);
      }
      void OnWriteDone(bool) override {}
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer buffer_;
    };
    return new Reactor;
  }
};

class Echo {
 public:
  Echo() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) Die("echo server did not start");
    stub_ = std::make_unique<grpc::GenericStub>(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_), grpc::InsecureChannelCredentials()));
  }
  ~Echo() { server_->Shutdown(); }

  int Call() {
    grpc::ClientContext ctx;
    grpc::Slice empty("");
    grpc::ByteBuffer request(&empty, 1), response;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    grpc::Status status;
    stub_->UnaryCall(&ctx, "/bench.Echo/Call", grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
      std::lock_guard<std::mutex> lock(mu);
      status = std::move(s);
      done = true;
      cv.notify_one();
    });
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
    if (!status.ok()) Die("echo: " + status.error_message());
    return 1;
  }

 private:
  EchoService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

// ------------------------------------------------------------ perfflow

class Perfflow {
 public:
  Perfflow(const Options& o, const std::string& address) : o_(o) {
    stub_ = ev::EventService::NewStub(grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  }

  int Ingest(int c, long i) {
    grpc::ClientContext ctx;
    Identify(&ctx);
    ev::IngestEventResponse resp;
    grpc::Status s = stub_->IngestEvent(&ctx, Request(c, i, 0), &resp);
    if (!s.ok()) Die("IngestEvent: " + s.error_message());
    if (resp.duplicate()) Die("IngestEvent answered duplicate for a new id");
    return 1;
  }

  int Batch(int c, long i) {
    grpc::ClientContext ctx;
    Identify(&ctx);
    ev::BatchIngestEventsRequest req;
    for (int r = 0; r < o_.batch_size; ++r) *req.add_requests() = Request(c, i, r + 1);
    ev::BatchIngestEventsResponse resp;
    grpc::Status s = stub_->BatchIngestEvents(&ctx, req, &resp);
    if (!s.ok()) Die("BatchIngestEvents: " + s.error_message());
    for (const auto& r : resp.results()) {
      if (r.status().code() != 0) Die("BatchIngestEvents item: " + r.status().message());
    }
    return resp.results_size();
  }

 private:
  void Identify(grpc::ClientContext* ctx) const {
    ctx->AddMetadata("x-perfflow-tenant", o_.tenant);
    ctx->AddMetadata("x-perfflow-roles", "system");
    const char* token = std::getenv("PERFFLOW_INTERNAL_TOKEN");
    if (token != nullptr) ctx->AddMetadata("x-perfflow-internal-token", token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  }

  ev::IngestEventRequest Request(int c, long i, int r) const {
    ev::IngestEventRequest req;
    req.set_source("crm");
    req.set_external_id(absl::StrCat(run_, "-", ++calls_, "-", c, "-", i, "-", r));
    req.set_event_type("crm.contract_signed");
    req.set_subject_id("s1");
    auto& fields = *req.mutable_attributes()->mutable_fields();
    fields["contract_value"].set_number_value(100000);
    fields["customer_tier"].set_string_value("key");
    return req;
  }

  const Options& o_;
  std::unique_ptr<ev::EventService::Stub> stub_;
  mutable std::atomic<long> calls_{0};
  const std::string run_ = std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string JsonList(const std::vector<double>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) absl::StrAppend(&out, i == 0 ? "" : ", ", v[i]);
  return out + "]";
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  perfflow::FlagSet flags("limits_bench", "The machine's limits next to perfflow's ingestion paths (JSON on stdout).");
  flags.AddString("mysql_url", &o.mysql_url, "mysql://user@host:port (password from PERFFLOW_DB_PASSWORD)");
  flags.AddString("schema", &o.schema, "schema for the raw insert table");
  flags.AddString("event_addr", &o.event_addr, "perfflow-event address (its tenant has the catalogue and s1)");
  flags.AddString("event_schema", &o.event_schema,
                  "the event service's schema, whose tables the same-work floor copies (empty: no such floor)");
  flags.AddString("tenant", &o.tenant, "tenant to ingest into");
  flags.AddInt("seconds", &o.seconds, "seconds per measurement");
  flags.AddInt("rounds", &o.rounds, "interleaved rounds (medians are reported)");
  flags.AddInt("concurrency", &o.concurrency, "calls in flight for single inserts, IngestEvent and the echo");
  flags.AddInt("batch_concurrency", &o.batch_concurrency, "calls in flight for batched inserts and BatchIngestEvents");
  flags.AddInt("batch_size", &o.batch_size, "rows or events per batch");
  flags.AddInt("event_pid", &o.event_pid, "perfflow-event's pid, for its CPU per event (0: not measured)");
  flags.AddInt("mysql_pid", &o.mysql_pid, "mariadbd's pid, for its CPU per event (0: not measured)");
  flags.AddString("compare_addr", &o.compare_addr,
                  "a second perfflow-event (another build) whose IngestEvent runs in the same rounds (empty: none)");
  flags.AddInt("compare_pid", &o.compare_pid, "the second perfflow-event's pid, for its CPU per event");
  flags.AddString("candidate", &o.candidate,
                  "a data model measured beside the same-work floor: outbox_rows (empty: none)");
  flags.ParseOrExit(argc, argv);
  if (o.mysql_url.empty() || o.event_addr.empty()) Die("--mysql_url and --event_addr are required");
  // The schema is named in SQL text (identifiers cannot be bound).
  for (const std::string* name : {&o.schema, &o.event_schema}) {
    if (!name->empty() && !std::regex_match(*name, std::regex("[A-Za-z0-9_]{1,64}"))) {
      Die("--schema and --event_schema must match [A-Za-z0-9_]{1,64}");
    }
  }
  if (o.schema.empty()) Die("--schema must match [A-Za-z0-9_]{1,64}");
  if (o.concurrency < 1 || o.batch_concurrency < 1 || o.batch_size < 1 || o.seconds < 1 || o.rounds < 1) {
    Die("--concurrency, --batch_concurrency, --batch_size, --seconds and --rounds must be positive");
  }

  try {
    RawMysql raw(o, std::max(o.concurrency, o.batch_concurrency));
    Echo echo;
    Perfflow perfflow(o, o.event_addr);
    std::unique_ptr<Perfflow> compare;
    if (!o.compare_addr.empty()) compare = std::make_unique<Perfflow>(o, o.compare_addr);
    std::unique_ptr<SameWork> same, candidate;
    if (!o.event_schema.empty()) {
      perfflow.Ingest(0, -1);  // one stored event: the floor's row counts and payloads
      same = std::make_unique<SameWork>(o, o.concurrency, o.schema, SameWork::Model::kToday);
      if (!o.candidate.empty()) {
        candidate =
            std::make_unique<SameWork>(o, o.concurrency, o.schema + "_candidate", SameWork::ParseModel(o.candidate));
      }
    }
    std::vector<double> raw_single, same_work, candidate_work, ingest, compare_ingest, raw_batch, batch, compare_batch,
        raw_echo;
    const std::string service = std::to_string(o.event_pid), mysql = std::to_string(o.mysql_pid);
    const std::string compared = std::to_string(o.compare_pid);
    Usage same_usage, candidate_usage, ingest_usage, compare_usage, echo_usage;
    for (int r = 0; r < o.rounds; ++r) {
      raw_single.push_back(Closed(o.concurrency, o.seconds, [&](int c, long i) { return raw.InsertOne(c, i); }));
      if (same)
        same_work.push_back(
            Closed(o.concurrency, o.seconds, [&](int c, long i) { return same->Ingest(c, i); }, &same_usage, {mysql}));
      if (candidate)
        candidate_work.push_back(Closed(o.concurrency, o.seconds,
                                        [&](int c, long i) { return candidate->Ingest(c, i); }, &candidate_usage,
                                        {mysql}));
      auto single_phase = [&](Perfflow& client, std::vector<double>& rates, Usage& usage, const std::string& pid) {
        rates.push_back(
            Closed(o.concurrency, o.seconds, [&](int c, long i) { return client.Ingest(c, i); }, &usage, {pid, mysql}));
      };
      auto batch_phase = [&](Perfflow& client, std::vector<double>& rates) {
        rates.push_back(Closed(o.batch_concurrency, o.seconds, [&](int c, long i) { return client.Batch(c, i); }));
      };
      auto raw_batches = [&] {
        raw_batch.push_back(
            Closed(o.batch_concurrency, o.seconds, [&](int c, long i) { return raw.InsertBatch(c, i, o.batch_size); }));
      };
      if (!compare) {
        single_phase(perfflow, ingest, ingest_usage, service);
        raw_batches();
        batch_phase(perfflow, batch);
      } else {
        // A phase pays for what the one before left MariaDB and the relay to
        // do (dirty pages, purge, undelivered messages): the two builds take
        // turns going first, each with its IngestEvent then its
        // BatchIngestEvents phase, so both store as much.
        raw_batches();
        for (int k = 0; k < 2; ++k) {
          if ((k + r) % 2 == 0) {
            single_phase(perfflow, ingest, ingest_usage, service);
            batch_phase(perfflow, batch);
          } else {
            single_phase(*compare, compare_ingest, compare_usage, compared);
            batch_phase(*compare, compare_batch);
          }
        }
      }
      // Client and server of the echo share this process: its CPU per call is both sides'.
      raw_echo.push_back(
          Closed(o.concurrency, o.seconds, [&](int, long) { return echo.Call(); }, &echo_usage, {"self"}));
    }
    std::cout << "{\"concurrency\": " << o.concurrency << ", \"batch_concurrency\": " << o.batch_concurrency
              << ", \"batch_size\": " << o.batch_size << ", \"seconds\": " << o.seconds
              << ",\n \"raw_single_rows_per_s\": " << Median(raw_single)
              << ", \"ingest_events_per_s\": " << Median(ingest)
              << ", \"compare_events_per_s\": " << (compare ? Median(compare_ingest) : 0)
              << ", \"compare_batch_events_per_s\": " << (compare ? Median(compare_batch) : 0)
              << ", \"same_work_events_per_s\": " << (same ? Median(same_work) : 0)
              << ", \"same_work_rows_per_event\": " << (same ? same->rows_per_event() : 0) << ",\n \"candidate\": \""
              << o.candidate << "\", \"candidate_events_per_s\": " << (candidate ? Median(candidate_work) : 0)
              << ", \"candidate_rows_per_event\": " << (candidate ? candidate->rows_per_event() : 0)
              << ",\n \"cpu_us_per_event\": {\"ingest_service\": " << ingest_usage.PerItemUs(service)
              << ", \"ingest_mysql\": " << ingest_usage.PerItemUs(mysql)
              << ", \"same_work_mysql\": " << same_usage.PerItemUs(mysql)
              << ", \"candidate_mysql\": " << candidate_usage.PerItemUs(mysql)
              << ", \"compare_service\": " << compare_usage.PerItemUs(compared)
              << ", \"compare_mysql\": " << compare_usage.PerItemUs(mysql)
              << ", \"echo_client_and_server\": " << echo_usage.PerItemUs("self") << "}"
              << ",\n \"mysql_context_switches_per_event\": {\"ingest\": " << ingest_usage.SwitchesPerItem(mysql)
              << ", \"same_work\": " << same_usage.SwitchesPerItem(mysql)
              << ", \"candidate\": " << candidate_usage.SwitchesPerItem(mysql)
              << ", \"compare\": " << compare_usage.SwitchesPerItem(mysql) << "}"
              << ",\n \"raw_batch_rows_per_s\": " << Median(raw_batch) << ", \"batch_events_per_s\": " << Median(batch)
              << ",\n \"raw_echo_calls_per_s\": " << Median(raw_echo)
              << ",\n \"rounds\": {\"raw_single\": " << JsonList(raw_single)
              << ", \"same_work\": " << JsonList(same_work) << ", \"candidate\": " << JsonList(candidate_work)
              << ", \"ingest\": " << JsonList(ingest) << ", \"compare\": " << JsonList(compare_ingest)
              << ", \"raw_batch\": " << JsonList(raw_batch) << ", \"batch\": " << JsonList(batch)
              << ", \"raw_echo\": " << JsonList(raw_echo) << "}}\n";
  } catch (const sql::SQLException& e) {
    Die(std::string("MariaDB: ") + e.what());
  }
  return 0;
}
