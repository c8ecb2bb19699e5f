#pragma once

// HTTP routes derived from the google.api.http annotations of the service
// descriptors, so every RPC gets its HTTP/JSON form without per-method code.
// Path templates follow google/api/http.proto: literal segments, `*`, `**`,
// variables `{field.path}` or `{field.path=segments/*}`, and a `:verb` suffix.

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace perfflow::gateway {

class PathTemplate {
 public:
  // InvalidArgument with the reason when `text` is not a valid template.
  static absl::StatusOr<PathTemplate> Parse(absl::string_view text);

  // Matches a request path (already split at '/', percent-decoded per
  // segment); on success fills `bindings` with (field path, value).
  bool Match(const std::vector<std::string>& segments, const std::string& verb,
             std::vector<std::pair<std::string, std::string>>* bindings) const;

  bool has_verb() const { return !verb_.empty(); }
  std::vector<std::string> field_paths() const {
    std::vector<std::string> out;
    for (const Variable& v : variables_) out.push_back(v.field_path);
    return out;
  }
  const std::string& text() const { return text_; }

 private:
  struct Segment {
    enum Kind { kLiteral, kWildcard, kDoubleWildcard } kind;
    std::string literal;
  };
  struct Variable {
    std::string field_path;
    size_t begin;  // first segment index
    size_t end;    // one past the last
  };
  std::string text_;
  std::vector<Segment> segments_;
  std::vector<Variable> variables_;
  std::string verb_;
};

struct Route {
  std::string http_method;  // GET, POST, PUT, PATCH, DELETE
  PathTemplate path;
  // "" (no body), "*" (the whole request) or a top-level field name.
  std::string body;
  const google::protobuf::MethodDescriptor* method = nullptr;
  // From (perfflow.type.v1.allowed_roles); empty = any authenticated caller.
  std::vector<std::string> allowed_roles;
  // "/package.Service/Method", the gRPC method path.
  std::string grpc_path;
  // "GET /v1/{name=events/*}": the metrics and access-log label.
  std::string label;
};

// The outcome of looking a request up.
struct RouteMatch {
  enum Result { kFound, kNotFound, kMethodNotAllowed } result = kNotFound;
  const Route* route = nullptr;
  std::vector<std::pair<std::string, std::string>> bindings;
  // kMethodNotAllowed: the methods the path does accept (the Allow header).
  std::vector<std::string> allowed_methods;
};

class Router {
 public:
  // Routes of every method of `services` that has an http rule (including
  // additional_bindings). InvalidArgument on a malformed template or a
  // template that names no field of the request.
  static absl::StatusOr<Router> Build(const std::vector<const google::protobuf::ServiceDescriptor*>& services);

  // `path` is the raw request path (no query string).
  RouteMatch Find(absl::string_view http_method, absl::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;  // routes with a verb first: they are more specific
};

// The roles in a method's (perfflow.type.v1.allowed_roles) option.
std::vector<std::string> AllowedRoles(const google::protobuf::MethodDescriptor& method);

}  // namespace perfflow::gateway
