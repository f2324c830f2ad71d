// Quantized matmul kernels (ops/quant) against this machine's own limit:
// the read bandwidth of a plain sum over a buffer far larger than the
// caches, measured in the same run. Decode (m = 1) streams the weights once
// per call, so its figure to watch is GB/s of weights and the fraction of
// that bandwidth; batched m shows the compute side (GOP/s). Paths: the
// dot kernels (avx512-vnni, avx2; Batched::kOff), the AMX tiles (amx) and
// the VNNI panels (vnni), the batched paths forced from m = 1, each over m
// = 1..512 for the types of Q4_K_M and Q8_0 models; /hot runs one matrix that
// stays cached (the kernels' compute rate without the memory).
//
//   build/bench/quant_bench [--benchmark_filter=Q4_K]
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/ops/machine_limits.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_linear.h"
#include "engine/ops/weight_arena.h"

namespace kvasir::engine::quant {
namespace {

// The default matrix (rows = output features, cols = input features).
constexpr int64_t kRows = 4096;
constexpr int64_t kCols = 4096;
// Bytes streamed per measurement: more than the last-level cache (300 MiB
// on some of our machines), so the weights come from memory as a model's
// do.
constexpr size_t kStreamBytes = size_t{512} << 20;

// Read bandwidth (engine/ops/machine_limits.h: every OpenMP thread sums its
// own contiguous part of a buffer past the last-level cache).
void BM_ReadBandwidth(benchmark::State& state) {
  double gbps = 0;
  for (auto _ : state) {
    gbps = ops::MeasureReadBandwidth(omp_get_max_threads(),
                                     static_cast<int64_t>(kStreamBytes), 3);
  }
  state.counters["GB/s"] = gbps;
  state.counters["threads"] = omp_get_max_threads();
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->Iterations(1);

// hot: one copy of the matrix, which stays in the last-level cache (9 MB
// for Q4_K): the kernels' compute rate without the memory.
void BM_QuantLinear(benchmark::State& state, uint32_t type, Isa isa,
                    Batched batched, bool hot) {
  const int m = static_cast<int>(state.range(0));
  const int64_t rows = state.range(1), cols = state.range(2);
  if (!IsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return;
  }
  if (batched == Batched::kAmx && !AmxSupported()) {
    state.SkipWithError("this CPU or OS has no AMX");
    return;
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  const int64_t row_bytes = RowBytes(type, cols);
  const size_t matrix_bytes = static_cast<size_t>(row_bytes * rows);
  // Copies of one matrix, used in turn, so each call reads from memory; on
  // huge pages, as LlamaRunner lays out a model's (ops::WeightArena).
  const size_t copies =
      hot ? 1 : (kStreamBytes + matrix_bytes - 1) / matrix_bytes;
  auto arena = ops::WeightArena::Create({});
  auto mem = (*arena)->Allocate(static_cast<int64_t>(matrix_bytes * copies),
                                "bench weights");
  if (!mem.ok()) {
    state.SkipWithError("out of memory for the weights");
    return;
  }
  uint8_t* const w = *mem;
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng);
    QuantizeRow(type, row.data(), cols, w + r * row_bytes);
  }
  for (size_t c = 1; c < copies; ++c) {
    std::copy(w, w + matrix_bytes, w + c * matrix_bytes);
  }
  std::vector<float> x(static_cast<size_t>(m) * cols), y(m * rows);
  for (float& v : x) v = dist(rng) * 50.0f;
  // kAmx from m = 1, kOff: the Isa's dot kernels at every m.
  auto ctx = QuantContext::Create(
      {.isa = isa, .batched = batched, .batched_min_rows = 1});
  if (!ctx.ok()) {
    state.SkipWithError("context create failed");
    return;
  }
  std::vector<std::unique_ptr<QuantLinear>> linears;
  for (size_t c = 0; c < copies; ++c) {
    const QuantLinear::Part part{
        .type = type, .data = w + c * matrix_bytes, .rows = rows};
    auto linear = QuantLinear::Create({.name = "bench", .max_rows = m},
                                      ctx->get(), {part}, cols);
    if (!linear.ok()) {
      state.SkipWithError("linear create failed");
      return;
    }
    linears.push_back(*std::move(linear));
  }
  size_t next = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        linears[next]->Forward(**ctx, x.data(), m, y.data()));
    next = (next + 1) % copies;
  }
  state.counters["weights_GB/s"] = benchmark::Counter(
      static_cast<double>(matrix_bytes) * state.iterations(),
      benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
  state.counters["GOP/s"] = benchmark::Counter(
      2.0 * rows * cols * m * state.iterations(), benchmark::Counter::kIsRate,
      benchmark::Counter::kIs1000);
}

// Every type on the dot kernels at m = 1 and 16; the types of Q4_K_M and
// Q8_0 models over the batch sizes of decode (m = streams) and prefill, on
// each path: the crossing of the dot kernels and AMX is
// QuantContext::kDefaultBatchedMinRows.
void Register(uint32_t type, Isa isa, Batched batched, bool hot,
              std::initializer_list<int> ms, int64_t rows = kRows,
              int64_t cols = kCols) {
  // The AVX2 panels (Batched::kVnni on Isa::kAvx2): "avx2-panels".
  const std::string path = batched == Batched::kOff ? std::string(IsaName(isa))
                           : isa == Isa::kAvx2
                               ? "avx2-panels"
                               : std::string(BatchedName(batched));
  auto* b = benchmark::RegisterBenchmark(
                absl::StrCat("BM_QuantLinear/", TypeName(type), "/", path,
                             hot ? "/hot" : "")
                    .c_str(),
                BM_QuantLinear, type, isa, batched, hot)
                ->Unit(benchmark::kMillisecond)
                ->UseRealTime()
                ->ArgNames({"m", "rows", "cols"});
  for (int m : ms) b->Args({m, rows, cols});
}

void RegisterAll() {
  for (uint32_t type : {2u, 3u, 6u, 7u, 8u, 12u, 13u, 14u}) {
    if (type == 2u) {  // Q4_0: the batched paths cover it too
      Register(type, Isa::kAvx512Vnni, Batched::kOff, false, {1, 16, 32});
      Register(type, Isa::kAvx512Vnni, Batched::kVnni, false, {16, 32});
      Register(type, Isa::kAvx512Vnni, Batched::kOff, true, {8, 32});
      Register(type, Isa::kAvx512Vnni, Batched::kVnni, true, {8, 32});
    }
    if (type != 8u && type != 12u && type != 14u) {
      for (Isa isa : {Isa::kAvx512Vnni, Isa::kAvx2}) {
        Register(type, isa, Batched::kOff, false, {1, 16});
      }
      continue;
    }
    const std::initializer_list<int> ms = {1, 4, 5, 8, 16, 32, 64, 512};
    Register(type, Isa::kAvx512Vnni, Batched::kOff, false, ms);
    Register(type, Isa::kAvx2, Batched::kOff, false, ms);
    Register(type, Isa::kAvx2, Batched::kVnni, false, ms);
    Register(type, Isa::kAvx2, Batched::kOff, true, ms);
    Register(type, Isa::kAvx2, Batched::kVnni, true, ms);
    Register(type, Isa::kAvx512Vnni, Batched::kAmx, false, ms);
    Register(type, Isa::kAvx512Vnni, Batched::kVnni, false, ms);
    Register(type, Isa::kAvx512Vnni, Batched::kOff, true, ms);
    Register(type, Isa::kAvx512Vnni, Batched::kAmx, true, ms);
    Register(type, Isa::kAvx512Vnni, Batched::kVnni, true, ms);
  }
  // Decode (m = 1) at dummy:110m's shapes, whose matrices (0.3 to 2 MB per
  // layer, the output's 20 MB) are a few microseconds each: what a single
  // stream's step runs, start-up of every call included.
  for (uint32_t type : {8u, 12u, 14u}) {
    for (auto [rows, cols] : {std::pair<int64_t, int64_t>{768, 768},
                              {2304, 768},
                              {4096, 768},
                              {768, 2048},
                              {32000, 768}}) {
      Register(type, Isa::kAvx512Vnni, Batched::kOff, false, {1}, rows, cols);
    }
    // One 768 x 768 matrix (0.3-0.6 MB) stays in L2: the decode kernel's
    // rate with the memory and the L3 out of the way, the figure a kernel
    // must beat before the weights' stream can be its limit.
    Register(type, Isa::kAvx512Vnni, Batched::kOff, true, {1, 4}, 768, 768);
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
