#include "kvcache/prefix_cache.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::kvcache {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr int32_t kTenantA = 0;
constexpr int32_t kTenantB = 1;

std::unique_ptr<PrefixCache> MakeCache() {
  auto cache = PrefixCache::Create({.num_blocks = 8, .block_size = 2});
  EXPECT_TRUE(cache.ok()) << cache.status();
  return *std::move(cache);
}

// Inserts the chain of full blocks of `tokens` for `tenant` into physical
// blocks `blocks` (one per full block).
void InsertChain(PrefixCache& cache, int32_t tenant,
                 const std::vector<int32_t>& tokens,
                 const std::vector<int32_t>& blocks) {
  BlockHash parent = kRootBlockHash;
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto span = absl::MakeConstSpan(tokens).subspan(i * 2, 2);
    const BlockHash h = PrefixCache::HashBlock(tenant, parent, span);
    ASSERT_TRUE(cache.Insert(blocks[i], tenant, parent, h, span));
    parent = h;
  }
}

TEST(PrefixCacheTest, RejectsBadOptions) {
  EXPECT_THAT(
      PrefixCache::Create({.num_blocks = 0, .block_size = 2}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("num_blocks")));
  EXPECT_THAT(
      PrefixCache::Create({.num_blocks = 4, .block_size = 0}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("block_size")));
}

TEST(PrefixCacheTest, HashChainDependsOnTenantParentAndTokens) {
  const std::vector<int32_t> t1 = {1, 2};
  const std::vector<int32_t> t2 = {1, 3};
  const BlockHash h = PrefixCache::HashBlock(kTenantA, kRootBlockHash, t1);
  EXPECT_EQ(h, PrefixCache::HashBlock(kTenantA, kRootBlockHash, t1));
  EXPECT_NE(h, PrefixCache::HashBlock(kTenantB, kRootBlockHash, t1));
  EXPECT_NE(h, PrefixCache::HashBlock(kTenantA, kRootBlockHash, t2));
  EXPECT_NE(h, PrefixCache::HashBlock(kTenantA, h, t1));
}

TEST(PrefixCacheTest, MatchesTheLongestCachedPrefix) {
  auto cache = MakeCache();
  InsertChain(*cache, kTenantA, {1, 2, 3, 4, 5, 6}, {5, 3, 7});
  std::vector<int32_t> blocks;
  std::vector<BlockHash> hashes;
  // Diverges in the third block.
  EXPECT_EQ(cache->Match(kTenantA, std::vector<int32_t>{1, 2, 3, 4, 9, 9, 9},
                         10, &blocks, &hashes),
            2);
  EXPECT_THAT(blocks, ElementsAre(5, 3));
  ASSERT_EQ(hashes.size(), 2u);
  EXPECT_TRUE(cache->Holds(5, hashes[0]));
  EXPECT_TRUE(cache->Holds(3, hashes[1]));

  // Capped by max_blocks and by whole blocks of the input.
  blocks.clear();
  hashes.clear();
  EXPECT_EQ(cache->Match(kTenantA, std::vector<int32_t>{1, 2, 3, 4, 5, 6}, 1,
                         &blocks, &hashes),
            1);
  EXPECT_THAT(blocks, ElementsAre(5));
  blocks.clear();
  hashes.clear();
  EXPECT_EQ(cache->Match(kTenantA, std::vector<int32_t>{1, 2, 3}, 10, &blocks,
                         &hashes),
            1);

  // Same tokens after a different first block: no match at all.
  blocks.clear();
  hashes.clear();
  EXPECT_EQ(cache->Match(kTenantA, std::vector<int32_t>{0, 0, 3, 4}, 10,
                         &blocks, &hashes),
            0);
  EXPECT_THAT(blocks, IsEmpty());
}

TEST(PrefixCacheTest, NeverMatchesAnotherTenantsBlocks) {
  auto cache = MakeCache();
  InsertChain(*cache, kTenantA, {1, 2, 3, 4}, {0, 1});
  std::vector<int32_t> blocks;
  std::vector<BlockHash> hashes;
  EXPECT_EQ(cache->Match(kTenantB, std::vector<int32_t>{1, 2, 3, 4}, 10,
                         &blocks, &hashes),
            0);
  // Even a forged entry whose key is B's hash but whose tenant is A is not
  // served to B: the tenant id is compared, not only hashed.
  const std::vector<int32_t> t = {7, 7};
  const BlockHash b_key = PrefixCache::HashBlock(kTenantB, kRootBlockHash, t);
  ASSERT_TRUE(cache->Insert(4, kTenantA, kRootBlockHash, b_key, t));
  EXPECT_EQ(cache->Match(kTenantB, t, 10, &blocks, &hashes), 0);
}

TEST(PrefixCacheTest, HashCollisionIsAMissNotAWrongBlock) {
  auto cache = MakeCache();
  // An entry keyed by the hash of {1, 2} that holds {8, 9}: what a 64-bit
  // collision would look like.
  const std::vector<int32_t> wanted = {1, 2};
  const std::vector<int32_t> stored = {8, 9};
  const BlockHash key =
      PrefixCache::HashBlock(kTenantA, kRootBlockHash, wanted);
  ASSERT_TRUE(cache->Insert(2, kTenantA, kRootBlockHash, key, stored));
  std::vector<int32_t> blocks;
  std::vector<BlockHash> hashes;
  EXPECT_EQ(cache->Match(kTenantA, wanted, 10, &blocks, &hashes), 0);
}

TEST(PrefixCacheTest, ContentIsCachedOnceAndEraseForgets) {
  auto cache = MakeCache();
  const std::vector<int32_t> t = {4, 4};
  const BlockHash h = PrefixCache::HashBlock(kTenantA, kRootBlockHash, t);
  EXPECT_TRUE(cache->Insert(1, kTenantA, kRootBlockHash, h, t));
  EXPECT_FALSE(cache->Insert(2, kTenantA, kRootBlockHash, h, t));  // dup key
  EXPECT_FALSE(cache->Insert(1, kTenantA, h, h + 1, t));  // block has one
  EXPECT_EQ(cache->size(), 1);
  EXPECT_TRUE(cache->Contains(1));
  EXPECT_FALSE(cache->Contains(2));
  EXPECT_EQ(cache->tenant_of(1), kTenantA);

  cache->Erase(1);
  cache->Erase(1);  // no-op
  EXPECT_EQ(cache->size(), 0);
  EXPECT_FALSE(cache->Holds(1, h));
  std::vector<int32_t> blocks;
  std::vector<BlockHash> hashes;
  EXPECT_EQ(cache->Match(kTenantA, t, 10, &blocks, &hashes), 0);
  // The content can now live in another block.
  EXPECT_TRUE(cache->Insert(2, kTenantA, kRootBlockHash, h, t));
}

}  // namespace
}  // namespace kvasir::kvcache
