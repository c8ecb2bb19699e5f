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

// Known answers: R's fisher.test and an exact rational computation agree.
TEST(FisherExactTest, KnownTwoSidedValues) {
  EXPECT_NEAR(FisherExactTwoSided(3, 1, 1, 3), 0.4857142857, 1e-9);   // Fisher's tea-tasting lady
  EXPECT_NEAR(FisherExactTwoSided(1, 9, 11, 3), 0.0027594562, 1e-9);  // the textbook dieting table
  EXPECT_NEAR(FisherExactTwoSided(5, 0, 0, 5), 0.0079365079, 1e-9);   // 2 / C(10, 5)
  EXPECT_NEAR(FisherExactTwoSided(10, 2, 20, 18), 0.0914932708, 1e-9);
  EXPECT_NEAR(FisherExactTwoSided(2, 3, 3, 2), 1.0, 1e-9);  // as balanced as the margins allow
  EXPECT_EQ(FisherExactTwoSided(0, 0, 0, 0), 1);
  // Symmetric in how the table is written.
  EXPECT_NEAR(FisherExactTwoSided(1, 9, 11, 3), FisherExactTwoSided(11, 3, 1, 9), 1e-12);
  EXPECT_NEAR(FisherExactTwoSided(1, 9, 11, 3), FisherExactTwoSided(9, 1, 3, 11), 1e-12);
}

TEST(PermutationTest, SeparatesWhatDiffersAndNotWhatDoesNot) {
  // Five in the group all rated A, ten outside all C: only 1 of C(15, 5) = 3003
  // labellings is as extreme, so p is about (1 + 4999/3003) / 5000.
  std::vector<std::string> labels;
  std::vector<bool> in_group;
  for (int i = 0; i < 15; ++i) {
    labels.push_back(i < 5 ? "A" : "C");
    in_group.push_back(i < 5);
  }
  const double split = PermutationPValue(labels, in_group, 4999, 7);
  EXPECT_LT(split, 0.002);
  EXPECT_EQ(split, PermutationPValue(labels, in_group, 4999, 7)) << "same data, same seed, same p";
  // The same mix inside and outside: nothing to find.
  std::vector<std::string> mixed = {"A", "B", "C", "A", "B", "C", "A", "B", "C", "A", "B", "C"};
  std::vector<bool> half = {true, true, true, true, true, true, false, false, false, false, false, false};
  EXPECT_EQ(PermutationPValue(mixed, half, 999, 7), 1.0);
}

TEST(HolmTest, AdjustsStepDownAndKeepsOrder) {
  const std::vector<double> adjusted = HolmAdjusted({0.04, 0.01, 0.03, 0.5});
  // Sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 -> 0.04, 0.09, 0.08 -> 0.09 (monotone), 0.5.
  ASSERT_EQ(adjusted.size(), 4u);
  EXPECT_NEAR(adjusted[1], 0.04, 1e-12);
  EXPECT_NEAR(adjusted[2], 0.09, 1e-12);
  EXPECT_NEAR(adjusted[0], 0.09, 1e-12);
  EXPECT_NEAR(adjusted[3], 0.5, 1e-12);
  EXPECT_TRUE(HolmAdjusted({}).empty());
}

}  // namespace
}  // namespace perfflow
