#ifndef KVASIR_ENGINE_OPS_QUANT_QUANT_FORMATS_H_
#define KVASIR_ENGINE_OPS_QUANT_QUANT_FORMATS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

// The ggml block formats Kvasir keeps in memory and multiplies by its own
// kernels, laid out byte for byte as ggml (and so GGUF) stores them:
//
//   type   values/block bytes/block  layout (little-endian, f16 = IEEE half)
//   Q4_0   32    18   f16 d; u8 qs[16]: x = d * (nibble - 8); the low
//                     nibbles hold values 0..15, the high ones 16..31
//   Q4_1   32    20   f16 d, m; u8 qs[16]: x = d * nibble + m
//   Q5_0   32    22   f16 d; u32 qh (5th bits); u8 qs[16]: d * (q - 16)
//   Q5_1   32    24   f16 d, m; u32 qh; u8 qs[16]: d * q + m
//   Q8_0   32    34   f16 d; i8 qs[32]: d * q
//   Q4_K   256  144   f16 d, dmin; u8 scales[12] (8 6-bit scales and 8
//                     6-bit mins); u8 qs[128]: x = d*sc*q - dmin*m per
//                     sub-block of 32
//   Q5_K   256  176   as Q4_K plus u8 qh[32] (5th bits)
//   Q6_K   256  210   u8 ql[128], qh[64]; i8 scales[16]; f16 d:
//                     x = d * scale * (q - 32) per sub-block of 16
//
// and the dense types F32 (4 bytes), F16 and BF16 (2 bytes), block size 1.
// Type ids are ggml's (gguf::TensorType).
namespace kvasir::engine::quant {

struct BlockInfo {
  int64_t block_size = 0;   // values per block
  int64_t block_bytes = 0;  // bytes per block
};

// The block geometry of ggml type `type`, for the types above; nullopt for
// any other id.
std::optional<BlockInfo> GetBlockInfo(uint32_t type);

// Whether `type` is one of the block-quantized types above (not F32, F16,
// BF16).
bool IsQuantized(uint32_t type);

// Whether the kernels of this module multiply weights of `type` (the
// quantized types above and F32, F16, BF16).
bool HasKernel(uint32_t type);

// "Q4_K", "F16", ...: ggml's names.
absl::string_view TypeName(uint32_t type);
// Parses a type name case-insensitively ("q4_k", "Q8_0", "f16", "bf16");
// nullopt when unknown.
std::optional<uint32_t> ParseTypeName(absl::string_view name);

// Bytes of a row of n values; precondition: n is a multiple of the block
// size of a type GetBlockInfo knows.
int64_t RowBytes(uint32_t type, int64_t n);

// Bits per weight of `type` (4.5 for Q4_0, 8.5 for Q8_0, 6.5625 for Q6_K).
double BitsPerWeight(uint32_t type);

// dst[0, n) = the values of n consecutive values of `type` at src
// (exactly as ggml's reference dequantizers compute them). Precondition: n
// is a multiple of the block size. Any of the types above.
void DequantizeRow(uint32_t type, const void* src, int64_t n, float* dst);

// Encodes n values (a multiple of the block size) as `type` into dst
// (RowBytes(type, n) bytes): round to nearest with, for the K-quants, a
// searched block scale and min (as ggml's reference quantizers do; not
// necessarily bit-identical to llama-quantize). F32/F16/BF16 convert with
// round-to-nearest-even. Deterministic; does not allocate.
void QuantizeRow(uint32_t type, const float* src, int64_t n, void* dst);

}  // namespace kvasir::engine::quant

#endif  // KVASIR_ENGINE_OPS_QUANT_QUANT_FORMATS_H_
