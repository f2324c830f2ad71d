// The AVX2 decode kernels of Q8_0, Q4_K and Q6_K weights (the GemvFn
// entries of Avx2Kernels() that quant_kernels.h declares). Compiled with a
// target attribute; called only after cpuid said yes.
//
// At m = 1 these run at the rate a Zen 3 core decodes, not at the memory's,
// so they keep the loop over weight rows inside the target (no indirect
// call and dispatch per row of 768 values), keep two accumulators where
// one FMA per block would wait for the last, and prefetch the weight
// stream as the AVX-512 kernels do.

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/ops/quant/quant_avx2_util.h"
#include "engine/ops/quant/quant_kernels.h"
#include "engine/ops/stream_prefetch.h"

namespace kvasir::engine::quant::internal {
namespace {

KVASIR_AVX2 inline float Reduce(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// Rows [0, nrows) of weights (row_bytes apart) times R rows of activations
// through kernel T: T::Run<R>(row, k, a, acc) adds the row times activation
// row r into acc[r]. One weight row at a time, in memory order: two rows
// per pass over the activations (two streams 1-2 rows apart) was no faster
// at m = 1 with the weights in L2 and slower from memory, the hardware
// prefetcher losing the stream (gemv_bench, one thread, Zen 3, best of 9,
// GB/s for 1 -> 2 rows: BM_Gemv/.../k:768/m:1/hot:1 Q4_K 13.5 -> 12.6,
// Q6_K 17.1 -> 15.7, Q8_0 21.9 -> 22.3; BM_Model110m/.../1 Q4_K 13.6 ->
// 13.5, Q6_K 16.0 -> 12.7, Q8_0 15.0 -> 11.7).
template <class T, int R>
KVASIR_AVX2 void RowsR(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                       int64_t k, const ActRows& a, float* y,
                       int64_t y_stride) {
  for (int64_t n = 0; n < nrows; ++n) {
    __m256 acc[R];
    for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
    T::template Run<R>(w + n * row_bytes, k, a, acc);
    for (int r = 0; r < R; ++r) y[r * y_stride + n] = Reduce(acc[r]);
  }
}

// The GemvFn of kernel T.
template <class T>
KVASIR_AVX2 void Rows(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                      int64_t k, const ActRows& a, int m, float* y,
                      int64_t y_stride) {
  static_assert(kMaxTileRows == 4);
  switch (m) {
    case 1:
      return RowsR<T, 1>(w, row_bytes, nrows, k, a, y, y_stride);
    case 2:
      return RowsR<T, 2>(w, row_bytes, nrows, k, a, y, y_stride);
    case 3:
      return RowsR<T, 3>(w, row_bytes, nrows, k, a, y, y_stride);
    default:
      return RowsR<T, 4>(w, row_bytes, nrows, k, a, y, y_stride);
  }
}

// Q8_0, signed on both sides: maddubs(|w|, sign(q, w)) keeps the products
// exact (|w| <= 128, |q| <= 127, pairs <= 32512). Even and odd blocks go to
// separate accumulators so consecutive FMAs do not wait for each other.
struct Q80 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              __m256 (&acc)[R]) {
    const __m256i ones = _mm256_set1_epi16(1);
    const int64_t nb = k / 32;
    __m256 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm256_setzero_ps();
    auto block = [&](int64_t j, __m256(&dst)[R]) KVASIR_AVX2 {
      const uint8_t* b = w + j * 34;
      const __m256i u = Load256(b + 2);
      const __m256i au = _mm256_abs_epi8(u);
      const float dw = Half(b);
      for (int r = 0; r < R; ++r) {
        const __m256i x =
            Load256(reinterpret_cast<const uint8_t*>(a.q(r) + j * 32));
        const __m256i p = _mm256_madd_epi16(
            _mm256_maddubs_epi16(au, _mm256_sign_epi8(x, u)), ones);
        dst[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                                 _mm256_set1_ps(dw * a.d8(r)[j * 8]), dst[r]);
      }
    };
    int64_t j = 0;
    for (; j + 2 <= nb; j += 2) {
      // About one line per two blocks (68 bytes).
      ops::PrefetchStream(w + j * 34, 64);
      block(j, acc);
      block(j + 1, odd);
    }
    if (j < nb) block(j, acc);
    for (int r = 0; r < R; ++r) acc[r] = _mm256_add_ps(acc[r], odd[r]);
  }
};

// Q6_K against activations with one scale per super-block
// (QuantizeActSuperAvx2): the sub-block scales multiply integer sums, so a
// super-block costs one conversion and one FMA per row instead of one per
// block. Per block: values 128h + [0, 128) of half h in four vectors of 32
// (ql's low nibbles, then high; qh's bit pairs on top, as in
// quant_dot_avx2.cc's Q6K); maddubs pairs them with the activations into
// int16 (<= 2 * 63 * 127), madd with the scale words of the block's two
// halves (lane 0: sub-block 2s, lane 1: 2s + 1) into int32 (per lane and
// super-block |Σ| <= 8 * 2 * 16002 * 128 < 2^31). The -32 offsets stay one
// FMA per 8 halves against the activations' half sums.
struct Q6KSuper {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              __m256 (&acc)[R]) {
    // pshufb controls over 8 sign-extended scale words (both lanes): block
    // s of a half takes word 2s in lane 0 and 2s + 1 in lane 1.
    const __m256i ctl[4] = {
        _mm256_setr_m128i(_mm_set1_epi16(0x0100), _mm_set1_epi16(0x0302)),
        _mm256_setr_m128i(_mm_set1_epi16(0x0504), _mm_set1_epi16(0x0706)),
        _mm256_setr_m128i(_mm_set1_epi16(0x0908), _mm_set1_epi16(0x0B0A)),
        _mm256_setr_m128i(_mm_set1_epi16(0x0D0C), _mm_set1_epi16(0x0F0E)),
    };
    __m256 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const int64_t j = sb * 8;
      const uint8_t* b = w + sb * 210;
      ops::PrefetchStream(b, 210);
      const float d = Half(b + 208);
      const __m128i sc8 =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
      // The -32 offset of every value: -32 d sc_h * (d_x Σq) per half.
      const __m256 d32 = _mm256_set1_ps(32.0f * d);
      const __m256 off0 =
          _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(sc8)), d32);
      const __m256 off1 = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                                            _mm_unpackhi_epi64(sc8, sc8))),
                                        d32);
      for (int r = 0; r < R; ++r) {
        odd[r] =
            _mm256_fnmadd_ps(off0, _mm256_loadu_ps(a.ds(r) + j * 2), odd[r]);
        odd[r] = _mm256_fnmadd_ps(off1, _mm256_loadu_ps(a.ds(r) + j * 2 + 8),
                                  odd[r]);
      }
      __m256i sum[R];
      for (int r = 0; r < R; ++r) sum[r] = _mm256_setzero_si256();
      for (int half = 0; half < 2; ++half) {
        const __m256i sc16 = _mm256_broadcastsi128_si256(
            _mm_cvtepi8_epi16(half == 0 ? sc8 : _mm_unpackhi_epi64(sc8, sc8)));
        __m256i u[4];
        Q6KHalf(b, half, u);
        for (int s = 0; s < 4; ++s) {
          const __m256i words = _mm256_shuffle_epi8(sc16, ctl[s]);
          const int64_t at = (j + half * 4 + s) * 32;
          for (int r = 0; r < R; ++r) {
            const __m256i x =
                Load256(reinterpret_cast<const uint8_t*>(a.q(r) + at));
            sum[r] = _mm256_add_epi32(
                sum[r],
                _mm256_madd_epi16(_mm256_maddubs_epi16(u[s], x), words));
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[r]),
                                 _mm256_set1_ps(d * a.d8(r)[j * 8]), acc[r]);
      }
    }
    for (int r = 0; r < R; ++r) acc[r] = _mm256_add_ps(acc[r], odd[r]);
  }
};

// A pshufb control that turns 16 bytes (in both 128-bit lanes) into the
// words (byte b0, 0) in lane 0 and (byte b1, 0) in lane 1.
KVASIR_AVX2 inline __m256i ScaleWords(int b0, int b1) {
  // A control byte with its top bit set writes 0.
  return _mm256_setr_m128i(_mm_set1_epi16(static_cast<int16_t>(0xFF00 | b0)),
                           _mm_set1_epi16(static_cast<int16_t>(0xFF00 | b1)));
}

// Q4_K against QuantizeActQ4KAvx2's activations (one scale per super-block,
// values in the order of the nibbles; see quant_kernels.h): bytes
// 16p..16p+15 of chunks 2h and 2h + 1 meet 32 consecutive activations, and
// the two p of a chunk pair share their scale words, so their int16 pair
// sums add before the one madd with the scales (|Σ| <= 2 * 2 * 15 * 127).
// Over a super-block |Σ| <= 256 * 15 * 127 * 63 fits in int32.
struct Q4KInterleaved {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              __m256 (&acc)[R]) {
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    // pshufb controls for the scale words of the vectors of half h (chunks
    // 2h and 2h + 1): low nibbles sub-blocks 4h and 4h + 2, high ones
    // 4h + 1 and 4h + 3.
    const __m256i idx[2][2] = {{ScaleWords(0, 2), ScaleWords(1, 3)},
                               {ScaleWords(4, 6), ScaleWords(5, 7)}};
    // [m0 m0 m1 m1 m2 m2 m3 m3] and the same for m4..m7 (bytes 8..15).
    const __m128i mins_idx[2] = {_mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, -1,
                                               -1, -1, -1, -1, -1, -1, -1),
                                 _mm_setr_epi8(12, 12, 13, 13, 14, 14, 15, 15,
                                               -1, -1, -1, -1, -1, -1, -1, -1)};
    __m256 odd[R];
    for (int r = 0; r < R; ++r) odd[r] = _mm256_setzero_ps();
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const int64_t j = sb * 8;
      const uint8_t* b = w + sb * 144;
      ops::PrefetchStream(b, 144);
      const __m128i sm = KScalesMins(b + 4);
      const __m256i sm2 = _mm256_broadcastsi128_si256(sm);
      const __m256 dmin = _mm256_set1_ps(Half(b + 2));
      for (int h = 0; h < 2; ++h) {
        const __m256 mins = _mm256_mul_ps(
            _mm256_cvtepi32_ps(
                _mm256_cvtepu8_epi32(_mm_shuffle_epi8(sm, mins_idx[h]))),
            dmin);
        for (int r = 0; r < R; ++r) {
          odd[r] = _mm256_fnmadd_ps(
              mins, _mm256_loadu_ps(a.ds(r) + j * 2 + 8 * h), odd[r]);
        }
      }
      const uint8_t* qs = b + 16;
      __m256i sum[R];
      for (int h = 0; h < 2; ++h) {
        __m256i lo[2], hi[2];
        for (int p = 0; p < 2; ++p) {
          // Bytes 16p..16p+15 of chunks 2h and 2h + 1.
          const __m256i v = _mm256_loadu2_m128i(
              reinterpret_cast<const __m128i*>(qs + (2 * h + 1) * 32 + 16 * p),
              reinterpret_cast<const __m128i*>(qs + 2 * h * 32 + 16 * p));
          lo[p] = _mm256_and_si256(v, low4);
          hi[p] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        }
        const __m256i s_lo = _mm256_shuffle_epi8(sm2, idx[h][0]);
        const __m256i s_hi = _mm256_shuffle_epi8(sm2, idx[h][1]);
        for (int r = 0; r < R; ++r) {
          const uint8_t* x =
              reinterpret_cast<const uint8_t*>(a.q(r)) + j * 32 + 32 * h;
          const __m256i pl =
              _mm256_add_epi16(_mm256_maddubs_epi16(lo[0], Load256(x)),
                               _mm256_maddubs_epi16(lo[1], Load256(x + 128)));
          const __m256i ph =
              _mm256_add_epi16(_mm256_maddubs_epi16(hi[0], Load256(x + 64)),
                               _mm256_maddubs_epi16(hi[1], Load256(x + 192)));
          const __m256i t = _mm256_add_epi32(_mm256_madd_epi16(pl, s_lo),
                                             _mm256_madd_epi16(ph, s_hi));
          sum[r] = h == 0 ? t : _mm256_add_epi32(sum[r], t);
        }
      }
      const float d = Half(b);
      for (int r = 0; r < R; ++r) {
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[r]),
                                 _mm256_set1_ps(d * a.d8(r)[j * 8]), acc[r]);
      }
    }
    for (int r = 0; r < R; ++r) acc[r] = _mm256_add_ps(acc[r], odd[r]);
  }
};

}  // namespace

KVASIR_AVX2 void GemvAvx2Q8_0(const uint8_t* w, int64_t row_bytes,
                              int64_t nrows, int64_t k, const ActRows& a,
                              const float* /*x*/, int m, float* y,
                              int64_t y_stride) {
  Rows<Q80>(w, row_bytes, nrows, k, a, m, y, y_stride);
}

KVASIR_AVX2 void GemvAvx2Q6_KSuper(const uint8_t* w, int64_t row_bytes,
                                   int64_t nrows, int64_t k, const ActRows& a,
                                   const float* /*x*/, int m, float* y,
                                   int64_t y_stride) {
  Rows<Q6KSuper>(w, row_bytes, nrows, k, a, m, y, y_stride);
}

KVASIR_AVX2 void GemvAvx2Q4_KInterleaved(const uint8_t* w, int64_t row_bytes,
                                         int64_t nrows, int64_t k,
                                         const ActRows& a, const float* /*x*/,
                                         int m, float* y, int64_t y_stride) {
  Rows<Q4KInterleaved>(w, row_bytes, nrows, k, a, m, y, y_stride);
}

}  // namespace kvasir::engine::quant::internal
