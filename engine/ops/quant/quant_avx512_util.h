#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_AVX512_UTIL_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_AVX512_UTIL_H_

// Private to engine/ops/quant: what the AVX-512 kernel files share. Every
// function carries the target attribute, so including this header compiles
// nothing that needs AVX-512 at the call sites of other files.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/ops/quant/quant_kernels.h"
#include "engine/ops/stream_prefetch.h"

#define KVASIR_AVX512 \
  __attribute__((     \
      target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")))

namespace kvasir::engine::quant::internal {

// The sums of the 16 lanes of a, b, c, d as [Σa, Σb, Σc, Σd].
KVASIR_AVX512 inline __m128 Reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // 128-bit lanes: [a01 a23 | b01 b23] added -> quarter sums of a and b.
  const __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44),
                                  _mm512_shuffle_f32x4(a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(c, d, 0x44),
                                  _mm512_shuffle_f32x4(c, d, 0xEE));
  // Lane q of t holds 4 partial sums of row q.
  __m512 t = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88),
                           _mm512_shuffle_f32x4(ab, cd, 0xDD));
  t = _mm512_add_ps(t, _mm512_permute_ps(t, 0x4E));
  t = _mm512_add_ps(t, _mm512_permute_ps(t, 0xB1));
  return _mm512_castps512_ps128(_mm512_permutexvar_ps(
      _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), t));
}

KVASIR_AVX512 inline float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

KVASIR_AVX512 inline __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

KVASIR_AVX512 inline __m512i Join(__m256i lo, __m256i hi) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// The float sums of R activation rows (off: Blocks32's offsets, per half).
template <int R>
struct Acc {
  __m512 v[R];
  __m128 off[R];
};

template <int R>
KVASIR_AVX512 inline void Init(Acc<R>& acc) {
  for (int r = 0; r < R; ++r) {
    acc.v[r] = _mm512_setzero_ps();
    acc.off[r] = _mm_setzero_ps();
  }
}

template <int R>
KVASIR_AVX512 inline void Finish(const Acc<R>& acc, float* out) {
  for (int r = 0; r < R; ++r) {
    __m128 s = acc.off[r];
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[r] = _mm512_reduce_add_ps(acc.v[r]) + _mm_cvtss_f32(s);
  }
}

// [a0 x8, a1 x8]: the lane scales of two blocks with one scale each.
KVASIR_AVX512 inline __m512 TwoScales(float a0, float a1) {
  return _mm512_insertf32x8(_mm512_set1_ps(a0), _mm256_set1_ps(a1), 1);
}

// A kernel T (T::Run<R>(w, k, a, acc) adds one weight row against R
// activation rows) as the KernelTable's entries: Dot for one weight row
// (QuantDotFn), QuantRows for many (GemvFn).
template <class T, int R>
KVASIR_AVX512 void RunRows(const uint8_t* w, int64_t k, const ActRows& a,
                           float* out) {
  Acc<R> acc;
  Init(acc);
  T::template Run<R>(w, k, a, acc);
  Finish(acc, out);
}

template <class T>
KVASIR_AVX512 void Dot(const uint8_t* w, int64_t k, const ActRows& a, int rows,
                       float* out) {
  static_assert(kMaxTileRows == 4);
  switch (rows) {
    case 1:
      return RunRows<T, 1>(w, k, a, out);
    case 2:
      return RunRows<T, 2>(w, k, a, out);
    case 3:
      return RunRows<T, 3>(w, k, a, out);
    default:
      return RunRows<T, 4>(w, k, a, out);
  }
}

// ---- Many weight rows per call (the GemvFn entries) ----

// Rows [0, nrows) of quantized weights (row_bytes apart) times R rows of
// activations. For R = 1, four weight rows share one reduction.
template <class T, int R>
KVASIR_AVX512 void QuantRowsR(const uint8_t* w, int64_t row_bytes,
                              int64_t nrows, int64_t k, const ActRows& a,
                              float* y, int64_t y_stride) {
  int64_t n = 0;
  if (R == 1) {
    for (; n + 4 <= nrows; n += 4) {
      __m512 v[4];
      for (int i = 0; i < 4; ++i) {
        Acc<1> acc;
        acc.v[0] = _mm512_setzero_ps();
        T::template Run<1>(w + (n + i) * row_bytes, k, a, acc);
        v[i] = acc.v[0];
      }
      _mm_storeu_ps(y + n, Reduce4(v[0], v[1], v[2], v[3]));
    }
  }
  for (; n < nrows; ++n) {
    Acc<R> acc;
    for (int r = 0; r < R; ++r) acc.v[r] = _mm512_setzero_ps();
    T::template Run<R>(w + n * row_bytes, k, a, acc);
    for (int r = 0; r < R; ++r) {
      y[r * y_stride + n] = _mm512_reduce_add_ps(acc.v[r]);
    }
  }
}

template <class T>
KVASIR_AVX512 void QuantRows(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                             int64_t k, const ActRows& a, const float* /*x*/,
                             int m, float* y, int64_t y_stride) {
  static_assert(kMaxTileRows == 4);
  switch (m) {
    case 1:
      return QuantRowsR<T, 1>(w, row_bytes, nrows, k, a, y, y_stride);
    case 2:
      return QuantRowsR<T, 2>(w, row_bytes, nrows, k, a, y, y_stride);
    case 3:
      return QuantRowsR<T, 3>(w, row_bytes, nrows, k, a, y, y_stride);
    default:
      return QuantRowsR<T, 4>(w, row_bytes, nrows, k, a, y, y_stride);
  }
}

}  // namespace kvasir::engine::quant::internal

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_AVX512_UTIL_H_
