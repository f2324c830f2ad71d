// Quantization of the activations to the 8-bit layout of quant_kernels.h.
// The scalar and the AVX2 versions produce the same bytes: the block max is
// exact, d and 1/d are the same IEEE operations, and both round x * (1/d)
// to nearest even (lrintf in the default rounding mode, cvtps_epi32).

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant::internal {
namespace {

// The padding past the row's last block: zero quants, scales and sums, so
// kernels that take blocks two at a time add exactly nothing for it.
void ZeroPadding(int64_t nb, int64_t nbp, uint8_t* row) {
  if (nb == nbp) return;
  const auto pad = static_cast<size_t>(nbp - nb);
  std::memset(row + nb * 32, 0, pad * 32);
  std::memset(row + nbp * 32 + nb * 32, 0, pad * 32);
  std::memset(row + nbp * 64 + nb * 8, 0, pad * 8);
}

// Block b's scale (8 copies) and its two scaled half sums.
void StoreScales(int64_t b, float d, int sum0, int sum1, float* d8, float* ds) {
  for (int i = 0; i < 8; ++i) d8[b * 8 + i] = d;
  ds[2 * b] = d * static_cast<float>(sum0);
  ds[2 * b + 1] = d * static_cast<float>(sum1);
}

}  // namespace

void QuantizeActScalar(const float* x, int64_t k, uint8_t* row) {
  const int64_t nb = k / 32;
  const int64_t nbp = ActPaddedBlocks(k);
  auto* q = reinterpret_cast<int8_t*>(row);
  auto* d8 = reinterpret_cast<float*>(row + nbp * 32);
  auto* ds = reinterpret_cast<float*>(row + nbp * 64);
  for (int64_t b = 0; b < nb; ++b) {
    const float* xb = x + b * 32;
    float amax = 0.0f;
    for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(xb[i]));
    const float db = amax / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    int sum[2] = {0, 0};
    for (int i = 0; i < 32; ++i) {
      // Clamped so that a non-finite x (outside the contract) cannot make
      // the int8 conversion undefined.
      const long v = std::clamp(std::lrintf(xb[i] * id), -127L, 127L);
      q[b * 32 + i] = static_cast<int8_t>(v);
      sum[i / 16] += static_cast<int>(v);
    }
    StoreScales(b, db, sum[0], sum[1], d8, ds);
  }
  ZeroPadding(nb, nbp, row);
}

namespace {

__attribute__((target("avx2,fma,f16c"))) inline int HorizontalSum(__m256i v) {
  __m128i s =
      _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2,fma,f16c"))) inline float HorizontalMax(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_movehdup_ps(m));
  return _mm_cvtss_f32(m);
}

// One scale per kGroup blocks of 32: d = max|x| over the group / 127.
// kQ4KOrder: q in QuantizeActQ4KAvx2's order (kGroup = 8).
template <int kGroup, bool kQ4KOrder = false>
__attribute__((target("avx2,fma,f16c"))) inline void QuantizeAvx2(
    const float* x, int64_t k, uint8_t* row) {
  const int64_t nb = k / 32;
  const int64_t nbp = ActPaddedBlocks(k);
  auto* d8 = reinterpret_cast<float*>(row + nbp * 32);
  auto* ds = reinterpret_cast<float*>(row + nbp * 64);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  const __m256i lo = _mm256_set1_epi32(-127), hi = _mm256_set1_epi32(127);
  for (int64_t b0 = 0; b0 < nb; b0 += kGroup) {
    __m256 amax = _mm256_setzero_ps();
    for (int64_t i = b0 * 32; i < (b0 + kGroup) * 32; i += 8) {
      amax =
          _mm256_max_ps(amax, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
    }
    const float db = HorizontalMax(amax) / 127.0f;
    const float id = db != 0.0f ? 1.0f / db : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    for (int64_t b = b0; b < b0 + kGroup; ++b) {
      __m256i i[4];
      for (int j = 0; j < 4; ++j) {
        i[j] = _mm256_cvtps_epi32(
            _mm256_mul_ps(_mm256_loadu_ps(x + b * 32 + 8 * j), vid));
        i[j] = _mm256_min_epi32(_mm256_max_epi32(i[j], lo), hi);
      }
      StoreScales(b, db, HorizontalSum(_mm256_add_epi32(i[0], i[1])),
                  HorizontalSum(_mm256_add_epi32(i[2], i[3])), d8, ds);
      // packs works within 128-bit lanes: the result holds the 8-value
      // groups in the order 0 2 1 3 (in dwords 0,4 | 1,5 | 2,6 | 3,7);
      // permute back.
      const __m256i p01 = _mm256_packs_epi32(i[0], i[1]);
      const __m256i p23 = _mm256_packs_epi32(i[2], i[3]);
      __m256i p = _mm256_packs_epi16(p01, p23);
      p = _mm256_permutevar8x32_epi32(
          p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      if constexpr (kQ4KOrder) {
        static_assert(kGroup == 8);
        uint8_t* dst = row + b0 * 32 + 64 * (b % 2) + 16 * ((b - b0) / 2);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst),
                         _mm256_castsi256_si128(p));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 128),
                         _mm256_extracti128_si256(p, 1));
      } else {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + b * 32), p);
      }
    }
  }
  ZeroPadding(nb, nbp, row);
}

}  // namespace

__attribute__((target("avx2,fma,f16c"))) void QuantizeActAvx2(const float* x,
                                                              int64_t k,
                                                              uint8_t* row) {
  QuantizeAvx2<1>(x, k, row);
}

__attribute__((target("avx2,fma,f16c"))) void QuantizeActSuperAvx2(
    const float* x, int64_t k, uint8_t* row) {
  QuantizeAvx2<8>(x, k, row);
}

__attribute__((target("avx2,fma,f16c"))) void QuantizeActQ4KAvx2(const float* x,
                                                                 int64_t k,
                                                                 uint8_t* row) {
  QuantizeAvx2<8, true>(x, k, row);
}

}  // namespace kvasir::engine::quant::internal
