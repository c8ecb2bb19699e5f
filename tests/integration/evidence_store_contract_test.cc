// EvidenceStore contract on SQLite and the real MariaDB.

#include <atomic>
#include <thread>

#include "common/ids.h"
#include "gtest/gtest.h"
#include "services/evidence/sql_evidence_store.h"
#include "tests/testing/test_databases.h"

namespace perfflow::evidence {
namespace {

using testing::Backend;

class EvidenceStoreContractTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == Backend::kMysql && !testing::MysqlConfigured()) {
      GTEST_SKIP() << "PERFFLOW_TEST_MYSQL_URL not set (./scripts/test.sh sets it)";
    }
    database_ = testing::MakeTestDatabase(GetParam());
    auto store = SqlEvidenceStore::Open(database_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }

  EvidenceRow Row(const std::string& event, const std::string& kind, int64_t size, const std::string& sha = "") {
    EvidenceRow r;
    r.evidence_id = RandomId();
    r.event_id = event;
    r.kind = kind;
    r.file_name = kind + ".pdf";
    r.content_type = "application/pdf";
    r.size_bytes = size;
    r.sha256 = sha.empty() ? Sha256Hex(r.evidence_id) : sha;
    r.uploader_id = "r1";
    r.uploaded_at = absl::FromUnixSeconds(1772442000) + absl::Seconds(++uploads_);
    return r;
  }

  testing::TestDatabase database_;
  std::shared_ptr<SqlEvidenceStore> store_;
  int uploads_ = 0;
  const std::string event_ = std::string(32, 'e');

  // The seal's ARCHIVED step, pending until the event service has it.
  event::PendingStep Archive() {
    return {"acme", SealStepId(event_), "events/" + event_, 5, 0, "s-head", absl::FromUnixSeconds(1772500000)};
  }

  int64_t PendingReports() { return testing::CountRows(*database_.db, "step_reports"); }
};

TEST_P(EvidenceStoreContractTest, InsertListAndPerEventLimit) {
  ASSERT_TRUE(store_->InsertEvidence("acme", Row(event_, "a", 60), 100).ok());
  auto over = store_->InsertEvidence("acme", Row(event_, "b", 41), 100);
  EXPECT_TRUE(absl::IsResourceExhausted(over)) << over;
  ASSERT_TRUE(store_->InsertEvidence("acme", Row(event_, "b", 40), 100).ok());
  auto rows = store_->ListEvidence("acme", event_);
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 2u);
  EXPECT_EQ((*rows)[0].kind, "a");
  auto bytes = store_->EventBytes("acme", event_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, 100);
  auto other = store_->ListEvidence("other", event_);
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

TEST_P(EvidenceStoreContractTest, ConcurrentUploadsNeverExceedTheEventLimit) {
  std::vector<std::thread> threads;
  std::atomic<int> accepted{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 5; ++j) {
        if (store_->InsertEvidence("acme", Row(event_, "k", 10), 100).ok()) ++accepted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(accepted.load(), 10);
  auto bytes = store_->EventBytes("acme", event_);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, 100);
}

TEST_P(EvidenceStoreContractTest, SealFreezesTheChain) {
  EvidenceRow a = Row(event_, "a", 10);
  EvidenceRow b = Row(event_, "b", 10);
  ASSERT_TRUE(store_->InsertEvidence("acme", a, 1000).ok());
  ASSERT_TRUE(store_->InsertEvidence("acme", b, 1000).ok());
  auto seal = store_->CreateSeal("acme", event_, absl::FromUnixSeconds(1772500000), Archive());
  ASSERT_TRUE(seal.ok()) << seal.status();
  EXPECT_FALSE(seal->already_sealed);
  EXPECT_EQ(seal->seal.evidence_count, 2);
  EXPECT_EQ(seal->seal.digest, SealDigest({a, b}));
  auto again = store_->CreateSeal("acme", event_, absl::FromUnixSeconds(1772600000), Archive());
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_sealed);
  EXPECT_EQ(again->seal.sealed_at, absl::FromUnixSeconds(1772500000));
  EXPECT_EQ(PendingReports(), 1);  // one seal, one pending ARCHIVED step
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->InsertEvidence("acme", Row(event_, "c", 1), 1000)));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->DeleteEvidence("acme", a.evidence_id).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Cosign("acme", a.evidence_id, "p-head", absl::Now()).status()));
  ASSERT_TRUE(store_->DeleteSeal("acme", event_).ok());
  EXPECT_EQ(PendingReports(), 0);  // the seal and its report go together
  EXPECT_TRUE(store_->DeleteEvidence("acme", a.evidence_id).ok());
}

TEST_P(EvidenceStoreContractTest, CosignOnceAndBlobReferences) {
  const std::string sha = Sha256Hex("shared");
  EvidenceRow a = Row(event_, "a", 10, sha);
  ASSERT_TRUE(store_->InsertEvidence("acme", a, 1000).ok());
  ASSERT_TRUE(store_->InsertEvidence("other", Row(event_, "a", 10, sha), 1000).ok());
  auto refs = store_->BlobReferences(sha);
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(*refs, 2);
  auto has = store_->TenantHasBlob("third", sha);
  ASSERT_TRUE(has.ok());
  EXPECT_FALSE(*has);
  auto signed_row = store_->Cosign("acme", a.evidence_id, "p-head", absl::FromUnixSeconds(1772500000));
  ASSERT_TRUE(signed_row.ok());
  EXPECT_EQ(signed_row->cosigned_by, "p-head");
  EXPECT_TRUE(store_->Cosign("acme", a.evidence_id, "p-head", absl::Now()).ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(store_->Cosign("acme", a.evidence_id, "q-head", absl::Now()).status()));
}

TEST_P(EvidenceStoreContractTest, ValidationStatusReportsFirstCompletenessOnceAndFeedsSimilarCases) {
  ChainStatusRow row{event_, "plm.npi", "rnd", "r1", "{}", false, "a", absl::FromUnixSeconds(1772442000)};
  auto first = store_->RecordValidation("acme", row);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(*first);
  row.complete = true;
  auto complete = store_->RecordValidation("acme", row);
  ASSERT_TRUE(complete.ok());
  EXPECT_TRUE(*complete);
  ASSERT_TRUE(store_->MarkCompleteReported("acme", event_).ok());
  auto later = store_->RecordValidation("acme", row);
  ASSERT_TRUE(later.ok());
  EXPECT_FALSE(*later);

  // Only sealed, complete chains are similar cases.
  auto none = store_->CompleteSealedChains("acme", "plm.npi", "x", 10);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  ASSERT_TRUE(store_->CreateSeal("acme", event_, absl::Now(), Archive()).ok());
  auto sealed = store_->CompleteSealedChains("acme", "plm.npi", "x", 10);
  ASSERT_TRUE(sealed.ok());
  ASSERT_EQ(sealed->size(), 1u);
  EXPECT_EQ((*sealed)[0].kinds, "a");
  auto excluded = store_->CompleteSealedChains("acme", "plm.npi", event_, 10);
  ASSERT_TRUE(excluded.ok());
  EXPECT_TRUE(excluded->empty());
  auto completeness = store_->Completeness("acme");
  ASSERT_TRUE(completeness.ok());
  ASSERT_EQ(completeness->size(), 1u);
  EXPECT_EQ((*completeness)[0].complete, 1);
}

TEST_P(EvidenceStoreContractTest, AccessesAreListedPerOwnerNewestFirst) {
  const absl::Time t0 = absl::FromUnixSeconds(1780000000);
  ASSERT_TRUE(store_->RecordAccess("acme", {"a1", "e1", "owner", "manager", t0}).ok());
  ASSERT_TRUE(store_->RecordAccess("acme", {"a2", "e1", "owner", "hr-1", t0 + absl::Hours(1)}).ok());
  ASSERT_TRUE(store_->RecordAccess("acme", {"a3", "e2", "someone-else", "manager", t0}).ok());
  ASSERT_TRUE(store_->RecordAccess("other", {"a1", "e1", "owner", "intruder", t0}).ok());
  auto listed = store_->ListAccess("acme", "owner", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->size(), 2u);
  EXPECT_EQ((*listed)[0].reader_id, "hr-1");
  EXPECT_EQ((*listed)[0].at, t0 + absl::Hours(1));
  EXPECT_EQ((*listed)[1].evidence_id, "a1");
  EXPECT_EQ(store_->ListAccess("acme", "owner", 1)->size(), 1u);
}

TEST_P(EvidenceStoreContractTest, RemovedBytesKeepTheRowAndStopCountingAsReferences) {
  const std::string sha = Sha256Hex("shared");
  EvidenceRow old_row = Row(event_, "a", 10, sha);
  EvidenceRow new_row = Row(event_, "b", 10, sha);
  ASSERT_TRUE(store_->InsertEvidence("acme", old_row, 1000).ok());
  ASSERT_TRUE(store_->InsertEvidence("acme", new_row, 1000).ok());
  ASSERT_TRUE(store_->InsertEvidence("other", Row(event_, "c", 10), 1000).ok());

  auto expired = store_->ExpiredEvidence("acme", new_row.uploaded_at, 10);
  ASSERT_TRUE(expired.ok()) << expired.status();
  ASSERT_EQ(expired->size(), 1u) << "only rows uploaded before the cut-off, of this tenant";
  EXPECT_EQ(expired->front().evidence_id, old_row.evidence_id);

  const absl::Time at = absl::FromUnixSeconds(1780000000);
  EXPECT_EQ(store_->MarkRemoved("acme", {old_row.evidence_id}, "retention", at).value_or(-1), 1);
  EXPECT_EQ(store_->MarkRemoved("acme", {old_row.evidence_id}, "erasure", at).value_or(-1), 0) << "marked once";
  EXPECT_EQ(store_->MarkRemoved("other", {new_row.evidence_id}, "erasure", at).value_or(-1), 0)
      << "another tenant's row";
  auto row = store_->GetEvidence("acme", old_row.evidence_id);
  ASSERT_TRUE(row.ok() && row->has_value());
  EXPECT_EQ((*row)->removed_at, at);
  EXPECT_EQ((*row)->removed_reason, "retention");
  EXPECT_EQ(store_->ListEvidence("acme", event_).value_or(std::vector<EvidenceRow>{}).size(), 2u);
  EXPECT_EQ(store_->BlobReferences(sha).value_or(-1), 1);
  EXPECT_TRUE(store_->ExpiredEvidence("acme", new_row.uploaded_at, 10).value_or(std::vector<EvidenceRow>{1}).empty());

  ASSERT_EQ(store_->MarkRemoved("acme", {new_row.evidence_id}, "erasure", at).value_or(-1), 1);
  EXPECT_EQ(store_->BlobReferences(sha).value_or(-1), 0);
  EXPECT_FALSE(store_->TenantHasBlob("acme", sha).value_or(true));
}

INSTANTIATE_TEST_SUITE_P(Backends, EvidenceStoreContractTest, ::testing::Values(Backend::kSqlite, Backend::kMysql),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return testing::BackendName(info.param);
                         });

}  // namespace
}  // namespace perfflow::evidence
