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
      prev_(static_cast<size_t>(num_blocks) + 1),
      next_(static_cast<size_t>(num_blocks) + 1) {
  const int32_t sentinel = num_blocks_;
  prev_[sentinel] = next_[sentinel] = sentinel;
  for (int32_t b = 0; b < num_blocks_; ++b) PushTail(b);
  free_ = num_blocks_;
}

void BlockPool::PushHead(int32_t block) {
  const int32_t sentinel = num_blocks_;
  const int32_t first = next_[sentinel];
  prev_[block] = sentinel;
  next_[block] = first;
  prev_[first] = block;
  next_[sentinel] = block;
}

void BlockPool::PushTail(int32_t block) {
  const int32_t sentinel = num_blocks_;
  const int32_t last = prev_[sentinel];
  next_[block] = sentinel;
  prev_[block] = last;
  next_[last] = block;
  prev_[sentinel] = block;
}

void BlockPool::Unlink(int32_t block) {
  next_[prev_[block]] = next_[block];
  prev_[next_[block]] = prev_[block];
  prev_[block] = next_[block] = -1;
}

BlockPool::Taken BlockPool::Allocate() {
  assert(available_blocks() > 0);
  const int32_t block = next_[num_blocks_];
  Unlink(block);
  Taken taken{block, false};
  if (cached_mark_[block] != 0) {
    cached_mark_[block] = 0;
    --cached_;
    taken.evicted = true;
  } else {
    --free_;
  }
  refcount_[block] = 1;
  return taken;
}

void BlockPool::Ref(int32_t block) {
  assert(refcount_[block] > 0 || cached_mark_[block] != 0);
  if (refcount_[block] == 0) {
    Unlink(block);
    --cached_;
  }
  ++refcount_[block];
}

int32_t BlockPool::Unref(int32_t block) {
  assert(refcount_[block] > 0);
  const int32_t left = --refcount_[block];
  if (left == 0) {
    if (cached_mark_[block] != 0) {
      PushTail(block);
      ++cached_;
    } else {
      PushHead(block);
      ++free_;
    }
  }
  return left;
}

void BlockPool::MarkCached(int32_t block) {
  assert(refcount_[block] > 0 && cached_mark_[block] == 0);
  cached_mark_[block] = 1;
}

void BlockPool::Uncache(int32_t block) {
  assert(cached_mark_[block] != 0);
  cached_mark_[block] = 0;
  if (refcount_[block] == 0) {
    Unlink(block);
    PushHead(block);
    --cached_;
    ++free_;
  }
}

}  // namespace kvasir::kvcache
