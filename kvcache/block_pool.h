#ifndef KVASIR_KVCACHE_BLOCK_POOL_H_
#define KVASIR_KVCACHE_BLOCK_POOL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"

namespace kvasir::kvcache {

// The physical blocks of the KV cache: reference counts and the free queue.
// It knows nothing about tenants or token contents; KvCacheManager drives it.
//
// Every block is in exactly one of three states:
//   used      refcount > 0 (referenced by one or more sequences)
//   free      refcount == 0, not cached: holds nothing anyone wants
//   cached    refcount == 0, cached: holds a full block the prefix cache
//             knows; reclaimable, so it counts as available
// A used block may also carry the cached mark (a full block of a running
// sequence that another sequence could share).
//
// The free queue holds the free and cached blocks in the order they are
// reused: free blocks first (most recently freed first, their memory is
// warm), then cached blocks from least to most recently released (LRU), so
// a cached block is only reclaimed when no free block is left, and the
// oldest goes first. Every operation is O(1): the queue is a doubly linked
// list threaded through arrays indexed by block id.
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
  // Takes the head of the free queue and sets its refcount to 1.
  // Precondition: available_blocks() > 0.
  Taken Allocate();

  // refcount++. An unreferenced cached block leaves the free queue (a
  // prefix-cache hit). Precondition: refcount(block) > 0 or
  // is_cached(block).
  void Ref(int32_t block);

  // refcount--; returns the new count. At 0 the block joins the free queue:
  // at the tail if cached (most recently used), at the head otherwise.
  // Precondition: refcount(block) > 0.
  int32_t Unref(int32_t block);

  // Marks a used block as cached. Precondition: refcount(block) > 0 and
  // !is_cached(block).
  void MarkCached(int32_t block);

  // Clears the cached mark. An unreferenced cached block becomes free (it
  // moves to the head of the queue). Precondition: is_cached(block).
  void Uncache(int32_t block);

 private:
  explicit BlockPool(int32_t num_blocks);

  void PushHead(int32_t block);
  void PushTail(int32_t block);
  void Unlink(int32_t block);

  int32_t num_blocks_;
  int32_t free_ = 0;
  int32_t cached_ = 0;
  std::vector<int32_t> refcount_;
  std::vector<uint8_t> cached_mark_;
  // Circular list with a sentinel at index num_blocks_; only blocks with
  // refcount 0 are linked.
  std::vector<int32_t> prev_;
  std::vector<int32_t> next_;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_BLOCK_POOL_H_
