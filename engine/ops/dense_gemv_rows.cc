// The GEMV over the rows layout (dense_gemv.h): W[n][k] row-major, f32, f16
// or bf16, AVX2 + FMA (+ F16C), so on every x86-64 CPU Kvasir supports.
//
// Four weight rows at a time, their four streams read in order (the
// hardware prefetcher follows each: a software prefetch of every line 1 and
// 8 KiB ahead, as the blocked kernels do, took one core's f32 decode from
// 16.4 to 13.2 GB/s, gemv_bench BM_Model110m/linear_gemv_f32/1, Zen 3),
// each weight vector
// multiplied with up to 2 rows of x (4 x 2 accumulators, 4 weight vectors
// and one of x: 13 of the 16 ymm registers); then one horizontal sum per
// 4 outputs. Later pairs of x rows read the 4 weight rows from L1/L2 (4 x k
// elements: 12 KiB at k = 768 in f32).

#include "engine/ops/dense_gemv_rows.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine/model/gguf_dequant.h"
#include "engine/ops/bf16.h"

#define KVASIR_ROWS_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace kvasir::engine::ops::internal {
namespace {

// Element types: 8 of them as f32, and one.
struct F32 {
  using T = float;
  KVASIR_ROWS_AVX2 static __m256 Load8(const T* p) {
    return _mm256_loadu_ps(p);
  }
  static float Load1(const T* p) { return *p; }
};
struct F16 {
  using T = uint16_t;
  KVASIR_ROWS_AVX2 static __m256 Load8(const T* p) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float Load1(const T* p) { return gguf::HalfToFloat(*p); }
};
struct Bf16 {
  using T = uint16_t;
  KVASIR_ROWS_AVX2 static __m256 Load8(const T* p) {
    const __m256i v = _mm256_cvtepu16_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static float Load1(const T* p) { return Bf16ToFloat(*p); }
};

// The sums of the 8 lanes of a, b, c, d as [Σa, Σb, Σc, Σd].
KVASIR_ROWS_AVX2 inline __m128 Sum4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

// y[r * y_stride + j] = row j of w (k elements, nw <= 4 rows from w) · row
// r of x, r < R.
template <class W, class X, int R>
KVASIR_ROWS_AVX2 void Quad(const typename W::T* w, int64_t k, int nw,
                           const typename X::T* x, float* y, int64_t y_stride) {
  // Rows past nw repeat the last one (read, not stored): no branch inside.
  const typename W::T* row[4];
  for (int j = 0; j < 4; ++j) row[j] = w + std::min(j, nw - 1) * k;
  __m256 acc[R][4];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  int64_t i = 0;
  if constexpr (std::is_same_v<W, Bf16> && std::is_same_v<X, Bf16>) {
    // 16 values per load on both sides: the even ones (low halves of the
    // dwords) shifted up, the odd ones masked, each half its own FMAs (the
    // sums do not care which lanes meet, as long as w and x agree): one
    // integer op per 8 values instead of a widening load and a shift.
    const __m256i odd = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
    for (; i + 16 <= k; i += 16) {
      for (int half = 0; half < 2; ++half) {
        __m256 wv[4];
        for (int j = 0; j < 4; ++j) {
          const __m256i v =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row[j] + i));
          wv[j] = _mm256_castsi256_ps(half == 0 ? _mm256_slli_epi32(v, 16)
                                                : _mm256_and_si256(v, odd));
        }
        for (int r = 0; r < R; ++r) {
          const __m256i v = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(x + r * k + i));
          const __m256 xv = _mm256_castsi256_ps(
              half == 0 ? _mm256_slli_epi32(v, 16) : _mm256_and_si256(v, odd));
          for (int j = 0; j < 4; ++j) {
            acc[r][j] = _mm256_fmadd_ps(wv[j], xv, acc[r][j]);
          }
        }
      }
    }
  }
  for (; i + 8 <= k; i += 8) {
    __m256 wv[4];
    for (int j = 0; j < 4; ++j) wv[j] = W::Load8(row[j] + i);
    for (int r = 0; r < R; ++r) {
      const __m256 xv = X::Load8(x + r * k + i);
      for (int j = 0; j < 4; ++j) {
        acc[r][j] = _mm256_fmadd_ps(wv[j], xv, acc[r][j]);
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(16) float s[4];
    _mm_store_ps(s, Sum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    for (int j = 0; j < nw; ++j) {
      float sum = s[j];
      for (int64_t t = i; t < k; ++t) {  // the < 8 past the last vector
        sum += W::Load1(row[j] + t) * X::Load1(x + r * k + t);
      }
      y[r * y_stride + j] = sum;
    }
  }
}

template <class W, class X>
KVASIR_ROWS_AVX2 void Range(const BlockedWeights& w, int64_t b0, int64_t b1,
                            const typename X::T* x, int m, float* y) {
  const auto* data = static_cast<const typename W::T*>(w.data);
  const int64_t k = w.k;
  for (int64_t n0 = b0 * kRowsPerBlock; n0 < std::min(w.n, b1 * kRowsPerBlock);
       n0 += 4) {
    const int nw = static_cast<int>(std::min<int64_t>(4, w.n - n0));
    const typename W::T* rows = data + n0 * k;
    int r0 = 0;
    for (; r0 + 2 <= m; r0 += 2) {
      Quad<W, X, 2>(rows, k, nw, x + r0 * k, y + r0 * w.n + n0, w.n);
    }
    if (r0 < m) {
      Quad<W, X, 1>(rows, k, nw, x + r0 * k, y + r0 * w.n + n0, w.n);
    }
  }
}

}  // namespace

void RowsRangeAvx2(const BlockedWeights& w, int64_t b0, int64_t b1,
                   const float* x, const uint16_t* x_bf16, int m, float* y) {
  switch (w.type) {
    case GemvWeights::kF32:
      return Range<F32, F32>(w, b0, b1, x, m, y);
    case GemvWeights::kF16:
      return Range<F16, F32>(w, b0, b1, x, m, y);
    case GemvWeights::kBF16:
      return Range<Bf16, Bf16>(w, b0, b1, x_bf16, m, y);
  }
}

}  // namespace kvasir::engine::ops::internal
