#pragma once

// The one mapping point from internal absl::Status to what callers see.
// Bad input carries google.rpc.BadRequest field violations as a status payload;
// internal and unknown errors are logged and replaced by a generic message so
// SQL text and stack traces never reach a caller.

#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "common/utf8.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"

namespace perfflow {

struct FieldViolation {
  std::string field;
  std::string description;
};

// INVALID_ARGUMENT with a google.rpc.BadRequest payload listing `violations`.
absl::Status InvalidArgumentWithViolations(absl::string_view message, const std::vector<FieldViolation>& violations);

// The field violations attached to `status` (empty when there are none).
std::vector<FieldViolation> FieldViolationsOf(const absl::Status& status);

// absl::Status -> google.rpc.Status (code, message, details), sanitised.
google::rpc::Status ToRpcStatus(const absl::Status& status);

// grpc::Status -> absl::Status, keeping code, message and details.
absl::Status FromGrpcStatus(const grpc::Status& status);

// absl::Status -> grpc::Status with google.rpc.Status in the details, sanitised.
grpc::Status ToGrpcStatus(const absl::Status& status);

// "InvalidArgument", "NotFound", ...: the go-grpc-prometheus code strings.
absl::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace perfflow
