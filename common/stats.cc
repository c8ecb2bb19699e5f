#include "common/stats.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

namespace perfflow {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

double NearestRankPercentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

namespace {

double LogChoose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

// Chi-square of the 2 x K table of `labels` split by `in_group`.
double ChiSquare(const std::vector<int>& label_index, int kinds, const std::vector<bool>& in_group) {
  std::vector<double> in(kinds, 0), all(kinds, 0);
  double n_in = 0;
  for (size_t i = 0; i < label_index.size(); ++i) {
    all[label_index[i]] += 1;
    if (in_group[i]) {
      in[label_index[i]] += 1;
      n_in += 1;
    }
  }
  const double n = static_cast<double>(label_index.size());
  double chi = 0;
  for (int k = 0; k < kinds; ++k) {
    const double expected_in = all[k] * n_in / n, expected_out = all[k] * (n - n_in) / n;
    if (expected_in > 0) chi += (in[k] - expected_in) * (in[k] - expected_in) / expected_in;
    const double out = all[k] - in[k];
    if (expected_out > 0) chi += (out - expected_out) * (out - expected_out) / expected_out;
  }
  return chi;
}

}  // namespace

double FisherExactTwoSided(int64_t a, int64_t b, int64_t c, int64_t d) {
  const int64_t row1 = a + b, col1 = a + c, n = a + b + c + d;
  if (n == 0) return 1;
  // P(X = x) for the top-left cell x, margins fixed (hypergeometric).
  auto log_p = [&](int64_t x) { return LogChoose(col1, x) + LogChoose(n - col1, row1 - x) - LogChoose(n, row1); };
  const double observed = log_p(a);
  double p = 0;
  for (int64_t x = std::max<int64_t>(0, row1 + col1 - n); x <= std::min(row1, col1); ++x) {
    const double lp = log_p(x);
    if (lp <= observed + 1e-7) p += std::exp(lp);  // "no more likely", with a relative tolerance
  }
  return std::min(1.0, p);
}

double PermutationPValue(const std::vector<std::string>& labels, const std::vector<bool>& in_group, int permutations,
                         uint32_t seed) {
  std::map<std::string, int> kinds;
  std::vector<int> index;
  for (const std::string& l : labels) index.push_back(kinds.emplace(l, static_cast<int>(kinds.size())).first->second);
  const int k = static_cast<int>(kinds.size());
  const double observed = ChiSquare(index, k, in_group);
  std::mt19937 rng(seed);
  std::vector<bool> shuffled = in_group;
  int extreme = 0;
  for (int i = 0; i < permutations; ++i) {
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    if (ChiSquare(index, k, shuffled) >= observed - 1e-9) ++extreme;
  }
  return (1.0 + extreme) / (1.0 + permutations);
}

std::vector<double> HolmAdjusted(const std::vector<double>& p_values) {
  const size_t m = p_values.size();
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p_values[x] < p_values[y]; });
  std::vector<double> out(m);
  double running = 0;
  for (size_t rank = 0; rank < m; ++rank) {
    running = std::max(running, std::min(1.0, static_cast<double>(m - rank) * p_values[order[rank]]));
    out[order[rank]] = running;
  }
  return out;
}

}  // namespace perfflow
