#ifndef KVASIR_KVCACHE_BLOCK_POOL_H_
#define KVASIR_KVCACHE_BLOCK_POOL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace kvasir::kvcache {

// The physical blocks of the KV cache: reference counts, the free list and
// the cached blocks' reclamation order. It knows nothing about tenants or
// token contents; KvCacheManager drives it and names each cached block's
// owner (its tenant id) and each owner's share.
//
// Every block is in exactly one of three states:
//   used      refcount > 0 (referenced by one or more sequences)
//   free      refcount == 0, not cached: holds nothing anyone wants
//   cached    refcount == 0, cached: holds a full block the prefix cache
//             knows; reclaimable, so it counts as available
// A used block may also carry the cached mark (a full block of a running
// sequence that another sequence could share) and its owner.
//
// Allocate takes a free block while there is one (most recently freed
// first, its memory is warm); only then does it reclaim a cached block:
// first from the owners holding more cached blocks than their share, only
// then from owners within their share; within either class the least
// recently released block goes first (so when every owner is over its
// share, or every one within it, the order is one global LRU). A share
// reserves nothing: shares may add up to more than the pool, and a cached
// block is available to any allocation whatever its owner's share.
//
// Cost: the free list and each owner's cached blocks are doubly linked
// lists threaded through arrays indexed by block id (one sentinel per list),
// so every operation is O(1) except that reclaiming a cached block compares
// the heads of the owners' lists: O(owners), never O(blocks).
//
// Not thread-safe. Preconditions are the caller's (KvCacheManager's) job and
// are checked only by assert().
class BlockPool {
 public:
  struct Options {
    // Number of blocks, >= 1 (KvArena::num_blocks()).
    int32_t num_blocks = 0;
  };

  // InvalidArgument when num_blocks < 1. All blocks start free; the first
  // allocations return 0, 1, 2, ...
  static absl::StatusOr<std::unique_ptr<BlockPool>> Create(
      const Options& options);

  BlockPool(const BlockPool&) = delete;
  BlockPool& operator=(const BlockPool&) = delete;

  int32_t num_blocks() const { return num_blocks_; }
  int32_t free_blocks() const { return free_; }
  int32_t cached_blocks() const { return cached_; }  // unreferenced, cached
  int32_t used_blocks() const { return num_blocks_ - free_ - cached_; }
  // Free + cached: what an allocation can take.
  int32_t available_blocks() const { return free_ + cached_; }

  int32_t refcount(int32_t block) const { return refcount_[block]; }
  bool is_cached(int32_t block) const { return cached_mark_[block] != 0; }

  struct Taken {
    int32_t block = -1;
    // The block was cached: its contents are gone, and the caller must drop
    // it from the prefix cache. Its cached mark is already cleared.
    bool evicted = false;
  };
  // Takes a free block, else reclaims a cached one (see the class comment),
  // and sets its refcount to 1. Precondition: available_blocks() > 0.
  Taken Allocate();

  // refcount++. An unreferenced cached block leaves its owner's list (a
  // prefix-cache hit). Precondition: refcount(block) > 0 or
  // is_cached(block).
  void Ref(int32_t block);

  // refcount--; returns the new count. At 0 a cached block joins its
  // owner's list as the most recently released; another joins the head of
  // the free list.
  // Precondition: refcount(block) > 0.
  int32_t Unref(int32_t block);

  // Marks a used block as cached, held by `owner` (>= 0; owners are small
  // dense ids, a new one starts with share 0). Precondition:
  // refcount(block) > 0 and !is_cached(block).
  void MarkCached(int32_t block, int32_t owner);

  // Clears the cached mark. An unreferenced cached block becomes free (it
  // moves to the head of the free list). Precondition: is_cached(block).
  void Uncache(int32_t block);

  // How many unreferenced cached blocks `owner` (>= 0) may hold before its
  // blocks are reclaimed ahead of the owners within their share; >= 0.
  // Takes effect at the next reclamation. O(1) (amortized when `owner` is
  // new).
  void SetShare(int32_t owner, int64_t blocks);
  int64_t share(int32_t owner) const {
    return owner < num_owners() ? owners_[owner].share : 0;
  }
  // Unreferenced cached blocks of `owner` (>= 0).
  int32_t cached_blocks(int32_t owner) const {
    return owner < num_owners() ? owners_[owner].cached : 0;
  }
  // The owner of a cached block; -1 when !is_cached(block).
  int32_t owner(int32_t block) const { return owner_[block]; }

 private:
  explicit BlockPool(int32_t num_blocks);

  struct Owner {
    int64_t share = 0;   // blocks
    int32_t cached = 0;  // unreferenced cached blocks in its list
  };

  int32_t num_owners() const { return static_cast<int32_t>(owners_.size()); }
  int32_t FreeSentinel() const { return num_blocks_; }
  int32_t OwnerSentinel(int32_t owner) const { return num_blocks_ + 1 + owner; }
  void EnsureOwner(int32_t owner);
  // The owner whose least recently released block goes next.
  // Precondition: cached_ > 0.
  int32_t VictimOwner() const;
  void PushHead(int32_t list, int32_t block);
  void PushTail(int32_t list, int32_t block);
  void Unlink(int32_t block);

  int32_t num_blocks_;
  int32_t free_ = 0;
  int32_t cached_ = 0;
  // Release order of cached blocks: each release takes the next stamp.
  uint64_t next_stamp_ = 0;
  std::vector<int32_t> refcount_;
  std::vector<uint8_t> cached_mark_;
  std::vector<int32_t> owner_;   // per block; -1 when not cached
  std::vector<uint64_t> stamp_;  // per block; when it last became cached
  std::vector<Owner> owners_;
  // Circular lists: the free list's sentinel is index num_blocks_, owner
  // o's is num_blocks_ + 1 + o. Only blocks with refcount 0 are linked.
  std::vector<int32_t> prev_;
  std::vector<int32_t> next_;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_BLOCK_POOL_H_
