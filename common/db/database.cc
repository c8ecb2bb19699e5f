#include "common/db/database.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace perfflow::db {

int64_t Row::Int(size_t i) const {
  int64_t v = 0;
  if (const auto& c = cols_.at(i); c && !absl::SimpleAtoi(*c, &v)) {
    double d = 0;
    if (absl::SimpleAtod(*c, &d)) v = static_cast<int64_t>(d);
  }
  return v;
}

double Row::Double(size_t i) const {
  double v = 0;
  if (const auto& c = cols_.at(i)) (void)absl::SimpleAtod(*c, &v);
  return v;
}

std::optional<int64_t> Row::OptInt(size_t i) const {
  if (IsNull(i)) return std::nullopt;
  return Int(i);
}

std::vector<std::pair<size_t, size_t>> Chunks(size_t n) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  for (size_t size = 64; size >= 8; size /= 2) {
    for (; n - begin >= size; begin += size) out.emplace_back(begin, size);
  }
  if (begin < n) out.emplace_back(begin, n - begin);  // the last 1-7 in one statement
  return out;
}

std::string Placeholders(size_t n) {
  std::string out;
  out.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) out += i == 0 ? "?" : ",?";
  return out;
}

absl::Status InsertRows(Transaction& txn, const std::string& head, const std::string& row,
                        const std::vector<Params>& rows) {
  for (const auto& [begin, count] : Chunks(rows.size())) {
    std::string sql = head;
    Params params;
    for (size_t i = begin; i < begin + count; ++i) {
      absl::StrAppend(&sql, i == begin ? "" : ", ", row);
      params.insert(params.end(), rows[i].begin(), rows[i].end());
    }
    auto inserted = txn.Execute(sql, params);
    if (!inserted.ok()) return inserted.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Row>> QueryOnce(Database& db, const std::string& sql, const Params& params) {
  std::vector<Row> out;
  absl::Status s = db.RunInTransaction([&](Transaction& txn) -> absl::Status {
    auto rows = txn.Query(sql, params);
    if (!rows.ok()) return rows.status();
    out = *std::move(rows);
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<int64_t> QueryInt(Database& db, const std::string& sql, const Params& params, int64_t if_none) {
  auto rows = QueryOnce(db, sql, params);
  if (!rows.ok()) return rows.status();
  return rows->empty() ? if_none : rows->front().Int(0);
}

absl::StatusOr<std::unique_ptr<Database>> OpenDatabase(const DatabaseOptions& options) {
  const std::string& url = options.url;
  if (absl::StartsWith(url, "sqlite:")) {
    std::string path = url.substr(std::string("sqlite:").size());
    if (absl::StartsWith(path, "//")) path = path.substr(2);
    if (path.empty()) {
      return absl::InvalidArgumentError("--db: sqlite URL needs a path, e.g. sqlite:/var/lib/perfflow/event.db");
    }
    return OpenSqlite(path, options.max_attempts);
  }
  if (absl::StartsWith(url, "mysql://")) {
    return OpenMysql(url, options.password, options.pool_size, options.max_attempts);
  }
  return absl::InvalidArgumentError(absl::StrCat("--db: unsupported URL '", url,
                                                 "' (expected sqlite:/path/file.db or mysql://user@host:port/schema)"));
}

}  // namespace perfflow::db
