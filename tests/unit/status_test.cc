#include "common/status.h"

#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"

namespace perfflow {
namespace {

TEST(StatusTest, InvalidArgumentCarriesFieldViolations) {
  absl::Status s = InvalidArgumentWithViolations("event rejected", {{"subject_id", "not in the directory"}});
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(g.error_message(), "event rejected: subject_id: not in the directory");
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  ASSERT_EQ(rpc.details_size(), 1);
  google::rpc::BadRequest bad;
  ASSERT_TRUE(rpc.details(0).UnpackTo(&bad));
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "subject_id");
  EXPECT_EQ(FieldViolationsOf(s).size(), 1u);
}

TEST(StatusTest, CodesMapOneToOne) {
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(ToGrpcStatus(absl::AlreadyExistsError("x")).error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("x")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(absl::PermissionDeniedError("x")).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcStatus(absl::NotFoundError("x")).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(StatusTest, InternalDetailNeverReachesCaller) {
  grpc::Status g = ToGrpcStatus(absl::InternalError("mysql error 1064: You have an error in your SQL syntax near SELECT"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(g.error_message(), "internal error");
  EXPECT_EQ(g.error_details().find("SELECT"), std::string::npos);
}

TEST(StatusTest, GoGrpcPrometheusCodeNames) {
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::CANCELLED), "Canceled");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::INVALID_ARGUMENT), "InvalidArgument");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::FAILED_PRECONDITION), "FailedPrecondition");
  EXPECT_EQ(GrpcCodeName(grpc::StatusCode::UNAUTHENTICATED), "Unauthenticated");
}

}  // namespace
}  // namespace perfflow

namespace perfflow {
namespace {

TEST(Utf8Test, PrefixCutsAtCharacterBoundaries) {
  const std::string text = "ab中文";  // 2 + 3 + 3 bytes
  EXPECT_EQ(Utf8Prefix(text, 100), text);
  EXPECT_EQ(Utf8Prefix(text, 5), "ab中");
  EXPECT_EQ(Utf8Prefix(text, 4), "ab");
  EXPECT_EQ(Utf8Prefix(text, 3), "ab");
  EXPECT_EQ(Utf8Prefix(text, 2), "ab");
}

TEST(Utf8Test, InvalidBytesBecomeReplacementCharacters) {
  EXPECT_EQ(ToValidUtf8("ok é 😀"), "ok é 😀");
  EXPECT_EQ(ToValidUtf8(std::string("a\xff" "b\xc3(", 5)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD(");
  EXPECT_EQ(ToValidUtf8(std::string("\xe4\xb8", 2)), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut sequence
}

TEST(Utf8Test, StatusesReachingCallersAreValidUtf8) {
  absl::Status s = InvalidArgumentWithViolations("bad " + std::string("\xff"), {{"name", std::string("got '\xe4\xb8'")}});
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(ToValidUtf8(g.error_message()), g.error_message());
  ASSERT_EQ(FieldViolationsOf(s).size(), 1u);
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  EXPECT_EQ(ToValidUtf8(rpc.message()), rpc.message());
}

}  // namespace
}  // namespace perfflow
