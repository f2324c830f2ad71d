// The AVX2 + FMA (+ F16C) kernels, compiled with a target attribute so the
// binary runs on any x86-64; QuantLinear calls them only after cpuid said
// yes.
//
// Per block of 32 weights (see quant_dot_scalar.cc for the a*u + c form):
// maddubs multiplies the unsigned weights u with the signed activations q
// and adds pairs into int16 (at most 2 * 63 * 127, no saturation), madd
// with ones adds those into 8 int32: lanes 0-3 the first half of the block,
// 4-7 the second, so one float multiply applies each half's scale a_h * d_x.
// The offsets c_h * d_x * Σq use the precomputed d_x * Σq of the halves. Q8_0
// is signed on both sides: maddubs(|w|, sign(q, w)) keeps the products exact
// (|w| <= 128, |q| <= 127).

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/model/gguf_dequant.h"
#include "engine/ops/bf16.h"
#include "engine/ops/quant/quant_avx2_util.h"
#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant::internal {
namespace {

// 16 bytes of nibbles -> 32 bytes: the low nibbles, then the high ones.
KVASIR_AVX2 inline __m256i Nibbles16(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Bit i of the 32 bits at p -> 0x10 in byte i (the 5th bit of Q5_0/Q5_1).
KVASIR_AVX2 inline __m256i FifthBits(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, sizeof(bits));
  // Byte i takes source byte i / 8 and tests bit i % 8 of it.
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int>(bits)),
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                         0x0202020202020202, 0x0303030303030303));
  const __m256i bit = _mm256_set1_epi64x(0x8040201008040201);
  const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
  return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// The accumulators of R activation rows against one weight row.
template <int R>
struct Acc {
  __m256 v[R];
  __m128 off[R];
};

template <int R>
KVASIR_AVX2 inline void Init(Acc<R>& acc) {
  for (int r = 0; r < R; ++r) {
    acc.v[r] = _mm256_setzero_ps();
    acc.off[r] = _mm_setzero_ps();
  }
}

template <int R>
KVASIR_AVX2 inline void Finish(const Acc<R>& acc, float* out) {
  for (int r = 0; r < R; ++r) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc.v[r]),
                          _mm256_extractf128_ps(acc.v[r], 1));
    s = _mm_add_ps(s, acc.off[r]);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    out[r] = _mm_cvtss_f32(s);
  }
}

// Adds block j of the activations times one decoded weight block: u the
// 32 weights (unsigned, or signed when kSigned), a8 the scale of each int32
// lane ([a0 x4, a1 x4]), c = [c0, c1, ...] the offsets of the halves.
template <int R, bool kSigned>
KVASIR_AVX2 inline void Block(__m256i u, __m256 a8, __m128 c, const ActRows& a,
                              int64_t j, Acc<R>& acc) {
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i au = kSigned ? _mm256_abs_epi8(u) : u;
  for (int r = 0; r < R; ++r) {
    __m256i x = Load256(reinterpret_cast<const uint8_t*>(a.q(r) + j * 32));
    if (kSigned) x = _mm256_sign_epi8(x, u);
    const __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(au, x), ones);
    const __m256 dx = _mm256_loadu_ps(a.d8(r) + j * 8);
    acc.v[r] =
        _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(a8, dx), acc.v[r]);
    if (!kSigned) {
      const __m128 ds = _mm_castsi128_ps(
          _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a.ds(r) + j * 2)));
      acc.off[r] = _mm_fmadd_ps(c, ds, acc.off[r]);
    }
  }
}

struct Q4_0 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    for (int64_t j = 0; j < k / 32; ++j) {
      const uint8_t* b = w + j * 18;
      const float d = Half(b);
      Block<R, false>(Nibbles16(b + 2), _mm256_set1_ps(d),
                      _mm_set1_ps(-8.0f * d), a, j, acc);
    }
  }
};

struct Q4_1 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    for (int64_t j = 0; j < k / 32; ++j) {
      const uint8_t* b = w + j * 20;
      const float m = Half(b + 2);
      Block<R, false>(Nibbles16(b + 4), _mm256_set1_ps(Half(b)), _mm_set1_ps(m),
                      a, j, acc);
    }
  }
};

struct Q5_0 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    for (int64_t j = 0; j < k / 32; ++j) {
      const uint8_t* b = w + j * 22;
      const float d = Half(b);
      const __m256i u = _mm256_or_si256(Nibbles16(b + 6), FifthBits(b + 2));
      Block<R, false>(u, _mm256_set1_ps(d), _mm_set1_ps(-16.0f * d), a, j, acc);
    }
  }
};

struct Q5_1 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    for (int64_t j = 0; j < k / 32; ++j) {
      const uint8_t* b = w + j * 24;
      const float m = Half(b + 2);
      const __m256i u = _mm256_or_si256(Nibbles16(b + 8), FifthBits(b + 4));
      Block<R, false>(u, _mm256_set1_ps(Half(b)), _mm_set1_ps(m), a, j, acc);
    }
  }
};

struct Q8_0 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    for (int64_t j = 0; j < k / 32; ++j) {
      const uint8_t* b = w + j * 34;
      Block<R, true>(Load256(b + 2), _mm256_set1_ps(Half(b)), _mm_setzero_ps(),
                     a, j, acc);
    }
  }
};

// The 8 scales d*sc and offsets -dmin*m of a Q4_K/Q5_K super-block.
KVASIR_AVX2 inline void KScales(const uint8_t* b, float* sa, float* sc) {
  uint8_t packed[16];
  UnpackKScales(b + 4, packed);
  const __m256 scales = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed))));
  const __m256 mins = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed + 8))));
  _mm256_storeu_ps(sa, _mm256_mul_ps(_mm256_set1_ps(Half(b)), scales));
  _mm256_storeu_ps(sc, _mm256_mul_ps(_mm256_set1_ps(-Half(b + 2)), mins));
}

// Q4_K and Q5_K (kFifth): sub-blocks 2c and 2c+1 are the low and high
// nibbles of the c-th 32 bytes of qs; bit s of qh[i] is the 5th bit of
// value i of sub-block s.
template <bool kFifth>
struct QK45 {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    constexpr int64_t kBytes = kFifth ? 176 : 144;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i fifth = _mm256_set1_epi8(0x10);
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * kBytes;
      float sa[8], sc[8];
      KScales(b, sa, sc);
      const uint8_t* qs = b + (kFifth ? 48 : 16);
      const __m256i qh = kFifth ? Load256(b + 16) : _mm256_setzero_si256();
      for (int s = 0; s < 8; ++s) {
        const __m256i v = Load256(qs + (s / 2) * 32);
        __m256i u = _mm256_and_si256(s % 2 ? _mm256_srli_epi16(v, 4) : v, low4);
        if (kFifth) {
          const __m256i bit = _mm256_set1_epi8(static_cast<char>(1 << s));
          const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit), bit);
          u = _mm256_or_si256(u, _mm256_and_si256(set, fifth));
        }
        Block<R, false>(u, _mm256_broadcast_ss(&sa[s]),
                        _mm_broadcast_ss(&sc[s]), a, sb * 8 + s, acc);
      }
    }
  }
};

// Q6_K: per half of 128 values, block k (0..3) takes the low (k < 2) or
// high nibbles of ql[0..31] (k even) or ql[32..63] (k odd) and bits 2k,
// 2k+1 of qh[0..31] on top. vpmaddwd applies the scales of a block's two
// halves to its integer sums (words sc[2k] in the low 128 bits, sc[2k+1] in
// the high), so a block is 4 vector operations per activation row; the
// d_x of its blocks and the -32 offsets of the whole super-block (one FMA
// per 8 halves against the activations' half sums) are applied as floats,
// d once per super-block. |sums| <= 2 * 63 * 127 * 2 * 127 fit in int32.
struct Q6K {
  template <int R>
  KVASIR_AVX2 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                              Acc<R>& acc) {
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * 210;
      const float d = Half(b + 208);
      const __m128i sc8 =
          _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 192));
      const __m256i sc2 = _mm256_broadcastsi128_si256(sc8);
      const int64_t j0 = sb * 8;
      // The -32 offsets: -32 d sc_h * (d_x Σq) of every half h.
      for (int g = 0; g < 2; ++g) {
        const __m256 off =
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(
                              g == 0 ? sc8 : _mm_unpackhi_epi64(sc8, sc8))),
                          _mm256_set1_ps(-32.0f * d));
        for (int r = 0; r < R; ++r) {
          acc.v[r] = _mm256_fmadd_ps(
              off, _mm256_loadu_ps(a.ds(r) + j0 * 2 + 8 * g), acc.v[r]);
        }
      }
      __m256 t[R];
      for (int r = 0; r < R; ++r) t[r] = _mm256_setzero_ps();
      for (int half = 0; half < 2; ++half) {
        __m256i u[4];
        Q6KHalf(b, half, u);
        for (int blk = 0; blk < 4; ++blk) {
          const int h = 8 * half + 2 * blk;  // the block's first half
          // Words (sc[h] << 8 | sc[h]) shifted down: sc[h] sign-extended.
          const __m256i words = _mm256_srai_epi16(
              _mm256_shuffle_epi8(
                  sc2,
                  _mm256_setr_m128i(_mm_set1_epi8(static_cast<char>(h)),
                                    _mm_set1_epi8(static_cast<char>(h + 1)))),
              8);
          const int64_t j = j0 + half * 4 + blk;
          for (int r = 0; r < R; ++r) {
            const __m256i x =
                Load256(reinterpret_cast<const uint8_t*>(a.q(r) + j * 32));
            const __m256i p =
                _mm256_madd_epi16(_mm256_maddubs_epi16(u[blk], x), words);
            t[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p),
                                   _mm256_loadu_ps(a.d8(r) + j * 8), t[r]);
          }
        }
      }
      for (int r = 0; r < R; ++r) {
        acc.v[r] = _mm256_fmadd_ps(t[r], _mm256_set1_ps(d), acc.v[r]);
      }
    }
  }
};

template <class T, int R>
KVASIR_AVX2 void RunRows(const uint8_t* w, int64_t k, const ActRows& a,
                         float* out) {
  Acc<R> acc;
  Init(acc);
  T::template Run<R>(w, k, a, acc);
  Finish(acc, out);
}

template <class T>
KVASIR_AVX2 void Dot(const uint8_t* w, int64_t k, const ActRows& a, int rows,
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

// ---- F32 / F16 / BF16 weights with f32 activations ----

struct F32 {
  static constexpr int kBytes = 4;
  KVASIR_AVX2 static __m256 Load8(const uint8_t* p) {
    return _mm256_loadu_ps(reinterpret_cast<const float*>(p));
  }
  static float Load1(const uint8_t* p) {
    float v;
    std::memcpy(&v, p, sizeof(v));
    return v;
  }
};
struct F16 {
  static constexpr int kBytes = 2;
  KVASIR_AVX2 static __m256 Load8(const uint8_t* p) {
    return _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static float Load1(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof(h));
    return gguf::HalfToFloat(h);
  }
};
struct BF16 {
  static constexpr int kBytes = 2;
  KVASIR_AVX2 static __m256 Load8(const uint8_t* p) {
    const __m256i v = _mm256_cvtepu16_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
  }
  static float Load1(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, sizeof(h));
    return ops::Bf16ToFloat(h);
  }
};

template <class T, int R>
KVASIR_AVX2 void DenseRows(const uint8_t* w, int64_t k, const float* x,
                           int64_t x_stride, float* out) {
  __m256 acc[R];
  for (int r = 0; r < R; ++r) acc[r] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= k; i += 8) {
    const __m256 wv = T::Load8(w + i * T::kBytes);
    for (int r = 0; r < R; ++r) {
      acc[r] =
          _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + r * x_stride + i), acc[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[r]),
                          _mm256_extractf128_ps(acc[r], 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    float sum = _mm_cvtss_f32(s);
    // The < 8 values past the last full vector.
    for (int64_t t = i; t < k; ++t) {
      sum += T::Load1(w + t * T::kBytes) * x[r * x_stride + t];
    }
    out[r] = sum;
  }
}

template <class T>
KVASIR_AVX2 void Dense(const uint8_t* w, int64_t k, const float* x,
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

// Rows [0, nrows) of weights (row_bytes apart) against m rows of
// activations, through the per-row kernel T (a GemvFn): the loop over rows
// inside this target saves QuantLinear's indirect call per row.
template <class T>
KVASIR_AVX2 void DotRows(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                         int64_t k, const ActRows& a, const float* /*x*/, int m,
                         float* y, int64_t y_stride) {
  float tile[kMaxTileRows];
  for (int64_t n = 0; n < nrows; ++n) {
    Dot<T>(w + n * row_bytes, k, a, m, tile);
    for (int r = 0; r < m; ++r) y[r * y_stride + n] = tile[r];
  }
}

}  // namespace

const KernelTable& Avx2Kernels() {
  static const KernelTable table = {
      .quantize_act = QuantizeActAvx2,
      .q4_0 = Dot<Q4_0>,
      .q4_1 = Dot<Q4_1>,
      .q5_0 = Dot<Q5_0>,
      .q5_1 = Dot<Q5_1>,
      .q8_0 = Dot<Q8_0>,
      .q4_k = Dot<QK45<false>>,
      .q5_k = Dot<QK45<true>>,
      .q6_k = Dot<Q6K>,
      .f32 = Dense<F32>,
      .f16 = Dense<F16>,
      .bf16 = Dense<BF16>,
      .q8_0_rows = GemvAvx2Q8_0,
      .q4_k_rows = DotRows<QK45<false>>,
      .q6_k_rows = DotRows<Q6K>,
      .quantize_act_q4k = QuantizeActQ4KAvx2,
      .q4_k_interleaved_rows = GemvAvx2Q4_KInterleaved,
      .q6_k_super_rows = GemvAvx2Q6_KSuper,
  };
  return table;
}

}  // namespace kvasir::engine::quant::internal
