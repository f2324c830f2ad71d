// Fair prefix-cache retention: cached blocks of tenants over their cache
// share are reclaimed before those of tenants within it, LRU within each
// class; shares order reclamation and reserve nothing.
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/block_pool.h"
#include "kvcache/kv_cache_manager.h"
#include "kvcache/tenant_budgets.h"
#include "tests/kvcache/kv_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::kvcache {
namespace {

using ::kvasir::kvcache::testing::BlocksBudget;
using ::kvasir::kvcache::testing::MakeManager;
using ::kvasir::kvcache::testing::NewSequenceFor;
using ::kvasir::kvcache::testing::TenantByName;
using ::kvasir::kvcache::testing::TinyBlockBytes;
using ::kvasir::kvcache::testing::Tokens;
using ::kvasir::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ---- BlockPool: the order itself ----

std::unique_ptr<BlockPool> MakePool(int32_t n) {
  auto pool = BlockPool::Create({.num_blocks = n});
  EXPECT_TRUE(pool.ok()) << pool.status();
  return *std::move(pool);
}

// Allocates every block of `pool`, then caches and releases them in the
// order given: {block, owner} pairs (blocks not named stay used).
void CacheInOrder(BlockPool& pool,
                  const std::vector<std::pair<int32_t, int32_t>>& order) {
  while (pool.available_blocks() > 0) pool.Allocate();
  for (const auto& [block, owner] : order) {
    pool.MarkCached(block, owner);
    pool.Unref(block);
  }
}

// The blocks the next `n` allocations reclaim, in order.
std::vector<int32_t> Reclaim(BlockPool& pool, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    const BlockPool::Taken t = pool.Allocate();
    EXPECT_TRUE(t.evicted) << "block " << t.block;
    out.push_back(t.block);
  }
  return out;
}

TEST(CacheSharePoolTest, OverShareOwnerGoesFirstLruWithinIt) {
  auto pool = MakePool(6);
  pool->SetShare(0, 2);  // owner 0 holds 2: within its share
  pool->SetShare(1, 1);  // owner 1 holds 4: over
  // Owner 0's blocks are the oldest; plain LRU would take them first.
  CacheInOrder(*pool, {{0, 0}, {1, 0}, {4, 1}, {2, 1}, {5, 1}, {3, 1}});
  EXPECT_EQ(pool->cached_blocks(0), 2);
  EXPECT_EQ(pool->cached_blocks(1), 4);
  // Owner 1 down to its share, LRU; then everyone is within: global LRU.
  EXPECT_THAT(Reclaim(*pool, 6), ElementsAre(4, 2, 5, 0, 1, 3));
  EXPECT_EQ(pool->cached_blocks(0), 0);
  EXPECT_EQ(pool->cached_blocks(1), 0);
}

TEST(CacheSharePoolTest, EveryoneWithinShareIsGlobalLru) {
  auto pool = MakePool(4);
  pool->SetShare(0, 10);
  pool->SetShare(1, 10);
  CacheInOrder(*pool, {{2, 0}, {0, 1}, {3, 0}, {1, 1}});
  EXPECT_THAT(Reclaim(*pool, 4), ElementsAre(2, 0, 3, 1));
}

TEST(CacheSharePoolTest, EveryoneOverShareIsGlobalLru) {
  auto pool = MakePool(4);  // shares default to 0
  CacheInOrder(*pool, {{2, 0}, {0, 1}, {3, 0}, {1, 1}});
  EXPECT_THAT(Reclaim(*pool, 4), ElementsAre(2, 0, 3, 1));
}

TEST(CacheSharePoolTest, OwnersLeaveTheOverClassAsTheyReachTheirShare) {
  auto pool = MakePool(5);
  pool->SetShare(0, 1);
  pool->SetShare(1, 1);
  // Owner 0: 0, 1, 2 (oldest); owner 1: 3, 4.
  CacheInOrder(*pool, {{0, 0}, {1, 0}, {2, 0}, {3, 1}, {4, 1}});
  // Both over: LRU takes 0 and 1; owner 0 is then within (1 <= 1) and
  // owner 1 still over, so 3 goes before the older 2; then global LRU.
  EXPECT_THAT(Reclaim(*pool, 5), ElementsAre(0, 1, 3, 2, 4));
}

TEST(CacheSharePoolTest, FreeBlocksStillGoBeforeAnyCachedOne) {
  auto pool = MakePool(3);
  pool->SetShare(0, 0);
  CacheInOrder(*pool, {{0, 0}});
  pool->Unref(1);  // free, not cached
  const BlockPool::Taken t = pool->Allocate();
  EXPECT_EQ(t.block, 1);
  EXPECT_FALSE(t.evicted);
}

TEST(CacheSharePoolTest, HitsAndUncacheKeepPerOwnerCounts) {
  auto pool = MakePool(3);
  CacheInOrder(*pool, {{0, 0}, {1, 0}, {2, 1}});
  EXPECT_EQ(pool->owner(1), 0);
  pool->Ref(1);  // a prefix hit: no longer reclaimable
  EXPECT_EQ(pool->cached_blocks(0), 1);
  pool->Uncache(2);
  EXPECT_EQ(pool->cached_blocks(1), 0);
  EXPECT_EQ(pool->owner(2), -1);
  EXPECT_EQ(pool->free_blocks(), 1);
  pool->Unref(1);  // released again: now owner 0's most recent
  EXPECT_EQ(pool->cached_blocks(0), 2);
  EXPECT_EQ(pool->cached_blocks(), 2);
}

// ---- KvCacheManager: tenants, budgets, reload, floors ----

// 4 tokens per block (TinyLayout).
constexpr int32_t kBlock = 4;

TenantBudget WithShare(TenantBudget b, std::optional<int64_t> share_blocks) {
  if (share_blocks.has_value()) {
    b.cache_share_bytes = *share_blocks * TinyBlockBytes();
  }
  return b;
}

// Prefills `prompt` for `tenant` as the scheduler would and releases it;
// returns the prompt tokens it found cached.
int32_t RunOnce(KvCacheManager& m, const std::string& tenant,
                const std::vector<int32_t>& prompt) {
  auto seq = NewSequenceFor(m, tenant);
  EXPECT_TRUE(seq.ok()) << seq.status();
  auto match = m.FindCachedPrefix(*seq, prompt);
  EXPECT_TRUE(match.ok()) << match.status();
  const int64_t rest = static_cast<int64_t>(prompt.size()) - match->num_tokens;
  auto r = m.Allocate(*seq, rest, *match);
  EXPECT_TRUE(r.ok() && r->ok());
  EXPECT_TRUE(m.AppendTokens(*seq, absl::MakeConstSpan(prompt).subspan(
                                       static_cast<size_t>(match->num_tokens)))
                  .ok());
  return match->num_tokens;
}

// Tenant n sends 12 unique 3-block prompts (token ids from `base`): 36
// blocks' worth through a 16-block pool, so the flood overflows it.
void Flood(KvCacheManager& m, int32_t base) {
  const int64_t evicted = m.Stats().evicted_blocks;
  for (int i = 0; i < 12; ++i) {
    RunOnce(m, "n", Tokens(base + 100 * i, 3 * kBlock));
  }
  EXPECT_GE(m.Stats().evicted_blocks - evicted, 12);
}

// Tenant q's prompt: 2 full blocks and one more token.
std::vector<int32_t> QuietPrompt() { return Tokens(100000, 2 * kBlock + 1); }

// Tenant q caches its 2-block prompt prefix once, n floods; returns the
// tokens q then finds cached (8 = all of the prefix).
int32_t QuietTokensAfterFlood(KvCacheManager& m) {
  EXPECT_EQ(RunOnce(m, "q", QuietPrompt()), 0);
  Flood(m, 0);
  return RunOnce(m, "q", QuietPrompt());
}

TEST(CacheShareTest, TenantWithinItsShareKeepsItsPrefixWhileAnotherFloods) {
  auto m = MakeManager(16, {WithShare(BlocksBudget("q", 0, 16), 2),
                            WithShare(BlocksBudget("n", 0, 16), 4)});
  EXPECT_EQ(QuietTokensAfterFlood(*m), 2 * kBlock);
  const TenantKvStats q = *TenantByName(*m, "q");
  EXPECT_EQ(q.cache_share_blocks, 2);
  EXPECT_EQ(q.cache_share_bytes, 2 * TinyBlockBytes());
  EXPECT_EQ(q.cached_blocks, 2);
  EXPECT_EQ(q.cached_bytes, 2 * TinyBlockBytes());
  // n holds the rest of the cache but the free block q's partial last
  // block went back as; cached blocks count against no one.
  EXPECT_EQ(TenantByName(*m, "n")->cached_blocks, 13);
  EXPECT_EQ(m->free_blocks(), 1);
  EXPECT_EQ(q.used_blocks, 0);
}

TEST(CacheShareTest, WithoutSharesTheFloodEvictsTheQuietTenant) {
  // The same run with every share 0 is one global LRU: q loses its prefix.
  auto m = MakeManager(16, {WithShare(BlocksBudget("q", 0, 16), 0),
                            WithShare(BlocksBudget("n", 0, 16), 0)});
  EXPECT_EQ(QuietTokensAfterFlood(*m), 0);
}

TEST(CacheShareTest, ShareDefaultsToTheReservedFloor) {
  auto m =
      MakeManager(16, {BlocksBudget("q", 2, 16), BlocksBudget("n", 0, 16)});
  EXPECT_EQ(TenantByName(*m, "q")->cache_share_blocks, 2);
  EXPECT_EQ(TenantByName(*m, "n")->cache_share_blocks, 0);
  EXPECT_EQ(QuietTokensAfterFlood(*m), 2 * kBlock);
}

TEST(CacheShareTest, BytesRoundUpToBlocksAndCapAtThePool) {
  TenantBudget q = BlocksBudget("q", 0, 16);
  q.cache_share_bytes = TinyBlockBytes() + 1;  // a byte over one block
  TenantBudget n = BlocksBudget("n", 0, 16);
  n.cache_share_bytes = 16 * TinyBlockBytes();
  auto m = MakeManager(16, {q, n});
  EXPECT_EQ(TenantByName(*m, "q")->cache_share_blocks, 2);
  EXPECT_EQ(TenantByName(*m, "n")->cache_share_blocks, 16);
  // Shares may add up to more than the pool (18 > 16): they reserve
  // nothing, and with both within their share the order is plain LRU.
  EXPECT_EQ(QuietTokensAfterFlood(*m), 0);
}

TEST(CacheShareTest, ReloadChangesTheOrder) {
  auto m = MakeManager(16, {WithShare(BlocksBudget("q", 0, 16), 0),
                            WithShare(BlocksBudget("n", 0, 16), 0)});
  EXPECT_EQ(RunOnce(*m, "q", QuietPrompt()), 0);
  // The new shares apply to blocks cached before the reload too.
  ASSERT_OK(m->SetBudgets({WithShare(BlocksBudget("q", 0, 16), 2),
                           WithShare(BlocksBudget("n", 0, 16), 0)}));
  EXPECT_EQ(TenantByName(*m, "q")->cache_share_blocks, 2);
  Flood(*m, 0);
  EXPECT_EQ(RunOnce(*m, "q", QuietPrompt()), 2 * kBlock);
  // And back: with q's share 0 again the flood takes its prefix.
  ASSERT_OK(m->SetBudgets({WithShare(BlocksBudget("q", 0, 16), 0),
                           WithShare(BlocksBudget("n", 0, 16), 0)}));
  EXPECT_EQ(TenantByName(*m, "q")->cache_share_blocks, 0);
  Flood(*m, 50000);
  EXPECT_EQ(RunOnce(*m, "q", QuietPrompt()), 0);
}

TEST(CacheShareTest, AFloorStillTakesAnyonesCachedBlocks) {
  // q's share covers the whole pool; f's floor needs blocks q has cached.
  auto m = MakeManager(
      8, {WithShare(BlocksBudget("q", 0, 8), 8), BlocksBudget("f", 4, 8)});
  RunOnce(*m, "q", Tokens(0, 4 * kBlock));  // 4 blocks, all cached
  ASSERT_EQ(TenantByName(*m, "q")->cached_blocks, 4);
  ASSERT_EQ(m->free_blocks(), 4);
  ASSERT_OK_AND_ASSIGN(KvSequence f, NewSequenceFor(*m, "f"));
  ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(f, 8 * kBlock));
  EXPECT_TRUE(r.ok()) << AllocStatusName(r.status);
  EXPECT_EQ(TenantByName(*m, "q")->cached_blocks, 0);
  EXPECT_EQ(TenantByName(*m, "f")->used_blocks, 8);
  EXPECT_EQ(m->Stats().evicted_blocks, 4);
}

TEST(CacheShareTest, ANegativeShareIsRejectedNamingTheField) {
  TenantBudget q = BlocksBudget("q", 0, 16);
  q.cache_share_bytes = -1;
  KvCacheManager::Options options;
  options.layout = testing::TinyLayout();
  options.capacity_bytes = 16 * TinyBlockBytes();
  EXPECT_THAT(KvCacheManager::Create(options, {q}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cache_share_bytes: -1 bytes must be >= 0")));
  const std::optional<TenantRuleError> e = CheckBudgetBytes({q}, 1 << 20);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "cache_share_bytes");
}

TEST(CacheShareTest, AShareAboveTheCapacityIsRejected) {
  TenantBudget q = BlocksBudget("q", 0, 16);
  q.cache_share_bytes = (1 << 20) + 1;
  const std::optional<TenantRuleError> e = CheckBudgetBytes({q}, 1 << 20);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "cache_share_bytes");
  EXPECT_THAT(e->message, HasSubstr("exceeds the KV cache capacity 1MiB"));
}

}  // namespace
}  // namespace kvasir::kvcache
