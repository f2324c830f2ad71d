// Decode attention over the paged KV cache: MHA (H = Hkv = 12), GQA
// (Hkv = 4) and MQA (Hkv = 1), head_dim 64, 1 or 16 sequences of 256,
// 1536 or 4096 tokens of context, f32 or bf16 K/V, per kernel. Each
// iteration attends one new token per sequence over one layer; the layers
// rotate and the cache spans >= 256 MiB, so K/V come from memory as they do
// in a real step (not from a cache warm from the previous iteration).
//
// Prints the K/V bytes read per second (KV_GBps), the attention GFLOP/s
// (4 flops per query, key and head element: scores and P.V) and
// pct_bw = KV_GBps as a percentage of the read bandwidth measured in the
// same run (an AVX-512 sum over 1 GiB on the same threads, best of 3).
// With KVASIR_BENCH_THREADS=1 it also prints KV_GBps_cpu / GFLOPs_cpu, the
// rates over the thread's CPU time (robust to a busy machine).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <numeric>
#include <random>
#include <vector>

#include "engine/ops/machine_limits.h"
#include "engine/ops/paged_attention.h"
#include "kvcache/kv_arena.h"
#include "kvcache/kv_layout.h"

namespace kvasir::engine::ops {
namespace {

constexpr int kHeads = 12;
constexpr int kHeadDim = 64;
// Threads of the attention and of the bandwidth sum: 2 (the machine's
// cores), or KVASIR_BENCH_THREADS (e.g. 1 on a busy machine).
const int kThreads = [] {
  const char* env = std::getenv("KVASIR_BENCH_THREADS");
  return env != nullptr ? std::max(1, std::atoi(env)) : 2;
}();
// Bytes of KV cache the layers span (KVASIR_BENCH_CACHE_KIB: a small value
// keeps K/V in cache and shows the kernel's compute speed).
const int64_t kMinCacheBytes = [] {
  const char* env = std::getenv("KVASIR_BENCH_CACHE_KIB");
  return env != nullptr ? std::atoll(env) << 10 : int64_t{256} << 20;
}();

// Read bandwidth in GB/s, kThreads threads over 1 GiB, measured once.
double ReadBandwidth() {
  static const double gbps = [] {
    // KVASIR_BENCH_NO_BW=1: skip (for profiling the kernel alone).
    if (std::getenv("KVASIR_BENCH_NO_BW") != nullptr) return 1.0;
    const double best = ops::MeasureReadBandwidth(kThreads, int64_t{1} << 30,
                                                  /*repetitions=*/3);
    std::printf("read bandwidth: %.1f GB/s (%d threads, 1 GiB)\n", best,
                kThreads);
    return best;
  }();
  return gbps;
}

void BM_ReadBandwidth(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(ReadBandwidth());
  state.counters["GBps"] = ReadBandwidth();
}
BENCHMARK(BM_ReadBandwidth)->Iterations(1);

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Args: Hkv, context, sequences, dtype (0 f32, 1 bf16, 2 int8), isa
// (0 auto, 1 avx2, 2 portable).
void BM_DecodeAttention(benchmark::State& state) {
  const int hkv = static_cast<int>(state.range(0));
  const int context = static_cast<int>(state.range(1));
  const int n_seqs = static_cast<int>(state.range(2));
  const kvcache::KvDtype dtype = state.range(3) == 0 ? kvcache::KvDtype::kF32
                                 : state.range(3) == 1
                                     ? kvcache::KvDtype::kBF16
                                     : kvcache::KvDtype::kInt8;
  const AttentionIsa isa = state.range(4) == 0   ? AttentionIsa::kAuto
                           : state.range(4) == 1 ? AttentionIsa::kAvx2
                                                 : AttentionIsa::kPortable;
  const double bandwidth = ReadBandwidth();

  constexpr int kBlockSize = 16;
  kvcache::KvLayout one{.n_layers = 1,
                        .n_kv_heads = hkv,
                        .head_dim = kHeadDim,
                        .block_size = kBlockSize,
                        .dtype = dtype};
  const int blocks_per_seq = (context + kBlockSize - 1) / kBlockSize;
  const int64_t layer_bytes = one.BlockBytes() * blocks_per_seq * n_seqs;
  const int layers = static_cast<int>(std::clamp<int64_t>(
      (kMinCacheBytes + layer_bytes - 1) / layer_bytes, 1, 4096));
  kvcache::KvLayout layout = one;
  layout.n_layers = layers;
  const int n_blocks = blocks_per_seq * n_seqs;
  auto arena = kvcache::KvArena::Create(layout, layout.BlockBytes() * n_blocks);
  auto attention = PagedAttention::Create({.n_heads = kHeads,
                                           .layout = layout,
                                           .max_rows = n_seqs,
                                           .max_seqs = n_seqs,
                                           .num_threads = kThreads,
                                           .isa = isa});
  if (!arena.ok() || !attention.ok()) {
    state.SkipWithError("setup failed (CPU without the forced kernel?)");
    return;
  }
  // Blocks in shuffled order, as a busy block pool hands them out; the
  // cache filled with small values (the contents do not change the work).
  std::vector<int32_t> ids(n_blocks);
  std::iota(ids.begin(), ids.end(), 0);
  std::mt19937 rng(1);
  std::shuffle(ids.begin(), ids.end(), rng);
  const int64_t block_words = layout.BlockBytes() / 4;
  for (int32_t b = 0; b < n_blocks; ++b) {
    uint32_t* p = reinterpret_cast<uint32_t*>(arena->block(b));
    // 0.74f as f32; 0.046f and 0.74f as bf16; 60..63 as int8, with
    // scales of 0.74f.
    std::fill(p, p + block_words, 0x3f3e3d3cu);
  }
  std::vector<PagedAttention::Sequence> seqs;
  for (int s = 0; s < n_seqs; ++s) {
    seqs.push_back({.row = s,
                    .n_new = 1,
                    .start_pos = context - 1,
                    .block_table = ids.data() + s * blocks_per_seq});
  }
  const int64_t q_width = int64_t{kHeads} * kHeadDim;
  std::vector<float> q(n_seqs * q_width), out(q.size());
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (float& x : q) x = u(rng);
  if (!(*attention)->Prepare(seqs).ok()) {
    state.SkipWithError("Prepare failed");
    return;
  }

  int layer = 0;
  double seconds = 0;
  const double cpu0 = ThreadCpuSeconds();
  int64_t calls = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const absl::Status st =
        (*attention)->Attend(layer, q.data(), q_width, *arena, out.data());
    seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    if (!st.ok()) state.SkipWithError("Attend failed");
    layer = (layer + 1) % layers;
    ++calls;
    benchmark::DoNotOptimize(out.data());
  }
  // K and V rows, int8's scales included.
  const double kv_bytes =
      2.0 * n_seqs * context * hkv * layout.RowBytes() * calls;
  const double flops = 4.0 * n_seqs * context * kHeads * kHeadDim * calls;
  const double gbps = kv_bytes / seconds / 1e9;
  // With one thread: the rate over the thread's own CPU time, which leaves
  // out the time slices other processes take on a shared machine.
  if (kThreads == 1) {
    const double cpu = ThreadCpuSeconds() - cpu0;
    state.counters["KV_GBps_cpu"] = kv_bytes / cpu / 1e9;
    state.counters["GFLOPs_cpu"] = flops / cpu / 1e9;
  }
  state.counters["KV_GBps"] = gbps;
  state.counters["GFLOPs"] = flops / seconds / 1e9;
  state.counters["pct_bw"] = 100.0 * gbps / bandwidth;
  state.SetLabel(std::string(AttentionIsaName((*attention)->isa())));
}

void Args(benchmark::internal::Benchmark* b) {
  for (int isa : {0, 1, 2}) {
    for (int dtype : {0, 1, 2}) {
      for (int seqs : {1, 16}) {
        for (int context : {256, 1536, 4096}) {
          for (int hkv : {12, 6, 4, 3, 1})
            b->Args({hkv, context, seqs, dtype, isa});
        }
      }
    }
  }
}
BENCHMARK(BM_DecodeAttention)
    ->ArgNames({"hkv", "ctx", "seqs", "dtype", "isa"})
    ->Apply(Args)
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(0.2)
    ->UseRealTime();

}  // namespace
}  // namespace kvasir::engine::ops

BENCHMARK_MAIN();
