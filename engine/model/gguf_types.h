#ifndef KVASIR_ENGINE_MODEL_GGUF_TYPES_H_
#define KVASIR_ENGINE_MODEL_GGUF_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

// Constants of the GGUF file format (v2 and v3, little-endian) and of the
// ggml tensor types it stores. See gguf_file.h for the reader.
namespace kvasir::engine::gguf {

inline constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as LE uint32
inline constexpr uint64_t kDefaultAlignment = 32;
inline constexpr int kMaxDims = 4;  // GGML_MAX_DIMS

// Metadata value types (gguf_type).
enum class ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint32", "string", ...; "type N" for values outside the enum.
std::string ValueTypeName(uint32_t type);
// Integer value types (uint8 .. int64, not bool); the unsigned ones.
bool IsIntegerType(uint32_t type);
bool IsUnsignedType(uint32_t type);

// Bytes of one element of a fixed-size type; nullopt for string, array and
// unknown types.
std::optional<uint32_t> ValueTypeSize(uint32_t type);

// ggml tensor types (ggml_type). F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1,
// Q8_0, Q4_K, Q5_K and Q6_K are loaded (ops/quant has their kernels); the
// others exist so errors can name them.
enum class TensorType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kBF16 = 30,
};

// "F32", "Q4_0", ...; "type N" for ids ggml does not define.
std::string TensorTypeName(uint32_t type);
// Whether Kvasir can read and multiply tensors of this type.
bool IsSupportedTensorType(uint32_t type);

// Bytes a tensor type with a known block layout needs for `n_elements` values
// whose innermost dimension is `ne0`; nullopt for unsupported types, when ne0
// is not a multiple of the block size, or on overflow.
std::optional<uint64_t> TensorBytes(uint32_t type, uint64_t ne0,
                                    uint64_t n_elements);

}  // namespace kvasir::engine::gguf

#endif  // KVASIR_ENGINE_MODEL_GGUF_TYPES_H_
