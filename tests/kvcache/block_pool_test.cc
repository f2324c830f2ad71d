#include "kvcache/block_pool.h"

#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::kvcache {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

std::unique_ptr<BlockPool> MakePool(int32_t n) {
  auto pool = BlockPool::Create({.num_blocks = n});
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *std::move(pool);
}

TEST(BlockPoolTest, RejectsEmptyPool) {
  EXPECT_THAT(
      BlockPool::Create({.num_blocks = 0}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_blocks 0")));
}

TEST(BlockPoolTest, AllocatesInOrderAndCounts) {
  auto pool = MakePool(4);
  EXPECT_EQ(pool->free_blocks(), 4);
  for (int32_t want = 0; want < 4; ++want) {
    const BlockPool::Taken t = pool->Allocate();
    EXPECT_EQ(t.block, want);
    EXPECT_FALSE(t.evicted);
    EXPECT_EQ(pool->refcount(want), 1);
  }
  EXPECT_EQ(pool->available_blocks(), 0);
  EXPECT_EQ(pool->used_blocks(), 4);
}

TEST(BlockPoolTest, RefcountKeepsBlockUntilLastUnref) {
  auto pool = MakePool(2);
  const int32_t b = pool->Allocate().block;
  pool->Ref(b);
  EXPECT_EQ(pool->refcount(b), 2);
  EXPECT_EQ(pool->Unref(b), 1);
  EXPECT_EQ(pool->free_blocks(), 1);
  EXPECT_EQ(pool->Unref(b), 0);
  EXPECT_EQ(pool->free_blocks(), 2);
}

TEST(BlockPoolTest, FreedUncachedBlockIsReusedFirst) {
  auto pool = MakePool(4);
  pool->Allocate();                           // 0
  const int32_t b1 = pool->Allocate().block;  // 1
  pool->Unref(b1);
  // Block 1 goes to the head of the queue, ahead of never-used 2 and 3.
  EXPECT_EQ(pool->Allocate().block, b1);
  EXPECT_EQ(pool->Allocate().block, 2);
}

TEST(BlockPoolTest, CachedBlocksAreReclaimedLastInLruOrder) {
  auto pool = MakePool(5);
  int32_t b[5];
  for (int i = 0; i < 5; ++i) b[i] = pool->Allocate().block;
  // Blocks 0, 1, 2 are cached and released in the order 1, 0, 2; blocks 3
  // and 4 are released uncached afterwards.
  for (int i : {0, 1, 2}) pool->MarkCached(b[i], 0);
  pool->Unref(b[1]);
  pool->Unref(b[0]);
  pool->Unref(b[2]);
  pool->Unref(b[3]);
  pool->Unref(b[4]);
  EXPECT_EQ(pool->cached_blocks(), 3);
  EXPECT_EQ(pool->free_blocks(), 2);

  // Uncached first (most recently freed first), then cached LRU.
  const int32_t want[] = {4, 3, 1, 0, 2};
  for (int32_t w : want) {
    const BlockPool::Taken t = pool->Allocate();
    EXPECT_EQ(t.block, w);
    EXPECT_EQ(t.evicted, w <= 2) << "block " << w;
    EXPECT_FALSE(pool->is_cached(t.block));
  }
  EXPECT_EQ(pool->available_blocks(), 0);
}

TEST(BlockPoolTest, RefOnCachedBlockTakesItOffTheQueue) {
  auto pool = MakePool(3);
  const int32_t a = pool->Allocate().block;
  const int32_t c = pool->Allocate().block;
  pool->MarkCached(a, 0);
  pool->MarkCached(c, 0);
  pool->Unref(a);
  pool->Unref(c);
  EXPECT_EQ(pool->cached_blocks(), 2);
  // A prefix hit on `a` makes it used again; when released it becomes the
  // most recently used, so `c` is now the eviction candidate.
  pool->Ref(a);
  EXPECT_EQ(pool->cached_blocks(), 1);
  EXPECT_EQ(pool->used_blocks(), 1);
  pool->Unref(a);
  EXPECT_EQ(pool->Allocate().block, 2);  // the free block first
  EXPECT_EQ(pool->Allocate().block, c);
  EXPECT_EQ(pool->Allocate().block, a);
}

TEST(BlockPoolTest, UncacheMakesAnUnreferencedBlockFree) {
  auto pool = MakePool(3);
  const int32_t a = pool->Allocate().block;
  pool->MarkCached(a, 0);
  pool->Unref(a);
  EXPECT_EQ(pool->cached_blocks(), 1);
  pool->Uncache(a);
  EXPECT_EQ(pool->cached_blocks(), 0);
  EXPECT_EQ(pool->free_blocks(), 3);
  const BlockPool::Taken t = pool->Allocate();
  EXPECT_EQ(t.block, a);  // moved to the head
  EXPECT_FALSE(t.evicted);
}

TEST(BlockPoolTest, UncacheOnUsedBlockOnlyClearsTheMark) {
  auto pool = MakePool(2);
  const int32_t a = pool->Allocate().block;
  pool->MarkCached(a, 0);
  pool->Uncache(a);
  EXPECT_FALSE(pool->is_cached(a));
  EXPECT_EQ(pool->refcount(a), 1);
  pool->Unref(a);
  EXPECT_EQ(pool->free_blocks(), 2);
  EXPECT_EQ(pool->cached_blocks(), 0);
}

}  // namespace
}  // namespace kvasir::kvcache
