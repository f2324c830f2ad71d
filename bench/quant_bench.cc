// Quantized matmul kernels (ops/quant) against this machine's own limit:
// the read bandwidth of a plain sum over a buffer far larger than the
// caches, measured in the same run. Decode (m = 1) streams the weights once
// per call, so its figure to watch is GB/s of weights and the fraction of
// that bandwidth; batched m shows the compute side (GOP/s).
//
//   build/bench/quant_bench [--benchmark_filter=Q4_K]
#include <omp.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_linear.h"

namespace kvasir::engine::quant {
namespace {

constexpr int64_t kRows = 4096;
constexpr int64_t kCols = 4096;

// Read bandwidth: a reduction over 512 MiB with all OpenMP threads.
void BM_ReadBandwidth(benchmark::State& state) {
  const size_t n = (size_t{512} << 20) / sizeof(float);
  std::vector<float> buf(n, 1.0f);
  for (auto _ : state) {
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (size_t i = 0; i < n; ++i) sum += buf[i];
    benchmark::DoNotOptimize(sum);
  }
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(n * sizeof(float)) * state.iterations(),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["threads"] = omp_get_max_threads();
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_QuantLinear(benchmark::State& state, uint32_t type, Isa isa) {
  const int m = static_cast<int>(state.range(0));
  if (!IsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  const int64_t row_bytes = RowBytes(type, kCols);
  std::vector<uint8_t> w(static_cast<size_t>(row_bytes * kRows));
  std::vector<float> row(kCols);
  for (int64_t r = 0; r < kRows; ++r) {
    for (float& v : row) v = dist(rng);
    QuantizeRow(type, row.data(), kCols, w.data() + r * row_bytes);
  }
  std::vector<float> x(static_cast<size_t>(m) * kCols), y(m * kRows);
  for (float& v : x) v = dist(rng) * 50.0f;
  auto ctx = QuantContext::Create({.isa = isa});
  if (!ctx.ok()) {
    state.SkipWithError("context create failed");
    return;
  }
  const QuantLinear::Part part{.type = type, .data = w.data(), .rows = kRows};
  auto linear = QuantLinear::Create({.name = "bench", .max_rows = m},
                                    ctx->get(), {part}, kCols);
  if (!linear.ok()) {
    state.SkipWithError("linear create failed");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize((*linear)->Forward(**ctx, x.data(), m, y.data()));
  }
  state.counters["weights_GB/s"] = benchmark::Counter(
      static_cast<double>(w.size()) * state.iterations(),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["GOP/s"] = benchmark::Counter(
      2.0 * kRows * kCols * m * state.iterations(), benchmark::Counter::kIsRate,
      benchmark::Counter::kIs1000);
}

void RegisterAll() {
  for (uint32_t type : {2u, 3u, 6u, 7u, 8u, 12u, 13u, 14u}) {
    for (Isa isa : {Isa::kAvx512Vnni, Isa::kAvx2}) {
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_QuantLinear/", TypeName(type), "/", IsaName(isa))
              .c_str(),
          BM_QuantLinear, type, isa)
          ->Arg(1)
          ->Arg(16)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
  }
}

}  // namespace
}  // namespace kvasir::engine::quant

int main(int argc, char** argv) {
  kvasir::engine::quant::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
