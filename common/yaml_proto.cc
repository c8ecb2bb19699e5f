#include "common/yaml_proto.h"

#include <algorithm>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/mark.h"

namespace perfflow {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

absl::Status Error(const YAML::Node& node, const std::string& path, absl::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", node.Mark().line + 1, ": ", path.empty() ? "(document)" : path, ": ", reason));
}

std::string Join(const std::string& path, const std::string& field) {
  return path.empty() ? field : absl::StrCat(path, ".", field);
}

// "number" -> ATTRIBUTE_TYPE_NUMBER for enum AttributeType.
const google::protobuf::EnumValueDescriptor* FindEnumValue(const EnumDescriptor* e, const std::string& text) {
  if (auto* v = e->FindValueByName(text)) return v;
  std::string upper = absl::AsciiStrToUpper(text);
  for (int i = 0; i < e->value_count(); ++i) {
    const auto* v = e->value(i);
    const std::string& name = v->name();
    if (name == upper) return v;
    if (name.size() > upper.size() && name.compare(name.size() - upper.size(), upper.size(), upper) == 0 &&
        name[name.size() - upper.size() - 1] == '_' && v->number() != 0) {
      return v;
    }
  }
  return nullptr;
}

std::string EnumChoices(const EnumDescriptor* e) {
  std::vector<std::string> names;
  for (int i = 1; i < e->value_count(); ++i) names.push_back(absl::AsciiStrToLower(e->value(i)->name()));
  return absl::StrJoin(names, ", ");
}

absl::Status ReadMessage(const YAML::Node& node, Message* msg, const std::string& path,
                         const std::vector<std::string>& skip);

absl::Status ReadScalar(const YAML::Node& node, Message* msg, const FieldDescriptor* f, const std::string& path) {
  const Reflection* r = msg->GetReflection();
  const bool repeated = f->is_repeated();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    Message* child = repeated ? r->AddMessage(msg, f) : r->MutableMessage(msg, f);
    return ReadMessage(node, child, path, {});
  }
  if (!node.IsScalar()) return Error(node, path, "expected a single value");
  const std::string text = node.Scalar();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      repeated ? r->AddString(msg, f, text) : r->SetString(msg, f, text);
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (!absl::SimpleAtob(text, &v)) {
        return Error(node, path, absl::StrCat("expected true or false, got '", text, "'"));
      }
      repeated ? r->AddBool(msg, f, v) : r->SetBool(msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(text, &v)) return Error(node, path, absl::StrCat("expected an integer, got '", text, "'"));
      repeated ? r->AddInt32(msg, f, v) : r->SetInt32(msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(text, &v)) return Error(node, path, absl::StrCat("expected an integer, got '", text, "'"));
      repeated ? r->AddInt64(msg, f, v) : r->SetInt64(msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v;
      if (!absl::SimpleAtod(text, &v)) return Error(node, path, absl::StrCat("expected a number, got '", text, "'"));
      repeated ? r->AddDouble(msg, f, v) : r->SetDouble(msg, f, v);
      return absl::OkStatus();
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      const auto* v = FindEnumValue(f->enum_type(), text);
      if (v == nullptr || v->number() == 0) {
        return Error(node, path,
                     absl::StrCat("unknown value '", text, "' (expected one of: ", EnumChoices(f->enum_type()), ")"));
      }
      repeated ? r->AddEnum(msg, f, v) : r->SetEnum(msg, f, v);
      return absl::OkStatus();
    }
    default:
      return Error(node, path, "field type not supported in YAML");
  }
}

absl::Status ReadMessage(const YAML::Node& node, Message* msg, const std::string& path,
                         const std::vector<std::string>& skip) {
  if (!node.IsMap()) return Error(node, path, "expected a mapping of fields");
  const Descriptor* d = msg->GetDescriptor();
  const Reflection* r = msg->GetReflection();
  for (const auto& kv : node) {
    const std::string name = kv.first.as<std::string>();
    if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
    const FieldDescriptor* f = d->FindFieldByName(name);
    std::string field_path = Join(path, name);
    if (f == nullptr) return Error(kv.first, field_path, "unknown field");
    const YAML::Node& value = kv.second;
    if (value.IsNull()) continue;
    if (f->is_map()) {
      if (!value.IsMap()) return Error(value, field_path, "expected a mapping");
      const Descriptor* entry = f->message_type();
      for (const auto& item : value) {
        Message* e = r->AddMessage(msg, f);
        const Reflection* er = e->GetReflection();
        const std::string key = item.first.as<std::string>();
        er->SetString(e, entry->FindFieldByName("key"), key);
        // The value as any field of its type: a scalar, an enum name or a message.
        if (absl::Status s =
                ReadScalar(item.second, e, entry->FindFieldByName("value"), absl::StrCat(field_path, "[", key, "]"));
            !s.ok()) {
          return s;
        }
      }
      continue;
    }
    if (f->is_repeated()) {
      if (!value.IsSequence()) return Error(value, field_path, "expected a list");
      for (size_t i = 0; i < value.size(); ++i) {
        if (absl::Status s = ReadScalar(value[i], msg, f, absl::StrCat(field_path, "[", i, "]")); !s.ok()) return s;
      }
      continue;
    }
    if (absl::Status s = ReadScalar(value, msg, f, field_path); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status YamlToMessage(const YAML::Node& node, google::protobuf::Message* message,
                           const std::vector<std::string>& skip_fields) {
  try {
    return ReadMessage(node, message, "", skip_fields);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("line ", e.mark.line + 1, ": ", e.msg));
  }
}

namespace {

// Notes where each document of a stream starts (and ignores the rest).
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

  YAML::Mark start;
};

absl::Status SyntaxError(const YAML::Mark& mark, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("line ", mark.line + 1, ", column ", mark.column + 1, ": YAML syntax error: ", what));
}

}  // namespace

absl::StatusOr<std::vector<YAML::Node>> LoadYamlDocuments(const std::string& content) {
  try {
    // yaml-cpp 0.7's LoadAll() loops forever, growing without bound, on some
    // malformed streams (",+" at the top level: a document that consumes
    // nothing is handled again and again; jbeder/yaml-cpp#1040, fixed
    // upstream after 0.7; found by the registry_yaml fuzzer). A first pass
    // walks the documents with the event parser and stops where a document
    // would start again at the same place.
    std::istringstream in(content);
    YAML::Parser parser(in);
    DocumentStarts starts;
    int previous = -1;
    size_t documents = 0;
    while (parser.HandleNextDocument(starts)) {
      if (starts.start.pos == previous) return SyntaxError(starts.start, "unexpected character");
      previous = starts.start.pos;
      if (++documents > kMaxYamlDocuments) {
        return SyntaxError(starts.start, absl::StrCat("more than ", kMaxYamlDocuments, " documents"));
      }
    }
    std::vector<YAML::Node> docs;
    for (YAML::Node& n : YAML::LoadAll(content)) {
      if (!n.IsNull()) docs.push_back(n);
    }
    return docs;
  } catch (const YAML::Exception& e) {
    return SyntaxError(e.mark, e.msg);
  }
}

}  // namespace perfflow
