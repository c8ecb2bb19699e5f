#include "tests/testing/test_databases.h"

#include <cstdlib>
#include <filesystem>

#include "common/ids.h"
#include "gtest/gtest.h"

namespace perfflow::testing {

std::string BackendName(Backend b) { return b == Backend::kSqlite ? "sqlite" : "mysql"; }

bool MysqlConfigured() {
  const char* url = std::getenv("PERFFLOW_TEST_MYSQL_URL");
  return url != nullptr && *url != '\0';
}

TestDatabase MakeTestDatabase(Backend backend) {
  TestDatabase out;
  if (backend == Backend::kSqlite) {
    auto path = std::filesystem::temp_directory_path() / ("perfflow-test-" + RandomId() + ".db");
    auto db = db::OpenSqlite(path.string(), 5);
    EXPECT_TRUE(db.ok()) << db.status();
    out.db = *std::move(db);
    out.cleanup = std::shared_ptr<void>(nullptr, [path](void*) {
      for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
    });
    return out;
  }
  const std::string base = std::getenv("PERFFLOW_TEST_MYSQL_URL");
  const char* pw = std::getenv("PERFFLOW_TEST_MYSQL_PASSWORD");
  const std::string schema = "t_" + RandomId().substr(0, 16);
  auto db = db::OpenMysql(base + "/" + schema, pw ? pw : "", 16, 8);
  EXPECT_TRUE(db.ok()) << db.status();
  out.db = *std::move(db);
  auto handle = out.db;
  out.cleanup = std::shared_ptr<void>(
      nullptr, [handle, schema](void*) { (void)handle->ExecuteDdl("DROP DATABASE IF EXISTS `" + schema + "`"); });
  return out;
}

int64_t CountRows(db::Database& db, const std::string& table) {
  int64_t n = -1;
  absl::Status s = db.RunInTransaction([&](db::Transaction& tx) {
    auto rows = tx.Query("SELECT COUNT(*) FROM " + table, {});
    if (!rows.ok()) return rows.status();
    n = rows->front().Int(0);
    return absl::OkStatus();
  });
  return s.ok() ? n : -1;
}

}  // namespace perfflow::testing
