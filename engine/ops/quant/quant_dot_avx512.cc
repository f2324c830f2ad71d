// The AVX-512 VNNI kernels, compiled with a target attribute so the binary
// runs on any x86-64; QuantLinear calls them only after cpuid said yes.
//
// They take two blocks of 32 weights at once (one zmm of 64 bytes; the
// activation rows are padded to an even number of blocks with zeros, and a
// weight row's odd last block pairs with zeros). vpdpbusd multiplies the
// unsigned weights u by the signed activations q and adds groups of four
// into 16 int32 lanes: lanes 0-3, 4-7, 8-11, 12-15 are the four halves of
// 16 values, so one float multiply applies each half's scale a_h * d_x
// (see quant_dot_scalar.cc for the a*u + c form). The offsets c_h * d_x *
// Σq use the precomputed d_x * Σq of the halves. Q8_0 is signed on both sides:
// vpdpbusd(|w|, q negated where w < 0), exact for |w| <= 128. The kernels
// of Q8_0, Q4_K and Q6_K, tuned for decode, are in quant_decode_avx512.cc.

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

#include "engine/ops/quant/quant_avx512_util.h"
#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant::internal {
namespace {

// 16 bytes of nibbles -> 32 bytes: the low nibbles, then the high ones.
KVASIR_AVX512 inline __m256i Nibbles16(const uint8_t* p) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
  return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

// Bit i of the 32 bits at p -> 0x10 in byte i (the 5th bit of Q5_0/Q5_1).
KVASIR_AVX512 inline __m256i FifthBits(const uint8_t* p) {
  uint32_t bits;
  std::memcpy(&bits, p, sizeof(bits));
  return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10));
}

// Adds blocks j, j+1 (j even) of the activations times two decoded weight
// blocks: u their 64 weights (unsigned, or signed when kSigned); ws the
// scale of each int32 lane (a_h of the half the lane sums); c4 the offsets
// of the four halves in order.
template <int R, bool kSigned>
KVASIR_AVX512 inline void Pair(__m512i u, __m512 ws, __m128 c4,
                               const ActRows& a, int64_t j, Acc<R>& acc) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i au = kSigned ? _mm512_abs_epi8(u) : u;
  const __mmask64 neg = kSigned ? _mm512_movepi8_mask(u) : 0;
  for (int r = 0; r < R; ++r) {
    __m512i x = _mm512_loadu_si512(a.q(r) + j * 32);
    if (kSigned) x = _mm512_mask_sub_epi8(x, neg, zero, x);
    const __m512i p = _mm512_dpbusd_epi32(zero, au, x);
    const __m512 scale = _mm512_mul_ps(ws, _mm512_loadu_ps(a.d8(r) + j * 8));
    acc.v[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scale, acc.v[r]);
    if (!kSigned) {
      acc.off[r] = _mm_fmadd_ps(c4, _mm_loadu_ps(a.ds(r) + j * 2), acc.off[r]);
    }
  }
}

// The 32-block types: a Decode(block, &u, &a, &c) per block, paired up.
template <int kBytes, bool kSigned, class Decode>
struct Blocks32 {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    const int64_t nb = k / 32;
    for (int64_t j = 0; j < nb; j += 2) {
      __m256i u0, u1 = _mm256_setzero_si256();
      float a0, c0, a1 = 0.0f, c1 = 0.0f;
      Decode::Block(w + j * kBytes, &u0, &a0, &c0);
      if (j + 1 < nb) Decode::Block(w + (j + 1) * kBytes, &u1, &a1, &c1);
      Pair<R, kSigned>(Join(u0, u1), TwoScales(a0, a1),
                       _mm_setr_ps(c0, c0, c1, c1), a, j, acc);
    }
  }
};

struct DecodeQ4_0 {
  KVASIR_AVX512 static void Block(const uint8_t* b, __m256i* u, float* a,
                                  float* c) {
    *u = Nibbles16(b + 2);
    *a = Half(b);
    *c = -8.0f * *a;
  }
};
struct DecodeQ4_1 {
  KVASIR_AVX512 static void Block(const uint8_t* b, __m256i* u, float* a,
                                  float* c) {
    *u = Nibbles16(b + 4);
    *a = Half(b);
    *c = Half(b + 2);
  }
};
struct DecodeQ5_0 {
  KVASIR_AVX512 static void Block(const uint8_t* b, __m256i* u, float* a,
                                  float* c) {
    *u = _mm256_or_si256(Nibbles16(b + 6), FifthBits(b + 2));
    *a = Half(b);
    *c = -16.0f * *a;
  }
};
struct DecodeQ5_1 {
  KVASIR_AVX512 static void Block(const uint8_t* b, __m256i* u, float* a,
                                  float* c) {
    *u = _mm256_or_si256(Nibbles16(b + 8), FifthBits(b + 4));
    *a = Half(b);
    *c = Half(b + 2);
  }
};

// Q4_K and Q5_K (kFifth): chunk c (0..3) of qs holds sub-block 2c in its low
// nibbles and 2c+1 in its high ones, a pair; bit s of qh[i] is the 5th bit
// of value i of sub-block s.
template <bool kFifth>
struct QK45 {
  template <int R>
  KVASIR_AVX512 static void Run(const uint8_t* w, int64_t k, const ActRows& a,
                                Acc<R>& acc) {
    constexpr int64_t kBytes = kFifth ? 176 : 144;
    const __m256i low4 = _mm256_set1_epi8(0x0F);
    const __m256i fifth = _mm256_set1_epi8(0x10);
    for (int64_t sb = 0; sb < k / 256; ++sb) {
      const uint8_t* b = w + sb * kBytes;
      uint8_t packed[16];
      UnpackKScales(b + 4, packed);
      // Lane s: d * scale_s and -dmin * min_s of sub-block s.
      const __m512 sa = _mm512_castps256_ps512(_mm256_mul_ps(
          _mm256_set1_ps(Half(b)),
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed))))));
      const __m256 sc = _mm256_mul_ps(
          _mm256_set1_ps(-Half(b + 2)),
          _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(
              _mm_loadl_epi64(reinterpret_cast<const __m128i*>(packed + 8)))));
      const uint8_t* qs = b + (kFifth ? 48 : 16);
      const __m256i qh = kFifth ? Load256(b + 16) : _mm256_setzero_si256();
      for (int c = 0; c < 4; ++c) {
        const __m256i v = Load256(qs + c * 32);
        __m256i lo = _mm256_and_si256(v, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
        if (kFifth) {
          const __mmask32 b0 = _mm256_test_epi8_mask(
              qh, _mm256_set1_epi8(static_cast<char>(1 << (2 * c))));
          const __mmask32 b1 = _mm256_test_epi8_mask(
              qh, _mm256_set1_epi8(static_cast<char>(1 << (2 * c + 1))));
          lo = _mm256_mask_add_epi8(lo, b0, lo, fifth);
          hi = _mm256_mask_add_epi8(hi, b1, hi, fifth);
        }
        // Sub-blocks 2c (lanes 0-7) and 2c+1 (lanes 8-15).
        const __m512i sub = _mm512_add_epi32(
            _mm512_set1_epi32(2 * c),
            _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
        const __m128 c4 = _mm256_castps256_ps128(_mm256_permutevar8x32_ps(
            sc,
            _mm256_setr_epi32(2 * c, 2 * c, 2 * c + 1, 2 * c + 1, 0, 0, 0, 0)));
        Pair<R, false>(Join(lo, hi), _mm512_permutexvar_ps(sub, sa), c4, a,
                       sb * 8 + 2 * c, acc);
      }
    }
  }
};

}  // namespace

const KernelTable& Avx512Kernels() {
  static const KernelTable table = {
      // The AVX2 quantizer: the same bytes as the scalar one, and x is read
      // once, so wider vectors would not move the memory-bound cost.
      .quantize_act = QuantizeActAvx2,
      .q4_0 = Dot<Blocks32<18, false, DecodeQ4_0>>,
      .q4_1 = Dot<Blocks32<20, false, DecodeQ4_1>>,
      .q5_0 = Dot<Blocks32<22, false, DecodeQ5_0>>,
      .q5_1 = Dot<Blocks32<24, false, DecodeQ5_1>>,
      .q8_0 = DotAvx512Q8_0,
      .q4_k = DotAvx512Q4_K,
      .q5_k = Dot<QK45<true>>,
      .q6_k = DotAvx512Q6_K,
      .f32 = DenseDotAvx512F32,
      .f16 = DenseDotAvx512F16,
      .bf16 = DenseDotAvx512BF16,
      .q8_0_rows = GemvAvx512Q8_0,
      .q4_k_rows = GemvAvx512Q4_K,
      .q6_k_rows = GemvAvx512Q6_K,
      .f32_rows = DenseGemvAvx512F32,
      .f16_rows = DenseGemvAvx512F16,
      .bf16_rows = DenseGemvAvx512BF16,
      .quantize_act_q4k = QuantizeActQ4KAvx2,
      .q4_k_interleaved_rows = GemvAvx512Q4_KInterleaved,
      .q6_k_super_rows = GemvAvx512Q6_KSuper,
  };
  return table;
}

}  // namespace kvasir::engine::quant::internal
