#include "gateway/routes.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/url_encoding.h"
#include "google/api/annotations.pb.h"
#include "perfflow/type/v1/access.pb.h"

namespace perfflow::gateway {
namespace {

namespace pb = google::protobuf;

absl::Status Malformed(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("path template \"", text, "\": ", why));
}

// The field a dotted path names in `message`, or nullptr.
const pb::FieldDescriptor* FieldAt(const pb::Descriptor* message, absl::string_view path) {
  const pb::FieldDescriptor* field = nullptr;
  for (absl::string_view part : absl::StrSplit(path, '.')) {
    if (message == nullptr) return nullptr;
    field = message->FindFieldByName(std::string(part));
    if (field == nullptr) return nullptr;
    message = field->message_type();
  }
  return field;
}

}  // namespace

absl::StatusOr<PathTemplate> PathTemplate::Parse(absl::string_view text) {
  PathTemplate t;
  t.text_ = std::string(text);
  if (!absl::StartsWith(text, "/")) return Malformed(text, "must start with '/'");
  absl::string_view rest = text.substr(1);
  // The verb follows the last ':' outside braces.
  size_t depth = 0, verb_at = absl::string_view::npos;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '{') ++depth;
    if (rest[i] == '}') --depth;
    if (rest[i] == ':' && depth == 0) verb_at = i;
  }
  if (verb_at != absl::string_view::npos) {
    t.verb_ = std::string(rest.substr(verb_at + 1));
    rest = rest.substr(0, verb_at);
    if (t.verb_.empty()) return Malformed(text, "empty verb");
  }
  auto add_segment = [&](absl::string_view s) -> absl::Status {
    if (s.empty()) return Malformed(text, "empty segment");
    if (s == "*") {
      t.segments_.push_back({Segment::kWildcard, ""});
    } else if (s == "**") {
      t.segments_.push_back({Segment::kDoubleWildcard, ""});
    } else {
      if (absl::StrContains(s, "*") || absl::StrContains(s, "{") || absl::StrContains(s, "}")) {
        return Malformed(text, absl::StrCat("bad literal \"", s, "\""));
      }
      t.segments_.push_back({Segment::kLiteral, std::string(s)});
    }
    return absl::OkStatus();
  };
  size_t i = 0;
  while (i <= rest.size()) {
    size_t end;
    if (i < rest.size() && rest[i] == '{') {
      end = rest.find('}', i);
      if (end == absl::string_view::npos) return Malformed(text, "unclosed '{'");
      absl::string_view inner = rest.substr(i + 1, end - i - 1);
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(inner, absl::MaxSplits('=', 1));
      if (kv.first.empty()) return Malformed(text, "variable without a field");
      Variable v{std::string(kv.first), t.segments_.size(), 0};
      if (kv.second.empty()) {
        t.segments_.push_back({Segment::kWildcard, ""});
      } else {
        for (absl::string_view s : absl::StrSplit(kv.second, '/')) {
          if (absl::Status st = add_segment(s); !st.ok()) return st;
        }
      }
      v.end = t.segments_.size();
      t.variables_.push_back(std::move(v));
      ++end;
      if (end < rest.size() && rest[end] != '/') return Malformed(text, "a variable must end its segment");
    } else {
      end = std::min(rest.find('/', i), rest.size());
      if (absl::Status st = add_segment(rest.substr(i, end - i)); !st.ok()) return st;
    }
    i = end + 1;
  }
  for (size_t k = 0; k < t.segments_.size(); ++k) {
    if (t.segments_[k].kind == Segment::kDoubleWildcard && k + 1 != t.segments_.size()) {
      return Malformed(text, "'**' must be the last segment");
    }
  }
  return t;
}

bool PathTemplate::Match(const std::vector<std::string>& segments, const std::string& verb,
                         std::vector<std::pair<std::string, std::string>>* bindings) const {
  if (verb != verb_) return false;
  const bool tail = !segments_.empty() && segments_.back().kind == Segment::kDoubleWildcard;
  if (tail ? segments.size() < segments_.size() : segments.size() != segments_.size()) return false;
  for (size_t k = 0; k < segments_.size(); ++k) {
    const Segment& s = segments_[k];
    if (s.kind == Segment::kLiteral && segments[k] != s.literal) return false;
    if (s.kind == Segment::kWildcard && segments[k].empty()) return false;
  }
  bindings->clear();
  for (const Variable& v : variables_) {
    size_t end = (tail && v.end == segments_.size()) ? segments.size() : v.end;
    std::vector<std::string> parts(segments.begin() + v.begin, segments.begin() + end);
    bindings->emplace_back(v.field_path, absl::StrJoin(parts, "/"));
  }
  return true;
}

std::vector<std::string> AllowedRoles(const pb::MethodDescriptor& method) {
  const auto& options = method.options();
  std::vector<std::string> roles;
  for (int i = 0; i < options.ExtensionSize(perfflow::type::v1::allowed_roles); ++i) {
    roles.push_back(options.GetExtension(perfflow::type::v1::allowed_roles, i));
  }
  return roles;
}

absl::StatusOr<Router> Router::Build(const std::vector<const pb::ServiceDescriptor*>& services) {
  Router router;
  for (const pb::ServiceDescriptor* service : services) {
    for (int m = 0; m < service->method_count(); ++m) {
      const pb::MethodDescriptor* method = service->method(m);
      if (!method->options().HasExtension(google::api::http)) continue;
      const google::api::HttpRule& top = method->options().GetExtension(google::api::http);
      std::vector<const google::api::HttpRule*> rules = {&top};
      for (const auto& extra : top.additional_bindings()) rules.push_back(&extra);
      for (const google::api::HttpRule* rule : rules) {
        Route r;
        std::string pattern;
        switch (rule->pattern_case()) {
          case google::api::HttpRule::kGet:
            r.http_method = "GET", pattern = rule->get();
            break;
          case google::api::HttpRule::kPut:
            r.http_method = "PUT", pattern = rule->put();
            break;
          case google::api::HttpRule::kPost:
            r.http_method = "POST", pattern = rule->post();
            break;
          case google::api::HttpRule::kDelete:
            r.http_method = "DELETE", pattern = rule->delete_();
            break;
          case google::api::HttpRule::kPatch:
            r.http_method = "PATCH", pattern = rule->patch();
            break;
          case google::api::HttpRule::kCustom:
            r.http_method = rule->custom().kind(), pattern = rule->custom().path();
            break;
          default:
            return absl::InvalidArgumentError(method->full_name() + ": http rule without a pattern");
        }
        auto path = PathTemplate::Parse(pattern);
        if (!path.ok()) {
          return absl::InvalidArgumentError(method->full_name() + ": " + std::string(path.status().message()));
        }
        r.path = *std::move(path);
        for (const std::string& field : r.path.field_paths()) {
          if (FieldAt(method->input_type(), field) == nullptr) {
            return absl::InvalidArgumentError(method->full_name() + ": path variable \"" + field +
                                              "\" is no request field");
          }
        }
        r.body = rule->body();
        if (!r.body.empty() && r.body != "*" && FieldAt(method->input_type(), r.body) == nullptr) {
          return absl::InvalidArgumentError(method->full_name() + ": body field \"" + r.body + "\" does not exist");
        }
        r.method = method;
        r.allowed_roles = AllowedRoles(*method);
        r.grpc_path = absl::StrCat("/", service->full_name(), "/", method->name());
        r.label = absl::StrCat(r.http_method, " ", pattern);
        router.routes_.push_back(std::move(r));
      }
    }
  }
  std::stable_sort(router.routes_.begin(), router.routes_.end(),
                   [](const Route& a, const Route& b) { return a.path.has_verb() && !b.path.has_verb(); });
  return router;
}

RouteMatch Router::Find(absl::string_view http_method, absl::string_view path) const {
  RouteMatch match;
  if (!absl::StartsWith(path, "/")) return match;
  std::vector<std::string> raw = absl::StrSplit(path.substr(1), '/');
  // The verb, if any, is the part of the last segment after its last ':'.
  std::string verb;
  std::vector<std::string> with_verb = raw;
  size_t colon = raw.back().rfind(':');
  if (colon != std::string::npos) {
    verb = raw.back().substr(colon + 1);
    with_verb.back() = raw.back().substr(0, colon);
  }
  auto decode = [](std::vector<std::string> segments) -> std::optional<std::vector<std::string>> {
    for (std::string& s : segments) {
      auto decoded = PercentDecode(s);
      if (!decoded.ok()) return std::nullopt;
      s = *std::move(decoded);
    }
    return segments;
  };
  auto plain = decode(raw);
  auto verbed = decode(with_verb);
  if (!plain || !verbed) return match;
  std::vector<std::pair<std::string, std::string>> bindings;
  for (const Route& r : routes_) {
    bool matched = r.path.has_verb() ? r.path.Match(*verbed, verb, &bindings) : r.path.Match(*plain, "", &bindings);
    if (!matched) continue;
    if (r.http_method == http_method) {
      if (match.route == nullptr) {
        match.result = RouteMatch::kFound;
        match.route = &r;
        match.bindings = bindings;
      }
    } else if (std::find(match.allowed_methods.begin(), match.allowed_methods.end(), r.http_method) ==
               match.allowed_methods.end()) {
      match.allowed_methods.push_back(r.http_method);
    }
  }
  if (match.route == nullptr && !match.allowed_methods.empty()) match.result = RouteMatch::kMethodNotAllowed;
  return match;
}

}  // namespace perfflow::gateway
