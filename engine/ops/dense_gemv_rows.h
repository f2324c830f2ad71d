#ifndef KVASIR_ENGINE_OPS_DENSE_GEMV_ROWS_H_
#define KVASIR_ENGINE_OPS_DENSE_GEMV_ROWS_H_

#include <cstdint>

#include "engine/ops/dense_gemv.h"

namespace kvasir::engine::ops::internal {

// Blocks [b0, b1) (kRowsPerBlock rows each) of rows-layout weights w times
// m <= kMaxGemvRows rows of x into y ([m, w.n], row-major): f32 and f16
// weights multiply x, bf16 weights x_bf16 (x rounded to bf16). AVX2, FMA
// and F16C (RowsGemvSupported). Does not allocate.
void RowsRangeAvx2(const BlockedWeights& w, int64_t b0, int64_t b1,
                   const float* x, const uint16_t* x_bf16, int m, float* y);

}  // namespace kvasir::engine::ops::internal

#endif  // KVASIR_ENGINE_OPS_DENSE_GEMV_ROWS_H_
