// Prefix caching through KvCacheManager: reuse within a tenant, never
// across, per-tenant and global switches, LRU reclaiming, and the
// prepare/apply split of attaching a cached prefix.
#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvcache/kv_cache_manager.h"
#include "tests/kvcache/kv_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::kvcache {
namespace {

using ::kvasir::kvcache::testing::BlocksBudget;
using ::kvasir::kvcache::testing::MakeManager;
using ::kvasir::kvcache::testing::NewSequenceFor;
using ::kvasir::kvcache::testing::TenantByName;
using ::kvasir::kvcache::testing::Tokens;
using ::kvasir::testing::StatusIs;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Runs a whole prompt through the cache as the scheduler would: look up the
// cached prefix, attach it and allocate the rest, record the computed
// tokens. Returns the sequence; the number of cached tokens is
// seq.num_cached_tokens().
KvSequence Prefill(KvCacheManager& m, const std::string& tenant,
                   const std::vector<int32_t>& prompt) {
  auto seq = NewSequenceFor(m, tenant);
  EXPECT_TRUE(seq.ok()) << seq.status();
  auto match = m.FindCachedPrefix(*seq, prompt);
  EXPECT_TRUE(match.ok()) << match.status();
  const int64_t rest = static_cast<int64_t>(prompt.size()) - match->num_tokens;
  auto r = m.Allocate(*seq, rest, *match);
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->ok()) << AllocStatusName(r->status);
  EXPECT_EQ(r->cached_tokens, match->num_tokens);
  EXPECT_TRUE(m.AppendTokens(*seq, absl::MakeConstSpan(prompt).subspan(
                                       static_cast<size_t>(match->num_tokens)))
                  .ok());
  return *std::move(seq);
}

TEST(KvCachePrefixTest, ReusesTheCachedPrefixWithinATenant) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(10, 10);  // 2 full blocks + 2
  KvSequence first = Prefill(*m, "a", prompt);
  EXPECT_EQ(first.num_cached_tokens(), 0);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 3);

  KvSequence second = Prefill(*m, "a", prompt);
  EXPECT_EQ(second.num_cached_tokens(), 8);
  EXPECT_EQ(second.num_tokens(), 10);
  // Same physical blocks for the shared prefix, its own for the rest.
  EXPECT_EQ(second.block_table()[0], first.block_table()[0]);
  EXPECT_EQ(second.block_table()[1], first.block_table()[1]);
  EXPECT_NE(second.block_table()[2], first.block_table()[2]);
  // Shared blocks count once for the tenant.
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 4);
  EXPECT_EQ(m->Stats().used_blocks, 4);
  EXPECT_EQ(m->ReleasableBlocks(second), 1);
  EXPECT_EQ(m->ReleasableBlocks(first), 1);

  // Dropping the first keeps the shared blocks for the second.
  first.Free();
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 3);
  EXPECT_EQ(m->ReleasableBlocks(second), 3);
}

TEST(KvCachePrefixTest, LeavesAtLeastOnePromptTokenToCompute) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 8);  // exactly 2 blocks
  KvSequence first = Prefill(*m, "a", prompt);
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(PrefixMatch match, m->FindCachedPrefix(seq, prompt));
  EXPECT_TRUE(match.looked_up);
  EXPECT_EQ(match.prompt_tokens, 8);
  EXPECT_EQ(match.num_tokens, 4);  // (8 - 1) rounded down to a block
  EXPECT_THAT(match.blocks, SizeIs(1));
  // A longer prompt with the same start gets both blocks.
  ASSERT_OK_AND_ASSIGN(match, m->FindCachedPrefix(seq, Tokens(0, 9)));
  EXPECT_EQ(match.num_tokens, 8);
  // A one-token prompt gets nothing.
  ASSERT_OK_AND_ASSIGN(match, m->FindCachedPrefix(seq, Tokens(0, 1)));
  EXPECT_EQ(match.num_tokens, 0);
  ASSERT_OK_AND_ASSIGN(match, m->FindCachedPrefix(seq, {}));
  EXPECT_EQ(match.num_tokens, 0);
}

TEST(KvCachePrefixTest, NeverReusesAnotherTenantsBlocks) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16), BlocksBudget("b", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 13);
  KvSequence a = Prefill(*m, "a", prompt);
  KvSequence b = Prefill(*m, "b", prompt);
  EXPECT_EQ(b.num_cached_tokens(), 0);
  for (int32_t x : b.block_table()) {
    EXPECT_THAT(a.block_table(), ::testing::Not(::testing::Contains(x)));
  }
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 4);
  EXPECT_EQ(TenantByName(*m, "b")->used_blocks, 4);
  // Each tenant now hits its own copy.
  EXPECT_EQ(Prefill(*m, "a", prompt).num_cached_tokens(), 12);
  KvSequence b2 = Prefill(*m, "b", prompt);
  EXPECT_EQ(b2.num_cached_tokens(), 12);
  EXPECT_EQ(b2.block_table()[0], b.block_table()[0]);
}

TEST(KvCachePrefixTest, TenantWithCachingOffNeitherCachesNorLooksUp) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 16, /*prefix_caching=*/false),
                            BlocksBudget("b", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 9);
  { KvSequence a = Prefill(*m, "a", prompt); }
  EXPECT_EQ(m->reclaimable_blocks(), 0);
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(PrefixMatch match, m->FindCachedPrefix(seq, prompt));
  EXPECT_FALSE(match.looked_up);
  EXPECT_EQ(match.num_tokens, 0);
  KvSequence a2 = Prefill(*m, "a", prompt);
  EXPECT_EQ(a2.num_cached_tokens(), 0);
  EXPECT_FALSE(TenantByName(*m, "a")->prefix_caching);
  EXPECT_EQ(TenantByName(*m, "a")->prefix_lookup_tokens, 0);
  // B still caches.
  { KvSequence b = Prefill(*m, "b", prompt); }
  EXPECT_EQ(m->reclaimable_blocks(), 2);
}

TEST(KvCachePrefixTest, GlobalSwitchTurnsCachingOffForEveryone) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16)}, /*prefix_caching=*/false);
  const std::vector<int32_t> prompt = Tokens(0, 9);
  { KvSequence a = Prefill(*m, "a", prompt); }
  EXPECT_EQ(m->reclaimable_blocks(), 0);
  EXPECT_EQ(Prefill(*m, "a", prompt).num_cached_tokens(), 0);
  EXPECT_FALSE(TenantByName(*m, "a")->prefix_caching);
  EXPECT_EQ(m->Stats().prefix_lookup_tokens, 0);
}

TEST(KvCachePrefixTest, CachedBlocksCountAgainstNoOneAndAreReclaimed) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  { KvSequence a = Prefill(*m, "a", Tokens(0, 17)); }  // 4 full blocks
  KvCacheStats s = m->Stats();
  EXPECT_EQ(s.cached_blocks, 4);
  EXPECT_EQ(s.free_blocks, 4);
  EXPECT_EQ(s.used_blocks, 0);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 0);
  // A full-pool allocation succeeds: free blocks first, then the cache.
  ASSERT_OK_AND_ASSIGN(KvSequence big, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(big, 8 * 4));
  EXPECT_TRUE(r.ok());
  s = m->Stats();
  EXPECT_EQ(s.evicted_blocks, 4);
  EXPECT_EQ(s.cached_blocks, 0);
  EXPECT_EQ(s.used_blocks, 8);
}

TEST(KvCachePrefixTest, FreeBlocksAreUsedBeforeCachedOnes) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  const std::vector<int32_t> prompt = Tokens(0, 9);
  { KvSequence a = Prefill(*m, "a", prompt); }
  ASSERT_EQ(m->reclaimable_blocks(), 2);
  { KvSequence other = Prefill(*m, "a", Tokens(500, 6 * 4)); }
  EXPECT_EQ(m->Stats().evicted_blocks, 0);
  EXPECT_EQ(Prefill(*m, "a", prompt).num_cached_tokens(), 8);
}

TEST(KvCachePrefixTest, ReclaimsCachedBlocksInLruOrder) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  // Four prompts of one full block and one more token each.
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 4; ++i) prompts.push_back(Tokens(100 * i, 5));
  {
    std::vector<KvSequence> seqs;
    for (const auto& p : prompts) seqs.push_back(Prefill(*m, "a", p));
    // Released in the order 2, 0, 3, 1: least recently used first.
    for (int i : {2, 0, 3, 1}) seqs[i].Free();
  }
  // A hit on prompt 2 makes it the most recently used: 0, 3, 1, 2.
  EXPECT_EQ(Prefill(*m, "a", prompts[2]).num_cached_tokens(), 4);
  ASSERT_EQ(m->reclaimable_blocks(), 4);
  ASSERT_EQ(m->free_blocks(), 4);

  auto is_cached = [&](int i) {
    auto seq = NewSequenceFor(*m, "a");
    return m->FindCachedPrefix(*seq, prompts[i])->num_tokens == 4;
  };
  const int order[] = {0, 3, 1, 2};
  std::vector<KvSequence> holders;
  for (int k = 1; k <= 8; ++k) {
    ASSERT_OK_AND_ASSIGN(KvSequence h, NewSequenceFor(*m, "a"));
    ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(h, 4));
    ASSERT_TRUE(r.ok());
    holders.push_back(std::move(h));
    // The 4 free blocks go first, then cached ones, oldest first.
    const int reclaimed = std::max(0, k - 4);
    for (int j = 0; j < 4; ++j) {
      const bool gone =
          std::find(order, order + reclaimed, j) != order + reclaimed;
      EXPECT_EQ(is_cached(j), !gone)
          << "after " << k << " allocations, prompt " << j;
    }
  }
  EXPECT_EQ(m->Stats().evicted_blocks, 4);
}

TEST(KvCachePrefixTest, FailedAllocationWithAPrefixLeavesNothingHalfDone) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 4), BlocksBudget("b", 0, 8)});
  const std::vector<int32_t> prompt = Tokens(0, 9);
  { KvSequence a = Prefill(*m, "a", prompt); }        // 2 cached blocks
  KvSequence hog = Prefill(*m, "a", Tokens(900, 8));  // A uses 2 of 4
  ASSERT_EQ(TenantByName(*m, "a")->used_blocks, 2);
  const KvCacheStats before = m->Stats();

  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(PrefixMatch match, m->FindCachedPrefix(seq, prompt));
  ASSERT_EQ(match.num_tokens, 8);
  // 2 revived cached blocks + 1 new = 3 > the 2 left under A's limit.
  ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(seq, 1, match));
  EXPECT_EQ(r.status, AllocStatus::kTenantLimit);
  EXPECT_EQ(r.new_blocks, 1);
  EXPECT_EQ(r.charged_blocks, 3);
  EXPECT_EQ(r.cached_tokens, 0);
  EXPECT_EQ(seq.num_blocks(), 0);
  EXPECT_EQ(seq.num_tokens(), 0);
  const KvCacheStats after = m->Stats();
  EXPECT_EQ(after.cached_blocks, before.cached_blocks);
  EXPECT_EQ(after.free_blocks, before.free_blocks);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 2);
  EXPECT_EQ(after.prefix_lookup_tokens, before.prefix_lookup_tokens);

  // The same match applies once A has room.
  hog.Free();
  ASSERT_OK_AND_ASSIGN(r, m->Allocate(seq, 1, match));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.charged_blocks, 3);
  EXPECT_EQ(seq.num_tokens(), 8);
  EXPECT_EQ(seq.num_cached_tokens(), 8);
  EXPECT_THAT(std::vector<int32_t>(seq.block_table().begin(),
                                   seq.block_table().begin() + 2),
              ElementsAreArray(match.blocks));
}

TEST(KvCachePrefixTest, SharingAReferencedBlockCostsNothing) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 3)});
  const std::vector<int32_t> prompt = Tokens(0, 9);
  KvSequence first = Prefill(*m, "a", prompt);  // 3 blocks: A at its limit
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(PrefixMatch match, m->FindCachedPrefix(seq, prompt));
  ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(seq, 0, match));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.charged_blocks, 0);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 3);
  // But the one token it still has to compute needs a block A lacks.
  EXPECT_EQ(m->Allocate(seq, 1)->status, AllocStatus::kTenantLimit);
}

TEST(KvCachePrefixTest, StaleOrForeignMatchIsRejected) {
  auto m = MakeManager(4, {BlocksBudget("a", 0, 4), BlocksBudget("b", 0, 4)});
  const std::vector<int32_t> prompt = Tokens(0, 5);
  { KvSequence a = Prefill(*m, "a", prompt); }
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(PrefixMatch match, m->FindCachedPrefix(seq, prompt));
  ASSERT_EQ(match.num_tokens, 4);

  ASSERT_OK_AND_ASSIGN(KvSequence b, NewSequenceFor(*m, "b"));
  EXPECT_THAT(m->Allocate(b, 1, match),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("made for tenant 'a', the sequence belongs to "
                                 "tenant 'b'")));
  ASSERT_OK_AND_ASSIGN(KvSequence used, NewSequenceFor(*m, "a"));
  ASSERT_TRUE(m->Allocate(used, 1)->ok());
  EXPECT_THAT(m->Allocate(used, 1, match),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("new sequence")));
  EXPECT_THAT(m->FindCachedPrefix(used, prompt),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("already has")));

  // B fills the pool: the cached block is reclaimed, the match is stale.
  ASSERT_TRUE(m->Allocate(b, 3 * 4)->ok());
  EXPECT_THAT(
      m->Allocate(seq, 1, match),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("stale")));
  EXPECT_EQ(seq.num_blocks(), 0);

  PrefixMatch forged = match;
  forged.hashes.clear();
  EXPECT_THAT(
      m->Allocate(seq, 1, forged),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("malformed")));
}

TEST(KvCachePrefixTest, GeneratedTokensFillBlocksThatGetCached) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 3);
  std::vector<int32_t> all = prompt;
  {
    KvSequence seq = Prefill(*m, "a", prompt);
    // Decode one token per step up to 10 tokens in all.
    for (int32_t t = 50; t < 57; ++t) {
      ASSERT_TRUE(m->Allocate(seq, 1)->ok());
      ASSERT_OK(m->AppendTokens(seq, {t}));
      all.push_back(t);
    }
    EXPECT_EQ(seq.num_tokens(), 10);
    EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 3);
  }
  EXPECT_EQ(m->reclaimable_blocks(), 2);
  // A follow-up turn whose prompt is the whole conversation so far.
  all.push_back(99);
  EXPECT_EQ(Prefill(*m, "a", all).num_cached_tokens(), 8);
}

TEST(KvCachePrefixTest, IdenticalBlocksComputedTwiceAreCachedOnce) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 13);
  // Both start before either has written anything: no sharing.
  ASSERT_OK_AND_ASSIGN(KvSequence s1, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(KvSequence s2, NewSequenceFor(*m, "a"));
  ASSERT_TRUE(m->Allocate(s1, 13)->ok());
  ASSERT_TRUE(m->Allocate(s2, 13)->ok());
  ASSERT_OK(m->AppendTokens(s1, prompt));
  ASSERT_OK(m->AppendTokens(s2, prompt));
  s1.Free();
  s2.Free();
  EXPECT_EQ(m->reclaimable_blocks(), 3);  // s1's copies; s2's are free
  EXPECT_EQ(m->free_blocks(), 13);
  EXPECT_EQ(Prefill(*m, "a", prompt).num_cached_tokens(), 12);
}

TEST(KvCachePrefixTest, TurningCachingOffDropsTheTenantsCachedBlocks) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16), BlocksBudget("b", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 9);
  { KvSequence a = Prefill(*m, "a", prompt); }
  { KvSequence b = Prefill(*m, "b", prompt); }
  KvSequence live = Prefill(*m, "a", Tokens(300, 9));
  ASSERT_EQ(m->reclaimable_blocks(), 4);
  ASSERT_OK(m->SetBudgets({BlocksBudget("a", 0, 16, /*prefix_caching=*/false),
                           BlocksBudget("b", 0, 16)}));
  EXPECT_EQ(m->reclaimable_blocks(), 2);  // B's
  live.Free();                            // nothing of A is kept
  EXPECT_EQ(m->reclaimable_blocks(), 2);
  // Turned back on, A starts from an empty cache.
  ASSERT_OK(
      m->SetBudgets({BlocksBudget("a", 0, 16), BlocksBudget("b", 0, 16)}));
  EXPECT_EQ(Prefill(*m, "a", prompt).num_cached_tokens(), 0);
  EXPECT_EQ(Prefill(*m, "b", prompt).num_cached_tokens(), 8);
}

TEST(KvCachePrefixTest, HitRateCountsAdmittedLookups) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16), BlocksBudget("b", 0, 16)});
  const std::vector<int32_t> prompt = Tokens(0, 10);
  KvSequence s1 = Prefill(*m, "a", prompt);  // 10 looked up, 0 hit
  KvSequence s2 = Prefill(*m, "a", prompt);  // 10 looked up, 8 hit
  KvSequence s3 = Prefill(*m, "b", prompt);  // 10 looked up, 0 hit
  const KvCacheStats s = m->Stats();
  EXPECT_EQ(s.prefix_lookup_tokens, 30);
  EXPECT_EQ(s.prefix_hit_tokens, 8);
  EXPECT_DOUBLE_EQ(s.prefix_hit_rate, 8.0 / 30.0);
  EXPECT_EQ(TenantByName(*m, "a")->prefix_lookup_tokens, 20);
  EXPECT_EQ(TenantByName(*m, "a")->prefix_hit_tokens, 8);
  EXPECT_EQ(TenantByName(*m, "b")->prefix_hit_tokens, 0);
  // A lookup that is never applied does not count.
  ASSERT_OK_AND_ASSIGN(KvSequence s4, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(PrefixMatch unused, m->FindCachedPrefix(s4, prompt));
  EXPECT_EQ(unused.num_tokens, 8);
  EXPECT_EQ(m->Stats().prefix_lookup_tokens, 30);
  EXPECT_EQ(TenantByName(*m, "a")->prefix_lookup_tokens, 20);
  EXPECT_THAT(unused.hashes, SizeIs(2));
}

}  // namespace
}  // namespace kvasir::kvcache
