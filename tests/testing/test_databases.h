#pragma once

// Databases for tests: a fresh SQLite file per test, and a fresh schema on
// the real MariaDB started by ./scripts/test.sh (PERFFLOW_TEST_MYSQL_URL,
// e.g. mysql://perfflow@127.0.0.1:33061, password in
// PERFFLOW_TEST_MYSQL_PASSWORD). Each is dropped when the handle goes.

#include <memory>
#include <string>

#include "common/db/database.h"

namespace perfflow::testing {

struct TestDatabase {
  std::shared_ptr<db::Database> db;
  // Cleans up (drops the schema or deletes the file).
  std::shared_ptr<void> cleanup;
};

enum class Backend { kSqlite, kMysql };

std::string BackendName(Backend b);

// True when the MariaDB for integration tests is configured.
bool MysqlConfigured();

// A fresh, empty database; fails the test when it cannot be made.
TestDatabase MakeTestDatabase(Backend backend);

// SELECT COUNT(*) of `table` (a test's own constant), or -1 when the query fails.
int64_t CountRows(db::Database& db, const std::string& table);

}  // namespace perfflow::testing
