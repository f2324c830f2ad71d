#include "engine/ops/machine_limits.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "engine/ops/weight_arena.h"

// GCC 12 reports the self-initialized _mm512_undefined_*() placeholders of
// its own intrinsics headers as uninitialized once inlined (GCC bug 105593).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace kvasir::engine::ops {
namespace {

#define KVASIR_TARGET_AVX512 __attribute__((target("avx512f,avx512bw,fma")))
#define KVASIR_TARGET_VNNI \
  __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define KVASIR_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define KVASIR_TARGET_BF16 __attribute__((target("avx512f,avx512bf16")))

bool HasAvx512() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512bw");
}
bool HasVnni() { return HasAvx512() && __builtin_cpu_supports("avx512vnni"); }
bool HasBf16() { return HasAvx512() && __builtin_cpu_supports("avx512bf16"); }
bool HasAvx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// Best of `repetitions` runs of `body` (which returns the work it did,
// in bytes or operations) as work per second.
template <class Body>
double BestRate(int repetitions, Body body) {
  double best = 0;
  for (int i = 0; i < std::max(repetitions, 1); ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double work = body();
    const double s = Seconds(start);
    if (s > 0) best = std::max(best, work / s);
  }
  return best;
}

// The [begin, end) of thread t's share of n items, in units of `align`.
void Share(int64_t n, int64_t align, int t, int nt, int64_t* begin,
           int64_t* end) {
  const int64_t units = n / align;
  *begin = units * t / nt * align;
  *end = units * (t + 1) / nt * align;
}

// Sums of float buffers: the value is kept (returned) so the loads are not
// optimized away.
KVASIR_TARGET_AVX512 float SumAvx512(const float* p, int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 64 <= n; i += 64) {
    a0 = _mm512_add_ps(a0, _mm512_load_ps(p + i));
    a1 = _mm512_add_ps(a1, _mm512_load_ps(p + i + 16));
    a2 = _mm512_add_ps(a2, _mm512_load_ps(p + i + 32));
    a3 = _mm512_add_ps(a3, _mm512_load_ps(p + i + 48));
  }
  return _mm512_reduce_add_ps(
      _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

KVASIR_TARGET_AVX2 float SumAvx2(const float* p, int64_t n) {
  __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  for (int64_t i = 0; i + 32 <= n; i += 32) {
    a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
    a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
    a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
    a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes,
                  _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
  float s = 0;
  for (float v : lanes) s += v;
  return s;
}

float SumPortable(const float* p, int64_t n) {
  float acc[8] = {};
  for (int64_t i = 0; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += p[i + j];
  }
  float s = 0;
  for (float v : acc) s += v;
  return s;
}

// Independent FMA chains: 16 zmm accumulators cover two FMA ports of
// four-cycle latency with room to spare. Returns flops done.
KVASIR_TARGET_AVX512 double FmaAvx512(int64_t iters, float seed) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_ps(seed + j);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_fmadd_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * 16 * 16 * 2;
}

KVASIR_TARGET_AVX2 double FmaAvx2(int64_t iters, float seed) {
  __m256 acc[12];
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(seed + j);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], a, b);
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, s);
  volatile float sink = lanes[0];
  (void)sink;
  return static_cast<double>(iters) * 12 * 8 * 2;
}

// vpdpbusd: 64 u8 x s8 multiply-adds per instruction per accumulator.
KVASIR_TARGET_VNNI double DotVnni(int64_t iters, int seed) {
  __m512i acc[16];
  for (int j = 0; j < 16; ++j) acc[j] = _mm512_set1_epi32(seed + j);
  const __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(-2);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
  }
  // Combined with xor, not added: the sums wrap, and a signed scalar
  // reduction would overflow (undefined behaviour).
  __m512i s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_xor_si512(s, acc[j]);
  volatile int sink = _mm512_reduce_or_epi32(s);
  (void)sink;
  return static_cast<double>(iters) * 16 * 64 * 2;
}

// vdpbf16ps: 32 bf16 pair products added into 16 f32 lanes per
// instruction per accumulator, 64 flops.
KVASIR_TARGET_BF16 double DotBf16(int64_t iters, int seed) {
  __m512 acc[16];
  for (int j = 0; j < 16; ++j)
    acc[j] = _mm512_set1_ps(static_cast<float>(seed + j));
  // Products of at most 1 * 2^-20: the sums grow slowly.
  const __m512 tiny = _mm512_set1_ps(0x1p-20f);
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0f), tiny);
  const __m512bh b = _mm512_cvtne2ps_pbh(tiny, tiny);
  for (int64_t i = 0; i < iters; ++i) {
    for (int j = 0; j < 16; ++j) acc[j] = _mm512_dpbf16_ps(acc[j], a, b);
  }
  __m512 s = acc[0];
  for (int j = 1; j < 16; ++j) s = _mm512_add_ps(s, acc[j]);
  volatile float sink = _mm512_reduce_add_ps(s);
  (void)sink;
  return static_cast<double>(iters) * 16 * 32 * 2;
}

// AVX2's int8 dot products at their best rate, as the AVX2 panels run them
// (quant_panel_avx2.cc): vpmaddubsw (32 u8 x s8 products -> pairs of s16)
// added in int16 lanes, one vpmaddwd (-> s32) per 8 of them. The empty asm
// makes `a` a new value each iteration: without it the compiler hoists the
// multiplies out of the loop (their inputs do not change), and the loop
// measured additions only.
KVASIR_TARGET_AVX2 double DotAvx2(int64_t iters, int seed) {
  // 6 chains: with the 6 activation vectors, `a`, the ones and the int32
  // sum, all in the 16 registers (a spilled chain runs at store-forwarding
  // latency).
  constexpr int kChains = 6;
  __m256i s[kChains], x[kChains];
  for (int j = 0; j < kChains; ++j) {
    s[j] = _mm256_set1_epi16(static_cast<short>(j));
    x[j] = _mm256_set1_epi8(static_cast<char>(j + 1));
  }
  __m256i acc = _mm256_set1_epi32(seed);
  __m256i a = _mm256_set1_epi8(3);
  const __m256i ones = _mm256_set1_epi16(1);
  for (int64_t i = 0; i < iters; ++i) {
    asm volatile("" : "+x"(a));
    for (int j = 0; j < kChains; ++j) {
      s[j] = _mm256_add_epi16(s[j], _mm256_maddubs_epi16(a, x[j]));
    }
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s[0], ones));
  }
  for (int j = 0; j < kChains; ++j) acc = _mm256_xor_si256(acc, s[j]);
  volatile int sink = _mm256_extract_epi32(acc, 0);
  (void)sink;
  return static_cast<double>(iters) * kChains * 32 * 2;
}

// Runs `kernel(iters, seed)` on every thread of a team; returns the total
// operations per second of the best repetition.
template <class Kernel>
double PeakRate(int threads, int repetitions, int64_t iters, Kernel kernel) {
  return BestRate(repetitions, [&] {
    double ops = 0;
#pragma omp parallel num_threads(threads) reduction(+ : ops)
    ops += kernel(iters, omp_get_thread_num());
    return ops;
  });
}

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

}  // namespace

double MeasureReadBandwidth(int threads, int64_t bytes, int repetitions) {
  threads = std::max(threads, 1);
  constexpr int64_t kHuge = int64_t{2} << 20;
  bytes = std::max<int64_t>((bytes + kHuge - 1) / kHuge * kHuge, kHuge);
  std::unique_ptr<float, FreeDeleter> buf(
      static_cast<float*>(AllocateOnHugePages(bytes)));
  if (buf == nullptr) return 0;
  const int64_t n = bytes / static_cast<int64_t>(sizeof(float));
  // Touched by the threads that will read it (first-touch placement).
#pragma omp parallel num_threads(threads)
  {
    int64_t begin, end;
    Share(n, 64, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
    std::fill(buf.get() + begin, buf.get() + end, 1.0f);
  }
  float (*sum)(const float*, int64_t) =
      HasAvx512() ? SumAvx512 : (HasAvx2() ? SumAvx2 : SumPortable);
  float total = 0;
  const double rate = BestRate(repetitions, [&] {
    float s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
    {
      int64_t begin, end;
      Share(n, 64, omp_get_thread_num(), omp_get_num_threads(), &begin, &end);
      s += sum(buf.get() + begin, end - begin);
    }
    total += s;
    return static_cast<double>(bytes);
  });
  volatile float sink = total;
  (void)sink;
  return rate / 1e9;
}

double MeasureF32Peak(int threads, int repetitions) {
  threads = std::max(threads, 1);
  constexpr int64_t kIters = 4'000'000;
  if (HasAvx512()) {
    return PeakRate(threads, repetitions, kIters,
                    [](int64_t it, int t) { return FmaAvx512(it, t); }) /
           1e9;
  }
  if (HasAvx2()) {
    return PeakRate(threads, repetitions, kIters,
                    [](int64_t it, int t) { return FmaAvx2(it, t); }) /
           1e9;
  }
  return 0;
}

double MeasureInt8Peak(int threads, int repetitions) {
  threads = std::max(threads, 1);
  constexpr int64_t kIters = 4'000'000;
  if (HasVnni()) {
    return PeakRate(threads, repetitions, kIters,
                    [](int64_t it, int t) { return DotVnni(it, t); }) /
           1e9;
  }
  if (HasAvx2()) {
    return PeakRate(threads, repetitions, kIters,
                    [](int64_t it, int t) { return DotAvx2(it, t); }) /
           1e9;
  }
  return 0;
}

double MeasureBf16Peak(int threads, int repetitions) {
  if (!HasBf16()) return 0;
  constexpr int64_t kIters = 4'000'000;
  return PeakRate(std::max(threads, 1), repetitions, kIters,
                  [](int64_t it, int t) { return DotBf16(it, t); }) /
         1e9;
}

void AddReadReading(const MachineLimitsOptions& options, MachineLimits* m) {
  const double gbps =
      MeasureReadBandwidth(std::max(options.threads, 1),
                           options.bandwidth_bytes, options.repetitions);
  m->read_readings.push_back(gbps);
  m->read_gbps = std::max(m->read_gbps, gbps);
}

MachineLimits MeasureMachineLimits(const MachineLimitsOptions& options) {
  MachineLimits m;
  m.threads = std::max(options.threads, 1);
  AddReadReading(options, &m);
  m.f32_gflops = MeasureF32Peak(m.threads, options.repetitions);
  m.int8_gops = MeasureInt8Peak(m.threads, options.repetitions);
  m.bf16_gflops = MeasureBf16Peak(m.threads, options.repetitions);
  m.fma_isa = HasAvx512() ? "avx512f" : (HasAvx2() ? "avx2" : "none");
  m.int8_isa = HasVnni() ? "avx512-vnni" : (HasAvx2() ? "avx2" : "none");
  m.bf16_isa = HasBf16() ? "avx512bf16" : "none";
  return m;
}

}  // namespace kvasir::engine::ops
