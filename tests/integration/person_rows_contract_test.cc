// Export and erasure of one person's rows (common/db/person_rows.h) on SQLite
// and the real MariaDB, over a small schema of the same shapes the services
// use: an id column, rows found through another table, free text, JSON.

#include <map>

#include "common/db/person_rows.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/test_databases.h"

namespace perfflow::db {
namespace {

using testing::Backend;

class PersonRowsContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMysql && !testing::MysqlConfigured()) {
      GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
    }
    database_ = testing::MakeTestDatabase(GetParam());
    for (const char* ddl : {
             "CREATE TABLE chains (tenant_id VARCHAR(64) NOT NULL, chain_id VARCHAR(32) NOT NULL, "
             "subject_id VARCHAR(64) NOT NULL, opened_at BIGINT NOT NULL, PRIMARY KEY (tenant_id, chain_id))",
             "CREATE TABLE notes (tenant_id VARCHAR(64) NOT NULL, note_id VARCHAR(32) NOT NULL, "
             "chain_id VARCHAR(32) NOT NULL, author_id VARCHAR(64) NOT NULL, text TEXT NOT NULL, "
             "PRIMARY KEY (tenant_id, note_id))",
             "CREATE TABLE reports (tenant_id VARCHAR(64) NOT NULL, report_id VARCHAR(32) NOT NULL, "
             "body TEXT NOT NULL, PRIMARY KEY (tenant_id, report_id))",
         }) {
      ASSERT_TRUE(database_.db->ExecuteDdl(ddl).ok()) << ddl;
    }
    Sql("INSERT INTO chains VALUES ('acme', 'c1', 'li', 1780000000123), ('acme', 'c2', 'wang', 1780000000000), "
        "('other', 'c1', 'li', 1780000000000)");
    // li's chain: a note by the manager about li, one by li; li's note on wang's chain.
    Sql("INSERT INTO notes VALUES ('acme', 'n1', 'c1', 'mgr', 'solid work by Li'), "
        "('acme', 'n2', 'c1', 'li', 'my reply'), ('acme', 'n3', 'c2', 'li', 'confirmed for wang'), "
        "('other', 'n1', 'c1', 'mgr', 'another tenant')");
    Sql("INSERT INTO reports VALUES ('acme', 'r1', '{\"people\":[{\"id\":\"li\",\"name\":\"Li Lei\"},"
        "{\"id\":\"lin\",\"name\":\"Li Leia\"}]}'), ('acme', 'r2', '{\"people\":[{\"id\":\"wang\"}]}')");
  }

  void Sql(const std::string& sql) {
    absl::Status s =
        database_.db->RunInTransaction([&](Transaction& txn) -> absl::Status { return txn.Execute(sql, {}).status(); });
    ASSERT_TRUE(s.ok()) << s;
  }

  std::vector<std::string> Column(const std::string& sql) {
    std::vector<std::string> out;
    absl::Status s = database_.db->RunInTransaction([&](Transaction& txn) -> absl::Status {
      auto rows = txn.Query(sql, {});
      if (!rows.ok()) return rows.status();
      out.clear();
      for (const Row& r : *rows) out.push_back(r.Str(0));
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return out;
  }

  const std::vector<PersonTable> tables_ = {
      {"chains",
       "chains.json",
       {{"chain_id"}, {"subject_id"}, {"opened_at", ColumnKind::kTime}},
       {"subject_id"},
       "",
       "",
       {},
       {}},
      {"notes",
       "notes.json",
       {{"note_id"}, {"author_id"}, {"text"}},
       {"author_id"},
       "",
       "chain_id IN (SELECT chain_id FROM chains WHERE tenant_id = ? AND subject_id = ?)",
       {{"text", ""}},
       {}},
      {"reports", "", {}, {}, "", "", {}, {"body"}},
  };
  testing::TestDatabase database_;
};

TEST_P(PersonRowsContractTest, ExportHoldsThePersonsRowsOfThisTenantAsJson) {
  auto files = ExportPersonRows(*database_.db, "acme", "li", tables_);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u) << "a table without a file is not exported";
  EXPECT_EQ((*files)[0].path, "chains.json");
  google::protobuf::ListValue chains;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage((*files)[0].content, &chains).ok());
  ASSERT_EQ(chains.values_size(), 1);
  const auto& chain = chains.values(0).struct_value().fields();
  EXPECT_EQ(chain.at("chain_id").string_value(), "c1");
  EXPECT_EQ(chain.at("opened_at").string_value(), "2026-05-28T20:26:40.123Z");
  google::protobuf::ListValue notes;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage((*files)[1].content, &notes).ok());
  std::vector<std::string> ids;
  for (const auto& n : notes.values()) ids.push_back(n.struct_value().fields().at("note_id").string_value());
  EXPECT_THAT(ids, ::testing::UnorderedElementsAre("n1", "n2", "n3")) << "on their chain, or by them";
}

TEST_P(PersonRowsContractTest, ErasureBlanksTextAboutThemAndReplacesTheirIdAndQuotedName) {
  const Erasure erasure{"li", "erased-00112233aabbccdd", "Li Lei", absl::FromUnixSeconds(1790000000)};
  auto erased = ErasePersonRows(*database_.db, "acme", erasure, tables_);
  ASSERT_TRUE(erased.ok()) << erased.status();
  std::map<std::string, int64_t> rows;
  for (const auto& c : *erased) rows[c.table] = c.rows;
  EXPECT_EQ(rows, (std::map<std::string, int64_t>{{"chains", 1}, {"notes", 3}, {"reports", 1}}));

  EXPECT_THAT(Column("SELECT subject_id FROM chains WHERE tenant_id = 'acme' ORDER BY chain_id"),
              ::testing::ElementsAre("erased-00112233aabbccdd", "wang"));
  // Notes on their chain are blanked whoever wrote them; their note on
  // wang's chain keeps its text under the pseudonym.
  EXPECT_THAT(Column("SELECT text FROM notes WHERE tenant_id = 'acme' ORDER BY note_id"),
              ::testing::ElementsAre("", "", "confirmed for wang"));
  EXPECT_THAT(Column("SELECT author_id FROM notes WHERE tenant_id = 'acme' ORDER BY note_id"),
              ::testing::ElementsAre("mgr", "erased-00112233aabbccdd", "erased-00112233aabbccdd"));
  // Quoted whole values only: "lin" and "Li Leia" are someone else.
  EXPECT_THAT(Column("SELECT body FROM reports WHERE tenant_id = 'acme' ORDER BY report_id"),
              ::testing::ElementsAre("{\"people\":[{\"id\":\"erased-00112233aabbccdd\",\"name\":\"Erased person\"},"
                                     "{\"id\":\"lin\",\"name\":\"Li Leia\"}]}",
                                     "{\"people\":[{\"id\":\"wang\"}]}"));
  // Another tenant's li is another person.
  EXPECT_THAT(Column("SELECT subject_id FROM chains WHERE tenant_id = 'other'"), ::testing::ElementsAre("li"));
  EXPECT_THAT(Column("SELECT text FROM notes WHERE tenant_id = 'other'"), ::testing::ElementsAre("another tenant"));
  // Counts stay, and a second run finds nothing.
  EXPECT_EQ(testing::CountRows(*database_.db, "notes"), 4);
  auto again = ErasePersonRows(*database_.db, "acme", erasure, tables_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_P(PersonRowsContractTest, AFailingStepLeavesEverythingAsItWas) {
  const Erasure erasure{"li", "erased-00112233aabbccdd", "Li Lei", absl::FromUnixSeconds(1790000000)};
  std::vector<PersonTable> broken = tables_;
  broken.push_back({"no_such_table", "", {}, {"x"}, "", "", {}, {}});
  EXPECT_FALSE(ErasePersonRows(*database_.db, "acme", erasure, broken).ok());
  EXPECT_THAT(Column("SELECT subject_id FROM chains WHERE tenant_id = 'acme' ORDER BY chain_id"),
              ::testing::ElementsAre("li", "wang"));
  EXPECT_THAT(Column("SELECT text FROM notes WHERE note_id = 'n1' AND tenant_id = 'acme'"),
              ::testing::ElementsAre("solid work by Li"));
  EXPECT_FALSE(ErasePersonRows(*database_.db, "acme", {"li", "not-a-pseudonym", "", {}}, tables_).ok());
  EXPECT_FALSE(ErasePersonRows(*database_.db, "acme", {"", "erased-00112233aabbccdd", "", {}}, tables_).ok());
}

INSTANTIATE_TEST_SUITE_P(Backends, PersonRowsContractTest, ::testing::Values(Backend::kSqlite, Backend::kMysql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

}  // namespace
}  // namespace perfflow::db
