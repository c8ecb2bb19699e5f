// The phrasing guidance engine against a table of real-sounding comments.

#include "services/feedback/phrase_guide.h"

#include <fstream>
#include <set>
#include <sstream>

#include "gtest/gtest.h"

namespace perfflow::feedback {
namespace {

using C = v1::VagueClass;
constexpr C kPraise = v1::VAGUE_CLASS_EMPTY_PRAISE;
constexpr C kEncourage = v1::VAGUE_CLASS_EMPTY_ENCOURAGEMENT;
constexpr C kEffort = v1::VAGUE_CLASS_EFFORT_ONLY;
constexpr C kNoBehaviour = v1::VAGUE_CLASS_NO_BEHAVIOUR;
constexpr C kNoEvidence = v1::VAGUE_CLASS_NO_EVIDENCE;

const PhraseGuide& Guide() {
  static const PhraseGuide* guide = [] {
    std::ifstream in(std::string(PERFFLOW_SOURCE_DIR) + "/services/feedback/lexicon/default.yaml");
    std::stringstream ss;
    ss << in.rdbuf();
    auto lexicon = PhraseGuide::ParseLexicon(ss.str());
    EXPECT_TRUE(lexicon.ok()) << lexicon.status();
    auto g = PhraseGuide::Build(*lexicon);
    EXPECT_TRUE(g.ok()) << g.status();
    return new PhraseGuide(*std::move(g));
  }();
  return *guide;
}

struct Comment {
  const char* text;
  std::multiset<C> classes;
  bool effective;
  const char* language;
};

void PrintTo(const Comment& c, std::ostream* os) { *os << c.text; }

class CommentTableTest : public ::testing::TestWithParam<Comment> {};

TEST_P(CommentTableTest, ClassifiesSpansAndEffectiveness) {
  const Comment& c = GetParam();
  auto r = Guide().Analyze(AnalysisInput{c.text, {}, {}, {}, {}, {}});
  ASSERT_TRUE(r.ok()) << r.status();
  std::multiset<C> got;
  for (const auto& s : r->spans()) {
    got.insert(s.class_());
    // Offsets point at the original bytes.
    EXPECT_EQ(std::string(c.text).substr(s.start(), s.end() - s.start()), s.text());
  }
  EXPECT_EQ(got, c.classes) << c.text;
  EXPECT_EQ(r->effective(), c.effective) << c.text;
  EXPECT_EQ(r->language(), c.language) << c.text;
  if (!c.effective) {
    EXPECT_LT(r->specificity(), 0.8) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Zh, CommentTableTest,
    ::testing::Values(
        Comment{"表现良好", {kPraise, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"表现良好，继续努力", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"他平时很辛苦", {kEffort, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"继续加油！", {kEncourage, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"再接再厉", {kEncourage, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"工作很努力，态度认真", {kEffort, kEffort, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"干得好", {kPraise, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"本季度表现不错，继续保持", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"任劳任怨，加班加点", {kEffort, kEffort, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"非常棒", {kPraise, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{
            "你在XX项目中主动协调解决CAN总线通信协议接口问题（附会议纪要截图），保障了整车厂测试进度", {}, true, "zh"},
        Comment{"按时交付了需求文档，评审记录见附件", {}, true, "zh"},
        Comment{"现场提出了工装改进方案，数据表明一次合格率提升3%", {}, true, "zh"},
        Comment{"协调供应商在48小时内完成8D报告", {}, true, "zh"},
        Comment{"修复了首件尺寸偏差，测量报告已上传", {}, true, "zh"},
        Comment{"主导了BOM冻结评审", {kNoEvidence}, false, "zh"}, Comment{"完成了客户回访", {kNoEvidence}, false, "zh"},
        Comment{"附件是本月的客户邮件", {kNoBehaviour}, false, "zh"},
        Comment{"表现很好，协调了跨部门会议（附会议纪要）", {kPraise}, true, "zh"},
        Comment{"很好地跟进了投诉，邮件记录齐全", {kPraise}, true, "zh"},
        Comment{"梳理了设备点检流程并编写了新的点检表", {kNoEvidence}, false, "zh"},
        Comment{"验证了新的焊接参数，报告见附件，继续保持", {kEncourage}, true, "zh"},
        Comment{"很优秀的同事", {kPraise, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"推动了供应商整改，数据见SCAR报告", {}, true, "zh"},
        Comment{"优化了排产，截图显示等待时间减少了两天", {}, true, "zh"},
        Comment{"做得好，加油", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"组织了质量周会", {kNoEvidence}, false, "zh"},
        Comment{"这个月比较忙", {kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"ＧＯＯＤ　ＪＯＢ，继续努力", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "zh"},
        Comment{"解决了客户的包装投诉（附客户确认邮件）", {}, true, "zh"}));

INSTANTIATE_TEST_SUITE_P(
    En, CommentTableTest,
    ::testing::Values(
        Comment{"Good job", {kPraise, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"good job, keep it up!", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Keep up the good work", {kEncourage, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"He works hard", {kEffort, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Great work this quarter", {kPraise, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Excellent", {kPraise, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Very dedicated and a hard worker", {kEffort, kEffort, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Well done. Keep going.", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Nice work", {kPraise, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"GOOD   PERFORMANCE", {kPraise, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Coordinated the CAN bus interface fix with the OEM; meeting minutes attached.", {}, true, "en"},
        Comment{"Delivered the requirements document two days early (see evidence).", {}, true, "en"},
        Comment{"Resolved the supplier's packaging issue; the email thread is in the report.", {}, true, "en"},
        Comment{"Proposed a new fixture on site; data shows first-pass yield up 3%.", {}, true, "en"},
        Comment{"Fixed the dimension deviation and attached the measurement report.", {}, true, "en"},
        Comment{"Led the BOM freeze review", {kNoEvidence}, false, "en"},
        Comment{"Negotiated better payment terms", {kNoEvidence}, false, "en"},
        Comment{"The screenshot is attached", {kNoBehaviour}, false, "en"},
        Comment{"Great job: coordinated three departments, minutes attached.", {kPraise}, true, "en"},
        Comment{"Documented the customer's requirements; email attached. Keep it up!", {kEncourage}, true, "en"},
        Comment{"Worked hard on the audit and completed it on time, report attached", {kEffort}, true, "en"},
        Comment{"Excellently organized", {kNoEvidence}, false, "en"},
        Comment{"Shipped the fix, see evidence in the ticket", {}, true, "en"},
        Comment{"Designed the new checklist", {kNoEvidence}, false, "en"},
        Comment{"Busy month", {kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Verified the welding parameters; data shows zero rework", {}, true, "en"},
        Comment{"Followed up every complaint within a day, email log attached", {}, true, "en"},
        Comment{"Reduced changeover time by 20 minutes (screenshot of the MES log)", {}, true, "en"},
        Comment{"Keep going, great work!", {kPraise, kEncourage, kNoBehaviour, kNoEvidence}, false, "en"},
        Comment{"Put in a lot of effort", {kEffort, kNoBehaviour, kNoEvidence}, false, "en"}));

TEST(NormalizeTest, FoldsWidthCaseWhitespaceAndPunctuation) {
  auto n = Normalize("  ＧＯＯＤ\t\tJob！！ 表现良好，");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->text, "good job 表现良好");
  EXPECT_TRUE(absl::IsInvalidArgument(Normalize("bad \xC3\x28 utf8").status()));
}

TEST(PhraseGuideTest, SpansAreByteOffsetsIntoTheOriginal) {
  const std::string text = "他平时很辛苦，继续努力";
  auto r = Guide().Analyze(AnalysisInput{text, {}, {}, {}, {}, {}});
  ASSERT_TRUE(r.ok());
  ASSERT_GE(r->spans_size(), 2);
  EXPECT_EQ(r->spans(0).start(), 9);  // after "他平时", 3 bytes each
  EXPECT_EQ(r->spans(0).text(), "很辛苦");
  EXPECT_EQ(r->spans(1).text(), "继续努力");
}

TEST(PhraseGuideTest, ChosenBehaviourAndCitedEvidenceMakeItEffectiveAndComposeASentence) {
  event::v1::Behaviour coordinate;
  coordinate.set_id("resolved_interface_issue");
  coordinate.mutable_text()->set_zh("主动协调解决了跨系统接口问题");
  coordinate.mutable_text()->set_en("Coordinated the fix of a cross-system interface issue");
  event::v1::Behaviour docs;
  docs.set_id("delivered_requirements_doc");
  docs.mutable_text()->set_zh("按时交付了需求文档");
  docs.mutable_text()->set_en("Delivered the requirements document on time");
  AnalysisInput in{"表现良好", {coordinate}, {"会议纪要截图"}, {}, {}, {coordinate, docs}};
  in.event_name.set_zh("XX项目NPI节点");
  in.event_name.set_en("the XX NPI milestone");
  in.goal_name.set_zh("整车厂测试进度");
  in.goal_name.set_en("the OEM test schedule");
  auto zh = Guide().Analyze(in);
  ASSERT_TRUE(zh.ok());
  EXPECT_TRUE(zh->effective());
  EXPECT_EQ(
      zh->composed_sentence(),
      "你在XX项目NPI节点中主动协调解决了跨系统接口问题（附会议纪要截图），保障了整车厂测试进度，这种做法值得推广。");
  ASSERT_EQ(zh->suggestions_size(), 1);
  EXPECT_EQ(zh->suggestions(0).id(), "delivered_requirements_doc");

  in.text = "Good job";
  in.cited_evidence = {"meeting minutes"};
  auto en = Guide().Analyze(in);
  ASSERT_TRUE(en.ok());
  EXPECT_EQ(en->composed_sentence(),
            "In the XX NPI milestone, you coordinated the fix of a cross-system interface issue (see meeting minutes), "
            "which supports the OEM test schedule; this is worth repeating.");
  EXPECT_GT(en->specificity(), 0.6);

  // Without cited evidence the sentence has no evidence clause and is not effective.
  in.cited_evidence.clear();
  in.text = "协调了接口问题";
  auto bare = Guide().Analyze(in);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->composed_sentence(),
            "你在XX项目NPI节点中主动协调解决了跨系统接口问题，保障了整车厂测试进度，这种做法值得推广。");
  EXPECT_FALSE(bare->effective());
}

TEST(PhraseGuideTest, NoEventNoSentenceAndSuggestionsComeFromTheLibraryOnly) {
  auto r = Guide().Analyze(AnalysisInput{"good job", {}, {}, {}, {}, {}});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->composed_sentence().empty());
  EXPECT_EQ(r->suggestions_size(), 0);
  EXPECT_LT(r->specificity(), 0.1);
}

TEST(PhraseGuideTest, BadLexiconsAreRejected) {
  EXPECT_TRUE(absl::IsInvalidArgument(PhraseGuide::ParseLexicon("phrases: [{text: x, class: vague}]").status()));
  auto lexicon = PhraseGuide::ParseLexicon("phrases: [{text: '  ', class: empty_praise}]");
  ASSERT_TRUE(lexicon.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(PhraseGuide::Build(*lexicon).status()));
}

}  // namespace
}  // namespace perfflow::feedback
