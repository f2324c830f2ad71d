#include "engine/model/gguf_types.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "engine/ops/quant/quant_formats.h"

namespace kvasir::engine::gguf {

std::string ValueTypeName(uint32_t type) {
  static constexpr const char* kNames[] = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64"};
  if (type < std::size(kNames)) return kNames[type];
  return absl::StrCat("type ", type);
}

bool IsIntegerType(uint32_t type) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kUint16:
    case ValueType::kInt16:
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kUint64:
    case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool IsUnsignedType(uint32_t type) {
  return type == static_cast<uint32_t>(ValueType::kUint8) ||
         type == static_cast<uint32_t>(ValueType::kUint16) ||
         type == static_cast<uint32_t>(ValueType::kUint32) ||
         type == static_cast<uint32_t>(ValueType::kUint64);
}

std::optional<uint32_t> ValueTypeSize(uint32_t type) {
  switch (static_cast<ValueType>(type)) {
    case ValueType::kUint8:
    case ValueType::kInt8:
    case ValueType::kBool:
      return 1;
    case ValueType::kUint16:
    case ValueType::kInt16:
      return 2;
    case ValueType::kUint32:
    case ValueType::kInt32:
    case ValueType::kFloat32:
      return 4;
    case ValueType::kUint64:
    case ValueType::kInt64:
    case ValueType::kFloat64:
      return 8;
    case ValueType::kString:
    case ValueType::kArray:
      break;
  }
  return std::nullopt;
}

std::string TensorTypeName(uint32_t type) {
  // Indexed by ggml_type id; empty entries are ids ggml retired.
  static constexpr const char* kNames[] = {
      "F32",     "F16",   "Q4_0",   "Q4_1",  "",        "",
      "Q5_0",    "Q5_1",  "Q8_0",   "Q8_1",  "Q2_K",    "Q3_K",
      "Q4_K",    "Q5_K",  "Q6_K",   "Q8_K",  "IQ2_XXS", "IQ2_XS",
      "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S",   "IQ4_XS",
      "I8",      "I16",   "I32",    "I64",   "F64",     "IQ1_M",
      "BF16",    "",      "",       "",      "TQ1_0",   "TQ2_0"};
  if (type < std::size(kNames) && kNames[type][0] != '\0') {
    return kNames[type];
  }
  return absl::StrCat("type ", type);
}

bool IsSupportedTensorType(uint32_t type) { return quant::HasKernel(type); }

std::optional<uint64_t> TensorBytes(uint32_t type, uint64_t ne0,
                                    uint64_t n_elements) {
  const std::optional<quant::BlockInfo> info = quant::GetBlockInfo(type);
  if (!info.has_value()) return std::nullopt;
  const uint64_t block = static_cast<uint64_t>(info->block_size);
  if (ne0 % block != 0) return std::nullopt;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(n_elements / block,
                             static_cast<uint64_t>(info->block_bytes),
                             &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

}  // namespace kvasir::engine::gguf
