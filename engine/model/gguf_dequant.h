#ifndef KVASIR_ENGINE_MODEL_GGUF_DEQUANT_H_
#define KVASIR_ENGINE_MODEL_GGUF_DEQUANT_H_

#include <cstdint>

#include "engine/ops/bf16.h"

// Conversions from the tensor encodings GGUF stores to f32. Pure functions,
// thread-safe. The inverse conversions exist for tests and writers.
namespace kvasir::engine::gguf {

// IEEE 754 binary16 <-> binary32. FloatToHalf rounds to nearest even;
// values beyond the f16 range become infinity, NaN stays NaN.
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);

// bfloat16 <-> binary32: the one conversion the kernels use too.
using ops::Bf16ToFloat;
using ops::FloatToBf16;

// Dequantizes `n` values of the given encoding from `src` (which may be
// unaligned) into `dst`. For Q8_0, `n` is a multiple of 32 and `src` holds
// n / 32 blocks of {f16 scale d, int8 q[32]}, value = d * q.
void DequantizeF16(const uint8_t* src, int64_t n, float* dst);
void DequantizeBf16(const uint8_t* src, int64_t n, float* dst);
void DequantizeQ8_0(const uint8_t* src, int64_t n, float* dst);

}  // namespace kvasir::engine::gguf

#endif  // KVASIR_ENGINE_MODEL_GGUF_DEQUANT_H_
