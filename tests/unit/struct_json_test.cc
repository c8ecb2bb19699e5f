#include "common/struct_json.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/struct_values.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace perfflow {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;
using google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

Struct Attributes() {
  Struct s;
  auto& f = *s.mutable_fields();
  f["contract_value"] = NumberValue(880000);
  f["discount"] = NumberValue(0.1);
  f["tiny"] = NumberValue(-1.5e-300);
  f["huge"] = NumberValue(1e21);
  f["past_exact"] = NumberValue(9007199254740994.0);  // 2^53 + 2: whole, but written as a double
  f["negative_zero"] = NumberValue(-0.0);
  f["customer_tier"] = StringValue("key");
  f["客户"] = StringValue("华东 \"重点\" \\ 客户\n\t\x01 </script>");
  f["signed"] = BoolValue(true);
  f["none"].set_null_value(google::protobuf::NULL_VALUE);
  f["lines"] =
      ListValue({NumberValue(1), StringValue("two"), ObjectValue({{"three", BoolValue(false)}}), ListValue({})});
  f["empty"] = ObjectValue({});
  return s;
}

Struct ByProtobuf(const std::string& json) {
  Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &s).ok()) << json;
  return s;
}

std::string ByProtobuf(const Struct& s) {
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(s, &json).ok());
  return json;
}

TEST(StructJsonTest, WritesWhatProtobufReadsBackUnchanged) {
  const Struct s = Attributes();
  auto json = StructToJson(s);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_TRUE(MessageDifferencer::Equals(ByProtobuf(*json), s)) << *json;
}

TEST(StructJsonTest, ReadsWhatProtobufWritesUnchanged) {
  const Struct s = Attributes();
  Struct read;
  ASSERT_TRUE(JsonToStruct(ByProtobuf(s), &read).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(read, s)) << read.DebugString();
}

TEST(StructJsonTest, WritesWholeNumbersAsProtobufDoesAndKeysInOrder) {
  Struct s;
  (*s.mutable_fields())["b"] = NumberValue(880000);
  (*s.mutable_fields())["a"] = StringValue("key");
  (*s.mutable_fields())["c"] = NumberValue(-3);
  EXPECT_EQ(*StructToJson(s), R"({"a":"key","b":880000,"c":-3})");
  EXPECT_EQ(*StructToJson(Struct()), "{}");
}

TEST(StructJsonTest, ADoubleSurvivesTheRoundTripExactly) {
  for (double d : {0.1, 1.0 / 3, 123456789.123456789, 5e-324, 1.7976931348623157e308, -2.5}) {
    Struct s;
    (*s.mutable_fields())["x"] = NumberValue(d);
    Struct read;
    ASSERT_TRUE(JsonToStruct(*StructToJson(s), &read).ok());
    EXPECT_EQ(read.fields().at("x").number_value(), d);
  }
}

TEST(StructJsonTest, RefusesNumbersJsonCannotHold) {
  for (double d : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    Struct s;
    (*s.mutable_fields())["x"] = ListValue({NumberValue(d)});
    EXPECT_EQ(StructToJson(s).status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// A Struct whose innermost list holds a number, `containers` objects and lists deep.
Struct Nested(int containers) {
  Struct root;
  Value* at = nullptr;
  for (int i = 1; i < containers; ++i) {
    Value* next = at == nullptr ? &(*root.mutable_fields())["n"] : at->mutable_list_value()->add_values();
    at = next;
  }
  if (at == nullptr) return root;
  *at->mutable_list_value()->add_values() = NumberValue(1);
  return root;
}

TEST(StructJsonTest, TheDepthLimitIsTheSameForReadingAndWriting) {
  auto at_limit = StructToJson(Nested(kMaxJsonDepth));
  ASSERT_TRUE(at_limit.ok()) << at_limit.status();
  Struct read;
  ASSERT_TRUE(JsonToStruct(*at_limit, &read).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(read, Nested(kMaxJsonDepth)));
  EXPECT_EQ(StructToJson(Nested(kMaxJsonDepth + 1)).status().code(), absl::StatusCode::kInvalidArgument);
  // The same inside one more list: {"n":[ <the value of "n"> ]}.
  const std::string deeper = "{\"n\":[" + at_limit->substr(5, at_limit->size() - 6) + "]}";
  const absl::Status refused = JsonToStruct(deeper, &read);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << deeper;
  EXPECT_THAT(std::string(refused.message()), HasSubstr("nested deeper than 100 levels"));
}

TEST(StructJsonTest, RefusesNestingDeeperThanTheLimitBothWays) {
  Struct deep;
  Struct* at = &deep;
  for (int i = 0; i < kMaxJsonDepth + 1; ++i) at = (*at->mutable_fields())["n"].mutable_struct_value();
  EXPECT_EQ(StructToJson(deep).status().code(), absl::StatusCode::kInvalidArgument);

  std::string nested(200000, '[');
  Struct out;
  EXPECT_EQ(JsonToStruct("{\"n\":" + nested, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(JsonToStruct("{\"n\":" + nested + std::string(200000, ']') + "}", &out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(StructJsonTest, RefusesWhatIsNotOneObjectOfValidUtf8AndKeepsTheTarget) {
  Struct out;
  (*out.mutable_fields())["kept"] = BoolValue(true);
  for (const std::string& bad :
       std::vector<std::string>{"", "[1]", "\"text\"", "{\"a\":1} {}", "{\"a\":}", "{'a':1}", "{\"a\":\"\xff\"}",
                                "{\"a\":NaN}", "{\"a\":1e400}", "{\"a\":\"\\uDDd1\"}", "{\"\\uD800x\":1}",
                                "{\"a\":\"\xed\xa0\x80\"}", std::string("{\"a\":\"x\0y\"}", 11)}) {
    EXPECT_EQ(JsonToStruct(bad, &out).code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(out.fields().size(), 1u);
  }
  const absl::Status huge = JsonToStruct("{\"a\":1" + std::string(100000, '0') + "}", &out);
  EXPECT_EQ(huge.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(huge.message().size(), 100u);                               // the number is quoted, not all of it
  ASSERT_TRUE(JsonToStruct(R"({"smile":"\uD83D\uDE00"})", &out).ok());  // a surrogate pair is one character
  EXPECT_EQ(out.fields().at("smile").string_value(), "\xF0\x9F\x98\x80");
  ASSERT_TRUE(JsonToStruct(R"({"a":1,"a":2})", &out).ok());
  EXPECT_EQ(out.fields().size(), 1u);  // replaced
  EXPECT_FALSE(out.fields().contains("smile"));
  EXPECT_EQ(out.fields().at("a").number_value(), 2);
}

}  // namespace
}  // namespace perfflow
