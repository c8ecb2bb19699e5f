// SQLite backend: one connection in WAL mode guarded by a mutex, so
// transactions are serialised in-process; a prepared-statement cache keeps
// repeated statements cheap.

#include <sqlite3.h>

#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/db/database.h"
#include "common/log.h"

namespace perfflow::db {
namespace {

absl::Status FromSqlite(int rc, sqlite3* handle) {
  int primary = rc & 0xff;
  std::string detail = handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
  switch (primary) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return absl::OkStatus();
    case SQLITE_CONSTRAINT:
      if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return absl::AlreadyExistsError("duplicate key");
      }
      return absl::FailedPreconditionError("constraint violated");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::AbortedError("database busy");
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_FULL:
      return absl::UnavailableError(absl::StrCat("database unavailable: ", sqlite3_errstr(rc)));
    default:
      // Internal: the detail reaches the log, never a caller.
      return absl::InternalError(absl::StrCat("sqlite: ", detail));
  }
}

class SqliteDatabase;

class SqliteTransaction : public Transaction {
 public:
  explicit SqliteTransaction(SqliteDatabase& db) : db_(db) {}
  absl::StatusOr<std::vector<Row>> Query(const std::string& sql, const Params& params) override;
  absl::StatusOr<int64_t> Execute(const std::string& sql, const Params& params) override;
  Dialect dialect() const override { return Dialect::kSqlite; }

 private:
  SqliteDatabase& db_;
};

class SqliteDatabase : public Database {
 public:
  SqliteDatabase(sqlite3* handle, int max_attempts) : handle_(handle), max_attempts_(max_attempts) {}
  ~SqliteDatabase() override {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(handle_);
  }

  absl::Status RunInTransaction(const std::function<absl::Status(Transaction&)>& body) override {
    absl::MutexLock lock(&mu_);
    absl::Status status;
    for (int attempt = 0; attempt < max_attempts_; ++attempt) {
      status = RunOnce(body);
      if (!absl::IsAborted(status)) return status;
    }
    return absl::UnavailableError("database busy; try again");
  }

  absl::Status ExecuteDdl(const std::string& sql) override {
    absl::MutexLock lock(&mu_);
    return Exec(sql);
  }

  absl::Status Ping() override {
    absl::MutexLock lock(&mu_);
    return Exec("SELECT 1");
  }

  Dialect dialect() const override { return Dialect::kSqlite; }

  // Prepared statement for `sql`, reset and bound. Called by the transaction
  // RunInTransaction runs, with mu_ held.
  absl::StatusOr<sqlite3_stmt*> Prepare(const std::string& sql, const Params& params) {
    mu_.AssertHeld();
    sqlite3_stmt* stmt = nullptr;
    auto it = statements_.find(sql);
    if (it != statements_.end()) {
      stmt = it->second;
      sqlite3_reset(stmt);
      sqlite3_clear_bindings(stmt);
    } else {
      int rc = sqlite3_prepare_v2(handle_, sql.c_str(), -1, &stmt, nullptr);
      if (rc != SQLITE_OK) return FromSqlite(rc, handle_);
      statements_.emplace(sql, stmt);
    }
    // SQLite would bind a missing parameter as NULL.
    if (const int placeholders = sqlite3_bind_parameter_count(stmt); placeholders != static_cast<int>(params.size())) {
      return absl::InternalError(
          absl::StrCat("statement has ", placeholders, " placeholders, ", params.size(), " parameters given"));
    }
    for (size_t i = 0; i < params.size(); ++i) {
      int idx = static_cast<int>(i + 1);
      int rc = std::visit(
          [&](const auto& v) -> int {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::nullptr_t>) {
              return sqlite3_bind_null(stmt, idx);
            } else if constexpr (std::is_same_v<T, int64_t>) {
              return sqlite3_bind_int64(stmt, idx, v);
            } else if constexpr (std::is_same_v<T, double>) {
              return sqlite3_bind_double(stmt, idx, v);
            } else {
              return sqlite3_bind_text(stmt, idx, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
            }
          },
          params[i]);
      if (rc != SQLITE_OK) return FromSqlite(rc, handle_);
    }
    return stmt;
  }

  sqlite3* handle() { return handle_; }

 private:
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    char* err = nullptr;
    int rc = sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &err);
    if (err != nullptr) sqlite3_free(err);
    return FromSqlite(rc, handle_);
  }

  absl::Status RunOnce(const std::function<absl::Status(Transaction&)>& body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
    SqliteTransaction txn(*this);
    absl::Status status = body(txn);
    if (status.ok()) {
      status = Exec("COMMIT");
      if (status.ok()) return status;
    }
    (void)Exec("ROLLBACK");
    return status;
  }

  absl::Mutex mu_;
  sqlite3* handle_;
  int max_attempts_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<std::vector<Row>> SqliteTransaction::Query(const std::string& sql, const Params& params) {
  absl::StatusOr<sqlite3_stmt*> stmt = db_.Prepare(sql, params);
  if (!stmt.ok()) return stmt.status();
  std::vector<Row> rows;
  int columns = sqlite3_column_count(*stmt);
  while (true) {
    int rc = sqlite3_step(*stmt);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) {
      absl::Status s = FromSqlite(rc, db_.handle());
      sqlite3_reset(*stmt);
      return s;
    }
    std::vector<std::optional<std::string>> cols;
    cols.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      if (sqlite3_column_type(*stmt, c) == SQLITE_NULL) {
        cols.emplace_back(std::nullopt);
      } else {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(*stmt, c));
        cols.emplace_back(std::string(text, sqlite3_column_bytes(*stmt, c)));
      }
    }
    rows.emplace_back(std::move(cols));
  }
  sqlite3_reset(*stmt);
  return rows;
}

absl::StatusOr<int64_t> SqliteTransaction::Execute(const std::string& sql, const Params& params) {
  absl::StatusOr<sqlite3_stmt*> stmt = db_.Prepare(sql, params);
  if (!stmt.ok()) return stmt.status();
  int rc = sqlite3_step(*stmt);
  absl::Status s = FromSqlite(rc, db_.handle());
  sqlite3_reset(*stmt);
  if (!s.ok()) return s;
  return static_cast<int64_t>(sqlite3_changes(db_.handle()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const std::string& path, int max_attempts) {
  sqlite3* handle = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close(handle);
    return absl::UnavailableError(absl::StrCat("cannot open sqlite database '", path, "': ", why));
  }
  sqlite3_busy_timeout(handle, 5000);
  // Extended codes tell unique-key violations (ALREADY_EXISTS) from other
  // constraint failures.
  sqlite3_extended_result_codes(handle, 1);
  auto db = std::make_unique<SqliteDatabase>(handle, max_attempts);
  // WAL keeps readers of other processes (sqlite3 CLI) off the writer's path;
  // synchronous=FULL makes every acknowledged commit durable.
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=OFF"}) {
    if (absl::Status s = db->ExecuteDdl(pragma); !s.ok()) return s;
  }
  return db;
}

}  // namespace perfflow::db
