#pragma once

// Numbered schema migrations per service, applied in order at start. Each
// migration's statements are idempotent (IF NOT EXISTS) so replicas starting
// together converge; schema_migrations records what has been applied.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/db/database.h"

namespace perfflow::db {

struct Migration {
  int version;
  std::string name;
  // Portable DDL (VARCHAR, BIGINT, INT, DOUBLE, MEDIUMTEXT). On MySQL,
  // CREATE TABLE statements get utf8mb4 binary collation appended.
  std::vector<std::string> statements;
};

absl::Status ApplyMigrations(Database& db, const std::string& service, const std::vector<Migration>& migrations);

}  // namespace perfflow::db
