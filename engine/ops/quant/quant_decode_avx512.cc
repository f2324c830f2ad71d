// The AVX-512 VNNI decode kernels of Q8_0, Q4_K and Q6_K weights (the
// types of Q8_0 and Q4_K_M files), the entries of Avx512Kernels() that
// quant_kernels.h declares. Compiled with a target attribute; called only
// after cpuid said yes.

// GCC 12 reports the self-initialized _mm512_undefined_*() placeholders of
// its own intrinsics headers as uninitialized once they are inlined here
// (GCC bug 105593, fixed in 12.3 / 13).
#if !defined(__clang__)  // GCC only (clang has no -Wmaybe-uninitialized)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "engine/ops/quant/quant_avx512_util.h"
#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant::internal {
namespace {

// ---- Decode-oriented kernels (Q8_0, Q4_K, Q6_K) ----
// Fewer vector operations per weight byte than quant_dot_avx512.cc's Pair
// path, because at m = 1 these run at the rate the cores can decode, not at
// the memory's: the scales of a super-block are converted to floats in one
// vector; lane scales come from one permute; the offsets (mins, -32, -128)
// of a whole super-block are one FMA against the activations' half sums;
// the nibbles of 32 bytes are split with one variable shift of a broadcast
// load; each row keeps two accumulators so consecutive FMAs do not wait for
// each other.

// [a x8, b x8] from the f16 values at p and q.
KVASIR_AVX512 inline __m512 TwoHalves(const uint8_t* p, const uint8_t* q) {
  uint16_t a, b;
  std::memcpy(&a, p, sizeof(a));
  std::memcpy(&b, q, sizeof(b));
  const __m128 ab = _mm_cvtph_ps(_mm_cvtsi32_si128(a | (uint32_t{b} << 16)));
  return _mm512_permutexvar_ps(
      _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
      _mm512_castps128_ps512(ab));
}

// Lane l of the result: v[l / 8 + 2c] (the scale of sub-block 2c or 2c+1).
template <int c>
KVASIR_AVX512 inline __m512 PairScales(__m512 v) {
  return _mm512_permutexvar_ps(
      _mm512_add_epi32(
          _mm512_set1_epi32(2 * c),
          _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)),
      v);
}

// The activation side of one pair of blocks (j even) for row r: adds
// cvt(u · q) * ws * d_x into acc.
KVASIR_AVX512 inline __m512 PairDot(__m512i u, __m512 ws, const ActRows& a,
                                    int r, int64_t j, __m512 acc) {
  const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u,
                                        _mm512_loadu_si512(a.q(r) + j * 32));
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p),
                         _mm512_mul_ps(ws, _mm512_loadu_ps(a.d8(r) + j * 8)),
                         acc);
}

// odd[r] -= off * the half sums of super-block j / 8 in activation row r:
// the offsets (Q4_K's mins, Q6_K's -32) of a whole super-block, one FMA.
template <int R>
KVASIR_AVX512 inline void SubtractOffsets(__m512 off, const ActRows& a,
                                          int64_t j, __m512* odd) {
  for (int r = 0; r < R; ++r) {
    odd[r] = _mm512_fnmadd_ps(off, _mm512_loadu_ps(a.ds(r) + j * 2), odd[r]);
  }
}

// For activations with one scale per super-block: sum[r] += sw · (L | H)
// for row r, where L and H are the int32 sums of 4 products each of
// Σ_i lo[i] · x[lo_at[i]] and Σ_i hi[i] · x[hi_at[i]] (`vpdpbusd`, x at
// byte offsets of row r's values), L | H their int16 pack (`vpackssdw`:
// 128-bit lane l takes words 0-3 from L's lane l, 4-7 from H's), and sw
// the scale word of each; `first` starts the sums. One multiply per 64
// values and one for the scales per 128 (Q6_K) or 256 (Q4_K, N = 2), where
// `vpmaddubsw` pairs into `vpdpwssd` took two per 64; the pack runs on
// another pipe. One Zen 4
// core, weights in L2 (gemv_bench BM_Gemv/.../hot:1, OMP_NUM_THREADS=1,
// best of 7, three rounds alternating): Q4_K 20.7-21.0 -> 22.5-22.9 GB/s,
// Q6_K 24.9-25.1 -> 25.1-26.5. The callers keep |L|, |H| <= 32767, so the
// pack does not saturate.
template <int R, int N>
KVASIR_AVX512 inline void AddScaledQuads(const __m512i (&lo)[N],
                                         const __m512i (&hi)[N],
                                         const int64_t (&lo_at)[N],
                                         const int64_t (&hi_at)[N], __m512i sw,
                                         const ActRows& a, bool first,
                                         __m512i* sum) {
  for (int r = 0; r < R; ++r) {
    const int8_t* x = a.q(r);
    __m512i l = _mm512_setzero_si512(), h = _mm512_setzero_si512();
    for (int i = 0; i < N; ++i) {
      l = _mm512_dpbusd_epi32(l, lo[i], _mm512_loadu_si512(x + lo_at[i]));
      h = _mm512_dpbusd_epi32(h, hi[i], _mm512_loadu_si512(x + hi_at[i]));
    }
    const __m512i lh = _mm512_packs_epi32(l, h);
    sum[r] =
        first ? _mm512_madd_epi16(lh, sw) : _mm512_dpwssd_epi32(sum[r], lh, sw);
  }
}

// acc[r] += the integer sums of the super-block whose first block is j,
// times d * d_x.
template <int R>
KVASIR_AVX512 inline void AddSuperBlock(const __m512i* sum, float d,
                                        const ActRows& a, int64_t j,
                                        Acc<R>& acc) {
  for (int r = 0; r < R; ++r) {
    acc.v[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[r]),
                               _mm512_set1_ps(d * a.d8(r)[j * 8]), acc.v[r]);
  }
}

// Q6_K values 128h + [0, 64) into u01 and 128h + [64, 128) into u23
// (unsigned, 0..63), in order, from the super-block at b (ggml's layout:
// each half takes 64 bytes of ql, low nibbles then high, and 32 of qh, 2
// bits for each of 4 groups of 32).
KVASIR_AVX512 inline void Q6KValues(const uint8_t* b, int h, __m512i* u01,
                                    __m512i* u23) {
  const __m512i low4 = _mm512_set1_epi8(0x0F);
  const __m512i top2 = _mm512_set1_epi8(0x30);
  // qh << 4 | qh << 2 (blocks 0 / 1) and qh | qh >> 2 (blocks 2 / 3).
  const __m512i shl01 =
      _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
  const __m512i shr23 =
      _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
  const __m512i ql = _mm512_loadu_si512(b + h * 64);
  const __m512i qh = _mm512_broadcast_i64x4(Load256(b + 128 + h * 32));
  const __m512i h01 = _mm512_and_si512(_mm512_sllv_epi16(qh, shl01), top2);
  const __m512i h23 = _mm512_and_si512(_mm512_srlv_epi16(qh, shr23), top2);
  // (a & b) | c
  *u01 = _mm512_ternarylogic_epi32(ql, low4, h01, 0xEA);
  *u23 = _mm512_ternarylogic_epi32(_mm512_srli_epi16(ql, 4), low4, h23, 0xEA);
}

struct Q4KFast {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    // Words of the low 256 bits shift by 0, of the high ones by 4.
    const __m512i shift =
        _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(4), 1);
    __m512 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * 144;
      ops::PrefetchStream(b, 144);
      const __m128i packed = KScalesMins(b + 4);
      // [d * sc_0..7, dmin * m_0..7]
      const __m512 sm =
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(packed)),
                        TwoHalves(b, b + 2));
      // dmin * m_s for both halves of sub-block s, against the half sums.
      const __m512 mins = _mm512_permutexvar_ps(
          _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14,
                            15, 15),
          sm);
      const int64_t j = sb * 8;
      SubtractOffsets<R>(mins, a, j, odd);
      const uint8_t* qs = b + 16;
      auto pair = [&](auto c_const) KVASIR_AVX512 {
        constexpr int c = decltype(c_const)::value;
        const __m512i v = _mm512_broadcast_i64x4(Load256(qs + c * 32));
        const __m512i u = _mm512_and_si512(_mm512_srlv_epi16(v, shift), low4);
        const __m512 ws = PairScales<c>(sm);
        for (int r = 0; r < R; ++r) {
          if (c % 2 == 0) {
            acc.v[r] = PairDot(u, ws, a, r, j + 2 * c, acc.v[r]);
          } else {
            odd[r] = PairDot(u, ws, a, r, j + 2 * c, odd[r]);
          }
        }
      };
      pair(std::integral_constant<int, 0>());
      pair(std::integral_constant<int, 1>());
      pair(std::integral_constant<int, 2>());
      pair(std::integral_constant<int, 3>());
    }
    for (int r = 0; r < R; ++r) acc.v[r] = _mm512_add_ps(acc.v[r], odd[r]);
  }
};

// vpshufb controls over KScalesMins' 16 bytes (scales 0-7, mins 0-7) in
// every 128-bit lane. quads: words 0-3 of lane L = scale 2L, words 4-7 =
// scale 2L + 1 (Q4KInterleaved's scale words); mins: dword 4L + i = min
// 2L + i / 2 (a sub-block's min for both of its halves, against the half
// sums). -1 zeroes a byte.
struct ScaleShuffles {
  alignas(64) int8_t quads[64], mins[64];
};
constexpr ScaleShuffles MakeScaleShuffles() {
  ScaleShuffles t{};
  for (int b = 0; b < 64; ++b) {
    const int lane = b / 16, at = b % 16;
    t.quads[b] = static_cast<int8_t>(at % 2 == 0 ? 2 * lane + at / 8 : -1);
    t.mins[b] = static_cast<int8_t>(at % 4 == 0 ? 8 + 2 * lane + at / 8 : -1);
  }
  return t;
}
constexpr ScaleShuffles kScaleShuffles = MakeScaleShuffles();

// Q4_K against activations quantized by QuantizeActQ4KAvx2: one scale per
// super-block, and each super-block's values stored in the order of its
// weights' nibbles (see QuantizeActQ4KAvx2), so 64 bytes of qs split into
// two vectors of 64 values with one shuffle, two ANDs and a shift, and every
// super-block's sub-block scales are one vector of scale words. The sums
// cannot overflow: |sum of 8 products| <= 8 * 15 * 128 < 2^15, and over a
// super-block |Σ| <= 256 * 15 * 128 * 63.
struct Q4KInterleaved {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    const __m512i low4 = _mm512_set1_epi8(0x0F);
    const __m512i quads_ctl = _mm512_load_si512(kScaleShuffles.quads);
    const __m512i mins_ctl = _mm512_load_si512(kScaleShuffles.mins);
    __m512 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * 144;
      ops::PrefetchStream(b, 144);
      // In-lane shuffles of one broadcast, where widening and two vpermw
      // took 20.2 GB/s on one Zen 4 core with the weights in L2, this 20.9
      // (gemv_bench BM_Gemv/Q4_K/.../hot:1, OMP_NUM_THREADS=1, 5 runs).
      const __m512i all = _mm512_broadcast_i32x4(KScalesMins(b + 4));
      const __m512i sw = _mm512_shuffle_epi8(all, quads_ctl);
      const __m512 mins =
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_shuffle_epi8(all, mins_ctl)),
                        _mm512_set1_ps(Half(b + 2)));
      const float d = Half(b);
      const int64_t j = sb * 8;
      SubtractOffsets<R>(mins, a, j, odd);
      const __m512i q0 = _mm512_loadu_si512(b + 16);
      const __m512i q1 = _mm512_loadu_si512(b + 80);
      // Lane L of lo[p] / hi[p]: values 16p..16p+15 of sub-block 2L / 2L + 1
      // (bytes 16p..16p+15 of the 4 chunks of 32), so the two p add up
      // before the scales: |sum of 8 products| <= 8 * 15 * 128.
      __m512i lo[2], hi[2];
      for (int p = 0; p < 2; ++p) {
        const __m512i v = p == 0 ? _mm512_shuffle_i64x2(q0, q1, 0x88)
                                 : _mm512_shuffle_i64x2(q0, q1, 0xDD);
        lo[p] = _mm512_and_si512(v, low4);
        hi[p] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
      }
      const int64_t at = j * 32;
      __m512i sum[R];
      AddScaledQuads<R, 2>(lo, hi, {at, at + 128}, {at + 64, at + 192}, sw, a,
                           true, sum);
      AddSuperBlock<R>(sum, d, a, j, acc);
    }
    for (int r = 0; r < R; ++r) acc.v[r] = _mm512_add_ps(acc.v[r], odd[r]);
  }
};

struct Q6KFast {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    __m512 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * 210;
      ops::PrefetchStream(b, 210);
      // d * scale of each half of 16 values, in order.
      const __m512 sc = _mm512_mul_ps(
          _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
              _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192)))),
          _mm512_set1_ps(Half(b + 208)));
      const int64_t j = sb * 8;
      // The -32 offset of every value: -32 * sc_h * (d_x * Σq) per half.
      const __m512 off = _mm512_mul_ps(sc, _mm512_set1_ps(32.0f));
      SubtractOffsets<R>(off, a, j, odd);
      auto half = [&](auto h_const) KVASIR_AVX512 {
        constexpr int h = decltype(h_const)::value;
        __m512i u01, u23;
        Q6KValues(b, h, &u01, &u23);
        // Lane group g of pair p sums half 4p + g.
        const __m512i g =
            _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        const __m512 ws01 = _mm512_permutexvar_ps(
            _mm512_add_epi32(g, _mm512_set1_epi32(8 * h)), sc);
        const __m512 ws23 = _mm512_permutexvar_ps(
            _mm512_add_epi32(g, _mm512_set1_epi32(8 * h + 4)), sc);
        for (int r = 0; r < R; ++r) {
          acc.v[r] = PairDot(u01, ws01, a, r, j + 4 * h, acc.v[r]);
          odd[r] = PairDot(u23, ws23, a, r, j + 4 * h + 2, odd[r]);
        }
      };
      half(std::integral_constant<int, 0>());
      half(std::integral_constant<int, 1>());
    }
    for (int r = 0; r < R; ++r) acc.v[r] = _mm512_add_ps(acc.v[r], odd[r]);
  }
};

// Q6_K against activations with one scale per super-block
// (QuantizeActSuperAvx2): the sub-block scales multiply integer sums
// (AddScaledQuads), so a super-block costs one conversion and one FMA per
// row instead of a conversion, a multiply and an FMA per 64 values. The -32
// offsets stay one FMA per super-block against the half sums. No overflow:
// |sum of 4 products| <= 4 * 63 * 128 < 2^15, and per int32 lane
// 2 * 2 * 32256 * 128 < 2^31.
struct Q6KSuper {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    // 128-bit lane L of u01 / u23 holds the 16 values of scale L / 4 + L
    // of the half's eight, so in the pack words 0-3 of lane L take scale
    // word L and words 4-7 scale word 4 + L: an in-lane shuffle (two vpermw
    // per half took 24.5 GB/s on one Zen 4 core with the weights in L2, the
    // shuffles 25.1: gemv_bench BM_Gemv/Q6_K/.../hot:1, OMP_NUM_THREADS=1).
    const __m512i ctl01 = _mm512_set_epi64(
        0x0706070607060706, 0x0706070607060706, 0x0504050405040504,
        0x0504050405040504, 0x0302030203020302, 0x0302030203020302,
        0x0100010001000100, 0x0100010001000100);
    const __m512i ctl = _mm512_mask_blend_epi64(
        0xAA, ctl01, _mm512_add_epi8(ctl01, _mm512_set1_epi8(8)));
    __m512 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm512_setzero_ps();
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * 210;
      ops::PrefetchStream(b, 210);
      const float d = Half(b + 208);
      const __m128i sc8 =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
      const __m512i sc16 = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(sc8));
      const int64_t j = sb * 8;
      // The -32 offset of every value: -32 * d * sc_h * (d_x * Σq) per half.
      SubtractOffsets<R>(
          _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(sc8)),
                        _mm512_set1_ps(32.0f * d)),
          a, j, odd);
      __m512i sum[R];
      for (int h = 0; h < 2; ++h) {
        __m512i u01, u23;
        Q6KValues(b, h, &u01, &u23);
        const __m512i words = h == 0 ? _mm512_shuffle_i32x4(sc16, sc16, 0x00)
                                     : _mm512_shuffle_i32x4(sc16, sc16, 0x55);
        const int64_t at = (j + 4 * h) * 32;
        AddScaledQuads<R, 1>({u01}, {u23}, {at}, {at + 64},
                             _mm512_shuffle_epi8(words, ctl), a, h == 0, sum);
      }
      AddSuperBlock<R>(sum, d, a, j, acc);
    }
    for (int r = 0; r < R; ++r) acc.v[r] = _mm512_add_ps(acc.v[r], odd[r]);
  }
};

// Q8_0, signed on both sides: vpdpbusd(|w|, q negated where w < 0).
struct Q80Fast {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    const int64_t nb = k / 32;
    const __m512i zero = _mm512_setzero_si512();
    __m512 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm512_setzero_ps();
    int64_t j = 0;
    for (; j + 4 <= nb; j += 4) {
      const uint8_t* b = w + j * 34;
      ops::PrefetchStream(b, 136);
      for (int h = 0; h < 2; ++h) {
        const uint8_t* b0 = b + h * 68;
        const __m512i u = Join(Load256(b0 + 2), Load256(b0 + 36));
        const __m512 ws = TwoHalves(b0, b0 + 34);
        const __m512i au = _mm512_abs_epi8(u);
        const __mmask64 neg = _mm512_movepi8_mask(u);
        __m512* dst = h == 0 ? acc.v : odd;
        for (int r = 0; r < R; ++r) {
          const int64_t jj = j + 2 * h;
          const __m512i x = _mm512_loadu_si512(a.q(r) + jj * 32);
          const __m512i p = _mm512_dpbusd_epi32(
              zero, au, _mm512_mask_sub_epi8(x, neg, zero, x));
          dst[r] = _mm512_fmadd_ps(
              _mm512_cvtepi32_ps(p),
              _mm512_mul_ps(ws, _mm512_loadu_ps(a.d8(r) + jj * 8)), dst[r]);
        }
      }
    }
    for (; j < nb; j += 2) {
      const uint8_t* b0 = w + j * 34;
      const bool two = j + 1 < nb;
      const __m512i u = Join(Load256(b0 + 2),
                             two ? Load256(b0 + 36) : _mm256_setzero_si256());
      const __m512 ws =
          two ? TwoHalves(b0, b0 + 34) : TwoScales(Half(b0), 0.0f);
      const __m512i au = _mm512_abs_epi8(u);
      const __mmask64 neg = _mm512_movepi8_mask(u);
      for (int r = 0; r < R; ++r) {
        const __m512i x = _mm512_loadu_si512(a.q(r) + j * 32);
        const __m512i p = _mm512_dpbusd_epi32(
            zero, au, _mm512_mask_sub_epi8(x, neg, zero, x));
        acc.v[r] = _mm512_fmadd_ps(
            _mm512_cvtepi32_ps(p),
            _mm512_mul_ps(ws, _mm512_loadu_ps(a.d8(r) + j * 8)), acc.v[r]);
      }
    }
    for (int r = 0; r < R; ++r) acc.v[r] = _mm512_add_ps(acc.v[r], odd[r]);
  }
};

}  // namespace

KVASIR_AVX512 void DotAvx512Q8_0(const uint8_t* w, int64_t k, const ActRows& a,
                                 int rows, float* out) {
  Dot<Q80Fast>(w, k, a, rows, out);
}
KVASIR_AVX512 void DotAvx512Q4_K(const uint8_t* w, int64_t k, const ActRows& a,
                                 int rows, float* out) {
  Dot<Q4KFast>(w, k, a, rows, out);
}
KVASIR_AVX512 void DotAvx512Q6_K(const uint8_t* w, int64_t k, const ActRows& a,
                                 int rows, float* out) {
  Dot<Q6KFast>(w, k, a, rows, out);
}
KVASIR_AVX512 void GemvAvx512Q8_0(const uint8_t* w, int64_t row_bytes,
                                  int64_t nrows, int64_t k, const ActRows& a,
                                  const float* x, int m, float* y,
                                  int64_t y_stride) {
  QuantRows<Q80Fast>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}
KVASIR_AVX512 void GemvAvx512Q4_K(const uint8_t* w, int64_t row_bytes,
                                  int64_t nrows, int64_t k, const ActRows& a,
                                  const float* x, int m, float* y,
                                  int64_t y_stride) {
  QuantRows<Q4KFast>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}
KVASIR_AVX512 void GemvAvx512Q4_KInterleaved(const uint8_t* w,
                                             int64_t row_bytes, int64_t nrows,
                                             int64_t k, const ActRows& a,
                                             const float* x, int m, float* y,
                                             int64_t y_stride) {
  QuantRows<Q4KInterleaved>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}
KVASIR_AVX512 void GemvAvx512Q6_K(const uint8_t* w, int64_t row_bytes,
                                  int64_t nrows, int64_t k, const ActRows& a,
                                  const float* x, int m, float* y,
                                  int64_t y_stride) {
  QuantRows<Q6KFast>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}
KVASIR_AVX512 void GemvAvx512Q6_KSuper(const uint8_t* w, int64_t row_bytes,
                                       int64_t nrows, int64_t k,
                                       const ActRows& a, const float* x, int m,
                                       float* y, int64_t y_stride) {
  QuantRows<Q6KSuper>(w, row_bytes, nrows, k, a, x, m, y, y_stride);
}

}  // namespace kvasir::engine::quant::internal
