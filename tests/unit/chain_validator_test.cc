#include "services/evidence/chain_validator.h"

#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace perfflow::evidence {
namespace {

class ChainValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto req = testing::CatalogueRequest();
    auto registry = event::ParseRegistryFiles({req.files().begin(), req.files().end()});
    ASSERT_TRUE(registry.ok());
    view_ = std::make_unique<event::RegistryView>(*registry);
    auto rules = CompiledChainRules::Compile(*view_->FindEventType("plm.npi_milestone_delivered"), *view_);
    ASSERT_TRUE(rules.ok()) << rules.status();
    rules_ = std::make_unique<CompiledChainRules>(*std::move(rules));
  }

  static google::protobuf::Struct Attrs(const std::string& json) {
    google::protobuf::Struct s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok());
    return s;
  }

  static std::map<std::string, v1::RuleOutcome> Outcomes(const v1::ChainValidation& v) {
    std::map<std::string, v1::RuleOutcome> out;
    for (const auto& r : v.rules()) out[r.rule()] = r.outcome();
    return out;
  }

  std::unique_ptr<event::RegistryView> view_;
  std::unique_ptr<CompiledChainRules> rules_;
};

constexpr char kLate[] = R"({"project":"X1","milestone":"bom_freeze","delay_days":3,"delay_reason":"supplier_delay"})";

TEST_F(ChainValidatorTest, LateBomFreezeNeedsEverything) {
  v1::ChainValidation v = rules_->Validate(Attrs(kLate), {});
  EXPECT_EQ(v.outcome(), v1::CHAIN_OUTCOME_INCOMPLETE);
  auto o = Outcomes(v);
  EXPECT_EQ(o["evidence:stage_timestamps"], v1::RULE_OUTCOME_MISSING);
  EXPECT_EQ(o["evidence:bom_freeze_confirmation"], v1::RULE_OUTCOME_MISSING);
  EXPECT_EQ(o["evidence:change_note"], v1::RULE_OUTCOME_MISSING);
  EXPECT_EQ(o["cosign:change_note"], v1::RULE_OUTCOME_NOT_APPLICABLE);
  EXPECT_EQ(o["library:delay_reason"], v1::RULE_OUTCOME_SATISFIED);
  EXPECT_EQ(o["rule:delay_has_reason"], v1::RULE_OUTCOME_SATISFIED);
  EXPECT_EQ(o["rule:on_time_has_no_reason"], v1::RULE_OUTCOME_NOT_APPLICABLE);
  ASSERT_EQ(v.gaps_size(), 3);
  EXPECT_EQ(v.gaps(0).evidence_kind(), "stage_timestamps");
}

TEST_F(ChainValidatorTest, UncosignedChangeNoteIsAGapCosignedCompletes) {
  std::vector<EvidenceFact> facts = {
      {"stage_timestamps", false}, {"bom_freeze_confirmation", false}, {"change_note", false}};
  v1::ChainValidation v = rules_->Validate(Attrs(kLate), facts);
  EXPECT_EQ(v.outcome(), v1::CHAIN_OUTCOME_INCOMPLETE);
  ASSERT_EQ(v.gaps_size(), 1);
  EXPECT_EQ(v.gaps(0).rule(), "cosign:change_note");
  facts[2].cosigned = true;
  EXPECT_EQ(rules_->Validate(Attrs(kLate), facts).outcome(), v1::CHAIN_OUTCOME_COMPLETE);
}

TEST_F(ChainValidatorTest, ConditionalEvidenceIsNotApplicableWhenConditionFails) {
  v1::ChainValidation v = rules_->Validate(Attrs(R"({"project":"X1","milestone":"concept","delay_days":0})"),
                                           {{"stage_timestamps", false}});
  auto o = Outcomes(v);
  EXPECT_EQ(o["evidence:bom_freeze_confirmation"], v1::RULE_OUTCOME_NOT_APPLICABLE);
  EXPECT_EQ(o["evidence:change_note"], v1::RULE_OUTCOME_NOT_APPLICABLE);
  EXPECT_EQ(o["rule:on_time_has_no_reason"], v1::RULE_OUTCOME_SATISFIED);
  EXPECT_EQ(v.outcome(), v1::CHAIN_OUTCOME_COMPLETE);
  // A change note uploaded anyway, not co-signed: its co-signature is not asked for either.
  v1::ChainValidation extra = rules_->Validate(Attrs(R"({"project":"X1","milestone":"concept","delay_days":0})"),
                                               {{"stage_timestamps", false}, {"change_note", false}});
  EXPECT_EQ(Outcomes(extra)["evidence:change_note"], v1::RULE_OUTCOME_NOT_APPLICABLE);
  EXPECT_EQ(Outcomes(extra)["cosign:change_note"], v1::RULE_OUTCOME_NOT_APPLICABLE);
  EXPECT_EQ(extra.outcome(), v1::CHAIN_OUTCOME_COMPLETE);
}

TEST_F(ChainValidatorTest, RuleAndLibraryViolations) {
  v1::ChainValidation v =
      rules_->Validate(Attrs(R"({"project":"X1","milestone":"concept","delay_days":2,"delay_reason":"bad luck"})"),
                       {{"stage_timestamps", false}, {"change_note", true}});
  auto o = Outcomes(v);
  EXPECT_EQ(o["library:delay_reason"], v1::RULE_OUTCOME_VIOLATED);
  EXPECT_EQ(v.outcome(), v1::CHAIN_OUTCOME_INCOMPLETE);
  v1::ChainValidation missing_reason =
      rules_->Validate(Attrs(R"({"project":"X1","milestone":"concept","delay_days":2})"),
                       {{"stage_timestamps", false}, {"change_note", true}});
  EXPECT_EQ(Outcomes(missing_reason)["rule:delay_has_reason"], v1::RULE_OUTCOME_VIOLATED);
  EXPECT_EQ(rules_->rule_count(), 7);
}

TEST(SimilarityTest, RanksCloserAttributesHigher) {
  auto s = [](const std::string& json) {
    google::protobuf::Struct out;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &out).ok());
    return out;
  };
  auto base = s(R"({"milestone":"bom_freeze","delay_days":3,"delay_reason":"supplier_delay"})");
  EXPECT_DOUBLE_EQ(AttributeSimilarity(base, base), 1.0);
  const double close =
      AttributeSimilarity(base, s(R"({"milestone":"bom_freeze","delay_days":4,"delay_reason":"supplier_delay"})"));
  const double far =
      AttributeSimilarity(base, s(R"({"milestone":"concept","delay_days":30,"delay_reason":"design_change"})"));
  const double partial = AttributeSimilarity(base, s(R"({"milestone":"bom_freeze"})"));
  EXPECT_GT(close, partial);
  EXPECT_GT(partial, far);
  EXPECT_NEAR(close, (1.0 + 0.75 + 1.0) / 3.0, 1e-9);
  EXPECT_DOUBLE_EQ(AttributeSimilarity(s("{}"), s("{}")), 0.0);
}

}  // namespace
}  // namespace perfflow::evidence
