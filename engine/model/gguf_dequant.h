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

// Converts `n` values of the given 16-bit encoding from `src` (which may be
// unaligned) into `dst`. Block types: quant::DequantizeRow.
void DequantizeF16(const uint8_t* src, int64_t n, float* dst);
void DequantizeBf16(const uint8_t* src, int64_t n, float* dst);

}  // namespace kvasir::engine::gguf

#endif  // KVASIR_ENGINE_MODEL_GGUF_DEQUANT_H_
