#ifndef KVASIR_KVCACHE_KV_LAYOUT_H_
#define KVASIR_KVCACHE_KV_LAYOUT_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kvasir::kvcache {

// Element type of the cached keys and values.
enum class KvDtype { kF32, kBF16 };

// Every KvDtype, in the order reports list them (widest first). Reports
// and tests iterate this, so a new dtype appears in them by being added
// here.
absl::Span<const KvDtype> AllKvDtypes();

// Bytes per element: 4 for f32, 2 for bf16.
int KvDtypeSize(KvDtype dtype);
absl::string_view KvDtypeName(KvDtype dtype);  // "f32", "bf16"
// Parses "f32" / "bf16"; InvalidArgument naming `field` otherwise.
absl::StatusOr<KvDtype> ParseKvDtype(absl::string_view text,
                                     absl::string_view field);

// Shape of the paged KV cache, fixed for the life of a server.
//
// Memory layout (what the attention kernel reads): the arena is an array of
// `num_blocks` blocks, block-major. One block holds `block_size` consecutive
// token positions of one sequence for every layer and KV head:
//
//   block[layer][kv][kv_head][slot][head_dim]      kv: 0 = K, 1 = V
//
// so the K (or V) rows of one (layer, KV head) in one block are a contiguous
// [block_size, head_dim] matrix: a GQA/MQA group of query heads streams them
// once. Token position p of a sequence lives in block table entry
// p / block_size, slot p % block_size.
struct KvLayout {
  int n_layers = 0;
  int n_kv_heads = 0;  // Hkv
  int head_dim = 0;
  int block_size = 16;  // tokens per block
  KvDtype dtype = KvDtype::kF32;

  // InvalidArgument when any dimension is not positive.
  absl::Status Validate() const;

  // 2 * n_layers * Hkv * head_dim * sizeof(dtype).
  int64_t BytesPerToken() const {
    return int64_t{2} * n_layers * n_kv_heads * head_dim * KvDtypeSize(dtype);
  }
  int64_t BlockBytes() const { return BytesPerToken() * block_size; }
  // Elements (not bytes) in one block.
  int64_t BlockElements() const {
    return int64_t{2} * n_layers * n_kv_heads * head_dim * block_size;
  }
  // Offset in elements, from the start of a block, of the [block_size,
  // head_dim] K (kv = 0) or V (kv = 1) matrix of (layer, kv_head).
  int64_t HeadOffset(int layer, int kv, int kv_head) const {
    return ((int64_t{layer} * 2 + kv) * n_kv_heads + kv_head) *
           int64_t{block_size} * head_dim;
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
