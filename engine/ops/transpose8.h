#ifndef KVASIR_ENGINE_OPS_TRANSPOSE8_H_
#define KVASIR_ENGINE_OPS_TRANSPOSE8_H_

#include <immintrin.h>

// An in-place 8 x 8 float transpose in AVX registers, for kernels compiled
// with AVX2 or AVX-512 target attributes (it inlines into either): the AVX2
// attention kernel's K chunks, the VNNI panels' results.
namespace kvasir::engine::ops {

// r[j][n] becomes the old r[n][j].
__attribute__((target("avx2"))) inline void Transpose8x8(__m256* r) {
  __m256 t[8], s[8];
#pragma GCC unroll 16
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // s[i..i+3]: rows 0-3 (low 128 bits) and 4-7 (high) of columns i..i+3.
#pragma GCC unroll 16
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
#pragma GCC unroll 16
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(s[i], s[i + 4], 0x31);
  }
}

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_TRANSPOSE8_H_
