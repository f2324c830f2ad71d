#ifndef KVASIR_KVCACHE_PREFIX_CACHE_H_
#define KVASIR_KVCACHE_PREFIX_CACHE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace kvasir::kvcache {

// Hash of a full block in a sequence's hash chain.
using BlockHash = uint64_t;

// The parent hash of a sequence's first block.
inline constexpr BlockHash kRootBlockHash = 0;

// Index of full blocks by content, for prefix reuse (vLLM's automatic prefix
// caching, namespaced by tenant).
//
// Block i of a sequence is keyed by HashBlock(tenant, hash of block i - 1,
// its block_size token ids), so a key names the whole prefix up to and
// including that block, for one tenant. An entry also keeps the tenant,
// parent hash and token ids, and Match() compares them exactly: a 64-bit hash
// collision can cost a cache miss, never a wrong block, and a block of one
// tenant is never served to another (the tenant id is compared, not only
// hashed). Each content is cached once: a second block with the same key is
// not recorded.
//
// The cache only indexes; which cached blocks are reclaimed, and when, is
// BlockPool's free queue (the manager calls Erase when it reuses one).
// Memory is sized at creation: num_blocks * block_size token ids, and a hash
// map reserved for num_blocks entries (there is at most one per block), so
// it never grows.
//
// Not thread-safe.
class PrefixCache {
 public:
  struct Options {
    int32_t num_blocks = 0;  // >= 1: one entry at most per physical block
    int32_t block_size = 0;  // >= 1: tokens per block
  };

  // InvalidArgument when a field is out of range.
  static absl::StatusOr<std::unique_ptr<PrefixCache>> Create(
      const Options& options);

  PrefixCache(const PrefixCache&) = delete;
  PrefixCache& operator=(const PrefixCache&) = delete;

  // The key of a full block: chains `parent` (kRootBlockHash for a
  // sequence's first block) with the tenant namespace and the block's token
  // ids. Stable within a process only (salted like absl::Hash).
  static BlockHash HashBlock(int32_t tenant, BlockHash parent,
                             absl::Span<const int32_t> tokens);

  int32_t block_size() const { return block_size_; }
  // Number of blocks with an entry.
  int32_t size() const { return static_cast<int32_t>(by_hash_.size()); }

  // The longest cached prefix of `tokens` for `tenant`, at most `max_blocks`
  // blocks (only whole blocks of `tokens` are considered). Appends the
  // physical blocks and their hashes, in order, to *blocks and *hashes and
  // returns how many it appended. Does not change the cache.
  int32_t Match(int32_t tenant, absl::Span<const int32_t> tokens,
                int32_t max_blocks, std::vector<int32_t>* blocks,
                std::vector<BlockHash>* hashes) const;

  // Records that physical `block` holds the full block `tokens` (exactly
  // block_size ids) of `tenant`, keyed `hash` = HashBlock(tenant, parent,
  // tokens). Returns false, recording nothing, when `block` already has an
  // entry or another block already holds `hash`.
  bool Insert(int32_t block, int32_t tenant, BlockHash parent, BlockHash hash,
              absl::Span<const int32_t> tokens);

  // Drops `block`'s entry; no-op when it has none.
  void Erase(int32_t block);

  bool Contains(int32_t block) const { return has_entry_[block] != 0; }
  // True when `block` has the entry `hash` (a PrefixMatch is still valid).
  bool Holds(int32_t block, BlockHash hash) const {
    return has_entry_[block] != 0 && hash_[block] == hash;
  }
  // Tenant of `block`'s entry. Precondition: Contains(block).
  int32_t tenant_of(int32_t block) const { return tenant_[block]; }

 private:
  PrefixCache(int32_t num_blocks, int32_t block_size);

  absl::Span<const int32_t> TokensOf(int32_t block) const {
    return absl::MakeConstSpan(tokens_).subspan(
        static_cast<size_t>(block) * block_size_, block_size_);
  }

  int32_t block_size_;
  absl::flat_hash_map<BlockHash, int32_t> by_hash_;
  // Per physical block, meaningful when has_entry_[block] != 0.
  std::vector<uint8_t> has_entry_;
  std::vector<BlockHash> hash_;
  std::vector<BlockHash> parent_;
  std::vector<int32_t> tenant_;
  std::vector<int32_t> tokens_;  // [num_blocks, block_size]
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_PREFIX_CACHE_H_
