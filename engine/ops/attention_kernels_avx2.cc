// The AVX2 attention kernel: attention_kernel.inc over a pair of ymm (16
// floats). Compiled with a target attribute so the binary runs on any
// x86-64; PagedAttention calls it only after cpuid said yes (tests force it
// to cover CPUs without AVX-512).

#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "engine/ops/attention_kernels.h"
#include "engine/ops/fast_math.h"
#include "engine/ops/transpose8.h"

#define KVASIR_ATTN_TARGET __attribute__((target("avx2,fma")))
#define KVASIR_ATTN_INLINE KVASIR_ATTN_TARGET __attribute__((always_inline))

namespace kvasir::engine::ops::internal {
namespace {

KVASIR_ATTN_TARGET inline __m256 Load8(const float* p) {
  return _mm256_loadu_ps(p);
}
KVASIR_ATTN_TARGET inline __m256 Load8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// 8 int8 widened to f32 (the row's scale is applied elsewhere).
KVASIR_ATTN_TARGET inline __m256 Load8(const int8_t* p) {
  const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b));
}

KVASIR_ATTN_TARGET inline __m256 Exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3365448f);
  const __m256 hi = _mm256_set1_ps(88.0f);
  const __m256 underflow = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  const __m256 shift = _mm256_set1_ps(12582912.0f);
  const __m256 shifted =
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), shift);
  const __m256 n = _mm256_sub_ps(shifted, shift);
  const __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(shifted),
                                      _mm256_castps_si256(shift));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
  const __m256 r2 = _mm256_mul_ps(r, r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  p = _mm256_add_ps(_mm256_fmadd_ps(p, r2, r), _mm256_set1_ps(1.0f));
  const __m256 scale = _mm256_castsi256_ps(
      _mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
  return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, scale));
}

KVASIR_ATTN_TARGET inline float HSum8(__m256 x) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

KVASIR_ATTN_TARGET inline float HMax8(__m256 x) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct V {
  struct F {
    __m256 lo, hi;  // lanes 0-7, 8-15
  };
  // 4 queries x 2 ymm already give 8 independent score chains; P.V keeps
  // one 16-float slice per query in registers (16 ymm in all).
  static constexpr int kQkSplit = 1;
  static constexpr int PvGroup(int /*queries*/) { return 1; }
  // Scores of a single query (MHA decode), without TransposeChunk: lane t
  // of the result is q . K row t for t < slots (0 above), over hd (a
  // multiple of 16) elements. Each K row meets q where it is loaded, 8 rows
  // at a time (8 independent FMA chains), and the 8 row sums reduce in 6
  // hadds and 2 cross-lane permutes, against the transpose's 8 x 8 blocks
  // of shuffles and its stores and reloads per chunk (attention_bench, one
  // thread, 16 sequences x 1,536 keys, MHA, K/V GB/s on Zen 3: f32 7.5 ->
  // 13.5, bf16 3.9-5.3 -> 8.2-10.0). Prefetches the first next_slots rows
  // of next_k.
  static constexpr bool kOneQueryScores = true;
  template <typename T>
  KVASIR_ATTN_TARGET static F OneQueryScores(const float* q, const T* k, int hd,
                                             int slots, const T* next_k,
                                             int next_slots) {
    return {EightScores(q, k, hd, slots, next_k, next_slots),
            EightScores(q, k + 8 * hd, hd, slots - 8, next_k + 8 * hd,
                        next_slots - 8)};
  }
  // OneQueryScores' half: keys 0..7 of k (t < slots; next: t < next_slots).
  template <typename T>
  KVASIR_ATTN_TARGET static __m256 EightScores(const float* q, const T* k,
                                               int hd, int slots,
                                               const T* next_k,
                                               int next_slots) {
    __m256 acc[8];
#pragma GCC unroll 8
    for (int t = 0; t < 8; ++t) acc[t] = _mm256_setzero_ps();
    for (int d = 0; d < hd; d += 8) {
      const __m256 qd = _mm256_loadu_ps(q + d);
#pragma GCC unroll 8
      for (int t = 0; t < 8; ++t) {
        if (t < slots) {
          acc[t] = _mm256_fmadd_ps(Load8(k + t * hd + d), qd, acc[t]);
        }
        if (t < next_slots && (d * sizeof(T)) % 64 == 0) {
          _mm_prefetch(reinterpret_cast<const char*>(next_k + t * hd + d),
                       _MM_HINT_T0);
        }
      }
    }
    // [Σ0 Σ1 Σ2 Σ3 | Σ4 Σ5 Σ6 Σ7] from the halves of the hadd tree.
    const __m256 h0 = _mm256_hadd_ps(_mm256_hadd_ps(acc[0], acc[1]),
                                     _mm256_hadd_ps(acc[2], acc[3]));
    const __m256 h1 = _mm256_hadd_ps(_mm256_hadd_ps(acc[4], acc[5]),
                                     _mm256_hadd_ps(acc[6], acc[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(h0, h1, 0x20),
                         _mm256_permute2f128_ps(h0, h1, 0x31));
  }
  // TileStep scores and P.V in f32.
  static constexpr bool kBf16Pairs = false;
  // Decode scores of a token's G queries (GQA, MQA) without a
  // transposition, as on AVX-512 (see there): F's four 128-bit lanes (two
  // per ymm) hold four queries, a K row's four elements broadcast to all
  // four meet them at once. f32 K only (bf16 and int8 rows would be
  // widened once per four elements; they take the transposed chunk).
  // attention_bench, one thread, 16 sequences x 1,536 keys, f32 K/V GB/s on
  // Zen 3, two rounds: GQA-4 7.8-8.7 -> 9.7-10.0, MQA 4.1-5.3 -> 5.0.
  template <typename T>
  static constexpr bool kPackedScores = std::is_same_v<T, float>;
  KVASIR_ATTN_TARGET static F KeyBlock(const float* row, int b) {
    const __m256 k =
        _mm256_broadcast_ps(reinterpret_cast<const __m128*>(row + 4 * b));
    return {k, k};
  }
  KVASIR_ATTN_TARGET static F BlockFmadd(F acc, F q, F k) {
    return Fmadd(q, k, acc);
  }
  static constexpr int kBlockElems = 4;

#include "engine/ops/attention_packed_scores.inc"

  // Lane 4i + t of the result: the sum of 128-bit lane i of x[t], t < 4
  // (unpacks and shuffles stay within 128-bit lanes, in each ymm alike).
  KVASIR_ATTN_TARGET static __m256 SumBlocks8(__m256 x0, __m256 x1, __m256 x2,
                                              __m256 x3) {
    const __m256 s01 =
        _mm256_add_ps(_mm256_unpacklo_ps(x0, x1), _mm256_unpackhi_ps(x0, x1));
    const __m256 s23 =
        _mm256_add_ps(_mm256_unpacklo_ps(x2, x3), _mm256_unpackhi_ps(x2, x3));
    return _mm256_add_ps(_mm256_shuffle_ps(s01, s23, 0x44),
                         _mm256_shuffle_ps(s01, s23, 0xEE));
  }
  KVASIR_ATTN_TARGET static F SumBlocks(const F x[4]) {
    return {SumBlocks8(x[0].lo, x[1].lo, x[2].lo, x[3].lo),
            SumBlocks8(x[0].hi, x[1].hi, x[2].hi, x[3].hi)};
  }
  // sc[i] lane block g = 128-bit lane i of r[g] (i < QT, g < 4): queries 0
  // and 1 are the halves of each r[g].lo, queries 2 and 3 of r[g].hi.
  template <int QT>
  KVASIR_ATTN_INLINE static void ScoresOfBlocks(const F r[4], F* sc) {
    sc[0] = {_mm256_permute2f128_ps(r[0].lo, r[1].lo, 0x20),
             _mm256_permute2f128_ps(r[2].lo, r[3].lo, 0x20)};
    if constexpr (QT > 1) {
      sc[1] = {_mm256_permute2f128_ps(r[0].lo, r[1].lo, 0x31),
               _mm256_permute2f128_ps(r[2].lo, r[3].lo, 0x31)};
    }
    if constexpr (QT > 2) {
      sc[2] = {_mm256_permute2f128_ps(r[0].hi, r[1].hi, 0x20),
               _mm256_permute2f128_ps(r[2].hi, r[3].hi, 0x20)};
    }
    if constexpr (QT > 3) {
      sc[3] = {_mm256_permute2f128_ps(r[0].hi, r[1].hi, 0x31),
               _mm256_permute2f128_ps(r[2].hi, r[3].hi, 0x31)};
    }
  }
  // No LaneStep: its 8 keys' sums alone would take all 16 ymm registers.
  template <typename T>
  static constexpr bool kLaneScores = false;

  KVASIR_ATTN_TARGET static F Zero() {
    return {_mm256_setzero_ps(), _mm256_setzero_ps()};
  }
  KVASIR_ATTN_TARGET static F Set1(float x) {
    const __m256 b = _mm256_set1_ps(x);
    return {b, b};
  }
  KVASIR_ATTN_TARGET static F Load(const float* p) {
    return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)};
  }
  KVASIR_ATTN_TARGET static void Store(float* p, F x) {
    _mm256_storeu_ps(p, x.lo);
    _mm256_storeu_ps(p + 8, x.hi);
  }
  template <typename T>
  KVASIR_ATTN_TARGET static F LoadRow(const T* p) {
    return {Load8(p), Load8(p + 8)};
  }
  KVASIR_ATTN_TARGET static F Add(F a, F b) {
    return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)};
  }
  KVASIR_ATTN_TARGET static F Sub(F a, F b) {
    return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)};
  }
  KVASIR_ATTN_TARGET static F Mul(F a, F b) {
    return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)};
  }
  KVASIR_ATTN_TARGET static F Max(F a, F b) {
    return {_mm256_max_ps(a.lo, b.lo), _mm256_max_ps(a.hi, b.hi)};
  }
  KVASIR_ATTN_TARGET static F Fmadd(F a, F b, F c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo),
            _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  KVASIR_ATTN_TARGET static float HMax(F x) {
    return HMax8(_mm256_max_ps(x.lo, x.hi));
  }
  KVASIR_ATTN_TARGET static float HSum(F x) {
    return HSum8(_mm256_add_ps(x.lo, x.hi));
  }
  // out[i] = HMax(x[i]) (kMax) or HSum(x[i]) for i < N.
  template <bool kMax, int N>
  KVASIR_ATTN_TARGET static void HReduceN(const F* x, float* out) {
    for (int i = 0; i < N; ++i) out[i] = kMax ? HMax(x[i]) : HSum(x[i]);
  }
  // Lanes >= n (0 <= n <= 16) replaced by `fill`.
  KVASIR_ATTN_TARGET static F KeepFirst(F x, int n, float fill) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256 f = _mm256_set1_ps(fill);
    const __m256 keep_lo =
        _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n), iota));
    const __m256 keep_hi =
        _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(n - 8), iota));
    return {_mm256_blendv_ps(f, x.lo, keep_lo),
            _mm256_blendv_ps(f, x.hi, keep_hi)};
  }
  KVASIR_ATTN_TARGET static F Exp(F x) { return {Exp8(x.lo), Exp8(x.hi)}; }

  // kt[d][t] = k[t][d] for t < slots, 0 for slots <= t < 16; d < hd
  // (a multiple of 16). k: `slots` rows of hd elements. Prefetches the
  // first `next_slots` rows of next_k along the way.
  template <typename T>
  KVASIR_ATTN_TARGET static void TransposeChunk(const T* k, int hd, int slots,
                                                float* kt, const T* next_k,
                                                int next_slots) {
    for (int d0 = 0; d0 < hd; d0 += 8) {
      for (int half = 0; half < 2; ++half) {
        __m256 r[8];
#pragma GCC unroll 16
        for (int i = 0; i < 8; ++i) {
          const int t = half * 8 + i;
          r[i] = t < slots ? Load8(k + t * hd + d0) : _mm256_setzero_ps();
          if (t < next_slots && d0 % (sizeof(T) > 1 ? 16 : 64) == 0) {
            _mm_prefetch(reinterpret_cast<const char*>(next_k + t * hd + d0),
                         _MM_HINT_T0);
          }
        }
        Transpose8x8(r);
#pragma GCC unroll 16
        for (int d = 0; d < 8; ++d) {
          _mm256_storeu_ps(kt + (d0 + d) * kChunk + half * 8, r[d]);
        }
      }
    }
  }
};

#include "engine/ops/attention_kernel.inc"

}  // namespace

// head_dim stays a run-time value here (AttendRangeT<T, 0>, not
// AttendRangeHd): with it a constant, the unrolled head loops spill
// 16 ymm registers (attention_bench AVX2, 16 sequences, 1,536 keys: MHA f32
// 21-25 -> 17-18 GB/s, GQA-4 bf16 14-17 -> 12-13).
void AttendRangeAvx2(const RangeTask& task) {
  switch (task.dtype) {
    case kvcache::KvDtype::kF32:
      AttendRangeT<float, 0>(task);
      return;
    case kvcache::KvDtype::kBF16:
      AttendRangeT<uint16_t, 0>(task);
      return;
    case kvcache::KvDtype::kInt8:
      AttendRangeT<int8_t, 0>(task);
      return;
  }
}

}  // namespace kvasir::engine::ops::internal
