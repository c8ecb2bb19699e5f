#include "common/metrics.h"
#include "common/request_context.h"
#include "gtest/gtest.h"

namespace perfflow {
namespace {

TEST(TraceparentTest, ExtractsTraceIdFromW3cHeader) {
  EXPECT_EQ(TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(TraceparentTest, RejectsMalformedHeaders) {
  EXPECT_EQ(TraceIdFromTraceparent(""), "");
  EXPECT_EQ(TraceIdFromTraceparent("00-xyz-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(TraceIdFromTraceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), "");
  EXPECT_EQ(TraceIdFromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"), "");
}

TEST(TenantTest, ValidatesTenantNames) {
  EXPECT_TRUE(IsValidTenant("acme"));
  EXPECT_TRUE(IsValidTenant("acme-eu_2"));
  EXPECT_FALSE(IsValidTenant(""));
  EXPECT_FALSE(IsValidTenant("Acme"));
  EXPECT_FALSE(IsValidTenant("a b"));
  EXPECT_FALSE(IsValidTenant(std::string(65, 'a')));
}

}  // namespace
}  // namespace perfflow
