#include "engine/ops/bf16.h"

#include "engine/ops/simd.h"

namespace kvasir::engine::ops {

KVASIR_SIMD_CLONES
void FloatToBf16Row(const float* src, int64_t n, uint16_t* dst) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] = FloatToBf16(src[i]);
}

KVASIR_SIMD_CLONES
void Bf16ToFloatRow(const uint16_t* src, int64_t n, float* dst) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFloat(src[i]);
}

}  // namespace kvasir::engine::ops
