#ifndef KVASIR_KVCACHE_KV_SEQUENCE_H_
#define KVASIR_KVCACHE_KV_SEQUENCE_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "kvcache/block_table.h"
#include "kvcache/prefix_cache.h"

namespace kvasir::kvcache {

class KvCacheManager;

// One sequence's hold on KV-cache blocks: a move-only RAII handle (TGI's
// BlockAllocation). It owns the sequence's BlockTable and a reference on
// every block in it; destroying it or calling Free() gives them back, so a
// cancelled or failed request cannot leak blocks.
//
// Created by KvCacheManager::NewSequence for one tenant; grown with
// KvCacheManager::Allocate and AppendTokens. The manager must outlive every
// handle it created (the destructor calls back into it).
//
// Not thread-safe; used on the manager's thread.
class KvSequence {
 public:
  // An empty handle: valid() is false and it holds nothing.
  KvSequence() = default;
  KvSequence(KvSequence&& other) noexcept;
  KvSequence& operator=(KvSequence&& other) noexcept;
  KvSequence(const KvSequence&) = delete;
  KvSequence& operator=(const KvSequence&) = delete;
  ~KvSequence() { Free(); }

  // False for a default-constructed, moved-from or freed handle.
  bool valid() const { return manager_ != nullptr; }

  // The tenant's id in its manager (KvCacheManager::TenantName).
  int32_t tenant_id() const { return tenant_; }

  // Tokens whose K/V is in the cache: attached from the prefix cache or
  // recorded with KvCacheManager::AppendTokens. The next token the model
  // writes goes to position num_tokens().
  int32_t num_tokens() const { return num_tokens_; }
  // Of num_tokens(), those attached from the prefix cache (not computed).
  int32_t num_cached_tokens() const { return cached_tokens_; }
  // Tokens the allocated blocks hold: num_blocks() * block_size.
  int64_t capacity_tokens() const { return table_.capacity_tokens(); }
  int32_t num_blocks() const { return table_.size(); }

  // Physical block ids covering positions [0, capacity_tokens()), in order:
  // SequenceStep::block_table. Valid until the sequence changes.
  absl::Span<const int32_t> block_table() const { return table_.ids(); }
  const BlockTable& table() const { return table_; }

  // Releases every block (refcount--; blocks nobody else references become
  // free, or stay cached for prefix reuse) and empties the handle.
  // No-op on an empty handle.
  void Free();

 private:
  friend class KvCacheManager;

  KvSequence(KvCacheManager* manager, int32_t tenant, int32_t block_size,
             bool hashing);
  void TakeFrom(KvSequence& other);

  KvCacheManager* manager_ = nullptr;
  int32_t tenant_ = -1;
  BlockTable table_;
  int32_t num_tokens_ = 0;
  int32_t cached_tokens_ = 0;
  // Prefix-cache hash chain over the full blocks written so far: while
  // hashing_, hashed_blocks_ * block_size + pending_.size() == num_tokens_.
  bool hashing_ = false;
  int32_t hashed_blocks_ = 0;
  BlockHash chain_hash_ = kRootBlockHash;
  std::vector<int32_t> pending_;  // ids of the partial block; reserved
                                  // once, at the first AppendTokens
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_KV_SEQUENCE_H_
