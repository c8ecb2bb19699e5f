#include "common/status.h"

#include "common/timestamps.h"
#include "common/url_encoding.h"
#include "common/utf8.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "perfflow/event/v1/event_service.pb.h"

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
  grpc::Status g =
      ToGrpcStatus(absl::InternalError("mysql error 1064: You have an error in your SQL syntax near SELECT"));
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
  EXPECT_EQ(ToValidUtf8(std::string("a\xff"
                                    "b\xc3(",
                                    5)),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD(");
  EXPECT_EQ(ToValidUtf8(std::string("\xe4\xb8", 2)), "\xEF\xBF\xBD\xEF\xBF\xBD");  // cut sequence
}

TEST(Utf8Test, OverlongFormsSurrogatesAndPastTheLastCodePointAreNotUtf8) {
  EXPECT_TRUE(IsValidUtf8("ok é 中 😀 \xed\x9f\xbf \xf4\x8f\xbf\xbf"));  // U+D7FF and U+10FFFF are
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\xaf"));                            // "/" overlong
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\xaf"));                        // "/" overlong
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));                            // U+D800
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));                            // U+DFFF
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));                        // U+110000
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Utf8Test, StatusesReachingCallersAreValidUtf8) {
  absl::Status s =
      InvalidArgumentWithViolations("bad " + std::string("\xff"), {{"name", std::string("got '\xe4\xb8'")}});
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_EQ(ToValidUtf8(g.error_message()), g.error_message());
  ASSERT_EQ(FieldViolationsOf(s).size(), 1u);
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  EXPECT_EQ(ToValidUtf8(rpc.message()), rpc.message());
}

TEST(TimestampTest, ToTimestampIsExactOverProtobufsWholeRange) {
  google::protobuf::Timestamp ts;
  // Year 1 and 9999: beyond int64 nanoseconds, which saturated to an invalid Timestamp.
  ToTimestamp(absl::FromUnixSeconds(-62135596800), &ts);
  EXPECT_EQ(ts.seconds(), -62135596800);
  EXPECT_EQ(ts.nanos(), 0);
  ToTimestamp(absl::FromUnixSeconds(253402300799) + absl::Milliseconds(5), &ts);
  EXPECT_EQ(ts.seconds(), 253402300799);
  EXPECT_EQ(ts.nanos(), 5000000);
  // Before the epoch the nanos stay positive.
  ToTimestamp(absl::FromUnixSeconds(-2) + absl::Milliseconds(250), &ts);
  EXPECT_EQ(ts.seconds(), -2);
  EXPECT_EQ(ts.nanos(), 250000000);
  EXPECT_TRUE(ValidTimestamp(ts));
  ToTimestamp(absl::InfinitePast(), &ts);
  EXPECT_TRUE(ValidTimestamp(ts));
}

TEST(TimestampTest, RequireValidTimestampsNamesEveryBadField) {
  event::v1::BatchIngestEventsRequest req;
  req.add_requests()->mutable_occurred_at()->set_seconds(1);
  req.add_requests()->mutable_occurred_at()->set_seconds(-100000000000);
  EXPECT_TRUE(RequireValidTimestamps(req.requests(0)).ok());
  absl::Status s = RequireValidTimestamps(req);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  auto violations = FieldViolationsOf(s);
  ASSERT_EQ(violations.size(), 1u);
  EXPECT_EQ(violations[0].field, "requests[1].occurred_at");
  event::v1::ListEventsRequest list;
  list.mutable_end_time()->set_nanos(-1);
  EXPECT_EQ(RequireValidTimestamps(list).code(), absl::StatusCode::kInvalidArgument);
}

TEST(Utf8Test, PrintableUtf8RefusesControlsAndBrokenSequences) {
  EXPECT_TRUE(IsPrintableUtf8("张伟"));
  EXPECT_TRUE(IsPrintableUtf8("li.lei@example.com"));
  EXPECT_FALSE(IsPrintableUtf8("e1\r\nx"));
  EXPECT_FALSE(IsPrintableUtf8("\x7f"));
  EXPECT_FALSE(IsPrintableUtf8("\xc2\x85"));  // U+0085, a C1 control
  EXPECT_FALSE(IsPrintableUtf8("\xe5\xbc"));  // a cut sequence
}

TEST(PercentTest, EncodedPrincipalsDecodeBack) {
  for (const std::string text : {"张伟", "webhook:crm", "a%b c", ""}) {
    const std::string encoded = UrlEncode(text);
    for (char c : encoded) EXPECT_TRUE(c > 32 && c < 127) << encoded;
    EXPECT_EQ(*PercentDecode(encoded), text);
  }
  EXPECT_FALSE(PercentDecode("%zz").ok());
  EXPECT_FALSE(PercentDecode("%4").ok());
}

}  // namespace
}  // namespace perfflow
