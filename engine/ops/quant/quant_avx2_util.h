#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_AVX2_UTIL_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_AVX2_UTIL_H_

// Helpers shared by the AVX2 kernels (quant_dot_avx2.cc, the per-row dot
// kernels; quant_decode_avx2.cc, the decode row loops). Each is compiled
// with the AVX2 target and inlined into its caller's.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define KVASIR_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace kvasir::engine::quant::internal {

KVASIR_AVX2 inline float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return _cvtsh_ss(h);
}

KVASIR_AVX2 inline __m256i Load256(const uint8_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// The 6-bit values (0..63) of half `half` (128 values) of the Q6_K
// super-block at b: u[s] holds its 32 values of block s (0..3), which take
// the low (s < 2) or high nibbles of ql[0..31] (s even) or ql[32..63] (s
// odd) and bits 2s, 2s + 1 of qh[0..31] on top.
KVASIR_AVX2 inline void Q6KHalf(const uint8_t* b, int half, __m256i u[4]) {
  const __m256i low4 = _mm256_set1_epi8(0x0F);
  const __m256i top2 = _mm256_set1_epi8(0x30);
  const uint8_t* ql = b + half * 64;
  const __m256i l0 = Load256(ql), l1 = Load256(ql + 32);
  const __m256i qh = Load256(b + 128 + half * 32);
  u[0] = _mm256_or_si256(_mm256_and_si256(l0, low4),
                         _mm256_and_si256(_mm256_slli_epi16(qh, 4), top2));
  u[1] = _mm256_or_si256(_mm256_and_si256(l1, low4),
                         _mm256_and_si256(_mm256_slli_epi16(qh, 2), top2));
  u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                         _mm256_and_si256(qh, top2));
  u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                         _mm256_and_si256(_mm256_srli_epi16(qh, 2), top2));
}

}  // namespace kvasir::engine::quant::internal

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_AVX2_UTIL_H_
