// The calibration log on SQLite and the real MariaDB: outcomes are appended
// to a per-tenant hash chain in the same transaction, and VerifyLog names the
// first entry that was altered, removed or re-hashed, and any outcome row that
// no longer matches its entry.

#include <map>

#include "absl/strings/str_cat.h"
#include "common/ids.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/calibration/sql_calibration_store.h"
#include "tests/testing/test_databases.h"

namespace perfflow::calibration {
namespace {

using testing::Backend;

class CalibrationLogContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMysql && !testing::MysqlConfigured()) {
      GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
    }
    database_ = testing::MakeTestDatabase(GetParam());
    Reopen();
  }

  void Reopen() {
    auto store = SqlCalibrationStore::Open(database_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  v1::Outcome Record(const std::string& tenant, const std::string& session, const std::string& employee,
                     const std::string& proposed, const std::string& final_rating, const std::string& before) {
    v1::Outcome o;
    o.set_session("sessions/" + session);
    o.set_employee_id(employee);
    o.set_proposed_rating(proposed);
    o.set_final_rating(final_rating);
    o.set_rationale(final_rating == before ? "" : "delivered the Q3 launch ahead of plan");
    o.set_recorded_by("hr-1");
    o.mutable_record_time()->set_seconds(1780000000 + (++clock_));
    auto stored = store_->AppendOutcome(tenant, session, o, before);
    EXPECT_TRUE(stored.ok()) << stored.status();
    return stored.ok() ? *stored : v1::Outcome{};
  }

  // Three outcomes of acme (a rating changed, then changed back; another
  // person confirmed) and one of another tenant.
  void RecordHistory() {
    first_ = Record("acme", "h1", "e1", "B", "A", "B");
    second_ = Record("acme", "h1", "e1", "B", "B", "A");
    third_ = Record("acme", "h2", "e2", "C", "C", "C");
    Record("other", "h1", "e1", "B", "B", "B");
  }

  void Sql(const std::string& sql, const db::Params& params) {
    absl::Status s = database_.db->RunInTransaction(
        [&](db::Transaction& txn) -> absl::Status { return txn.Execute(sql, params).status(); });
    ASSERT_TRUE(s.ok()) << s;
  }

  std::string Body(int64_t sequence) {
    std::string body;
    absl::Status s = database_.db->RunInTransaction([&](db::Transaction& txn) -> absl::Status {
      auto rows = txn.Query("SELECT body FROM calibration_log WHERE tenant_id = 'acme' AND sequence = ?", {sequence});
      if (!rows.ok()) return rows.status();
      body = rows->empty() ? "" : rows->front().Str(0);
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
    return body;
  }

  v1::VerifyCalibrationLogResponse Verify(const std::string& tenant = "acme") {
    auto v = store_->VerifyLog(tenant);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : v1::VerifyCalibrationLogResponse{};
  }

  testing::TestDatabase database_;
  std::unique_ptr<CalibrationStore> store_;
  int clock_ = 0;
  v1::Outcome first_, second_, third_;
};

TEST_P(CalibrationLogContractTest, OutcomesCarryTheRatingBeforeAndAChainedEntry) {
  RecordHistory();
  EXPECT_EQ(first_.previous_rating(), "B");
  EXPECT_EQ(second_.previous_rating(), "A");
  EXPECT_EQ(third_.previous_rating(), "C");
  EXPECT_EQ(first_.log_sequence(), 1);
  EXPECT_EQ(third_.log_sequence(), 3);
  EXPECT_EQ(third_.log_hash().size(), 64u);
  auto acme = Verify();
  EXPECT_TRUE(acme.intact()) << acme.problem();
  EXPECT_EQ(acme.entries(), 3);
  EXPECT_EQ(acme.head_hash(), third_.log_hash());
  auto other = Verify("other");
  EXPECT_TRUE(other.intact()) << other.problem();
  EXPECT_EQ(other.entries(), 1);  // each tenant has its own chain
  auto none = Verify("nobody");
  EXPECT_TRUE(none.intact());
  EXPECT_EQ(none.entries(), 0);
  // The history keeps the rating before and after of each change.
  auto history = store_->ListOutcomes("acme", "h1", "e1");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ((*history)[1].previous_rating(), "A");
  EXPECT_EQ((*history)[1].final_rating(), "B");
}

TEST_P(CalibrationLogContractTest, AStaleRatingBeforeIsRefusedAndWritesNothing) {
  RecordHistory();
  v1::Outcome late;
  late.set_session("sessions/h1");
  late.set_employee_id("e1");
  late.set_proposed_rating("B");
  late.set_final_rating("C");
  late.set_rationale("read before the last change");
  auto stored = store_->AppendOutcome("acme", "h1", late, "A");  // it is "B" now
  EXPECT_TRUE(absl::IsFailedPrecondition(stored.status())) << stored.status();
  EXPECT_EQ(testing::CountRows(*database_.db, "calibration_log"), 4);
  EXPECT_EQ(testing::CountRows(*database_.db, "outcomes"), 4);
  EXPECT_TRUE(Verify().intact());
}

TEST_P(CalibrationLogContractTest, AnEditedEntryIsNamed) {
  RecordHistory();
  const std::string body = Body(1);
  std::string edited = body;
  edited.replace(edited.find("\"finalRating\":\"A\""), 17, "\"finalRating\":\"S\"");
  Sql("UPDATE calibration_log SET body = ? WHERE tenant_id = 'acme' AND sequence = 1", {edited});
  auto v = Verify();
  EXPECT_FALSE(v.intact());
  EXPECT_EQ(v.first_bad_sequence(), 1);
  EXPECT_EQ(v.problem(), "entry 1 was altered: its content no longer matches its hash");
}

TEST_P(CalibrationLogContractTest, ErasureRewritesThePersonsEntriesAndTheChainStillVerifies) {
  RecordHistory();
  // A fourth: e1's rating changed again, the notice queued.
  v1::Outcome changed = first_;
  changed.set_session("sessions/h3");
  changed.set_previous_rating("");
  ASSERT_TRUE(
      store_->AppendOutcome("acme", "h3", changed, "B", ChangeNotice{absl::FromUnixSeconds(1790000000), "H3"}).ok());
  const db::Erasure erasure{"e1", "erased-0123456789abcdef", "", absl::FromUnixSeconds(1790000000)};
  auto erased = store_->ErasePerson("acme", erasure);
  ASSERT_TRUE(erased.ok()) << erased.status();
  std::map<std::string, int64_t> rows;
  for (const auto& c : *erased) rows[c.table] = c.rows;
  EXPECT_EQ(rows["outcomes"], 3);
  EXPECT_EQ(rows["calibration_log"], 3);
  EXPECT_EQ(rows["change_notices"], 1) << "the notice of the changed rating";
  EXPECT_EQ(Body(1).find("\"e1\""), std::string::npos);
  EXPECT_NE(Body(1).find("\"erased-0123456789abcdef\""), std::string::npos);
  auto outcomes = store_->ListOutcomes("acme", "h1", "");
  ASSERT_TRUE(outcomes.ok());
  for (const auto& o : *outcomes) EXPECT_EQ(o.employee_id(), "erased-0123456789abcdef");
  EXPECT_EQ(store_->ListOutcomes("other", "h1", "e1").value_or(std::vector<v1::Outcome>{}).size(), 1u)
      << "another tenant's e1 is someone else";

  auto v = Verify();
  EXPECT_TRUE(v.intact()) << v.problem();
  EXPECT_EQ(v.entries(), 4);
  EXPECT_EQ(v.redacted_entries(), 3);
  // An entry not redacted is still checked word for word.
  std::string edited = Body(3);
  edited.replace(edited.find("\"finalRating\":\"C\""), 17, "\"finalRating\":\"S\"");
  Sql("UPDATE calibration_log SET body = ? WHERE tenant_id = 'acme' AND sequence = 3", {edited});
  v = Verify();
  EXPECT_FALSE(v.intact());
  EXPECT_EQ(v.first_bad_sequence(), 3);
  // Erasing again changes nothing more.
  auto again = store_->ErasePerson("acme", erasure);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());
}

TEST_P(CalibrationLogContractTest, AnEditedEntryWithItsHashRecomputedBreaksTheNextLink) {
  RecordHistory();
  // Whoever knows the formula can re-hash the edited entry, but not every later one's link.
  std::string edited = Body(2);
  edited.replace(edited.find("\"finalRating\":\"B\""), 17, "\"finalRating\":\"A\"");
  const std::string previous = first_.log_hash();
  const std::string rehashed = Sha256Hex(absl::StrCat("acme\n2\n", previous, "\n", edited));
  Sql("UPDATE calibration_log SET body = ?, hash = ? WHERE tenant_id = 'acme' AND sequence = 2", {edited, rehashed});
  auto v = Verify();
  EXPECT_FALSE(v.intact());
  EXPECT_EQ(v.first_bad_sequence(), 3);
  EXPECT_EQ(v.problem(), "entry 3 does not follow entry 2: its previous hash is not that entry's hash");
}

TEST_P(CalibrationLogContractTest, ARemovedEntryIsNamedInTheMiddleAndAtTheEnd) {
  RecordHistory();
  Sql("DELETE FROM calibration_log WHERE tenant_id = 'acme' AND sequence = 3", {});
  auto tail = Verify();
  EXPECT_FALSE(tail.intact());
  EXPECT_EQ(tail.first_bad_sequence(), 3);
  EXPECT_EQ(tail.problem(), "sessions/h2 outcome 1 refers to log entry 3, which is missing");
  Sql("DELETE FROM calibration_log WHERE tenant_id = 'acme' AND sequence = 1", {});
  auto middle = Verify();
  EXPECT_FALSE(middle.intact());
  EXPECT_EQ(middle.first_bad_sequence(), 1);
  EXPECT_EQ(middle.problem(), "entry 1 is missing: the log starts at entry 2");
}

TEST_P(CalibrationLogContractTest, AnOutcomeRowThatDiffersFromItsEntryIsNamed) {
  RecordHistory();
  Sql("UPDATE outcomes SET body = REPLACE(body, '\"finalRating\":\"C\"', '\"finalRating\":\"A\"') "
      "WHERE tenant_id = 'acme' AND session_id = 'h2'",
      {});
  auto v = Verify();
  EXPECT_FALSE(v.intact());
  EXPECT_EQ(v.first_bad_sequence(), 3);
  EXPECT_EQ(v.problem(), "sessions/h2 outcome 1 differs from its log entry 3");
}

TEST_P(CalibrationLogContractTest, OutcomesRecordedBeforeTheLogAreLoggedOnOpen) {
  RecordHistory();
  // An outcome as stored before migration 2: no log entry.
  v1::Outcome old;
  old.set_session("sessions/h0");
  old.set_employee_id("e9");
  old.set_proposed_rating("B");
  old.set_final_rating("B");
  old.set_sequence(1);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(old, &json).ok());
  Sql("INSERT INTO outcomes (tenant_id, session_id, sequence, employee_id, body) VALUES ('acme', 'h0', 1, 'e9', ?)",
      {json});
  EXPECT_FALSE(Verify().intact());  // a row without its entry
  Reopen();
  auto v = Verify();
  EXPECT_TRUE(v.intact()) << v.problem();
  EXPECT_EQ(v.entries(), 4);
  auto logged = store_->ListOutcomes("acme", "h0", "");
  ASSERT_TRUE(logged.ok());
  ASSERT_EQ(logged->size(), 1u);
  EXPECT_EQ((*logged)[0].log_sequence(), 4);
  EXPECT_EQ((*logged)[0].previous_rating(), "B");
}

INSTANTIATE_TEST_SUITE_P(Backends, CalibrationLogContractTest, ::testing::Values(Backend::kSqlite, Backend::kMysql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

}  // namespace
}  // namespace perfflow::calibration
