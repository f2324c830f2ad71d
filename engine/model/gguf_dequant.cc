#include "engine/model/gguf_dequant.h"

#include <bit>
#include <cmath>
#include <cstring>

namespace kvasir::engine::gguf {
namespace {

uint16_t LoadU16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

}  // namespace

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in f32.
    const float mag = static_cast<float>(mant) * (1.0f / 16777216.0f);
    return sign != 0 ? -mag : mag;
  }
  if (exp == 0x1f) {
    return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7fffffffu;
  if (x >= 0x7f800000u) {  // inf or NaN (keep NaN quiet)
    return sign | 0x7c00u | (x > 0x7f800000u ? 0x200u : 0u);
  }
  if (x >= 0x477ff000u) return sign | 0x7c00u;  // rounds past 65504
  if (x < 0x38800000u) {
    // Below the smallest normal half (2^-14): a subnormal mant * 2^-24.
    // a * 2^24 is exact; nearbyint rounds half to even.
    const float scaled = std::bit_cast<float>(x) * 16777216.0f;
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));
  }
  const uint32_t odd = (x >> 13) & 1u;
  x += 0xfffu + odd;        // round to nearest, ties to even
  x -= (127u - 15u) << 23;  // rebias the exponent
  return sign | static_cast<uint16_t>(x >> 13);
}

void DequantizeF16(const uint8_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = HalfToFloat(LoadU16(src + 2 * i));
}

void DequantizeBf16(const uint8_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(LoadU16(src + 2 * i));
}

}  // namespace kvasir::engine::gguf
