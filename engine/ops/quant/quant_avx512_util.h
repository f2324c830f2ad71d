#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_AVX512_UTIL_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_AVX512_UTIL_H_

// Private to engine/ops/quant: what the AVX-512 kernel files share. Every
// function carries the target attribute, so including this header compiles
// nothing that needs AVX-512 at the call sites of other files.

#include <immintrin.h>

#include <cstdint>

#define KVASIR_AVX512 \
  __attribute__((     \
      target("avx512f,avx512bw,avx512vl,avx512vnni,avx512dq,fma,f16c")))

namespace kvasir::engine::quant::internal {

// Bytes of weights ahead of the current super-block that are prefetched:
// past the first 4 KiB page boundaries the hardware prefetcher stops at.
constexpr int64_t kPrefetchBytes = 1024;

KVASIR_AVX512 inline void Prefetch(const uint8_t* p, int64_t bytes) {
  for (int64_t o = 0; o < bytes; o += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(p + kPrefetchBytes + o),
                 _MM_HINT_T0);
  }
}

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

}  // namespace kvasir::engine::quant::internal

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_AVX512_UTIL_H_
