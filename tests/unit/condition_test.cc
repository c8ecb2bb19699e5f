#include "common/condition.h"

#include <map>

#include "gtest/gtest.h"

namespace perfflow {
namespace {

const std::map<std::string, CondValue>& Facts() {
  static const std::map<std::string, CondValue> kFacts = {
      {"attributes.delay_days", 3.0},
      {"attributes.delay_reason", std::string("supplier_delay")},
      {"attributes.milestone", std::string("bom_freeze")},
      {"attributes.renewal", true},
      {"attributes.zero", 0.0},
      {"attributes.empty", std::string("")},
      {"evidence.change_note.count", 1.0},
      {"evidence.change_note.cosigned", false},
  };
  return kFacts;
}

std::optional<CondValue> Resolve(const std::string& path) {
  auto it = Facts().find(path);
  if (it == Facts().end()) return std::nullopt;
  return it->second;
}

struct EvalCase {
  const char* text;
  bool expected;
};

class ConditionEvalTest : public ::testing::TestWithParam<EvalCase> {};

TEST_P(ConditionEvalTest, Evaluates) {
  auto c = Condition::Parse(GetParam().text);
  ASSERT_TRUE(c.ok()) << GetParam().text << ": " << c.status();
  EXPECT_EQ(c->Evaluate(Resolve), GetParam().expected) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConditionEvalTest,
    ::testing::Values(
        EvalCase{"attributes.delay_days > 0", true}, EvalCase{"attributes.delay_days >= 3", true},
        EvalCase{"attributes.delay_days < 3", false}, EvalCase{"attributes.delay_days <= 3", true},
        EvalCase{"attributes.delay_days == 3", true}, EvalCase{"attributes.delay_days != 3", false},
        EvalCase{"attributes.milestone == 'bom_freeze'", true}, EvalCase{"attributes.milestone == \"concept\"", false},
        EvalCase{"attributes.delay_reason in ['supplier_delay', 'design_change']", true},
        EvalCase{"attributes.delay_reason in ['weather']", false}, EvalCase{"exists attributes.delay_reason", true},
        EvalCase{"exists attributes.missing", false}, EvalCase{"not exists attributes.missing", true},
        EvalCase{"attributes.delay_days > 0 and exists evidence.change_note.count", true},
        EvalCase{"attributes.delay_days > 5 or attributes.renewal", true},
        EvalCase{"not (attributes.delay_days > 0 and attributes.renewal)", false},
        EvalCase{"attributes.renewal == true", true}, EvalCase{"attributes.zero", false},
        EvalCase{"attributes.empty", false}, EvalCase{"attributes.missing == null", true},
        EvalCase{"attributes.missing > 0", false},
        // Different types never compare equal, and never error.
        EvalCase{"attributes.delay_days == '3'", false}, EvalCase{"attributes.delay_days != '3'", true},
        EvalCase{"evidence.change_note.cosigned == false", true}, EvalCase{"attributes.delay_days > -1", true},
        EvalCase{"(attributes.zero or attributes.empty) or (attributes.delay_days > 2 and not attributes.zero)",
                 true}));

struct ErrorCase {
  const char* text;
  const char* error;
};

class ConditionErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConditionErrorTest, ReportsPosition) {
  auto c = Condition::Parse(GetParam().text);
  ASSERT_FALSE(c.ok()) << GetParam().text;
  EXPECT_TRUE(absl::IsInvalidArgument(c.status()));
  EXPECT_EQ(std::string(c.status().message()), GetParam().error) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConditionErrorTest,
    ::testing::Values(ErrorCase{"", "position 1: empty condition"},
                      ErrorCase{"attributes.delay_days >", "position 24: expected a value, found the end"},
                      ErrorCase{"(attributes.a > 1", "position 18: expected ')'"},
                      ErrorCase{"attributes.a = 1", "position 14: unknown operator '=' (use == or !=)"},
                      ErrorCase{"attributes.a > 1 and", "position 21: expected a value, found the end"},
                      ErrorCase{"attributes. > 1", "position 13: expected a name after '.'"},
                      ErrorCase{"attributes.a in 'x'", "position 17: expected '[' after in"},
                      ErrorCase{"attributes.a in ['x' 'y']", "position 22: expected ',' or ']'"},
                      ErrorCase{"attributes.a == 'open", "position 17: unterminated string"},
                      ErrorCase{"attributes.a > 1 )", "position 18: unexpected ')'"},
                      ErrorCase{"exists 42", "position 8: expected a path, found '42'"},
                      ErrorCase{"attributes.a # 1", "position 14: unexpected character '#'"}));

TEST(ConditionTest, CollectsPaths) {
  auto c = Condition::Parse("attributes.a > 1 and (exists evidence.note.count or attributes.b in ['x'])");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->paths(), (std::vector<std::string>{"attributes.a", "evidence.note.count", "attributes.b"}));
}

TEST(ConditionTest, DeepNestingIsRejectedNotCrashed) {
  std::string text(5000, '(');
  auto c = Condition::Parse(text);
  EXPECT_TRUE(absl::IsInvalidArgument(c.status()));
}

}  // namespace
}  // namespace perfflow
