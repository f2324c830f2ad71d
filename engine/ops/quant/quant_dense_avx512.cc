// The AVX-512 kernels for dense weights (F32, F16, BF16) times f32
// activations: the per-row dot products (DenseDotFn) and the many-rows
// decode entries (GemvFn) of Avx512Kernels(). Compiled with a target
// attribute; called only after cpuid said yes.

// GCC 12 reports the self-initialized _mm512_undefined_*() placeholders of
// its own intrinsics headers as uninitialized once they are inlined here
// (GCC bug 105593, fixed in 12.3 / 13).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstdint>

#include "engine/ops/quant/quant_avx512_util.h"
#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant::internal {
namespace {

// ---- F32 / F16 / BF16 weights with f32 activations ----
// Masked loads cover the tail past the last multiple of 16.

struct F32 {
  static constexpr int kBytes = 4;
  KVASIR_AVX512 static __m512 Load16(const uint8_t* p, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, p);
  }
};
struct F16 {
  static constexpr int kBytes = 2;
  KVASIR_AVX512 static __m512 Load16(const uint8_t* p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
  }
};
struct BF16 {
  static constexpr int kBytes = 2;
  KVASIR_AVX512 static __m512 Load16(const uint8_t* p, __mmask16 m) {
    const __m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  }
};

// Two accumulators per row (even / odd 16-value steps) so that the FMAs of
// consecutive steps do not wait for each other; a prefetch per 64 bytes.
template <class T, int R>
KVASIR_AVX512 inline void DenseAcc(const uint8_t* w, int64_t k, const float* x,
                                   int64_t x_stride, __m512* acc) {
  __m512 odd[R];
  for (int r = 0; r < R; ++r) {
    acc[r] = _mm512_setzero_ps();
    odd[r] = _mm512_setzero_ps();
  }
  const __mmask16 all = 0xFFFF;
  int64_t i = 0;
  for (; i + 32 <= k; i += 32) {
    _mm_prefetch(
        reinterpret_cast<const char*>(w + i * T::kBytes + ops::kStreamL1Bytes),
        _MM_HINT_T0);
    if (T::kBytes == 4) {
      _mm_prefetch(reinterpret_cast<const char*>(w + i * T::kBytes +
                                                 ops::kStreamL1Bytes + 64),
                   _MM_HINT_T0);
    }
    const __m512 w0 = T::Load16(w + i * T::kBytes, all);
    const __m512 w1 = T::Load16(w + (i + 16) * T::kBytes, all);
    for (int r = 0; r < R; ++r) {
      acc[r] =
          _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + r * x_stride + i), acc[r]);
      odd[r] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + r * x_stride + i + 16),
                               odd[r]);
    }
  }
  for (; i < k; i += 16) {
    const __mmask16 m =
        k - i >= 16 ? all : static_cast<__mmask16>((1u << (k - i)) - 1);
    const __m512 wv = T::Load16(w + i * T::kBytes, m);
    for (int r = 0; r < R; ++r) {
      acc[r] = _mm512_fmadd_ps(
          wv, _mm512_maskz_loadu_ps(m, x + r * x_stride + i), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) acc[r] = _mm512_add_ps(acc[r], odd[r]);
}

template <class T, int R>
KVASIR_AVX512 void DenseRows(const uint8_t* w, int64_t k, const float* x,
                             int64_t x_stride, float* out) {
  __m512 acc[R];
  DenseAcc<T, R>(w, k, x, x_stride, acc);
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

template <class T>
KVASIR_AVX512 void Dense(const uint8_t* w, int64_t k, const float* x,
                         int64_t x_stride, int rows, float* out) {
  switch (rows) {
    case 1:
      return DenseRows<T, 1>(w, k, x, x_stride, out);
    case 2:
      return DenseRows<T, 2>(w, k, x, x_stride, out);
    case 3:
      return DenseRows<T, 3>(w, k, x, x_stride, out);
    default:
      return DenseRows<T, 4>(w, k, x, x_stride, out);
  }
}

template <class T, int R>
KVASIR_AVX512 void DenseRowsR(const uint8_t* w, int64_t row_bytes,
                              int64_t nrows, int64_t k, const float* x,
                              float* y, int64_t y_stride) {
  int64_t n = 0;
  if (R == 1) {
    for (; n + 4 <= nrows; n += 4) {
      __m512 v[4];
      for (int i = 0; i < 4; ++i) {
        DenseAcc<T, 1>(w + (n + i) * row_bytes, k, x, k, &v[i]);
      }
      _mm_storeu_ps(y + n, Reduce4(v[0], v[1], v[2], v[3]));
    }
  }
  for (; n < nrows; ++n) {
    __m512 acc[R];
    DenseAcc<T, R>(w + n * row_bytes, k, x, k, acc);
    for (int r = 0; r < R; ++r) {
      y[r * y_stride + n] = _mm512_reduce_add_ps(acc[r]);
    }
  }
}

template <class T>
KVASIR_AVX512 void DenseRowsM(const uint8_t* w, int64_t row_bytes,
                              int64_t nrows, int64_t k, const ActRows& /*a*/,
                              const float* x, int m, float* y,
                              int64_t y_stride) {
  switch (m) {
    case 1:
      return DenseRowsR<T, 1>(w, row_bytes, nrows, k, x, y, y_stride);
    case 2:
      return DenseRowsR<T, 2>(w, row_bytes, nrows, k, x, y, y_stride);
    case 3:
      return DenseRowsR<T, 3>(w, row_bytes, nrows, k, x, y, y_stride);
    default:
      return DenseRowsR<T, 4>(w, row_bytes, nrows, k, x, y, y_stride);
  }
}

}  // namespace

void DenseDotAvx512F32(const uint8_t* w, int64_t k, const float* x,
                       int64_t x_stride, int rows, float* out) {
  Dense<F32>(w, k, x, x_stride, rows, out);
}
void DenseDotAvx512F16(const uint8_t* w, int64_t k, const float* x,
                       int64_t x_stride, int rows, float* out) {
  Dense<F16>(w, k, x, x_stride, rows, out);
}
void DenseDotAvx512BF16(const uint8_t* w, int64_t k, const float* x,
                        int64_t x_stride, int rows, float* out) {
  Dense<BF16>(w, k, x, x_stride, rows, out);
}
void DenseGemvAvx512F32(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                        int64_t k, const ActRows& a, const float* x, int m,
                        float* y, int64_t y_stride) {
  DenseRowsM<F32>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}
void DenseGemvAvx512F16(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                        int64_t k, const ActRows& a, const float* x, int m,
                        float* y, int64_t y_stride) {
  DenseRowsM<F16>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}
void DenseGemvAvx512BF16(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                         int64_t k, const ActRows& a, const float* x, int m,
                         float* y, int64_t y_stride) {
  DenseRowsM<BF16>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}

}  // namespace kvasir::engine::quant::internal
