#ifndef KVASIR_KVCACHE_BLOCK_TABLE_H_
#define KVASIR_KVCACHE_BLOCK_TABLE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace kvasir::kvcache {

// Where one token's K/V lives: physical block id and slot inside the block.
struct KvSlot {
  int32_t block = -1;
  int32_t offset = 0;  // 0 <= offset < block_size
};

// One sequence's logical-to-physical block mapping: entry i holds token
// positions [i * block_size, (i + 1) * block_size). Plain data: it does not
// own the blocks (KvSequence does, through KvCacheManager) and never touches
// reference counts.
//
// Not thread-safe.
class BlockTable {
 public:
  // block_size >= 1 (tokens per block, KvLayout::block_size).
  explicit BlockTable(int32_t block_size = 16) : block_size_(block_size) {}

  BlockTable(BlockTable&&) = default;
  BlockTable& operator=(BlockTable&&) = default;
  // Copies are explicit (a table names blocks someone else owns).
  BlockTable(const BlockTable&) = delete;
  BlockTable& operator=(const BlockTable&) = delete;
  BlockTable Copy() const;

  int32_t block_size() const { return block_size_; }
  // Physical block ids in logical order: what SequenceStep::block_table
  // takes. Valid until the table changes.
  absl::Span<const int32_t> ids() const { return ids_; }
  int32_t size() const { return static_cast<int32_t>(ids_.size()); }
  bool empty() const { return ids_.empty(); }
  // Tokens the table's blocks can hold: size() * block_size().
  int64_t capacity_tokens() const { return int64_t{size()} * block_size_; }
  int32_t operator[](int32_t i) const { return ids_[i]; }

  // The slot of token position `pos`. Precondition:
  // 0 <= pos < capacity_tokens().
  KvSlot SlotOf(int64_t pos) const {
    return KvSlot{ids_[static_cast<size_t>(pos / block_size_)],
                  static_cast<int32_t>(pos % block_size_)};
  }

  // Appends physical block `block` as the next logical block.
  void Append(int32_t block) { ids_.push_back(block); }
  // Reserves room for `n` entries so later Appends do not reallocate.
  void Reserve(int32_t n) { ids_.reserve(static_cast<size_t>(n)); }
  void Clear() { ids_.clear(); }

 private:
  int32_t block_size_;
  std::vector<int32_t> ids_;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_BLOCK_TABLE_H_
