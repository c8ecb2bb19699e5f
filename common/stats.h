#pragma once

// The statistics every figure people see is computed with, defined once.

#include <cstdint>
#include <string>
#include <vector>

namespace perfflow {

// The median: the middle value, or the mean of the two middle values when the
// count is even; 0 for none. Briefs, feedback statistics and insights all use
// this definition (HourHistogram computes the same from counts).
double Median(std::vector<double> values);

// The nearest-rank percentile, p in (0, 1]: the smallest value with at least
// p of the values at or below it; 0 for none.
double NearestRankPercentile(std::vector<double> values, double p);

// Fisher's exact test of the 2x2 table [[a, b], [c, d]], two-sided: the
// probability, with the margins fixed, of a table no more likely than this
// one. Exact for any size, so right for small groups where chi-square is not.
double FisherExactTwoSided(int64_t a, int64_t b, int64_t c, int64_t d);

// A permutation test of whether `labels` (e.g. ratings) are distributed
// differently inside the group (in_group[i]) than outside: the chi-square
// statistic of the 2 x K table against `permutations` random relabellings
// (a fixed seed: the same data give the same p). p = (1 + at least as
// extreme) / (1 + permutations).
double PermutationPValue(const std::vector<std::string>& labels, const std::vector<bool>& in_group, int permutations,
                         uint32_t seed);

// Holm's step-down adjustment of a family of p-values (same order back):
// controls the chance of any false flag across the family.
std::vector<double> HolmAdjusted(const std::vector<double>& p_values);

}  // namespace perfflow
