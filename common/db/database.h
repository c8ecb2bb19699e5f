#pragma once

// One SQL layer for two backends: MySQL/MariaDB through Connector/C++ and
// SQLite (the embedded default). SQL uses `?` placeholders only; values are
// always bound, never spliced. Errors are absl::Status values with no SQL
// text: unique-key violations are AlreadyExists, lost or refused connections
// are Unavailable, deadlocks and lock waits are retried by RunInTransaction.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace perfflow::db {

using Param = std::variant<std::nullptr_t, int64_t, double, std::string>;
using Params = std::vector<Param>;

// One result row; every column is read as text (or NULL) and converted on access.
class Row {
 public:
  explicit Row(std::vector<std::optional<std::string>> cols) : cols_(std::move(cols)) {}
  bool IsNull(size_t i) const { return !cols_.at(i).has_value(); }
  std::string Str(size_t i) const { return cols_.at(i).value_or(""); }
  int64_t Int(size_t i) const;
  double Double(size_t i) const;
  std::optional<int64_t> OptInt(size_t i) const;
  size_t size() const { return cols_.size(); }

 private:
  std::vector<std::optional<std::string>> cols_;
};

enum class Dialect { kSqlite, kMysql };

// A transaction in progress. Not thread-safe; lives inside RunInTransaction.
class Transaction {
 public:
  virtual ~Transaction() = default;
  virtual absl::StatusOr<std::vector<Row>> Query(const std::string& sql, const Params& params) = 0;
  // Returns the number of affected rows.
  virtual absl::StatusOr<int64_t> Execute(const std::string& sql, const Params& params) = 0;
  virtual Dialect dialect() const = 0;
  // " FOR UPDATE" on MySQL; SQLite transactions already hold the write lock.
  std::string ForUpdate() const { return dialect() == Dialect::kMysql ? " FOR UPDATE" : ""; }
  // " FORCE INDEX (PRIMARY)" on MySQL, for "tenant_id = ? AND id IN (...)"
  // by primary key: otherwise MariaDB's optimiser weighs every index that
  // starts with tenant_id against the list before it picks the primary key
  // (half or more of such a statement's time at 200 values, measured).
  std::string ForcePrimary() const { return dialect() == Dialect::kMysql ? " FORCE INDEX (PRIMARY)" : ""; }
};

// A database handle. Thread-safe: any thread may run transactions.
class Database {
 public:
  virtual ~Database() = default;

  // Runs `body` in one transaction and commits when it returns OK; rolls back
  // otherwise. Deadlocks (1213), lock-wait timeouts (1205), SQLITE_BUSY and a
  // connection lost before commit retry the whole body (bounded attempts), so
  // `body` must have no side effects outside the transaction.
  virtual absl::Status RunInTransaction(const std::function<absl::Status(Transaction&)>& body) = 0;

  // Runs DDL statements outside a transaction (MySQL commits DDL implicitly).
  virtual absl::Status ExecuteDdl(const std::string& sql) = 0;

  // OK when the database answers a trivial query now.
  virtual absl::Status Ping() = 0;

  virtual Dialect dialect() const = 0;
};

struct DatabaseOptions {
  // sqlite:/path/file.db, sqlite::memory:, or mysql://user@host:port/schema.
  std::string url;
  // MySQL password (from the environment, never a flag).
  std::string password;
  int pool_size = 8;
  int max_attempts = 5;
};

// Splits `n` items into runs of 64, 32, 16 and 8 (largest first), then the
// last 1-7 as one run: multi-row statements over them need at most eleven SQL
// texts, so each connection's prepared-statement cache stays small whatever
// the batch sizes, and the two or three tasks of one event are one statement.
// Returns (first index, count) pairs.
std::vector<std::pair<size_t, size_t>> Chunks(size_t n);

// "?,?,?" for an IN list of `n` parameters.
std::string Placeholders(size_t n);

// Inserts `rows` with multi-row INSERTs over Chunks(): `head` is
// "INSERT INTO t (a, b, c) VALUES ", `row` the values of one row such as
// "(?, ?, NULL)", each element of `rows` the parameters of one row.
// A unique-key violation is AlreadyExists, like a single-row insert.
absl::Status InsertRows(Transaction& txn, const std::string& head, const std::string& row,
                        const std::vector<Params>& rows);

// One read on its own: `sql`'s rows, in a transaction of their own (retried
// like any, see RunInTransaction).
absl::StatusOr<std::vector<Row>> QueryOnce(Database& db, const std::string& sql, const Params& params);
// The first column of its first row as an integer; `if_none` without rows.
absl::StatusOr<int64_t> QueryInt(Database& db, const std::string& sql, const Params& params, int64_t if_none = 0);

// Opens the database named by the URL. MySQL schemas are created if missing.
absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(const DatabaseOptions& options);

absl::StatusOr<std::unique_ptr<Database>> OpenSqlite(const std::string& path, int max_attempts);
absl::StatusOr<std::unique_ptr<Database>> OpenMysql(const std::string& url, const std::string& password, int pool_size,
                                                    int max_attempts);

}  // namespace perfflow::db
