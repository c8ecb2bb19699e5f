#include "common/struct_json.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/utf8.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace perfflow {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Doubles that are whole numbers a double holds exactly are written without a
// fraction ("880000", as protobuf writes them); the rest as Grisu2 digits,
// which read back as the same double.
constexpr double kExactIntegers = 9007199254740992.0;  // 2^53

// `depth`: the objects and lists open around what is written, counting
// the one being opened.
absl::Status Write(const Value& v, int depth, JsonWriter& w);

absl::Status Write(const Struct& s, int depth, JsonWriter& w) {
  if (depth > kMaxJsonDepth) return absl::InvalidArgumentError("nested deeper than 100 levels");
  std::vector<const google::protobuf::MapPair<std::string, Value>*> fields;
  fields.reserve(s.fields().size());
  for (const auto& field : s.fields()) fields.push_back(&field);
  std::sort(fields.begin(), fields.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  w.StartObject();
  for (const auto* field : fields) {
    w.Key(field->first.data(), static_cast<rapidjson::SizeType>(field->first.size()));
    if (absl::Status st = Write(field->second, depth, w); !st.ok()) return st;
  }
  w.EndObject();
  return absl::OkStatus();
}

absl::Status Write(const Value& v, int depth, JsonWriter& w) {
  switch (v.kind_case()) {
    case Value::kNumberValue: {
      const double d = v.number_value();
      if (!std::isfinite(d)) return absl::InvalidArgumentError("NaN and infinity have no JSON form");
      if (d == std::trunc(d) && std::fabs(d) <= kExactIntegers && !(d == 0 && std::signbit(d))) {
        w.Int64(static_cast<int64_t>(d));
      } else {
        w.Double(d);
      }
      return absl::OkStatus();
    }
    case Value::kStringValue:
      w.String(v.string_value().data(), static_cast<rapidjson::SizeType>(v.string_value().size()));
      return absl::OkStatus();
    case Value::kBoolValue:
      w.Bool(v.bool_value());
      return absl::OkStatus();
    case Value::kStructValue:
      return Write(v.struct_value(), depth + 1, w);
    case Value::kListValue:
      if (depth + 1 > kMaxJsonDepth) return absl::InvalidArgumentError("nested deeper than 100 levels");
      w.StartArray();
      for (const Value& item : v.list_value().values()) {
        if (absl::Status st = Write(item, depth + 1, w); !st.ok()) return st;
      }
      w.EndArray();
      return absl::OkStatus();
    case Value::kNullValue:
    case Value::KIND_NOT_SET:  // protobuf writes an unset Value as null too
      w.Null();
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

// Builds the Struct as the reader goes (no DOM). Numbers arrive as their
// text and are converted with absl::SimpleAtod, exactly rounded:
// RapidJSON 1.1.0's own full-precision conversion has undefined behaviour on
// input such as "0e42" (found by tests/fuzz/struct_json_fuzz).
class StructBuilder : public rapidjson::BaseReaderHandler<rapidjson::UTF8<>, StructBuilder> {
 public:
  explicit StructBuilder(Struct* root) : root_(root) {}

  const std::string& error() const { return error_; }

  bool Null() {
    return Put([](Value& v) { v.set_null_value(google::protobuf::NULL_VALUE); });
  }
  bool Bool(bool b) {
    return Put([b](Value& v) { v.set_bool_value(b); });
  }
  bool RawNumber(const char* text, rapidjson::SizeType length, bool) {
    double d;
    if (!absl::SimpleAtod(absl::string_view(text, length), &d) || !std::isfinite(d)) {
      return Fail(absl::StrCat("number ", Utf8Prefix(absl::string_view(text, length), 40), " is out of range"));
    }
    return Put([d](Value& v) { v.set_number_value(d); });
  }
  // RapidJSON 1.1.0 validates raw bytes but decodes a lone "\uDC00".."\uDFFF"
  // escape into a surrogate, which is not UTF-8 (found by the fuzzer).
  bool String(const char* text, rapidjson::SizeType length, bool) {
    if (!IsValidUtf8(absl::string_view(text, length))) return Fail("a string is not valid UTF-8 (a lone surrogate?)");
    return Put([text, length](Value& v) { v.set_string_value(text, length); });
  }
  bool Key(const char* text, rapidjson::SizeType length, bool) {
    if (!IsValidUtf8(absl::string_view(text, length))) return Fail("a key is not valid UTF-8 (a lone surrogate?)");
    key_.assign(text, length);
    return true;
  }
  bool StartObject() {
    if (open_.empty()) {  // the document's own object
      open_.push_back({root_, nullptr});
      return true;
    }
    Value* v = Next();
    if (v == nullptr || !Deeper()) return false;
    open_.push_back({v->mutable_struct_value(), nullptr});
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    open_.pop_back();
    return true;
  }
  bool StartArray() {
    Value* v = Next();
    if (v == nullptr || !Deeper()) return false;
    open_.push_back({nullptr, v->mutable_list_value()});
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    open_.pop_back();
    return true;
  }

 private:
  struct Open {
    Struct* object;
    google::protobuf::ListValue* list;
  };

  // Where the next value goes: the open list's next item, or the open
  // object's field under the last key (a key given twice keeps its last value).
  Value* Next() {
    if (open_.empty()) {
      Fail("JSON is not an object");
      return nullptr;
    }
    const Open& at = open_.back();
    if (at.list != nullptr) return at.list->add_values();
    Value* v = &(*at.object->mutable_fields())[key_];
    v->Clear();
    return v;
  }
  template <typename Set>
  bool Put(Set set) {
    Value* v = Next();
    if (v == nullptr) return false;
    set(*v);
    return true;
  }
  bool Deeper() { return open_.size() < kMaxJsonDepth || Fail("JSON nested deeper than 100 levels"); }
  bool Fail(std::string error) {
    error_ = std::move(error);
    return false;
  }

  Struct* root_;
  std::vector<Open> open_;
  std::string key_;
  std::string error_;
};

}  // namespace

absl::StatusOr<std::string> StructToJson(const Struct& s) {
  rapidjson::StringBuffer buffer;
  JsonWriter writer(buffer);
  if (absl::Status st = Write(s, 1, writer); !st.ok()) return st;
  return std::string(buffer.GetString(), buffer.GetSize());
}

absl::Status JsonToStruct(absl::string_view json, Struct* out) {
  // Iterative: hostile nesting cannot exhaust the stack before the depth check.
  constexpr unsigned kFlags =
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;
  Struct parsed;
  StructBuilder builder(&parsed);
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::Reader reader;
  rapidjson::ParseResult result = reader.Parse<kFlags>(bytes, builder);
  if (!result) {
    if (!builder.error().empty()) return absl::InvalidArgumentError(builder.error());
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at byte ", result.Offset(), ": ", rapidjson::GetParseError_En(result.Code())));
  }
  out->Swap(&parsed);
  return absl::OkStatus();
}

}  // namespace perfflow
