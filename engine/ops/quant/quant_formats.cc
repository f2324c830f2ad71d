#include "engine/ops/quant/quant_formats.h"

#include <cstdint>
#include <cstring>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "engine/model/gguf_dequant.h"
#include "engine/model/gguf_types.h"
#include "engine/ops/quant/quant_kernels.h"

namespace kvasir::engine::quant {
namespace {

using gguf::TensorType;

constexpr uint32_t Id(TensorType t) { return static_cast<uint32_t>(t); }

struct TypeEntry {
  TensorType type;
  absl::string_view name;
  BlockInfo info;
  bool quantized;
};

// The types of this module, with ggml's geometry (ggml-common.h).
constexpr TypeEntry kTypes[] = {
    {TensorType::kF32, "F32", {1, 4}, false},
    {TensorType::kF16, "F16", {1, 2}, false},
    {TensorType::kBF16, "BF16", {1, 2}, false},
    {TensorType::kQ4_0, "Q4_0", {32, 18}, true},
    {TensorType::kQ4_1, "Q4_1", {32, 20}, true},
    {TensorType::kQ5_0, "Q5_0", {32, 22}, true},
    {TensorType::kQ5_1, "Q5_1", {32, 24}, true},
    {TensorType::kQ8_0, "Q8_0", {32, 34}, true},
    {TensorType::kQ4_K, "Q4_K", {256, 144}, true},
    {TensorType::kQ5_K, "Q5_K", {256, 176}, true},
    {TensorType::kQ6_K, "Q6_K", {256, 210}, true},
};

// ggml names of the types this module only names (no geometry, no kernel),
// so error messages can say "Q2_K" rather than "type 10".
struct NameEntry {
  TensorType type;
  absl::string_view name;
};
constexpr NameEntry kOtherNames[] = {
    {TensorType::kQ8_1, "Q8_1"},
    {TensorType::kQ2_K, "Q2_K"},
    {TensorType::kQ3_K, "Q3_K"},
    {TensorType::kQ8_K, "Q8_K"},
};

const TypeEntry* Find(uint32_t type) {
  for (const TypeEntry& e : kTypes) {
    if (Id(e.type) == type) return &e;
  }
  return nullptr;
}

float Half(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, sizeof(h));
  return gguf::HalfToFloat(h);
}

using internal::ScaleMinK4;

void DequantQ4_0(const uint8_t* b, float* y) {
  const float d = Half(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>((qs[j] & 0xF) - 8) * d;
    y[j + 16] = static_cast<float>((qs[j] >> 4) - 8) * d;
  }
}

void DequantQ4_1(const uint8_t* b, float* y) {
  const float d = Half(b);
  const float m = Half(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = static_cast<float>(qs[j] & 0xF) * d + m;
    y[j + 16] = static_cast<float>(qs[j] >> 4) * d + m;
  }
}

// Q5_0/Q5_1: bit i of qh is the 5th bit of value i.
void DequantQ5_0(const uint8_t* b, float* y) {
  const float d = Half(b);
  uint32_t qh;
  std::memcpy(&qh, b + 2, sizeof(qh));
  const uint8_t* qs = b + 6;
  for (int j = 0; j < 16; ++j) {
    const int h0 = static_cast<int>((qh >> j) & 1) << 4;
    const int h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
    y[j] = static_cast<float>(((qs[j] & 0xF) | h0) - 16) * d;
    y[j + 16] = static_cast<float>(((qs[j] >> 4) | h1) - 16) * d;
  }
}

void DequantQ5_1(const uint8_t* b, float* y) {
  const float d = Half(b);
  const float m = Half(b + 2);
  uint32_t qh;
  std::memcpy(&qh, b + 4, sizeof(qh));
  const uint8_t* qs = b + 8;
  for (int j = 0; j < 16; ++j) {
    const int h0 = static_cast<int>((qh >> j) & 1) << 4;
    const int h1 = static_cast<int>((qh >> (j + 16)) & 1) << 4;
    y[j] = static_cast<float>((qs[j] & 0xF) | h0) * d + m;
    y[j + 16] = static_cast<float>((qs[j] >> 4) | h1) * d + m;
  }
}

void DequantQ8_0(const uint8_t* b, float* y) {
  const float d = Half(b);
  for (int j = 0; j < 32; ++j) {
    y[j] = static_cast<float>(static_cast<int8_t>(b[2 + j])) * d;
  }
}

// Q4_K: 4 chunks of 64 values; a chunk's 32 bytes hold sub-block 2c in
// their low nibbles and sub-block 2c+1 in their high nibbles.
void DequantQ4_K(const uint8_t* b, float* y) {
  const float d = Half(b);
  const float dmin = Half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int c = 0; c < 4; ++c, q += 32, y += 64) {
    uint8_t sc, m;
    ScaleMinK4(2 * c, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(2 * c + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) {
      y[l] = d1 * static_cast<float>(q[l] & 0xF) - m1;
      y[l + 32] = d2 * static_cast<float>(q[l] >> 4) - m2;
    }
  }
}

// Q5_K: as Q4_K; bit s of qh[l] is the 5th bit of value l of sub-block s.
void DequantQ5_K(const uint8_t* b, float* y) {
  const float d = Half(b);
  const float dmin = Half(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* q = b + 48;
  for (int c = 0; c < 4; ++c, q += 32, y += 64) {
    uint8_t sc, m;
    ScaleMinK4(2 * c, scales, &sc, &m);
    const float d1 = d * sc, m1 = dmin * m;
    ScaleMinK4(2 * c + 1, scales, &sc, &m);
    const float d2 = d * sc, m2 = dmin * m;
    for (int l = 0; l < 32; ++l) {
      const int h1 = ((qh[l] >> (2 * c)) & 1) << 4;
      const int h2 = ((qh[l] >> (2 * c + 1)) & 1) << 4;
      y[l] = d1 * static_cast<float>((q[l] & 0xF) + h1) - m1;
      y[l + 32] = d2 * static_cast<float>((q[l] >> 4) + h2) - m2;
    }
  }
}

// Q6_K: 2 halves of 128 values; in a half, value l + 32*k (k = 0..3) takes
// its low 4 bits from ql[l] (k even) or ql[l + 32] (k odd), low nibble for
// k < 2, and its high 2 bits from bits 2k..2k+1 of qh[l]; scale index
// l / 16 + 2k.
void DequantQ6_K(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = Half(b + 208);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * static_cast<float>(sc[is + 0]) * static_cast<float>(q1);
      y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
      y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
      y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
    }
  }
}

}  // namespace

std::optional<BlockInfo> GetBlockInfo(uint32_t type) {
  const TypeEntry* e = Find(type);
  if (e == nullptr) return std::nullopt;
  return e->info;
}

bool IsQuantized(uint32_t type) {
  const TypeEntry* e = Find(type);
  return e != nullptr && e->quantized;
}

bool HasKernel(uint32_t type) { return Find(type) != nullptr; }

absl::string_view TypeName(uint32_t type) {
  if (const TypeEntry* e = Find(type)) return e->name;
  for (const NameEntry& e : kOtherNames) {
    if (Id(e.type) == type) return e.name;
  }
  return "unknown";
}

std::optional<uint32_t> ParseTypeName(absl::string_view name) {
  for (const TypeEntry& e : kTypes) {
    if (absl::EqualsIgnoreCase(name, e.name)) return Id(e.type);
  }
  return std::nullopt;
}

int64_t RowBytes(uint32_t type, int64_t n) {
  const TypeEntry* e = Find(type);
  if (e == nullptr) return 0;
  return n / e->info.block_size * e->info.block_bytes;
}

double BitsPerWeight(uint32_t type) {
  const TypeEntry* e = Find(type);
  if (e == nullptr) return 0.0;
  return 8.0 * static_cast<double>(e->info.block_bytes) /
         static_cast<double>(e->info.block_size);
}

void DequantizeRow(uint32_t type, const void* src, int64_t n, float* dst) {
  const auto* p = static_cast<const uint8_t*>(src);
  void (*block_fn)(const uint8_t*, float*) = nullptr;
  switch (static_cast<TensorType>(type)) {
    case TensorType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case TensorType::kF16:
      gguf::DequantizeF16(p, n, dst);
      return;
    case TensorType::kBF16:
      gguf::DequantizeBf16(p, n, dst);
      return;
    case TensorType::kQ4_0:
      block_fn = DequantQ4_0;
      break;
    case TensorType::kQ4_1:
      block_fn = DequantQ4_1;
      break;
    case TensorType::kQ5_0:
      block_fn = DequantQ5_0;
      break;
    case TensorType::kQ5_1:
      block_fn = DequantQ5_1;
      break;
    case TensorType::kQ8_0:
      block_fn = DequantQ8_0;
      break;
    case TensorType::kQ4_K:
      block_fn = DequantQ4_K;
      break;
    case TensorType::kQ5_K:
      block_fn = DequantQ5_K;
      break;
    case TensorType::kQ6_K:
      block_fn = DequantQ6_K;
      break;
    default:
      return;  // outside the precondition
  }
  const BlockInfo info = Find(type)->info;
  for (int64_t i = 0; i < n / info.block_size; ++i) {
    block_fn(p + i * info.block_bytes, dst + i * info.block_size);
  }
}

}  // namespace kvasir::engine::quant
