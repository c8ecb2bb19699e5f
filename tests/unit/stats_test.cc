#include "common/stats.h"

#include "gtest/gtest.h"

namespace perfflow {
namespace {

TEST(MedianTest, TheMiddleOrTheMeanOfTheTwoMiddles) {
  EXPECT_EQ(Median({}), 0);
  EXPECT_EQ(Median({7}), 7);
  EXPECT_EQ(Median({9, 1, 5}), 5);
  EXPECT_EQ(Median({10, 1, 4, 6}), 5);  // (4 + 6) / 2, not the lower middle 4
}

TEST(PercentileTest, NearestRank) {
  EXPECT_EQ(NearestRankPercentile({}, 0.9), 0);
  std::vector<double> ten;
  for (int i = 10; i >= 1; --i) ten.push_back(i);
  EXPECT_EQ(NearestRankPercentile(ten, 0.9), 9);
  EXPECT_EQ(NearestRankPercentile(ten, 1.0), 10);
  EXPECT_EQ(NearestRankPercentile(ten, 0.01), 1);
}

}  // namespace
}  // namespace perfflow
