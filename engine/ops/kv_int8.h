#ifndef KVASIR_ENGINE_OPS_KV_INT8_H_
#define KVASIR_ENGINE_OPS_KV_INT8_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kvasir::engine::ops {

// The int8 KV cache's row format (kvcache::KvDtype::kInt8): symmetric, one
// f32 scale per row (one token's K or V of one KV head),
//   scale = max_i |x_i| / 127,  q_i = round(x_i / scale) in [-127, 127],
// so that |x_i - q_i * scale| <= scale / 2 (plus float rounding). An
// all-zero row has scale 0. Header-only so that the callers' SIMD clones
// (simd.h) vectorize it; the attention kernels dequantize in register
// (q_i * scale), never into a copy of the cache.

// dst[i] = q_i for i < n, *scale = max |src| / 127. src must be finite.
inline void QuantizeRowInt8(const float* src, int n, int8_t* dst,
                            float* scale) {
  float amax = 0.0f;
#pragma omp simd reduction(max : amax)
  for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(src[i]));
  const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
#pragma omp simd
  for (int i = 0; i < n; ++i) {
    // Round half away from zero by truncation, which vectorizes (lrint
    // does not without -fno-math-errno).
    const float r = src[i] * inv + std::copysign(0.5f, src[i]);
    dst[i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
  }
  *scale = amax / 127.0f;
}

// dst[i] = src[i] * scale for i < n.
inline void DequantizeRowInt8(const int8_t* src, int n, float scale,
                              float* dst) {
#pragma omp simd
  for (int i = 0; i < n; ++i) dst[i] = static_cast<float>(src[i]) * scale;
}

}  // namespace kvasir::engine::ops

#endif  // KVASIR_ENGINE_OPS_KV_INT8_H_
