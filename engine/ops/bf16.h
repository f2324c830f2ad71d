#ifndef KVASIR_ENGINE_OPS_BF16_H_
#define KVASIR_ENGINE_OPS_BF16_H_

#include <bit>
#include <cstdint>

namespace kvasir::engine::ops {

// bfloat16 stored as its raw 16 bits: the upper half of an IEEE f32.

// f32 -> bf16 with round-to-nearest-even; NaN stays a (quiet) NaN, infinities
// stay infinite, values beyond the bf16 range round to infinity as IEEE does.
inline uint16_t FloatToBf16(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  }
  const uint32_t rounding_bias = 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding_bias) >> 16);
}

inline float Bf16ToFloat(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

// dst[i] = FloatToBf16(src[i]) for i < n. Vectorized.
void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst);
// dst[i] = Bf16ToFloat(src[i]) for i < n. Vectorized.
void Bf16ToFloatRow(const uint16_t* src, int64_t n, float* dst);

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_BF16_H_
