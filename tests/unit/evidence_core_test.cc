// EvidenceCore over SQLite, a temporary blob directory and a fake event
// service: no network.

#include "services/evidence/evidence_core.h"

#include <filesystem>
#include <fstream>

#include "common/ids.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "services/evidence/sql_evidence_store.h"
#include "tests/testing/fake_event_client.h"
#include "tests/testing/fixtures.h"

namespace perfflow::evidence {
namespace {

namespace t = perfflow::type::v1;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A PDF of `size` bytes (at least 16): the header, filler, the %%EOF trailer.
std::string Pdf(size_t size, char fill = 'x') {
  std::string s = "%PDF-1.7\n";
  s.resize(std::max<size_t>(size, 16) - 7, fill);
  return s + "\n%%EOF\n";
}

class EvidenceCoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    database_ = testing::MakeTestDatabase(testing::Backend::kSqlite);
    auto store = SqlEvidenceStore::Open(database_.db);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    blob_dir_ = fs::temp_directory_path() / ("perfflow-blobs-" + RandomId());
    auto blobs = OpenFileBlobStore(blob_dir_.string());
    ASSERT_TRUE(blobs.ok());
    blobs_ = *std::move(blobs);
    events_ = std::make_shared<testing::FakeEventClient>();
    events_->PutCatalogueAndOrg();
    clock_ = std::make_shared<ManualClock>(testing::FixedStart());
    EvidenceOptions options;
    options.max_file_bytes = 64 * 1024;
    options.max_event_bytes = 160 * 1024;
    core_ = std::make_shared<EvidenceCore>(
        store_, blobs_, events_, std::make_shared<event::StepReports>(database_.db, events_, "evidence", nullptr),
        clock_, options, nullptr);
    event_ = PutNpiEvent(R"({"project":"X1","milestone":"bom_freeze","delay_days":3,"delay_reason":"supplier_delay"})");
  }

  void TearDown() override { fs::remove_all(blob_dir_); }

  std::string PutNpiEvent(const std::string& attrs_json, const std::string& subject = "r1") {
    event::v1::Event e;
    e.set_name("events/" + RandomId());
    e.set_event_type("plm.npi_milestone_delivered");
    e.set_subject_id(subject);
    e.set_department_id("rnd");
    e.set_registry_version(1);
    e.mutable_flow()->set_step(t::FLOW_STEP_TRIGGERED);
    e.mutable_flow()->set_requires_cross_confirm(true);
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(attrs_json, e.mutable_attributes()).ok());
    events_->PutEvent(e);
    return e.name();
  }

  RequestContext As(const std::string& who, std::vector<std::string> roles = {}) {
    return RequestContext{"acme", who, std::move(roles), ""};
  }

  absl::StatusOr<UploadResult> Upload(const RequestContext& rc, const std::string& kind, const std::string& type,
                                      const std::string& content, const std::string& sha = "",
                                      const std::string& event = "", bool half_closed = true) {
    std::vector<v1::UploadEvidenceRequest> msgs(1);
    auto* m = msgs[0].mutable_metadata();
    m->set_event(event.empty() ? event_ : event);
    m->set_kind(kind);
    m->set_file_name(kind + ".bin");
    m->set_content_type(type);
    m->set_sha256(sha);
    for (size_t i = 0; i < content.size(); i += 1000) msgs.emplace_back().set_chunk(content.substr(i, 1000));
    size_t next = 0;
    return core_->Upload(
        rc,
        [&](v1::UploadEvidenceRequest* out) {
          if (next >= msgs.size()) return false;
          *out = msgs[next++];
          return true;
        },
        [&] { return half_closed; });
  }

  // An NPI chain at its concept milestone with its evidence and the
  // manager's verdict in, no confirmation asked: ready to seal.
  std::string ChainReadyToSeal(const std::string& project) {
    std::string ev = PutNpiEvent(R"({"project":")" + project + R"(","milestone":"concept","delay_days":0})");
    EXPECT_TRUE(Upload(As("r1"), "stage_timestamps", "text/csv", "c,d\n", "", ev).ok());
    event::v1::Event e = events_->event(ev);
    e.mutable_flow()->set_requires_cross_confirm(false);
    e.mutable_flow()->mutable_times()->mutable_manager_feedback_at()->set_seconds(10);
    events_->PutEvent(e);
    return ev;
  }

  size_t BlobCount() {
    size_t n = 0;
    for (const auto& entry : fs::recursive_directory_iterator(blob_dir_)) n += entry.is_regular_file();
    return n;
  }

  size_t RowCount() {
    auto rows = store_->ListEvidence("acme", event_.substr(7));
    return rows.ok() ? rows->size() : 999;
  }

  void ExpectRejected(const absl::StatusOr<UploadResult>& r, absl::StatusCode code, const std::string& text) {
    EXPECT_EQ(r.status().code(), code) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(text));
    EXPECT_EQ(BlobCount(), 0u) << "a rejected upload left a blob";
    EXPECT_EQ(RowCount(), 0u) << "a rejected upload left a row";
  }

  testing::TestDatabase database_;
  std::shared_ptr<SqlEvidenceStore> store_;
  fs::path blob_dir_;
  std::shared_ptr<BlobStore> blobs_;
  std::shared_ptr<testing::FakeEventClient> events_;
  std::shared_ptr<ManualClock> clock_;
  std::shared_ptr<EvidenceCore> core_;
  std::string event_;
};

TEST_F(EvidenceCoreTest, AcceptedUploadIsStoredHashedAndReportsOwnerAction) {
  const std::string json = R"({"stages":["concept","design_freeze","bom_freeze"]})";
  auto r = Upload(As("r1"), "stage_timestamps", "application/json", json, Sha256Hex(json));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->row.sha256, Sha256Hex(json));
  EXPECT_EQ(r->row.size_bytes, static_cast<int64_t>(json.size()));
  EXPECT_FALSE(r->deduplicated);
  std::ifstream in(blobs_->PathOf(r->row.sha256), std::ios::binary);
  std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(stored, json);
  ASSERT_EQ(events_->steps().size(), 1u);
  EXPECT_EQ(events_->steps()[0].step(), t::FLOW_STEP_OWNER_ACTION);
  // The second upload does not report again: the owner action is recorded.
  ASSERT_TRUE(Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(3000)).ok());
  EXPECT_EQ(events_->steps().size(), 1u);
}

TEST_F(EvidenceCoreTest, IdenticalContentIsStoredOnce) {
  ASSERT_TRUE(Upload(As("r1"), "change_note", "application/pdf", Pdf(5000)).ok());
  auto again = Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(5000));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->deduplicated);
  EXPECT_EQ(BlobCount(), 1u);
  EXPECT_EQ(RowCount(), 2u);
}

TEST_F(EvidenceCoreTest, EachBadUploadIsRejectedWithNoBlobAndNoRow) {
  ExpectRejected(Upload(As("r1"), "selfie", "image/png", "x"), absl::StatusCode::kInvalidArgument,
                 "accepts stage_timestamps, bom_freeze_confirmation, change_note");
  ExpectRejected(Upload(As("r1"), "change_note", "image/png", "x"), absl::StatusCode::kInvalidArgument,
                 "change_note accepts application/pdf");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", std::string("\x89PNG\r\n\x1a\n", 8) + "data"),
                 absl::StatusCode::kInvalidArgument, "declared application/pdf but the content is png");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf",
                        "%PDF-1.7\n\x7f"
                        "ELF" +
                            std::string(3000, '\x01')),
                 absl::StatusCode::kInvalidArgument, "no %%EOF trailer");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", Pdf(100), std::string(64, 'a')),
                 absl::StatusCode::kInvalidArgument, "but the content hashes to");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", Pdf(70 * 1024)),
                 absl::StatusCode::kResourceExhausted, "exceeds the 65536-byte limit");
  // A client that cancels (or whose deadline passes) mid-file: nothing of it is kept.
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", Pdf(5000), "", "", /*half_closed=*/false),
                 absl::StatusCode::kCancelled, "before the client finished it");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", ""), absl::StatusCode::kInvalidArgument,
                 "the file is empty");
  ExpectRejected(Upload(As("r2"), "change_note", "application/pdf", Pdf(100)), absl::StatusCode::kPermissionDenied,
                 "only the event's owner");
  ExpectRejected(Upload(As(""), "change_note", "application/pdf", Pdf(100)), absl::StatusCode::kUnauthenticated,
                 "principal");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", Pdf(100), "", "events/" + std::string(32, 'b')),
                 absl::StatusCode::kNotFound, "not found");
  ExpectRejected(Upload(As("r1"), "change_note", "application/pdf", Pdf(100), "", "evt/1"),
                 absl::StatusCode::kInvalidArgument, "metadata.event");
  // No metadata first.
  size_t calls = 0;
  auto no_meta = core_->Upload(
      As("r1"),
      [&](v1::UploadEvidenceRequest* m) {
        m->set_chunk("abc");
        return calls++ == 0;
      },
      [] { return true; });
  EXPECT_TRUE(absl::IsInvalidArgument(no_meta.status()));
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_TRUE(events_->steps().empty());
}

TEST_F(EvidenceCoreTest, AdminMayUploadForTheOwner) {
  EXPECT_TRUE(Upload(As("ceo", {"admin"}), "change_note", "application/pdf", Pdf(100)).ok());
}

TEST_F(EvidenceCoreTest, PerEventLimitIsResourceExhausted) {
  ASSERT_TRUE(Upload(As("r1"), "change_note", "application/pdf", Pdf(60 * 1024, 'a')).ok());
  ASSERT_TRUE(Upload(As("r1"), "change_note", "application/pdf", Pdf(60 * 1024, 'b')).ok());
  auto third = Upload(As("r1"), "change_note", "application/pdf", Pdf(60 * 1024, 'c'));
  EXPECT_TRUE(absl::IsResourceExhausted(third.status())) << third.status();
  EXPECT_EQ(BlobCount(), 2u);
  EXPECT_EQ(RowCount(), 2u);
}

TEST_F(EvidenceCoreTest, ValidationGapsShrinkToCompleteAndCompletenessIsReportedOnce) {
  auto v = core_->Validate(As("r1"), event_);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->outcome(), v1::CHAIN_OUTCOME_INCOMPLETE);
  EXPECT_EQ(v->gaps_size(), 3);
  EXPECT_EQ(v->gaps(0).guidance().sop_links(0).url(), "https://sop.example.com/rnd/stage-gate");

  ASSERT_TRUE(Upload(As("r1"), "stage_timestamps", "text/csv", "stage,at\nconcept,2026-01-01\n").ok());
  ASSERT_TRUE(Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(200, 'b')).ok());
  auto note = Upload(As("r1"), "change_note", "application/pdf", Pdf(200, 'n'));
  ASSERT_TRUE(note.ok());
  v = core_->Validate(As("r1"), event_);
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->gaps_size(), 1);
  EXPECT_EQ(v->gaps(0).rule(), "cosign:change_note");
  EXPECT_TRUE(events_->complete_marks().empty());

  // Co-signing: not the owner's department, not the uploader.
  const std::string name = "evidence/" + note->row.evidence_id;
  EXPECT_TRUE(absl::IsPermissionDenied(core_->Cosign(As("r-head"), name).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(core_->Cosign(As("ghost"), name).status()));
  auto signed_row = core_->Cosign(As("p-head"), name);
  ASSERT_TRUE(signed_row.ok()) << signed_row.status();
  EXPECT_EQ(signed_row->cosigned_by, "p-head");
  EXPECT_EQ(events_->complete_marks(), std::vector<std::string>{event_});

  v = core_->Validate(As("r1"), event_);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->outcome(), v1::CHAIN_OUTCOME_COMPLETE);
  EXPECT_EQ(events_->complete_marks().size(), 1u);  // reported once
}

TEST_F(EvidenceCoreTest, SealNeedsVerdictAndCompletenessThenFreezesAndVerifies) {
  ASSERT_TRUE(Upload(As("r1"), "stage_timestamps", "text/csv", "stage,at\n").ok());
  auto seal = core_->Seal(As("r1"), event_);
  EXPECT_TRUE(absl::IsFailedPrecondition(seal.status()));
  EXPECT_THAT(std::string(seal.status().message()), HasSubstr("manager's verdict"));

  event::v1::Event e = events_->event(event_);
  e.mutable_flow()->mutable_times()->mutable_manager_feedback_at()->set_seconds(10);
  e.mutable_flow()->mutable_times()->mutable_cross_confirm_at()->set_seconds(10);
  events_->PutEvent(e);
  seal = core_->Seal(As("r1"), event_);
  EXPECT_TRUE(absl::IsFailedPrecondition(seal.status()));
  EXPECT_THAT(std::string(seal.status().message()), HasSubstr("evidence:bom_freeze_confirmation"));

  ASSERT_TRUE(Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(300)).ok());
  auto note = Upload(As("r1"), "change_note", "application/pdf", Pdf(400));
  ASSERT_TRUE(note.ok());
  // The co-signature completes the chain with the verdict and confirmation
  // in: it archives itself, and SealEvidence finds it sealed.
  ASSERT_TRUE(core_->Cosign(As("c-head"), "evidence/" + note->row.evidence_id).ok());
  EXPECT_EQ(events_->event(event_).flow().step(), t::FLOW_STEP_ARCHIVED);
  seal = core_->Seal(As("r1"), event_);
  ASSERT_TRUE(seal.ok()) << seal.status();
  EXPECT_TRUE(seal->already_sealed);
  EXPECT_EQ(seal->seal.evidence_count, 3);
  EXPECT_EQ(events_->steps().back().step(), t::FLOW_STEP_ARCHIVED);
  EXPECT_EQ(events_->event(event_).flow().step(), t::FLOW_STEP_ARCHIVED);

  auto again = core_->Seal(As("r1"), event_);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_sealed);
  EXPECT_EQ(again->seal.digest, seal->seal.digest);

  EXPECT_TRUE(absl::IsFailedPrecondition(Upload(As("r1"), "change_note", "application/pdf", Pdf(10, 'z')).status()));
  EXPECT_TRUE(absl::IsFailedPrecondition(core_->Delete(As("r1"), "evidence/" + note->row.evidence_id)));

  auto verified = core_->Verify(As("r1"), event_);
  ASSERT_TRUE(verified.ok());
  EXPECT_TRUE(verified->problems.empty());

  // Tamper with one stored blob: the seal check names it.
  {
    std::ofstream out(blobs_->PathOf(note->row.sha256), std::ios::binary | std::ios::trunc);
    out << Pdf(400, 'y');
  }
  verified = core_->Verify(As("r1"), event_);
  ASSERT_TRUE(verified.ok());
  ASSERT_EQ(verified->problems.size(), 1u);
  EXPECT_THAT(verified->problems[0], HasSubstr("evidence/" + note->row.evidence_id));
}

TEST_F(EvidenceCoreTest, RefusedArchiveLeavesNoSeal) {
  std::string ev = ChainReadyToSeal("X2");
  // The event service's definite "no": there is no archive, so no seal.
  events_->set_refusal(absl::FailedPreconditionError("not yet"));
  auto sealed = core_->Seal(As("r1"), ev);
  EXPECT_TRUE(absl::IsFailedPrecondition(sealed.status())) << sealed.status();
  auto seal = store_->GetSeal("acme", ev.substr(7));
  ASSERT_TRUE(seal.ok());
  EXPECT_FALSE(seal->has_value());
  EXPECT_EQ(*core_->ReconcileSteps(), 0);
  // Uploads still work: the chain is not frozen.
  EXPECT_TRUE(Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(10), "", ev).ok());
  events_->set_refusal(absl::OkStatus());
  sealed = core_->Seal(As("r1"), ev);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_EQ(sealed->seal.evidence_count, 2);
}

TEST_F(EvidenceCoreTest, ChainArchivesItselfWhenTheLastEvidenceArrivesAfterTheVerdict) {
  std::string ev = PutNpiEvent(R"({"project":"X4","milestone":"concept","delay_days":0})");
  event::v1::Event e = events_->event(ev);
  e.mutable_flow()->set_requires_cross_confirm(true);
  e.mutable_flow()->mutable_times()->mutable_manager_feedback_at()->set_seconds(10);
  events_->PutEvent(e);
  // Verdict in, confirmation still missing: the complete chain waits.
  ASSERT_TRUE(Upload(As("r1"), "stage_timestamps", "text/csv", "c,d\n", "", ev).ok());
  EXPECT_FALSE(store_->GetSeal("acme", ev.substr(7))->has_value());
  e = events_->event(ev);
  e.mutable_flow()->mutable_times()->mutable_cross_confirm_at()->set_seconds(20);
  events_->PutEvent(e);
  // The next piece of evidence finds everything in: sealed and archived at once.
  ASSERT_TRUE(Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(100), "", ev).ok());
  auto seal = store_->GetSeal("acme", ev.substr(7));
  ASSERT_TRUE(seal->has_value());
  EXPECT_EQ((*seal)->evidence_count, 2);
  EXPECT_EQ(events_->event(ev).flow().step(), t::FLOW_STEP_ARCHIVED);
  EXPECT_EQ(events_->steps().back().step_id(), "seal:" + ev.substr(7));
  EXPECT_EQ(events_->steps().back().actor_id(), "r1");
}

TEST_F(EvidenceCoreTest, ArchiveWhoseReplyIsLostKeepsTheSealAndTheRetryLandsIt) {
  std::string ev = ChainReadyToSeal("X3");
  // Down: nothing recorded yet, and nothing is undone on that guess.
  events_->set_refusal(absl::UnavailableError("event service restarting"));
  auto sealed = core_->Seal(As("r1"), ev);
  ASSERT_TRUE(sealed.ok()) << sealed.status();
  EXPECT_TRUE(store_->GetSeal("acme", ev.substr(7))->has_value());
  EXPECT_EQ(*core_->ReconcileSteps(), 1);
  // Back, but its reply is lost after it commits: still pending, once only.
  events_->set_refusal(absl::OkStatus());
  events_->set_lost_reply(absl::DeadlineExceededError("deadline exceeded"));
  EXPECT_EQ(*core_->ReconcileSteps(), 1);
  EXPECT_EQ(events_->event(ev).flow().step(), t::FLOW_STEP_ARCHIVED);
  events_->set_lost_reply(absl::OkStatus());
  EXPECT_EQ(*core_->ReconcileSteps(), 0);
  EXPECT_EQ(events_->steps().size(), 2u);  // OWNER_ACTION and one ARCHIVED
  EXPECT_TRUE(store_->GetSeal("acme", ev.substr(7))->has_value());
}

TEST_F(EvidenceCoreTest, SimilarSealedCasesGuideTheGaps) {
  // Two sealed, complete chains of the same type; one closer than the other.
  auto close_case =
      PutNpiEvent(R"({"project":"X9","milestone":"bom_freeze","delay_days":4,"delay_reason":"supplier_delay"})");
  auto far_case = PutNpiEvent(R"({"project":"Y1","milestone":"concept","delay_days":0})");
  for (const std::string& ev : {close_case, far_case}) {
    ASSERT_TRUE(Upload(As("r1"), "stage_timestamps", "text/csv", "s,t\n" + ev, "", ev).ok());
    ASSERT_TRUE(Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(100, ev[10]), "", ev).ok());
    auto note = Upload(As("r1"), "change_note", "application/pdf", Pdf(120, ev[11]), "", ev);
    ASSERT_TRUE(note.ok());
    ASSERT_TRUE(core_->Cosign(As("p-head"), "evidence/" + note->row.evidence_id).ok());
    event::v1::Event e = events_->event(ev);
    e.mutable_flow()->mutable_times()->mutable_manager_feedback_at()->set_seconds(10);
    e.mutable_flow()->mutable_times()->mutable_cross_confirm_at()->set_seconds(10);
    events_->PutEvent(e);
    clock_->Advance(absl::Minutes(1));
    ASSERT_TRUE(core_->Seal(As("r1"), ev).ok());
  }
  auto v = core_->Validate(As("r1"), event_);
  ASSERT_TRUE(v.ok());
  ASSERT_GT(v->gaps_size(), 0);
  const auto& cases = v->gaps(0).guidance().similar_cases();
  ASSERT_EQ(cases.size(), 2);
  EXPECT_EQ(cases[0].event(), close_case);
  EXPECT_GT(cases[0].similarity(), cases[1].similarity());
  EXPECT_THAT(std::vector<std::string>(cases[0].evidence_kinds().begin(), cases[0].evidence_kinds().end()),
              ::testing::Contains("change_note"));
}

TEST_F(EvidenceCoreTest, GoalIsAchievedOnlyWhenEveryChainIsComplete) {
  v1::EvaluateGoalRequest req;
  req.set_employee_id("r1");
  req.set_goal("rnd.npi_on_time");
  auto r = core_->EvaluateGoal(As("r1"), req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome(), v1::GOAL_OUTCOME_NOT_ACHIEVED);
  ASSERT_EQ(r->chains_size(), 1);

  req.set_employee_id("s1");
  r = core_->EvaluateGoal(As("r1"), req);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome(), v1::GOAL_OUTCOME_NO_EVIDENCE);

  req.set_goal("no.such.goal");
  EXPECT_TRUE(absl::IsNotFound(core_->EvaluateGoal(As("r1"), req).status()));
  req.clear_goal();
  EXPECT_TRUE(absl::IsInvalidArgument(core_->EvaluateGoal(As("r1"), req).status()));
}

TEST_F(EvidenceCoreTest, DeleteBeforeSealRemovesRowAndUnsharedBlob) {
  auto r = Upload(As("r1"), "change_note", "application/pdf", Pdf(100));
  ASSERT_TRUE(r.ok());
  const std::string name = "evidence/" + r->row.evidence_id;
  EXPECT_TRUE(absl::IsPermissionDenied(core_->Delete(As("r2"), name)));
  ASSERT_TRUE(core_->Delete(As("r1"), name).ok());
  EXPECT_EQ(RowCount(), 0u);
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_TRUE(absl::IsNotFound(core_->Delete(As("r1"), name)));
}

TEST_F(EvidenceCoreTest, RetentionDeletesOldBytesButKeepsRowsAndContentOthersStillKeep) {
  auto old = Upload(As("r1"), "change_note", "application/pdf", Pdf(500));
  ASSERT_TRUE(old.ok());
  clock_->Advance(absl::Hours(24 * 20));
  // The same bytes again, 20 days later: one blob, two rows.
  auto newer = Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(500));
  ASSERT_TRUE(newer.ok());
  clock_->Advance(absl::Hours(24 * 15));
  const std::string old_name = "evidence/" + old->row.evidence_id;

  // No retention period: nothing goes.
  EXPECT_EQ(core_->EnforceRetention().value_or(-1), 0);
  auto registry = events_->GetRegistry(As("r1"), 0);
  ASSERT_TRUE(registry.ok());
  registry->mutable_settings()->set_evidence_retention_days(30);
  events_->PutRegistry(*registry);

  EXPECT_EQ(core_->EnforceRetention().value_or(-1), 1);
  auto row = core_->Get(As("r1"), old_name);
  ASSERT_TRUE(row.ok());
  ASSERT_TRUE(row->removed_at.has_value());
  EXPECT_EQ(*row->removed_at, clock_->Now());
  EXPECT_EQ(row->removed_reason, "retention");
  EXPECT_EQ(RowCount(), 2u);
  EXPECT_EQ(BlobCount(), 1u) << "the newer row still keeps these bytes";
  auto refused = core_->OpenForDownload(As("r1"), old_name);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("retention period"));
  EXPECT_TRUE(core_->OpenForDownload(As("r1"), "evidence/" + newer->row.evidence_id).ok());
  EXPECT_EQ(core_->EnforceRetention().value_or(-1), 0) << "a removed row is not removed twice";

  clock_->Advance(absl::Hours(24 * 20));
  EXPECT_EQ(core_->EnforceRetention().value_or(-1), 1);
  EXPECT_EQ(BlobCount(), 0u);
  EXPECT_EQ(RowCount(), 2u);
  // Content uploaded again after its removal is stored again.
  auto again = Upload(As("r1"), "change_note", "application/pdf", Pdf(500));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->deduplicated);
  EXPECT_EQ(BlobCount(), 1u);
}

TEST_F(EvidenceCoreTest, ASealWhoseBytesWereRemovedOnPurposeStillVerifies) {
  const std::string ev = ChainReadyToSeal("X9");
  ASSERT_TRUE(core_->Seal(As("r1"), ev).ok());
  clock_->Advance(absl::Hours(24 * 31));
  auto registry = events_->GetRegistry(As("r1"), 0);
  ASSERT_TRUE(registry.ok());
  registry->mutable_settings()->set_evidence_retention_days(30);
  events_->PutRegistry(*registry);
  ASSERT_EQ(core_->EnforceRetention().value_or(-1), 1);
  auto verified = core_->Verify(As("r1"), ev);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->problems.empty()) << verified->problems[0];
  EXPECT_EQ(verified->removed, 1);
}

TEST_F(EvidenceCoreTest, ErasureRemovesThePersonsFilesButKeepsSharedBytesAndRows) {
  // r1's evidence on their own event, and the same bytes uploaded for r2.
  auto own = Upload(As("r1"), "change_note", "application/pdf", Pdf(700));
  ASSERT_TRUE(own.ok());
  const std::string other_event = PutNpiEvent(R"({"project":"X7","milestone":"concept","delay_days":0})", "r2");
  auto shared = Upload(As("r2"), "change_note", "application/pdf", Pdf(700), "", other_event);
  ASSERT_TRUE(shared.ok()) << shared.status();
  auto unique = Upload(As("r1"), "bom_freeze_confirmation", "application/pdf", Pdf(800));
  ASSERT_TRUE(unique.ok());
  ASSERT_EQ(BlobCount(), 2u);

  RequestContext gateway = As("root", {"admin"});
  type::v1::ErasePersonRequest req;
  req.set_person_id("r1");
  req.set_pseudonym("erased-00000000000000aa");
  // Only the gateway may ask.
  EXPECT_TRUE(absl::IsPermissionDenied(core_->ErasePerson(gateway, req).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(core_->ExportPerson(gateway, type::v1::ExportPersonDataRequest()).status()));
  gateway.peer = kGatewayPeer;
  req.set_pseudonym("r1-gone");
  EXPECT_TRUE(absl::IsInvalidArgument(core_->ErasePerson(gateway, req).status()));
  EXPECT_EQ(BlobCount(), 2u);

  req.set_pseudonym("erased-00000000000000aa");
  auto erased = core_->ErasePerson(gateway, req);
  ASSERT_TRUE(erased.ok()) << erased.status();
  EXPECT_EQ(erased->files_deleted(), 2);
  EXPECT_EQ(BlobCount(), 1u) << "r2 still keeps the shared bytes";
  auto row = core_->Get(As("root", {"admin"}), "evidence/" + own->row.evidence_id);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->uploader_id, "erased-00000000000000aa");
  EXPECT_EQ(row->removed_reason, "erasure");
  EXPECT_EQ(row->file_name, "erased");
  EXPECT_EQ(*row->removed_at, clock_->Now());
  EXPECT_TRUE(core_->OpenForDownload(As("r2"), "evidence/" + shared->row.evidence_id).ok());
  EXPECT_EQ(RowCount(), 2u);

  type::v1::ExportPersonDataRequest what;
  what.set_person_id("r1");
  auto files = core_->PersonFiles(gateway, what);
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty()) << "nothing is held under the old id";
}

}  // namespace
}  // namespace perfflow::evidence
