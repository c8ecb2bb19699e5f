#pragma once

// Where each service keeps a person, described once per table, and the two
// things data-subject rights do with it: export the person's rows as JSON,
// and erase the person by pseudonymisation (ids become a pseudonym, free
// text about them is blanked; rows, and so every count and aggregate,
// stay). One description per table drives both, so what is exported is
// what is erased.

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/db/database.h"

namespace perfflow::db {

// How a column reads in an export.
enum class ColumnKind {
  kText,
  kNumber,
  // Milliseconds since the epoch, exported as RFC 3339 UTC.
  kTime,
  // JSON text, exported as JSON (as text when it does not parse).
  kJson,
};

struct PersonColumn {
  std::string name;
  ColumnKind kind = ColumnKind::kText;
};

struct PersonTable {
  std::string table;
  // Path of the export's file, e.g. "event/tasks.json".
  std::string file;
  // Exported columns, in order.
  std::vector<PersonColumn> columns;
  // Columns that may hold the person's id: a row is the person's when any
  // does; on erasure each becomes the pseudonym.
  std::vector<std::string> id_columns;
  // The column naming whom a row is about (rows *about* the person get
  // `scrub`; rows merely *by* them keep their text). Empty: none.
  std::string subject_column;
  // Rows about the person found through another table, as an SQL condition
  // with two placeholders, tenant and person (e.g. the steps of their
  // events). Such rows are exported and scrubbed too.
  std::string about;
  // column -> value written in rows about the person.
  std::vector<std::pair<std::string, std::string>> scrub;
  // JSON text columns: in the tenant's rows quoting the person's id or
  // display name (as a JSON string), both are replaced.
  std::vector<std::string> json_columns;
};

struct PersonFile {
  std::string path;
  std::string content;
};

// The person's rows of every table with a file, one pretty-printed JSON
// array per table.
absl::StatusOr<std::vector<PersonFile>> ExportPersonRows(Database& db, const std::string& tenant,
                                                         const std::string& person,
                                                         const std::vector<PersonTable>& tables);

struct Erasure {
  std::string person_id;
  std::string pseudonym;
  // The directory name, replaced where JSON bodies quote it ("" = none).
  std::string display_name;
  // When: files marked removed carry it.
  absl::Time at;
};

struct ErasedCount {
  std::string table;
  int64_t rows = 0;
};

// Pseudonymises the person in every table in one transaction: `before` runs
// first inside it (e.g. to mark files for deletion), then free text about
// the person is blanked (while `about` conditions still find them), then
// ids and quoted names are replaced. Returns the rows changed per table
// (tables with none left out). Running it again finds nothing to change.
absl::StatusOr<std::vector<ErasedCount>> ErasePersonRows(Database& db, const std::string& tenant,
                                                         const Erasure& erasure, const std::vector<PersonTable>& tables,
                                                         const std::function<absl::Status(Transaction&)>& before = {});

// `s` as a JSON string literal, as protobuf's JSON printer writes it.
std::string JsonQuoted(const std::string& s);

// "erased-" and 16 lower-case hex digits.
bool IsPseudonym(const std::string& s);

}  // namespace perfflow::db
