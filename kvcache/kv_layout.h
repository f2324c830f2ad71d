#ifndef KVASIR_KVCACHE_KV_LAYOUT_H_
#define KVASIR_KVCACHE_KV_LAYOUT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvasir::kvcache {

// Element type of the cached keys and values. kInt8 stores each (token,
// KV head) row of K and of V as int8 with one f32 scale of its own
// (symmetric: x ~= q * scale, scale = max|x| / 127), see KvLayout.
enum class KvDtype { kF32, kBF16, kInt8 };

// Every KvDtype, in the order reports list them (widest first). Reports
// and tests iterate this, so a new dtype appears in them by being added
// here.
absl::Span<const KvDtype> AllKvDtypes();

// Bytes per element: 4 for f32, 2 for bf16, 1 for int8 (its per-row scale
// not included: see KvDtypeScaleBytes). Inline, as is KvDtypeScaleBytes:
// the layout's offsets and KvArena's accessors use them where the
// attention kernels ask for every chunk of keys (out of line they were
// ~7% of the MQA decode kernel's time, perf).
constexpr int KvDtypeSize(KvDtype dtype) {
  switch (dtype) {
    case KvDtype::kF32:
      return 4;
    case KvDtype::kBF16:
      return 2;
    case KvDtype::kInt8:
      return 1;
  }
  return 4;
}
// Bytes of scale per (token, KV head) row of K or V: 4 for int8, else 0.
constexpr int KvDtypeScaleBytes(KvDtype dtype) {
  return dtype == KvDtype::kInt8 ? 4 : 0;
}
absl::string_view KvDtypeName(KvDtype dtype);  // "f32", "bf16", "int8"
// Parses "f32" / "bf16" / "int8"; InvalidArgument naming `field` and
// listing the valid names otherwise.
absl::StatusOr<KvDtype> ParseKvDtype(absl::string_view text,
                                     absl::string_view field);

// Shape of the paged KV cache, fixed for the life of a server.
//
// Memory layout (what the attention kernel reads): the arena is an array of
// `num_blocks` blocks, block-major. One block holds `block_size` consecutive
// token positions of one sequence for every layer and KV head:
//
//   block[layer][kv_head][kv] = head region     kv: 0 = K, 1 = V
//   head region = data[slot][head_dim] (dtype), then for int8
//                 scales[slot] (f32)
//
// so the K (or V) rows of one (layer, KV head) in one block are a contiguous
// [block_size, head_dim] matrix: a GQA/MQA group of query heads streams them
// once. K and V of a head are adjacent: attention reads them together, and
// one run of 2 * HeadBytes() is what the CPU's stream prefetcher follows
// (decode attention 18-21 -> 27-28 GB/s for MHA with an f32 cache, 20-23 ->
// 27-31 for GQA-4 with bf16, against K of all heads then V of all heads).
// With int8 the row of slot s is data[s][:] * scales[s]; the scales live in
// the block next to their rows, so whatever shares or frees a block (prefix
// cache, preemption) carries them along. Token position p of a
// sequence lives in block table entry p / block_size, slot p % block_size.
// The largest block_size the config, the engine and the tools accept
// (tokens per block).
inline constexpr int32_t kMaxBlockSize = 1024;

struct KvLayout {
  int n_layers = 0;
  int n_kv_heads = 0;  // Hkv
  int head_dim = 0;
  int block_size = 16;  // tokens per block
  KvDtype dtype = KvDtype::kF32;

  // InvalidArgument when any dimension is not positive, or for int8 when
  // block_size * head_dim is not a multiple of 4 (the f32 scales after the
  // int8 rows would not be aligned).
  absl::Status Validate() const;

  // Bytes of one (token, KV head) row of K or of V: head_dim elements plus
  // the row's scale (int8).
  int64_t RowBytes() const {
    return int64_t{head_dim} * KvDtypeSize(dtype) + KvDtypeScaleBytes(dtype);
  }
  // 2 * n_layers * Hkv * (head_dim * sizeof(dtype) + scale bytes): the one
  // figure block counts, budgets, stats and reports derive from.
  int64_t BytesPerToken() const {
    return int64_t{2} * n_layers * n_kv_heads * RowBytes();
  }
  int64_t BlockBytes() const { return BytesPerToken() * block_size; }
  // Bytes of one head region (block_size rows, then their scales).
  int64_t HeadBytes() const { return RowBytes() * block_size; }
  // Offset in bytes, from the start of a block, of the [block_size,
  // head_dim] K (kv = 0) or V (kv = 1) matrix of (layer, kv_head).
  int64_t HeadByteOffset(int layer, int kv, int kv_head) const {
    return ((int64_t{layer} * n_kv_heads + kv_head) * 2 + kv) * HeadBytes();
  }
  // Offset in bytes of that matrix's block_size f32 scales (int8 only).
  int64_t ScaleByteOffset(int layer, int kv, int kv_head) const {
    return HeadByteOffset(layer, kv, kv_head) +
           int64_t{block_size} * head_dim * KvDtypeSize(dtype);
  }

  // Whole blocks in `bytes` (rounded down): the arena's block count for a
  // capacity, and what fits in a byte budget.
  int64_t BlocksInBytes(int64_t bytes) const { return bytes / BlockBytes(); }

  // Blocks that hold `tokens` tokens (rounded up).
  int64_t BlocksForTokens(int64_t tokens) const {
    return (tokens + block_size - 1) / block_size;
  }

  bool operator==(const KvLayout&) const = default;

  std::string DebugString() const;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_KV_LAYOUT_H_
