#pragma once

// The statistics every figure people see is computed with, defined once.

#include <vector>

namespace perfflow {

// The median: the middle value, or the mean of the two middle values when the
// count is even; 0 for none. Briefs, feedback statistics and insights all use
// this definition (HourHistogram computes the same from counts).
double Median(std::vector<double> values);

// The nearest-rank percentile, p in (0, 1]: the smallest value with at least
// p of the values at or below it; 0 for none.
double NearestRankPercentile(std::vector<double> values, double p);

}  // namespace perfflow
