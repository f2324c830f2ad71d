#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_KERNELS_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_KERNELS_H_

#include <immintrin.h>

#include <cstdint>
#include <cstring>

// Private to engine/ops/quant: the per-ISA kernels behind QuantLinear.
//
// Activations are quantized once per Forward into this layout, one region
// per row of x (`nbp` = the row's blocks of 32, rounded up to even so the
// AVX-512 kernels can always take two blocks at once; padding is zero):
//
//   int8  q[nbp * 32]   q = round-to-nearest-even(x / d), in [-127, 127]
//   float d8[nbp * 8]   d = max|x| / 127 over the block (0 for all zeros),
//                       8 copies per block: one load gives the SIMD lanes
//                       of a block their scale without a shuffle
//   float ds[nbp * 2]   d * (sum of q) over each half (16 values) of a block
//
// The value of x the kernels multiply is d * q. Half sums rather than block
// sums because Q6_K scales sub-blocks of 16; the other types add the two.
namespace kvasir::engine::quant::internal {

// Activation rows the dot kernels take at once: each weight block decoded is
// multiplied with up to this many rows of x while it sits in registers.
inline constexpr int kMaxTileRows = 4;

// Bytes per activation row for rows of k values (k a multiple of 32).
inline int64_t ActPaddedBlocks(int64_t k) { return (k / 32 + 1) / 2 * 2; }
inline int64_t ActRowBytes(int64_t k) { return ActPaddedBlocks(k) * 72; }

// Rows of quantized activations in the layout above.
struct ActRows {
  const uint8_t* base = nullptr;  // row 0
  int64_t stride = 0;             // bytes between rows (ActRowBytes)
  int64_t nbp = 0;                // padded blocks per row

  const int8_t* q(int r) const {
    return reinterpret_cast<const int8_t*>(base + r * stride);
  }
  const float* d8(int r) const {
    return reinterpret_cast<const float*>(base + r * stride + nbp * 32);
  }
  const float* ds(int r) const {
    return reinterpret_cast<const float*>(base + r * stride + nbp * 64);
  }
};

// Quantizes x[0, k) (k a multiple of 32, values finite) into one activation
// row at `row` (ActRowBytes(k) bytes, 16-byte aligned), padding included.
// Every implementation produces the same bytes.
using QuantizeActFn = void (*)(const float* x, int64_t k, uint8_t* row);

// out[r] = Σ_i W[i] * (d * q)_r[i] for r < rows (1..kMaxTileRows): one
// weight row `w` of k values (a multiple of the type's block size) in its
// ggml block format, any alignment.
using QuantDotFn = void (*)(const uint8_t* w, int64_t k, const ActRows& a,
                            int rows, float* out);

// out[r] = Σ_i W[i] * x[r * x_stride + i] for r < rows (1..kMaxTileRows):
// one dense weight row (F32, F16 or BF16) of k values, any alignment.
using DenseDotFn = void (*)(const uint8_t* w, int64_t k, const float* x,
                            int64_t x_stride, int rows, float* out);

// Decode (m <= kMaxTileRows) over many weight rows in one call:
// y[r * y_stride + n] = Σ_i W_n[i] * x_r[i] for n < nrows, r < m, where
// W_n is the weight row at w + n * row_bytes. Quantized types read the
// activations from `a`, dense ones from x (m rows of k values, contiguous).
// The same sums as the per-row QuantDotFn / DenseDotFn (up to float
// summation order); one call saves the per-row call, dispatch and
// horizontal reductions that dominate short rows (k = 768).
using GemvFn = void (*)(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                        int64_t k, const ActRows& a, const float* x, int m,
                        float* y, int64_t y_stride);

// The kernels of one instruction set. A null entry: no kernel for the type
// (a null *_rows entry: Forward calls the per-row kernel for each row).
struct KernelTable {
  QuantizeActFn quantize_act = nullptr;
  QuantDotFn q4_0 = nullptr, q4_1 = nullptr, q5_0 = nullptr, q5_1 = nullptr,
             q8_0 = nullptr, q4_k = nullptr, q5_k = nullptr, q6_k = nullptr;
  DenseDotFn f32 = nullptr, f16 = nullptr, bf16 = nullptr;
  GemvFn q8_0_rows = nullptr, q4_k_rows = nullptr, q6_k_rows = nullptr,
         f32_rows = nullptr, f16_rows = nullptr, bf16_rows = nullptr;
  // Decode of linears made only of Q4_K parts (null: q4_k_rows serves
  // them): the activations quantized by quantize_act_q4k, in its order.
  QuantizeActFn quantize_act_q4k = nullptr;
  GemvFn q4_k_interleaved_rows = nullptr;
  // Decode of linears made only of Q6_K parts (null: q6_k_rows serves
  // them): the activations of QuantizeActSuperAvx2.
  GemvFn q6_k_super_rows = nullptr;
};

// Portable C++ (also the reference the SIMD kernels are tested against).
const KernelTable& ScalarKernels();
// Compiled with target attributes; call only when the CPU supports them.
const KernelTable& Avx2Kernels();    // avx2, fma, f16c
const KernelTable& Avx512Kernels();  // avx512f/bw/vl/dq/vnni, fma

// The dense entries of Avx512Kernels() (quant_dense_avx512.cc).
void DenseDotAvx512F32(const uint8_t* w, int64_t k, const float* x,
                       int64_t x_stride, int rows, float* out);
void DenseDotAvx512F16(const uint8_t* w, int64_t k, const float* x,
                       int64_t x_stride, int rows, float* out);
void DenseDotAvx512BF16(const uint8_t* w, int64_t k, const float* x,
                        int64_t x_stride, int rows, float* out);
void DenseGemvAvx512F32(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                        int64_t k, const ActRows& a, const float* x, int m,
                        float* y, int64_t y_stride);
void DenseGemvAvx512F16(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                        int64_t k, const ActRows& a, const float* x, int m,
                        float* y, int64_t y_stride);
void DenseGemvAvx512BF16(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                         int64_t k, const ActRows& a, const float* x, int m,
                         float* y, int64_t y_stride);

// The Q8_0 / Q4_K / Q6_K entries of Avx512Kernels()
// (quant_decode_avx512.cc); GemvAvx512Q4_KInterleaved takes activations of
// QuantizeActQ4KAvx2, GemvAvx512Q6_KSuper those of QuantizeActSuperAvx2.
void DotAvx512Q8_0(const uint8_t* w, int64_t k, const ActRows& a, int rows,
                   float* out);
void DotAvx512Q4_K(const uint8_t* w, int64_t k, const ActRows& a, int rows,
                   float* out);
void DotAvx512Q6_K(const uint8_t* w, int64_t k, const ActRows& a, int rows,
                   float* out);
void GemvAvx512Q8_0(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                    int64_t k, const ActRows& a, const float* x, int m,
                    float* y, int64_t y_stride);
void GemvAvx512Q4_K(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                    int64_t k, const ActRows& a, const float* x, int m,
                    float* y, int64_t y_stride);
void GemvAvx512Q4_KInterleaved(const uint8_t* w, int64_t row_bytes,
                               int64_t nrows, int64_t k, const ActRows& a,
                               const float* x, int m, float* y,
                               int64_t y_stride);
void GemvAvx512Q6_K(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                    int64_t k, const ActRows& a, const float* x, int m,
                    float* y, int64_t y_stride);
void GemvAvx512Q6_KSuper(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                         int64_t k, const ActRows& a, const float* x, int m,
                         float* y, int64_t y_stride);

// The GemvFn entries of Avx2Kernels() (quant_decode_avx2.cc):
// GemvAvx2Q4_KInterleaved takes activations of QuantizeActQ4KAvx2,
// GemvAvx2Q6_KSuper those of QuantizeActSuperAvx2.
void GemvAvx2Q8_0(const uint8_t* w, int64_t row_bytes, int64_t nrows, int64_t k,
                  const ActRows& a, const float* x, int m, float* y,
                  int64_t y_stride);
void GemvAvx2Q4_KInterleaved(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                             int64_t k, const ActRows& a, const float* x, int m,
                             float* y, int64_t y_stride);
void GemvAvx2Q6_KSuper(const uint8_t* w, int64_t row_bytes, int64_t nrows,
                       int64_t k, const ActRows& a, const float* x, int m,
                       float* y, int64_t y_stride);

void QuantizeActScalar(const float* x, int64_t k, uint8_t* row);
void QuantizeActAvx2(const float* x, int64_t k, uint8_t* row);
// The same layout with one scale per super-block of 8 blocks (256 values;
// k a multiple of 256): d = max|x| over the 256 values / 127, stored in the
// slots of all 8 blocks (llama.cpp's Q8_K activations for K-quant weights).
// The VNNI panels' K-quant tiles take these (quant_vnni.h): with d constant
// over a super-block they scale the integer sums once per super-block.
void QuantizeActSuperAvx2(const float* x, int64_t k, uint8_t* row);
// QuantizeActSuperAvx2's values with each super-block's q stored in the
// order of a Q4_K super-block's nibbles: value 16p + t (t < 16) of block b
// at 128p + 64 * (b % 2) + 16 * (b / 2) + t. Bytes 16p..16p+15 of the
// weights' four chunks of 32 hold, in their low nibbles, values 16p.. of
// blocks 0, 2, 4, 6 and, in their high ones, of blocks 1, 3, 5, 7; so one
// 64-byte vector of activations meets each nibble vector as it comes out of
// the weights (no per-chunk broadcast and shift), and every such vector has
// the same scale layout. d8 and ds stay in block order.
void QuantizeActQ4KAvx2(const float* x, int64_t k, uint8_t* row);

// Q4_K / Q5_K: the 6-bit scale and min of sub-block j (0..7) from the 12
// packed bytes (ggml's get_scale_min_k4).
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// All 8 scales (out[0..7]) and mins (out[8..15]) of ScaleMinK4 at once, with
// 32-bit word operations instead of a branch per sub-block: scales 0-3 and
// mins 0-3 are the low 6 bits of words 0 and 1; scales 4-7 and mins 4-7
// join the low / high nibbles of word 2 with the top 2 bits of words 0 / 1.
inline void UnpackKScales(const uint8_t* q, uint8_t* out) {
  uint32_t w[3];
  std::memcpy(w, q, sizeof(w));
  const uint32_t low6 = 0x3f3f3f3f, low4 = 0x0f0f0f0f, low2 = 0x03030303;
  const uint32_t words[4] = {
      w[0] & low6,
      (w[2] & low4) | (((w[0] >> 6) & low2) << 4),
      w[1] & low6,
      ((w[2] >> 4) & low4) | (((w[1] >> 6) & low2) << 4),
  };
  std::memcpy(out, words, sizeof(words));
}

// The bytes of UnpackKScales (scales 0-7, then mins 0-7) from the 12 bytes
// at p (words q0 q1 q2; the 4 bytes after them, read too, are not used):
// [q0 & low6, q2 & low4 | (q0 >> 2) & 0x30, q1 & low6,
//  (q2 >> 4) & low4 | (q1 >> 2) & 0x30] per 32-bit word.
// AVX2 (the AVX-512 kernels inline it too: their target includes it).
__attribute__((target("avx2"))) inline __m128i KScalesMins(const uint8_t* p) {
  const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i v = _mm_shuffle_epi32(q, _MM_SHUFFLE(2, 1, 2, 0));
  const __m128i u = _mm_shuffle_epi32(q, _MM_SHUFFLE(1, 1, 0, 0));
  return _mm_or_si128(
      _mm_and_si128(
          _mm_srlv_epi32(v, _mm_setr_epi32(0, 0, 0, 4)),
          _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f)),
      _mm_and_si128(_mm_srli_epi32(u, 2),
                    _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

}  // namespace kvasir::engine::quant::internal

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_KERNELS_H_
