#include "common/db/migrations.h"

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/log.h"

namespace perfflow::db {

absl::Status ApplyMigrations(Database& db, const std::string& service, const std::vector<Migration>& migrations) {
  const bool mysql = db.dialect() == Dialect::kMysql;
  auto ddl = [&](const std::string& statement) {
    std::string sql = statement;
    if (mysql && absl::StartsWith(sql, "CREATE TABLE")) sql += " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";
    // A migration cut short (a lost connection, a crash) runs again from its
    // first statement: on MariaDB a column it already added is skipped.
    if (mysql && absl::StartsWith(sql, "ALTER TABLE"))
      absl::StrReplaceAll({{" ADD COLUMN ", " ADD COLUMN IF NOT EXISTS "}}, &sql);
    return db.ExecuteDdl(sql);
  };
  if (absl::Status s =
          ddl("CREATE TABLE IF NOT EXISTS schema_migrations (service VARCHAR(64) NOT NULL, version INT NOT NULL, "
              "name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL, PRIMARY KEY (service, version))");
      !s.ok()) {
    return s;
  }
  std::set<int64_t> applied;
  absl::Status read = db.RunInTransaction([&](Transaction& txn) {
    auto rows = txn.Query("SELECT version FROM schema_migrations WHERE service = ?", {service});
    if (!rows.ok()) return rows.status();
    for (const Row& r : *rows) applied.insert(r.Int(0));
    return absl::OkStatus();
  });
  if (!read.ok()) return read;

  for (const Migration& m : migrations) {
    if (applied.count(m.version)) continue;
    for (const std::string& statement : m.statements) {
      if (absl::Status s = ddl(statement); !s.ok()) {
        return absl::Status(
            s.code(), absl::StrCat("migration ", service, "/", m.version, " (", m.name, ") failed: ", s.message()));
      }
    }
    absl::Status record = db.RunInTransaction([&](Transaction& txn) {
      auto r = txn.Execute("INSERT INTO schema_migrations (service, version, name, applied_at) VALUES (?, ?, ?, ?)",
                           {service, int64_t{m.version}, m.name, absl::ToUnixMillis(absl::Now())});
      // Another replica recorded it first: same statements, same result.
      if (absl::IsAlreadyExists(r.status())) return absl::OkStatus();
      return r.status();
    });
    if (!record.ok()) return record;
    LogInfo("migration applied", {{"schema", service}, {"version", std::to_string(m.version)}, {"name", m.name}});
  }
  return absl::OkStatus();
}

}  // namespace perfflow::db
