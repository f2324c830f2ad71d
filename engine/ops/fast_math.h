#ifndef KVASIR_ENGINE_OPS_FAST_MATH_H_
#define KVASIR_ENGINE_OPS_FAST_MATH_H_

#include <bit>
#include <cstdint>

namespace kvasir::engine::ops {

// exp(x) for f32 within 2 ulp, written with plain arithmetic so that loops
// calling it vectorize (glibc's vector expf needs -ffast-math, which we do
// not use). exp(x) = 2^n * e^r with n = round(x / ln 2), |r| <= ln(2) / 2,
// e^r from the Cephes minimax polynomial. Returns 0 for x < -87.33 (incl.
// -inf) and +inf for x > 88 (where the true value is near FLT_MAX anyway);
// NaN gives an unspecified value. Softmax and SiLU only need x <= 0 to be
// accurate.
inline float FastExp(float x) {
  constexpr float kHi = 88.0f;
  constexpr float kLo = -87.3365448f;
  const bool underflow = x < kLo;
  const bool overflow = x > kHi;
  x = x < kLo ? kLo : (x > kHi ? kHi : x);
  // Round x * log2(e) to nearest with the 1.5 * 2^23 trick (exact here,
  // since |x * log2 e| < 2^22), giving n as float and as integer.
  constexpr float kShift = 12582912.0f;
  const float shifted = x * 1.44269504088896341f + kShift;
  const float n = shifted - kShift;
  const int32_t ni = static_cast<int32_t>(std::bit_cast<uint32_t>(shifted) -
                                          std::bit_cast<uint32_t>(kShift));
  // r = x - n ln2, with ln2 split in two for accuracy.
  float r = x - n * 0.693359375f;
  r = r + n * 2.12194440e-4f;
  const float r2 = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r2 + r + 1.0f;
  // 2^n with n in [-126, 127] after the clamp: a normal float.
  const float scale =
      std::bit_cast<float>(static_cast<uint32_t>(ni + 127) << 23);
  const float result = p * scale;
  return underflow ? 0.0f
                   : (overflow ? std::bit_cast<float>(0x7f800000u) : result);
}

// silu(x) = x * sigmoid(x) = x / (1 + e^-x).
inline float Silu(float x) { return x / (1.0f + FastExp(-x)); }

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_FAST_MATH_H_
