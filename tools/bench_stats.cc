#include "tools/bench_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace kvasir::tools {

double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  q = std::clamp(q, 0.0, 100.0);
  const double index = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(index));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = index - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

Distribution Summarize(std::vector<double> samples) {
  Distribution d;
  if (samples.empty()) return d;
  std::sort(samples.begin(), samples.end());
  d.count = static_cast<int64_t>(samples.size());
  d.mean = std::accumulate(samples.begin(), samples.end(), 0.0) /
           static_cast<double>(samples.size());
  d.min = samples.front();
  d.max = samples.back();
  d.p50 = Percentile(samples, 50);
  d.p90 = Percentile(samples, 90);
  d.p99 = Percentile(samples, 99);
  return d;
}

std::vector<double> PoissonArrivals(int64_t n, double rate_per_s,
                                    uint64_t seed) {
  std::vector<double> times;
  if (n <= 0) return times;
  times.reserve(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  double t = 0;
  for (int64_t i = 0; i < n; ++i) {
    // u uniform in (0, 1]: 53 random bits, never 0, so log(u) is finite.
    const double u =
        (static_cast<double>(rng() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    t += -std::log(u) / rate_per_s;
    times.push_back(t);
  }
  return times;
}

}  // namespace kvasir::tools
