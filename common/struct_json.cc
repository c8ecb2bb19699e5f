#include "common/struct_json.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace perfflow {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;
using JsonWriter = rapidjson::Writer<rapidjson::StringBuffer>;

// Doubles that are whole numbers a double holds exactly are written without a
// fraction ("880000", as protobuf writes them), the rest shortest round-trip.
constexpr double kExactIntegers = 9007199254740992.0;  // 2^53

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
    if (absl::Status st = Write(field->second, depth + 1, w); !st.ok()) return st;
  }
  w.EndObject();
  return absl::OkStatus();
}

absl::Status Write(const Value& v, int depth, JsonWriter& w) {
  if (depth > kMaxJsonDepth) return absl::InvalidArgumentError("nested deeper than 100 levels");
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
      return Write(v.struct_value(), depth, w);
    case Value::kListValue:
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

absl::Status Read(const rapidjson::Value& in, int depth, Value* out);

absl::Status Read(const rapidjson::Value& in, int depth, Struct* out) {
  if (depth > kMaxJsonDepth) return absl::InvalidArgumentError("JSON nested deeper than 100 levels");
  auto& fields = *out->mutable_fields();
  for (const auto& member : in.GetObject()) {
    Value& v = fields[std::string(member.name.GetString(), member.name.GetStringLength())];
    v.Clear();  // a key given twice keeps its last value
    if (absl::Status st = Read(member.value, depth + 1, &v); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status Read(const rapidjson::Value& in, int depth, Value* out) {
  if (depth > kMaxJsonDepth) return absl::InvalidArgumentError("JSON nested deeper than 100 levels");
  switch (in.GetType()) {
    case rapidjson::kNullType:
      out->set_null_value(google::protobuf::NULL_VALUE);
      break;
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      out->set_bool_value(in.GetBool());
      break;
    case rapidjson::kNumberType:
      out->set_number_value(in.GetDouble());
      break;
    case rapidjson::kStringType:
      out->set_string_value(in.GetString(), in.GetStringLength());
      break;
    case rapidjson::kObjectType:
      return Read(in, depth, out->mutable_struct_value());
    case rapidjson::kArrayType: {
      ListValue* list = out->mutable_list_value();
      for (const auto& item : in.GetArray()) {
        if (absl::Status st = Read(item, depth + 1, list->add_values()); !st.ok()) return st;
      }
      break;
    }
  }
  return absl::OkStatus();
}

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
      rapidjson::kParseValidateEncodingFlag | rapidjson::kParseIterativeFlag | rapidjson::kParseFullPrecisionFlag;
  rapidjson::Document doc;
  doc.Parse<kFlags>(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at byte ", doc.GetErrorOffset(), ": ",
                                                   rapidjson::GetParseError_En(doc.GetParseError())));
  }
  if (!doc.IsObject()) return absl::InvalidArgumentError("JSON is not an object");
  Struct parsed;
  if (absl::Status st = Read(doc, 1, &parsed); !st.ok()) return st;
  *out = std::move(parsed);
  return absl::OkStatus();
}

}  // namespace perfflow
