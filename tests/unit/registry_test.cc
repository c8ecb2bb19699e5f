#include "common/flow/registry.h"

#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/fixtures.h"

namespace perfflow::event {
namespace {

using ::testing::HasSubstr;

v1::ConfigFile File(const std::string& name, const std::string& content) {
  v1::ConfigFile f;
  f.set_name(name);
  f.set_content(content);
  return f;
}

constexpr char kMinimalType[] = R"(
kind: EventType
key: mes.line_stop
display_name: {en: Line stop}
source: mes
actions:
  owner_upload: {due_hours: 4}
  manager_review: {due_hours: 24}
)";

bool HasViolation(const std::vector<FieldViolation>& vs, const std::string& field, const std::string& text) {
  for (const auto& v : vs) {
    if (v.field == field && v.description.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST(RegistryTest, ShippedCatalogueIsValidAndLarge) {
  v1::ApplyEventTypesRequest req = testing::CatalogueRequest();
  std::vector<v1::ConfigFile> files(req.files().begin(), req.files().end());
  auto registry = ParseRegistryFiles(files);
  ASSERT_TRUE(registry.ok()) << registry.status();
  EXPECT_GE(registry->event_types_size(), 12);
  std::vector<FieldViolation> violations = ValidateRegistry(*registry);
  for (const auto& v : violations) ADD_FAILURE() << v.field << ": " << v.description;
  RegistryView view(*registry);
  ASSERT_NE(view.FindEventType("crm.contract_signed"), nullptr);
  EXPECT_THAT(view.GoalsFor("crm.contract_signed"), ::testing::Contains("sales.renewal_rate"));
}

TEST(RegistryTest, ShortEnumNamesAreAccepted) {
  auto r = ParseRegistryFiles({File("a.yaml", std::string(kMinimalType) + R"(
attributes:
  - {name: minutes, type: integer, required: true}
)")});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->event_types(0).attributes(0).type(), v1::ATTRIBUTE_TYPE_INTEGER);
}

TEST(RegistryTest, SyntaxErrorNamesFileAndLine) {
  auto r = ParseRegistryFiles({File("broken.yaml", "kind: EventType\nkey: [unclosed\n")});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("file broken.yaml"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("line "));
}

// yaml-cpp 0.7's LoadAll() never returns on these (found by the registry_yaml
// fuzzer; tests/fuzz/corpus/registry_yaml/regress-*): they must be refused.
TEST(RegistryTest, StreamsThatHangYamlCppAreSyntaxErrors) {
  for (const std::string content : {",+", "\n,\n", "kind: EventType\n---\n,\n"}) {
    auto r = ParseRegistryFiles({File("loop.yaml", content)});
    ASSERT_TRUE(absl::IsInvalidArgument(r.status())) << content << ": " << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("YAML syntax error"));
  }
  std::string many;
  for (int i = 0; i <= 1000; ++i) many += "---\nkind: EventType\n";
  auto r = ParseRegistryFiles({File("many.yaml", many)});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("more than 1000 documents"));
}

TEST(RegistryTest, UnknownFieldNamesDocumentAndPath) {
  auto r =
      ParseRegistryFiles({File("t.yaml", std::string(kMinimalType) + "---\n" + kMinimalType + "actions_typo: {}\n")});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("file t.yaml, document 2"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("actions_typo: unknown field"));
}

TEST(RegistryTest, BadEnumListsChoices) {
  auto r =
      ParseRegistryFiles({File("t.yaml", std::string(kMinimalType) + "attributes:\n  - {name: a, type: numbr}\n")});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("attributes[0].type: unknown value 'numbr'"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("number"));
}

TEST(RegistryTest, WrongScalarTypeIsReported) {
  auto r = ParseRegistryFiles({File("t.yaml", R"(
kind: EventType
key: a.b
source: x
actions:
  owner_upload: {due_hours: soon}
)")});
  ASSERT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("actions.owner_upload.due_hours: expected an integer"));
}

TEST(RegistryTest, UnknownKindIsRejected) {
  auto r = ParseRegistryFiles({File("t.yaml", "kind: Widget\nkey: a\n")});
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("unknown kind 'Widget'"));
  auto missing = ParseRegistryFiles({File("t.yaml", "key: a\n")});
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("kind: required"));
}

TEST(RegistryTest, SemanticViolationsArePrecise) {
  auto r = ParseRegistryFiles({File("t.yaml", R"(
kind: EventType
key: Bad Key
source: ""
attributes:
  - {name: reason, type: string, library: nope}
actions:
  owner_upload: {due_hours: 0}
goals: [missing.goal]
---
kind: Goal
key: a.one
name: {en: One}
depends_on: [a.two]
---
kind: Goal
key: a.two
name: {en: Two}
depends_on: [a.one]
)")});
  ASSERT_TRUE(r.ok()) << r.status();
  auto vs = ValidateRegistry(*r);
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].key", "is not a key"));
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].source", "required"));
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].display_name", "needs zh or en"));
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].attributes[reason].library", "unknown library 'nope'"));
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].actions.owner_upload.due_hours", "between 1 and 2160"));
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].actions.manager_review", "required"));
  EXPECT_TRUE(HasViolation(vs, "event_types[Bad Key].goals", "unknown goal 'missing.goal'"));
  bool cycle = false;
  for (const auto& v : vs) cycle |= v.description.find("cycle") != std::string::npos;
  EXPECT_TRUE(cycle);
}

TEST(RegistryTest, BadRuleConditionsFailAtApplyWithPosition) {
  auto r = ParseRegistryFiles({File("t.yaml", std::string(kMinimalType) + R"(
attributes:
  - {name: delay_days, type: integer}
evidence:
  - {kind: note, content_types: [application/pdf], required_when: "attributes.delay_days >"}
rules:
  - {id: r1, require: "exists attributes.nope"}
  - {id: r2, when: "(attributes.delay_days > 0", require: "evidence.note.count > 0"}
)")});
  ASSERT_TRUE(r.ok()) << r.status();
  auto vs = ValidateRegistry(*r);
  EXPECT_TRUE(HasViolation(vs, "event_types[mes.line_stop].evidence[note].required_when",
                           "position 24: expected a value, found the end"));
  EXPECT_TRUE(HasViolation(vs, "event_types[mes.line_stop].rules[r1].require", "'attributes.nope' is not a declared"));
  EXPECT_TRUE(HasViolation(vs, "event_types[mes.line_stop].rules[r2].when", "position 27: expected ')'"));
  EXPECT_EQ(vs.size(), 3u);
}

TEST(RegistryTest, MergeReplacesByKey) {
  v1::Registry base;
  base.add_event_types()->set_key("a.one");
  base.mutable_event_types(0)->set_source("old");
  v1::Registry delta;
  delta.add_event_types()->set_key("a.one");
  delta.mutable_event_types(0)->set_source("new");
  delta.add_event_types()->set_key("a.two");
  v1::Registry merged = MergeRegistry(base, delta);
  ASSERT_EQ(merged.event_types_size(), 2);
  EXPECT_EQ(merged.event_types(0).source(), "new");
}

class AttributesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::ApplyEventTypesRequest req = testing::CatalogueRequest();
    std::vector<v1::ConfigFile> files(req.files().begin(), req.files().end());
    auto r = ParseRegistryFiles(files);
    ASSERT_TRUE(r.ok());
    view_ = std::make_unique<RegistryView>(*r);
    type_ = view_->FindEventType("qms.major_complaint_closed");
    ASSERT_NE(type_, nullptr);
  }
  std::vector<FieldViolation> Check(const std::string& json) {
    google::protobuf::Struct s;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
    return ValidateAttributes(*type_, s, *view_);
  }
  std::unique_ptr<RegistryView> view_;
  const v1::EventType* type_ = nullptr;
};

TEST_F(AttributesTest, ValidAttributesPass) {
  EXPECT_TRUE(Check(R"({"complaint_category":"dimension","delay_days":2,"delay_reason":"supplier_delay"})").empty());
}

TEST_F(AttributesTest, EachRuleIsEnforced) {
  EXPECT_TRUE(HasViolation(Check("{}"), "attributes.complaint_category", "required"));
  EXPECT_TRUE(HasViolation(Check(R"({"complaint_category":"weather"})"), "attributes.complaint_category",
                           "not in library complaint_category"));
  EXPECT_TRUE(HasViolation(Check(R"({"complaint_category":"dimension","delay_days":1.5})"), "attributes.delay_days",
                           "integer"));
  EXPECT_TRUE(HasViolation(Check(R"({"complaint_category":"dimension","delay_days":"3"})"), "attributes.delay_days",
                           "integer"));
  EXPECT_TRUE(HasViolation(Check(R"({"complaint_category":"dimension","delay_reason":"bad luck"})"),
                           "attributes.delay_reason", "not in library root_cause"));
}

}  // namespace
}  // namespace perfflow::event
