#include "kvcache/block_pool.h"

#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kvasir::kvcache {

absl::StatusOr<std::unique_ptr<BlockPool>> BlockPool::Create(
    const Options& options) {
  if (options.num_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BlockPool: num_blocks ", options.num_blocks, " must be >= 1"));
  }
  return std::unique_ptr<BlockPool>(new BlockPool(options.num_blocks));
}

BlockPool::BlockPool(int32_t num_blocks)
    : num_blocks_(num_blocks),
      refcount_(static_cast<size_t>(num_blocks), 0),
      cached_mark_(static_cast<size_t>(num_blocks), 0),
      owner_(static_cast<size_t>(num_blocks), -1),
      stamp_(static_cast<size_t>(num_blocks), 0),
      prev_(static_cast<size_t>(num_blocks) + 1),
      next_(static_cast<size_t>(num_blocks) + 1) {
  const int32_t sentinel = FreeSentinel();
  prev_[sentinel] = next_[sentinel] = sentinel;
  for (int32_t b = 0; b < num_blocks_; ++b) PushTail(sentinel, b);
  free_ = num_blocks_;
}

void BlockPool::EnsureOwner(int32_t owner) {
  assert(owner >= 0);
  while (num_owners() <= owner) {
    const int32_t sentinel = OwnerSentinel(num_owners());
    owners_.emplace_back();
    prev_.push_back(sentinel);
    next_.push_back(sentinel);
  }
}

void BlockPool::SetShare(int32_t owner, int64_t blocks) {
  assert(blocks >= 0);
  EnsureOwner(owner);
  owners_[owner].share = blocks;
}

int32_t BlockPool::VictimOwner() const {
  int32_t best = -1;
  bool best_over = false;
  uint64_t best_stamp = 0;
  for (int32_t o = 0; o < num_owners(); ++o) {
    const Owner& owner = owners_[o];
    if (owner.cached == 0) continue;
    const bool over = owner.cached > owner.share;
    const uint64_t stamp = stamp_[next_[OwnerSentinel(o)]];
    if (best < 0 || (over && !best_over) ||
        (over == best_over && stamp < best_stamp)) {
      best = o;
      best_over = over;
      best_stamp = stamp;
    }
  }
  assert(best >= 0);
  return best;
}

void BlockPool::PushHead(int32_t list, int32_t block) {
  const int32_t first = next_[list];
  prev_[block] = list;
  next_[block] = first;
  prev_[first] = block;
  next_[list] = block;
}

void BlockPool::PushTail(int32_t list, int32_t block) {
  const int32_t last = prev_[list];
  next_[block] = list;
  prev_[block] = last;
  next_[last] = block;
  prev_[list] = block;
}

void BlockPool::Unlink(int32_t block) {
  next_[prev_[block]] = next_[block];
  prev_[next_[block]] = prev_[block];
  prev_[block] = next_[block] = -1;
}

BlockPool::Taken BlockPool::Allocate() {
  assert(available_blocks() > 0);
  Taken taken;
  if (free_ > 0) {
    taken.block = next_[FreeSentinel()];
    --free_;
  } else {
    const int32_t owner = VictimOwner();
    taken.block = next_[OwnerSentinel(owner)];
    --owners_[owner].cached;
    --cached_;
    cached_mark_[taken.block] = 0;
    owner_[taken.block] = -1;
    taken.evicted = true;
  }
  Unlink(taken.block);
  refcount_[taken.block] = 1;
  return taken;
}

void BlockPool::Ref(int32_t block) {
  assert(refcount_[block] > 0 || cached_mark_[block] != 0);
  if (refcount_[block] == 0) {
    Unlink(block);
    --owners_[owner_[block]].cached;
    --cached_;
  }
  ++refcount_[block];
}

int32_t BlockPool::Unref(int32_t block) {
  assert(refcount_[block] > 0);
  const int32_t left = --refcount_[block];
  if (left == 0) {
    if (cached_mark_[block] != 0) {
      const int32_t owner = owner_[block];
      stamp_[block] = next_stamp_++;
      PushTail(OwnerSentinel(owner), block);
      ++owners_[owner].cached;
      ++cached_;
    } else {
      PushHead(FreeSentinel(), block);
      ++free_;
    }
  }
  return left;
}

void BlockPool::MarkCached(int32_t block, int32_t owner) {
  assert(refcount_[block] > 0 && cached_mark_[block] == 0);
  EnsureOwner(owner);
  cached_mark_[block] = 1;
  owner_[block] = owner;
}

void BlockPool::Uncache(int32_t block) {
  assert(cached_mark_[block] != 0);
  cached_mark_[block] = 0;
  if (refcount_[block] == 0) {
    Unlink(block);
    --owners_[owner_[block]].cached;
    PushHead(FreeSentinel(), block);
    --cached_;
    ++free_;
  }
  owner_[block] = -1;
}

}  // namespace kvasir::kvcache
