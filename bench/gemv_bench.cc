// Decode GEMV (m = 1..4) per weight type against this machine's read
// bandwidth, measured first in the same run (an AVX-512 / AVX2 sum with
// several accumulators per thread over 1 GiB, far past the caches).
//
// BM_Gemv: one matrix of K in {768, 2048, 4096} columns, copies used in
// turn so every call streams its weights from memory.
// BM_Model110m: the 49 projections of one decode step of the 110M model
// (dim 768, hidden 2048, 12 layers, 32000 vocab; 12 x [QKV 768->2304,
// O 768->768, gate+up 768->4096, down 2048->768] + the output 768->32000),
// all distinct weights: the matmul part of a step of m = 1, 16 or 32 rows,
// as tokens/s and GFLOP/s.
// Each reports GB/s of weights and %bw (of BM_ReadBandwidth; keep it in
// the filter). Kinds: ggml types through QuantLinear (F32, F16, BF16, Q8_0,
// Q4_K, Q6_K; AVX-512 and AVX2), ops::Linear on oneDNN alone
// (onednn_f32/bf16) and ops::Linear with its decode GEMV over the same
// blocked weights (linear_gemv_f32/bf16; linear_gemv_f16: the GEMV for
// every m, Kvasir's f16 layout). hot:1 = one matrix that stays in L2 (the
// kernel's compute rate, not memory's).
//
//   build/bench/gemv_bench [--benchmark_filter=Q4_K]
// GCC 12 bug 105593 (see engine/ops/quant/quant_dot_avx512.cc).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/linear.h"
#include "engine/ops/machine_limits.h"
#include "engine/ops/quant/quant_formats.h"
#include "engine/ops/quant/quant_linear.h"
#include "engine/ops/weight_arena.h"

namespace kvasir::engine {
namespace {

// Bytes streamed per measurement: past the last-level cache (300 MiB here).
constexpr size_t kStreamBytes = size_t{640} << 20;

double g_read_gbps = 0.0;  // set by BM_ReadBandwidth, which runs first

double Nanos(std::chrono::steady_clock::duration d) {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// The machine's read bandwidth (engine/ops/machine_limits.h: every OpenMP
// thread sums its own contiguous part of 1 GiB), for the others' %bw.
void BM_ReadBandwidth(benchmark::State& state) {
  for (auto _ : state) {
    g_read_gbps = ops::MeasureReadBandwidth(
        omp_get_max_threads(), int64_t{1} << 30, /*repetitions=*/3);
  }
  state.counters["GB/s"] = g_read_gbps;
  state.counters["threads"] = omp_get_max_threads();
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->Iterations(1);

void Report(benchmark::State& state, double bytes_per_iter,
            std::chrono::steady_clock::time_point start) {
  const double gbps = bytes_per_iter * state.iterations() /
                      Nanos(std::chrono::steady_clock::now() - start);
  state.counters["GB/s"] = gbps;
  if (g_read_gbps > 0) state.counters["%bw"] = 100.0 * gbps / g_read_gbps;
}

// A weight type as the benchmarks name it: a ggml type run by QuantLinear,
// or a dense Linear (oneDNN, or Kvasir's GEMV) of f32 / bf16 / f16.
struct Kind {
  std::string name;
  uint32_t type = 0;                        // ggml type for QuantLinear
  bool onednn = false;                      // ops::Linear instead
  WeightsDtype dtype = WeightsDtype::kF32;  // for onednn
  bool gemv = false;  // Linear's decode GEMV (else oneDNN for every m)
};

// One projection [n, k] in either form.
struct Proj {
  std::unique_ptr<quant::QuantLinear> quant;
  std::unique_ptr<ops::Linear> dense;
};

// Matrices of the given shapes, random N(0, 0.02) weights, laid out on
// huge pages as LlamaRunner lays out a model's (ops::WeightArena).
class Weights {
 public:
  Weights(const Kind& kind, quant::Isa isa, int max_rows)
      : kind_(kind), arena_(*ops::WeightArena::Create({})) {
    if (kind.onednn) {
      matmul_ = *ops::MatmulContext::Create();
    } else {
      quant_ = *quant::QuantContext::Create({.isa = isa});
    }
    max_rows_ = max_rows;
  }
  // A matrix [n, k]: the first of each shape random N(0, 0.02), later
  // ones copies of it (quantizing is slower than the benchmark).
  bool Add(int64_t n, int64_t k, std::mt19937& rng) {
    Template& t = templates_[n * 100000 + k];
    if (t.w.empty()) {
      std::normal_distribution<float> dist(0.0f, 0.02f);
      t.w.resize(static_cast<size_t>(n * k));
      for (float& v : t.w) v = dist(rng);
      if (!kind_.onednn) {
        const int64_t rb = quant::RowBytes(kind_.type, k);
        t.q.resize(static_cast<size_t>(rb * n));
        for (int64_t r = 0; r < n; ++r) {
          quant::QuantizeRow(kind_.type, t.w.data() + r * k, k,
                             t.q.data() + r * rb);
        }
      }
    }
    Proj p;
    if (kind_.onednn) {
      auto l = ops::Linear::Create({.name = "bench",
                                    .weights_dtype = kind_.dtype,
                                    .max_rows = max_rows_,
                                    .decode_gemv = kind_.gemv,
                                    .arena = arena_.get()},
                                   matmul_.get(), {{t.w.data(), n}}, k);
      if (!l.ok()) return false;
      p.dense = *std::move(l);
    } else {
      const quant::QuantLinear::Part part{
          .type = kind_.type, .data = t.q.data(), .rows = n};
      auto l = quant::QuantLinear::Create(
          {.name = "bench", .max_rows = max_rows_, .arena = arena_.get()},
          quant_.get(), {part}, k);
      if (!l.ok()) return false;
      p.quant = *std::move(l);
    }
    bytes_ += Bytes(p);
    projs_.push_back(std::move(p));
    return true;
  }
  int64_t Bytes(const Proj& p) const {
    return p.dense ? p.dense->weight_bytes() : p.quant->weight_bytes();
  }
  absl::Status Forward(size_t i, const float* x, int m, float* y) {
    const Proj& p = projs_[i];
    return p.dense ? p.dense->Forward(*matmul_, x, m, y)
                   : p.quant->Forward(*quant_, x, m, y);
  }
  int64_t bytes() const { return bytes_; }
  size_t size() const { return projs_.size(); }
  int64_t out(size_t i) const {
    const Proj& p = projs_[i];
    return p.dense ? p.dense->out_features() : p.quant->out_features();
  }

 private:
  Kind kind_;
  // The projections' weights (declared before them: it outlives them).
  std::unique_ptr<ops::WeightArena> arena_;
  int max_rows_ = 4;
  std::unique_ptr<ops::MatmulContext> matmul_;
  std::unique_ptr<quant::QuantContext> quant_;
  struct Template {
    std::vector<float> w;
    std::vector<uint8_t> q;
  };
  std::map<int64_t, Template> templates_;
  std::vector<Proj> projs_;
  int64_t bytes_ = 0;
};

bool Usable(benchmark::State& state, const Kind& kind, quant::Isa isa) {
  if (!kind.onednn && !quant::IsaSupported(isa)) {
    state.SkipWithError("this CPU lacks the instruction set");
    return false;
  }
  if (kind.onednn && !ops::Linear::IsSupported(kind.dtype)) {
    state.SkipWithError("oneDNN has no kernel for the dtype here");
    return false;
  }
  return true;
}

// args: k, m, hot.
void BM_Gemv(benchmark::State& state, Kind kind, quant::Isa isa) {
  const int64_t k = state.range(0);
  const int m = static_cast<int>(state.range(1));
  if (!Usable(state, kind, isa)) return;
  // hot: one small matrix that stays in L2 (the kernel's compute rate).
  const bool hot = state.range(2) != 0;
  const int64_t n = hot ? 512 : k == 768 ? 2304 : k == 2048 ? 768 : 4096;
  std::mt19937 rng(7);
  Weights w(kind, isa, std::max(m, 4));
  if (!w.Add(n, k, rng)) {
    state.SkipWithError("create failed");
    return;
  }
  const int64_t one = w.bytes();
  // Fresh matrices up to kStreamBytes (making them costs more than a copy,
  // but keeps the benchmark simple).
  while (!hot && w.bytes() < static_cast<int64_t>(kStreamBytes)) {
    w.Add(n, k, rng);
  }
  std::vector<float> x(static_cast<size_t>(m * k)),
      y(static_cast<size_t>(m * n));
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  size_t next = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (!w.Forward(next, x.data(), m, y.data()).ok()) {
      state.SkipWithError("Forward failed");
      return;
    }
    next = (next + 1) % w.size();
  }
  Report(state, static_cast<double>(one), start);
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * static_cast<double>(n * k) * m *
                             static_cast<double>(state.iterations()) * 1e-9,
                         benchmark::Counter::kIsRate);
}

// arg: m. The matmuls of one 110M decode step (m = 16, 32: a batched
// step's, as GFLOP/s too).
void BM_Model110m(benchmark::State& state, Kind kind, quant::Isa isa) {
  const int m = static_cast<int>(state.range(0));
  if (!Usable(state, kind, isa)) return;
  std::mt19937 rng(7);
  Weights w(kind, isa, 32);
  for (int l = 0; l < 12; ++l) {
    w.Add(2304, 768, rng);
    w.Add(768, 768, rng);
    w.Add(4096, 768, rng);
    w.Add(768, 2048, rng);
  }
  w.Add(32000, 768, rng);
  std::vector<float> x(static_cast<size_t>(m) * 2048),
      y(static_cast<size_t>(m) * 32000);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  for (float& v : x) v = dist(rng);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    for (size_t i = 0; i < w.size(); ++i) {
      if (!w.Forward(i, x.data(), m, y.data()).ok()) {
        state.SkipWithError("Forward failed");
        return;
      }
    }
  }
  Report(state, static_cast<double>(w.bytes()), start);
  state.counters["tok/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * m, benchmark::Counter::kIsRate);
  const double macs =
      12.0 * (2304 + 768 + 4096) * 768 + 12.0 * 768 * 2048 + 32000.0 * 768;
  state.counters["GFLOP/s"] = benchmark::Counter(
      2.0 * macs * m * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

void RegisterAll() {
  using gguf::TensorType;
  const std::vector<Kind> kinds = {
      {"F32", static_cast<uint32_t>(TensorType::kF32)},
      {"F16", static_cast<uint32_t>(TensorType::kF16)},
      {"BF16", static_cast<uint32_t>(TensorType::kBF16)},
      {"Q8_0", static_cast<uint32_t>(TensorType::kQ8_0)},
      {"Q4_K", static_cast<uint32_t>(TensorType::kQ4_K)},
      {"Q6_K", static_cast<uint32_t>(TensorType::kQ6_K)},
      {"onednn_f32", 0, true, WeightsDtype::kF32},
      {"onednn_bf16", 0, true, WeightsDtype::kBF16},
      {"linear_gemv_f32", 0, true, WeightsDtype::kF32, true},
      {"linear_gemv_bf16", 0, true, WeightsDtype::kBF16, true},
      {"linear_gemv_f16", 0, true, WeightsDtype::kF16, true},
  };
  for (const Kind& kind : kinds) {
    for (quant::Isa isa : {quant::Isa::kAvx512Vnni, quant::Isa::kAvx2}) {
      if (kind.onednn && isa != quant::Isa::kAvx512Vnni) continue;
      const std::string suffix =
          kind.onednn ? kind.name
                      : absl::StrCat(kind.name, "/", quant::IsaName(isa));
      benchmark::RegisterBenchmark(
          absl::StrCat("BM_Model110m/", suffix).c_str(), BM_Model110m, kind,
          isa)
          ->Arg(1)
          ->Arg(16)
          ->Arg(32)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
      auto* b = benchmark::RegisterBenchmark(
          absl::StrCat("BM_Gemv/", suffix).c_str(), BM_Gemv, kind, isa);
      b->ArgNames({"k", "m", "hot"})
          ->Unit(benchmark::kMicrosecond)
          ->UseRealTime();
      for (int64_t k : {768, 2048, 4096}) b->Args({k, 1, 0});
      b->Args({768, 4, 0});
      b->Args({768, 1, 1});
      b->Args({768, 4, 1});
      b->Args({768, 32, 0});
      b->Args({768, 32, 1});
    }
  }
}

}  // namespace
}  // namespace kvasir::engine

int main(int argc, char** argv) {
  kvasir::engine::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
