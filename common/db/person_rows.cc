#include "common/db/person_rows.h"

#include <algorithm>
#include <regex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace perfflow::db {
namespace {

namespace pb = google::protobuf;

// "tenant_id = ? AND (<column> = ? OR ... OR <about>)" and its parameters;
// nothing matches when there is neither.
struct Where {
  std::string sql;
  Params params;
};

Where Matching(const std::vector<std::string>& columns, const std::string& about, const std::string& tenant,
               const std::string& person) {
  std::vector<std::string> any;
  Where w{"", {tenant}};
  for (const std::string& c : columns) {
    any.push_back(c + " = ?");
    w.params.push_back(person);
  }
  if (!about.empty()) {
    any.push_back("(" + about + ")");
    w.params.push_back(tenant);
    w.params.push_back(person);
  }
  if (any.empty()) any.push_back("1 = 0");
  w.sql = absl::StrCat("tenant_id = ? AND (", absl::StrJoin(any, " OR "), ")");
  return w;
}

// The person's rows: their id in any id column, or `about`.
Where PersonRows(const PersonTable& t, const std::string& tenant, const std::string& person) {
  return Matching(t.id_columns, t.about, tenant, person);
}

// Rows about the person: their id in the subject column, or `about`.
Where RowsAbout(const PersonTable& t, const std::string& tenant, const std::string& person) {
  std::vector<std::string> subject;
  if (!t.subject_column.empty()) subject.push_back(t.subject_column);
  return Matching(subject, t.about, tenant, person);
}

pb::Value Cell(const Row& r, size_t i, ColumnKind kind) {
  pb::Value v;
  if (r.IsNull(i)) {
    v.set_null_value(pb::NULL_VALUE);
    return v;
  }
  switch (kind) {
    case ColumnKind::kNumber:
      v.set_number_value(r.Double(i));
      break;
    case ColumnKind::kTime:
      v.set_string_value(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMillis(r.Int(i)), absl::UTCTimeZone()));
      break;
    case ColumnKind::kJson:
      if (!pb::util::JsonStringToMessage(r.Str(i), &v).ok()) v.set_string_value(r.Str(i));
      break;
    case ColumnKind::kText:
      v.set_string_value(r.Str(i));
      break;
  }
  return v;
}

}  // namespace

std::string JsonQuoted(const std::string& s) {
  pb::Value v;
  v.set_string_value(s);
  std::string out;
  (void)pb::util::MessageToJsonString(v, &out);
  return out;
}

bool IsPseudonym(const std::string& s) {
  static const std::regex kPseudonym("^erased-[0-9a-f]{16}$");
  return std::regex_match(s, kPseudonym);
}

absl::StatusOr<std::vector<PersonFile>> ExportPersonRows(Database& db, const std::string& tenant,
                                                         const std::string& person,
                                                         const std::vector<PersonTable>& tables) {
  std::vector<PersonFile> out;
  absl::Status s = db.RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    for (const PersonTable& t : tables) {
      if (t.file.empty()) continue;
      std::vector<std::string> names;
      for (const PersonColumn& c : t.columns) names.push_back(c.name);
      const Where where = PersonRows(t, tenant, person);
      auto rows = txn.Query(
          absl::StrCat("SELECT ", absl::StrJoin(names, ", "), " FROM ", t.table, " WHERE ", where.sql), where.params);
      if (!rows.ok()) return rows.status();
      pb::ListValue list;
      for (const Row& r : *rows) {
        auto* fields = list.add_values()->mutable_struct_value()->mutable_fields();
        for (size_t i = 0; i < t.columns.size(); ++i) (*fields)[t.columns[i].name] = Cell(r, i, t.columns[i].kind);
      }
      pb::util::JsonPrintOptions pretty;
      pretty.add_whitespace = true;
      std::string json;
      if (auto st = pb::util::MessageToJsonString(list, &json, pretty); !st.ok()) {
        return absl::InternalError(absl::StrCat("export of ", t.table, ": ", st.message().as_string()));
      }
      out.push_back({t.file, std::move(json)});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<ErasedCount>> ErasePersonRows(Database& db, const std::string& tenant, const Erasure& e,
                                                         const std::vector<PersonTable>& tables,
                                                         const std::function<absl::Status(Transaction&)>& before) {
  if (e.person_id.empty() || !IsPseudonym(e.pseudonym)) {
    return absl::InvalidArgumentError("an erasure needs the person's id and a pseudonym erased-<16 hex>");
  }
  // The quoted forms replaced inside JSON bodies.
  std::vector<std::pair<std::string, std::string>> quoted = {{JsonQuoted(e.person_id), JsonQuoted(e.pseudonym)}};
  if (!e.display_name.empty()) quoted.push_back({JsonQuoted(e.display_name), JsonQuoted("Erased person")});

  std::vector<ErasedCount> out;
  absl::Status s = db.RunInTransaction([&](Transaction& txn) -> absl::Status {
    out.clear();
    if (before) {
      if (absl::Status b = before(txn); !b.ok()) return b;
    }
    // What will change, counted before anything does.
    for (const PersonTable& t : tables) {
      Where where = PersonRows(t, tenant, e.person_id);
      for (const std::string& c : t.json_columns) {
        for (const auto& [from, to] : quoted) {
          where.sql += absl::StrCat(" OR (tenant_id = ? AND INSTR(", c, ", ?) > 0)");
          where.params.push_back(tenant);
          where.params.push_back(from);
        }
      }
      auto n = txn.Query(absl::StrCat("SELECT COUNT(*) FROM ", t.table, " WHERE ", where.sql), where.params);
      if (!n.ok()) return n.status();
      const int64_t rows = n->empty() ? 0 : n->front().Int(0);
      if (rows == 0) continue;
      auto same = std::find_if(out.begin(), out.end(), [&](const ErasedCount& c) { return c.table == t.table; });
      if (same != out.end()) {
        same->rows += rows;
      } else {
        out.push_back({t.table, rows});
      }
    }
    // Free text about the person, while `about` still finds them.
    for (const PersonTable& t : tables) {
      if (t.scrub.empty()) continue;
      Where about = RowsAbout(t, tenant, e.person_id);
      std::vector<std::string> sets;
      Params params;
      for (const auto& [column, value] : t.scrub) {
        sets.push_back(column + " = ?");
        params.push_back(value);
      }
      params.insert(params.end(), about.params.begin(), about.params.end());
      auto n = txn.Execute(absl::StrCat("UPDATE ", t.table, " SET ", absl::StrJoin(sets, ", "), " WHERE ", about.sql),
                           params);
      if (!n.ok()) return n.status();
    }
    for (const PersonTable& t : tables) {
      for (const std::string& c : t.json_columns) {
        for (const auto& [from, to] : quoted) {
          auto n = txn.Execute(absl::StrCat("UPDATE ", t.table, " SET ", c, " = REPLACE(", c,
                                            ", ?, ?) WHERE tenant_id = ? "
                                            "AND INSTR(",
                                            c, ", ?) > 0"),
                               {from, to, tenant, from});
          if (!n.ok()) return n.status();
        }
      }
      for (const std::string& c : t.id_columns) {
        auto n = txn.Execute(absl::StrCat("UPDATE ", t.table, " SET ", c, " = ? WHERE tenant_id = ? AND ", c, " = ?"),
                             {e.pseudonym, tenant, e.person_id});
        if (!n.ok()) return n.status();
      }
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace perfflow::db
