#include "gateway/transcode.h"

#include "common/utf8.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gateway/backends.h"
#include "google/protobuf/util/json_util.h"
#include "google/rpc/status.pb.h"

namespace perfflow::gateway {
namespace {

namespace pb = google::protobuf;

absl::Status BadField(const std::string& field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("field \"", field, "\": ", why));
}

const pb::FieldDescriptor* FindField(const pb::Descriptor* d, absl::string_view name) {
  const pb::FieldDescriptor* f = d->FindFieldByName(std::string(name));
  return f != nullptr ? f : d->FindFieldByCamelcaseName(std::string(name));
}

// Sets (or, for repeated fields, appends) the field at dotted `path` from text.
absl::Status SetFromText(pb::Message* message, const std::string& path, const std::string& value) {
  std::vector<std::string> parts = absl::StrSplit(path, '.');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    const pb::FieldDescriptor* f = FindField(message->GetDescriptor(), parts[i]);
    if (f == nullptr || f->message_type() == nullptr || f->is_repeated()) return BadField(path, "no such field");
    message = message->GetReflection()->MutableMessage(message, f);
  }
  const pb::FieldDescriptor* f = FindField(message->GetDescriptor(), parts.back());
  if (f == nullptr) return BadField(path, "no such field");
  const pb::Reflection* r = message->GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      rep ? r->AddString(message, f, value) : r->SetString(message, f, value);
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadField(path, "expected a 32-bit integer");
      rep ? r->AddInt32(message, f, v) : r->SetInt32(message, f, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadField(path, "expected an integer");
      rep ? r->AddInt64(message, f, v) : r->SetInt64(message, f, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadField(path, "expected an unsigned integer");
      rep ? r->AddUInt32(message, f, v) : r->SetUInt32(message, f, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) return BadField(path, "expected an unsigned integer");
      rep ? r->AddUInt64(message, f, v) : r->SetUInt64(message, f, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(value, &v)) return BadField(path, "expected a number");
      if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT) {
        rep ? r->AddFloat(message, f, static_cast<float>(v)) : r->SetFloat(message, f, static_cast<float>(v));
      } else {
        rep ? r->AddDouble(message, f, v) : r->SetDouble(message, f, v);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      bool v;
      if (value == "true" || value == "1") {
        v = true;
      } else if (value == "false" || value == "0") {
        v = false;
      } else {
        return BadField(path, "expected true or false");
      }
      rep ? r->AddBool(message, f, v) : r->SetBool(message, f, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const pb::EnumValueDescriptor* e = f->enum_type()->FindValueByName(value);
      int number;
      if (e == nullptr && absl::SimpleAtoi(value, &number)) e = f->enum_type()->FindValueByNumber(number);
      if (e == nullptr) return BadField(path, absl::StrCat("not a value of ", f->enum_type()->full_name()));
      rep ? r->AddEnum(message, f, e) : r->SetEnum(message, f, e);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE: {
      // Well-known types with a string JSON form (Timestamp, Duration, ...).
      pb::Message* sub = rep ? r->AddMessage(message, f) : r->MutableMessage(message, f);
      std::string quoted = "\"";
      for (char c : value) {
        if (c == '"' || c == '\\') quoted.push_back('\\');
        quoted.push_back(c);
      }
      quoted.push_back('"');
      if (!pb::util::JsonStringToMessage(quoted, sub).ok()) {
        return BadField(path, absl::StrCat("not a valid ", f->message_type()->full_name()));
      }
      return absl::OkStatus();
    }
  }
  return BadField(path, "unsupported type");
}

}  // namespace

absl::Status CheckJsonDepth(absl::string_view json) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("JSON nested deeper than ", kMaxJsonDepth, " levels (objects and arrays)"));
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return absl::OkStatus();
}

absl::Status BuildRequest(const RouteMatch& match, const std::multimap<std::string, std::string>& query,
                          absl::string_view body, pb::Message* request) {
  const Route& route = *match.route;
  if (!route.body.empty()) {
    pb::Message* target = request;
    if (route.body != "*") {
      const pb::FieldDescriptor* f = FindField(request->GetDescriptor(), route.body);
      target = request->GetReflection()->MutableMessage(request, f);
    }
    if (!body.empty()) {
      if (absl::Status s = CheckJsonDepth(body); !s.ok()) return s;
      pb::util::JsonParseOptions options;
      options.ignore_unknown_fields = false;
      auto s = pb::util::JsonStringToMessage(std::string(body), target, options);
      if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("malformed JSON body: ", s.message().as_string()));
    }
  } else if (!body.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(route.label, " takes no body"));
  }
  for (const auto& [field, value] : match.bindings) {
    if (absl::Status s = SetFromText(request, field, value); !s.ok()) return s;
  }
  if (route.body == "*" && !query.empty()) {
    return absl::InvalidArgumentError("query parameters are not accepted where the body is the whole request");
  }
  for (const auto& [field, value] : query) {
    if (!route.body.empty() && (field == route.body || absl::StartsWith(field, route.body + "."))) {
      return BadField(field, "belongs to the body");
    }
    if (absl::Status s = SetFromText(request, field, value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::unique_ptr<pb::Message>>> ParseJsonLines(
    const RouteMatch& match, const std::multimap<std::string, std::string>& query, absl::string_view body,
    const pb::Descriptor* type) {
  if (!match.bindings.empty() || !query.empty()) {
    return absl::InvalidArgumentError("a streamed request takes its messages from the body only");
  }
  std::vector<std::unique_ptr<pb::Message>> messages;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    ++line_number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    if (absl::Status s = CheckJsonDepth(line); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("body line ", line_number, ": ", s.message()));
    }
    std::unique_ptr<pb::Message> message = NewMessage(type);
    pb::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto s = pb::util::JsonStringToMessage(std::string(line), message.get(), options);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("body line ", line_number, ": ", s.message().as_string()));
    }
    messages.push_back(std::move(message));
  }
  if (messages.empty()) return absl::InvalidArgumentError("empty body: one JSON request message per line");
  return messages;
}

absl::StatusOr<std::string> MessageToJson(const pb::Message& message, bool indent) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.add_whitespace = indent;
  std::string out;
  if (auto s = pb::util::MessageToJsonString(message, &out, options); !s.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot write a ", message.GetDescriptor()->full_name(), " as JSON: ", s.message().as_string()));
  }
  if (indent && !out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

int HttpStatusFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return 200;
    case grpc::StatusCode::CANCELLED:
      return 499;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return 400;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case grpc::StatusCode::NOT_FOUND:
      return 404;
    case grpc::StatusCode::ALREADY_EXISTS:
      return 409;
    case grpc::StatusCode::PERMISSION_DENIED:
      return 403;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::StatusCode::FAILED_PRECONDITION:
      return 400;
    case grpc::StatusCode::ABORTED:
      return 409;
    case grpc::StatusCode::OUT_OF_RANGE:
      return 400;
    case grpc::StatusCode::UNIMPLEMENTED:
      return 501;
    case grpc::StatusCode::UNAVAILABLE:
      return 503;
    case grpc::StatusCode::UNAUTHENTICATED:
      return 401;
    default:
      return 500;  // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

std::string CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {
      "OK",        "CANCELLED",      "UNKNOWN",           "INVALID_ARGUMENT",   "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
      "ABORTED",   "OUT_OF_RANGE",   "UNIMPLEMENTED",     "INTERNAL",           "UNAVAILABLE",
      "DATA_LOSS", "UNAUTHENTICATED"};
  int i = static_cast<int>(code);
  return (i >= 0 && i <= 16) ? kNames[i] : "UNKNOWN";
}

std::string ErrorJson(const grpc::Status& status) {
  google::rpc::Status detailed;
  if (status.error_details().empty() || !detailed.ParseFromString(status.error_details())) {
    detailed.Clear();
  }
  detailed.set_code(status.error_code());
  detailed.set_message(status.error_message());
  absl::StatusOr<std::string> json = MessageToJson(detailed);
  if (!json.ok()) {
    // Details that do not print: the code and the message still do.
    detailed.clear_details();
    detailed.set_message(ToValidUtf8(status.error_message()));
    json = MessageToJson(detailed);
  }
  // {"code":3,"message":"...","details":[...]} plus the code's name.
  return absl::StrCat("{\"status\":\"", CodeName(status.error_code()), "\",",
                      json.ok() ? json->substr(1) : "\"code\":13}");
}

}  // namespace perfflow::gateway
