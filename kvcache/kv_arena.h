#ifndef KVASIR_KVCACHE_KV_ARENA_H_
#define KVASIR_KVCACHE_KV_ARENA_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kvcache/kv_layout.h"

namespace kvasir::kvcache {

// The memory of the paged KV cache: one allocation made at start-up and
// carved into `num_blocks()` blocks of `layout().BlockBytes()` bytes each
// (see kv_layout.h for the layout inside a block). The arena only stores;
// it does not know which blocks are in use (BlockPool does).
//
// Move-only. Reads and writes of distinct blocks from different threads are
// safe; the arena itself has no mutable state besides the bytes.
class KvArena {
 public:
  // num_blocks = capacity_bytes / layout.BlockBytes(). InvalidArgument if
  // the layout is invalid or the capacity holds no block (the message gives
  // the block size in bytes). The memory is 64-byte aligned, zeroed, and
  // committed (faulted in) here: ResourceExhausted when the machine cannot
  // give it.
  static absl::StatusOr<KvArena> Create(const KvLayout& layout,
                                        int64_t capacity_bytes);

  KvArena(KvArena&&) = default;
  KvArena& operator=(KvArena&&) = default;
  KvArena(const KvArena&) = delete;
  KvArena& operator=(const KvArena&) = delete;
  ~KvArena() = default;

  const KvLayout& layout() const { return layout_; }
  int32_t num_blocks() const { return num_blocks_; }

  // Start of block `block` (0 <= block < num_blocks()).
  std::byte* block(int32_t block) {
    return base_.get() + static_cast<size_t>(block) * block_bytes_;
  }
  const std::byte* block(int32_t block) const {
    return base_.get() + static_cast<size_t>(block) * block_bytes_;
  }

  // The [block_size, head_dim] K (kv = 0) or V (kv = 1) matrix of
  // (layer, kv_head) in `block`, typed as the caller's element type T
  // (float for f32, uint16_t for bf16, int8_t for int8; the caller matches
  // layout().dtype).
  template <typename T>
  T* head(int32_t blk, int layer, int kv, int kv_head) {
    return reinterpret_cast<T*>(block(blk) +
                                layout_.HeadByteOffset(layer, kv, kv_head));
  }
  template <typename T>
  const T* head(int32_t blk, int layer, int kv, int kv_head) const {
    return reinterpret_cast<const T*>(
        block(blk) + layout_.HeadByteOffset(layer, kv, kv_head));
  }
  // The block_size f32 scales of that matrix (int8 layouts only; aligned,
  // as Validate guarantees).
  float* scales(int32_t blk, int layer, int kv, int kv_head) {
    return reinterpret_cast<float*>(
        block(blk) + layout_.ScaleByteOffset(layer, kv, kv_head));
  }
  const float* scales(int32_t blk, int layer, int kv, int kv_head) const {
    return reinterpret_cast<const float*>(
        block(blk) + layout_.ScaleByteOffset(layer, kv, kv_head));
  }

 private:
  struct Unmap {
    size_t bytes = 0;
    void operator()(std::byte* p) const;
  };
  KvArena(const KvLayout& layout, int32_t num_blocks,
          std::unique_ptr<std::byte, Unmap> base)
      : layout_(layout),
        block_bytes_(static_cast<size_t>(layout.BlockBytes())),
        num_blocks_(num_blocks),
        base_(std::move(base)) {}

  KvLayout layout_;
  // layout_.BlockBytes(), which block() would otherwise recompute six
  // times for every chunk of keys the attention kernels read. With it and
  // KvDtypeSize / KvDtypeScaleBytes inline (attention_bench, 16 sequences
  // at 1,536 keys, one thread, K/V in L2, GFLOP/s): MQA f32 73.6 -> 77.3,
  // bf16 116.8 -> 126.0; 4 KV heads f32 29.8 -> 32.7, bf16 51.8 -> 62.7.
  size_t block_bytes_ = 0;
  int32_t num_blocks_ = 0;
  std::unique_ptr<std::byte, Unmap> base_;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_KV_ARENA_H_
