#ifndef KVASIR_TOOLS_BENCH_STATS_H_
#define KVASIR_TOOLS_BENCH_STATS_H_

// The statistics of `kvasir bench serve`, apart from any network code so
// that they are tested on their own: percentiles of latency samples and
// the arrival times of a Poisson process. Pure functions; thread-compatible.

#include <cstdint>
#include <vector>

namespace kvasir::tools {

// A distribution of samples (seconds, or whatever unit they came in).
struct Distribution {
  int64_t count = 0;
  double mean = 0;
  double min = 0;
  double max = 0;
  double p50 = 0;
  double p90 = 0;
  double p99 = 0;
};

// The q-th percentile (q in [0, 100]) of `sorted` (ascending), by linear
// interpolation between the closest ranks: the value at fractional index
// q / 100 * (n - 1), as numpy.percentile's default ("linear") computes it,
// so the figures compare with vLLM's and SGLang's benchmark scripts. 0 for
// an empty vector; q outside [0, 100] is clamped.
double Percentile(const std::vector<double>& sorted, double q);

// Count, mean, min, max and p50/p90/p99 of `samples` (any order; taken by
// value and sorted). All zero when empty. p50 <= p90 <= p99 always holds.
Distribution Summarize(std::vector<double> samples);

// Arrival times (seconds from the start, ascending) of `n` requests sent as
// a Poisson process of `rate_per_s` requests per second: the gaps are
// independent exponential draws of mean 1 / rate_per_s, the first one
// included (the first request arrives after a gap too). The same `seed`
// gives the same times on every machine (std::mt19937_64 and an inverse-CDF
// draw of our own: std::exponential_distribution's algorithm is left to the
// library). Precondition: rate_per_s > 0.
std::vector<double> PoissonArrivals(int64_t n, double rate_per_s,
                                    uint64_t seed);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_BENCH_STATS_H_
