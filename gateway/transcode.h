#pragma once

// The HTTP/JSON <-> protobuf half of the gateway, generic over descriptors:
// a request message from path bindings, query parameters and a JSON body;
// replies in the protobuf JSON mapping; gRPC errors as JSON with the
// conventional HTTP status for each code.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gateway/routes.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/status.h"

namespace perfflow::gateway {

// JSON nested deeper than this is refused before parsing: the protobuf JSON
// parser's time grows with the square of the depth.
inline constexpr int kMaxJsonDepth = 32;

// InvalidArgument naming the limit when objects/arrays in `json` nest deeper
// than kMaxJsonDepth. One linear pass; strings and escapes are skipped.
absl::Status CheckJsonDepth(absl::string_view json);

// Fills `request` for `match`: the JSON body into the route's body field (or
// the whole message), then the path bindings, then query parameters (for
// fields outside the body; repeated fields take repeated parameters).
// InvalidArgument naming the field on anything malformed or unknown.
absl::Status BuildRequest(const RouteMatch& match, const std::multimap<std::string, std::string>& query,
                          absl::string_view body, google::protobuf::Message* request);

// A client stream's messages from a newline-delimited JSON body, one message
// of `type` per non-empty line. InvalidArgument naming the line; path
// variables and query parameters are refused (they belong to no one message).
absl::StatusOr<std::vector<std::unique_ptr<google::protobuf::Message>>> ParseJsonLines(
    const RouteMatch& match, const std::multimap<std::string, std::string>& query, absl::string_view body,
    const google::protobuf::Descriptor* type);

// The protobuf JSON mapping, the one convention of every JSON perfflow writes (the
// gateway's bodies and perfflowctl's output): lowerCamelCase names, zeros and empty
// strings printed; `indent` adds line breaks for people. INTERNAL when the message
// has no JSON form (e.g. a Timestamp out of range): a reply that cannot be written
// is an error, never an empty 200.
absl::StatusOr<std::string> MessageToJson(const google::protobuf::Message& message, bool indent = false);

// 400 for INVALID_ARGUMENT, 404 NOT_FOUND, 409 ALREADY_EXISTS, ... (the
// mapping of google/rpc/code.proto).
int HttpStatusFor(grpc::StatusCode code);

// "INVALID_ARGUMENT", ...
std::string CodeName(grpc::StatusCode code);

// {"code": 3, "status": "INVALID_ARGUMENT", "message": "...", "details": [...]}
// with the google.rpc.Status details (field violations, ...) of `status`.
std::string ErrorJson(const grpc::Status& status);

}  // namespace perfflow::gateway
