#include "kvcache/kv_cache_manager.h"

#include <memory>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kvcache/kv_test_util.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::kvcache {
namespace {

using ::kvasir::kvcache::testing::BlocksBudget;
using ::kvasir::kvcache::testing::MakeManager;
using ::kvasir::kvcache::testing::MaxTokensFor;
using ::kvasir::kvcache::testing::NewSequenceFor;
using ::kvasir::kvcache::testing::TenantByName;
using ::kvasir::kvcache::testing::TinyBlockBytes;
using ::kvasir::kvcache::testing::TinyLayout;
using ::kvasir::kvcache::testing::Tokens;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// Allocates room for `tokens` and records them, as the engine does around
// a model step. Fails the test when it does not fit.
void Grow(KvCacheManager& m, KvSequence& seq,
          const std::vector<int32_t>& tokens) {
  ASSERT_OK_AND_ASSIGN(AllocationResult r,
                       m.Allocate(seq, static_cast<int64_t>(tokens.size())));
  ASSERT_TRUE(r.ok()) << AllocStatusName(r.status);
  ASSERT_OK(m.AppendTokens(seq, tokens));
}

// A new sequence of `tenant` holding `blocks` full blocks of fresh tokens.
KvSequence Hold(KvCacheManager& m, const std::string& tenant, int32_t blocks,
                int32_t first_token) {
  auto seq = NewSequenceFor(m, tenant);
  EXPECT_TRUE(seq.ok()) << seq.status();
  Grow(m, *seq, Tokens(first_token, blocks * m.block_size()));
  return *std::move(seq);
}

AllocStatus TryAllocate(KvCacheManager& m, KvSequence& seq, int64_t n) {
  auto r = m.Allocate(seq, n);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->status : AllocStatus::kOk;
}

TEST(KvCacheManagerTest, CreateValidatesLayoutCapacityAndBudgets) {
  KvCacheManager::Options options;
  options.layout = TinyLayout();
  options.layout.n_layers = 0;
  EXPECT_THAT(KvCacheManager::Create(options, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid KV layout")));
  options.layout = TinyLayout();
  options.capacity_bytes = TinyBlockBytes() - 1;
  EXPECT_THAT(KvCacheManager::Create(options, {}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("kv_cache.capacity"),
                             HasSubstr("holds no block"))));
  options.capacity_bytes = 4 * TinyBlockBytes();
  EXPECT_THAT(KvCacheManager::Create(options, {BlocksBudget("a", 5, 8)}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenant 'a': reserved")));
  // A remainder smaller than a block is left out.
  options.capacity_bytes = 4 * TinyBlockBytes() + 100;
  ASSERT_OK_AND_ASSIGN(
      auto m, KvCacheManager::Create(options, {BlocksBudget("a", 0, 4)}));
  EXPECT_EQ(m->total_blocks(), 4);
  EXPECT_EQ(m->arena().num_blocks(), 4);
}

TEST(KvCacheManagerTest, NewSequenceForUnknownTenantIsNotFound) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  EXPECT_THAT(NewSequenceFor(*m, "nobody"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nobody'")));
  EXPECT_THAT(MaxTokensFor(*m, "nobody"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nobody'")));
  EXPECT_THAT(TenantByName(*m, "nobody"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'nobody'")));
}

TEST(KvCacheManagerTest, AllocateGrowsTheTableAndAppendRecordsTokens) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  EXPECT_TRUE(seq.valid());
  ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(seq, 5));
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.new_blocks, 2);
  EXPECT_EQ(r.charged_blocks, 2);
  EXPECT_THAT(seq.block_table(), SizeIs(2));
  EXPECT_EQ(seq.capacity_tokens(), 8);
  EXPECT_EQ(seq.num_tokens(), 0);  // nothing written yet
  EXPECT_EQ(m->free_blocks(), 6);

  ASSERT_OK(m->AppendTokens(seq, Tokens(0, 5)));
  EXPECT_EQ(seq.num_tokens(), 5);
  EXPECT_EQ(seq.table().SlotOf(4).block, seq.block_table()[1]);
  EXPECT_EQ(seq.table().SlotOf(4).offset, 0);
  ASSERT_OK_AND_ASSIGN(r, m->Allocate(seq, 3));
  EXPECT_EQ(r.new_blocks, 0);

  // Writing past the allocated slots is refused and records nothing.
  EXPECT_THAT(m->AppendTokens(seq, Tokens(5, 4)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("needs room for 9 tokens"),
                             HasSubstr("hold 8"))));
  EXPECT_EQ(seq.num_tokens(), 5);
}

TEST(KvCacheManagerTest, HandleGivesBlocksBackWhenDestroyed) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  {
    KvSequence seq = Hold(*m, "a", 3, 0);
    EXPECT_EQ(m->free_blocks() + m->reclaimable_blocks(), 5);
    EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 3);
    EXPECT_EQ(m->Stats().live_sequences, 1);
  }
  EXPECT_EQ(m->Stats().used_blocks, 0);
  EXPECT_EQ(m->free_blocks() + m->reclaimable_blocks(), 8);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 0);
  EXPECT_EQ(m->Stats().live_sequences, 0);
}

TEST(KvCacheManagerTest, HandleIsMoveOnlyAndFreeIsIdempotent) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  KvSequence first = Hold(*m, "a", 2, 0);
  const std::vector<int32_t> table(first.block_table().begin(),
                                   first.block_table().end());
  KvSequence moved(std::move(first));
  EXPECT_FALSE(first.valid());  // NOLINT(bugprone-use-after-move)
  EXPECT_THAT(first.block_table(), SizeIs(0));
  EXPECT_TRUE(moved.valid());
  EXPECT_EQ(std::vector<int32_t>(moved.block_table().begin(),
                                 moved.block_table().end()),
            table);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 2);

  // Move-assigning over a live handle frees what it held.
  KvSequence other = Hold(*m, "a", 3, 100);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 5);
  other = std::move(moved);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 2);
  other.Free();
  other.Free();
  EXPECT_FALSE(other.valid());
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 0);
  EXPECT_EQ(m->Stats().live_sequences, 0);
}

TEST(KvCacheManagerTest, MisuseIsAnErrorNotACrash) {
  auto m = MakeManager(8, {BlocksBudget("a", 0, 8)});
  auto other = MakeManager(8, {BlocksBudget("a", 0, 8)});
  KvSequence empty;
  EXPECT_THAT(m->Allocate(empty, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("handle is empty")));
  EXPECT_THAT(m->AppendTokens(empty, Tokens(0, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("handle is empty")));
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*other, "a"));
  EXPECT_THAT(m->Allocate(seq, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("another KvCacheManager")));
  ASSERT_OK_AND_ASSIGN(KvSequence mine, NewSequenceFor(*m, "a"));
  EXPECT_THAT(m->Allocate(mine, -1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("n_new_tokens -1")));
  EXPECT_THAT(m->Allocate(mine, int64_t{1} << 40),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("exceeds the maximum")));
  EXPECT_EQ(m->free_blocks(), 8);
}

// DESIGN.md: an allocation never leaves fewer free blocks than the other
// tenants' unused floors.
TEST(KvCacheManagerTest, FloorOfBHoldsWhileAFloods) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16), BlocksBudget("b", 4, 16)});
  std::vector<KvSequence> a_seqs;
  AllocStatus last = AllocStatus::kOk;
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
    last = TryAllocate(*m, seq, 4);
    if (last != AllocStatus::kOk) break;
    a_seqs.push_back(std::move(seq));
  }
  EXPECT_THAT(a_seqs, SizeIs(12));
  EXPECT_EQ(last, AllocStatus::kOtherTenantsFloors);
  EXPECT_EQ(m->free_blocks() + m->reclaimable_blocks(), 4);

  // B gets its whole floor, in one go.
  ASSERT_OK_AND_ASSIGN(KvSequence b, NewSequenceFor(*m, "b"));
  EXPECT_EQ(TryAllocate(*m, b, 16), AllocStatus::kOk);
  EXPECT_EQ(TenantByName(*m, "b")->used_blocks, 4);
  // Beyond it the pool is simply full.
  EXPECT_EQ(TryAllocate(*m, b, 17), AllocStatus::kPoolExhausted);
  // What B gives back is protected by its floor again.
  b.Free();
  ASSERT_OK_AND_ASSIGN(KvSequence a_more, NewSequenceFor(*m, "a"));
  EXPECT_EQ(TryAllocate(*m, a_more, 1), AllocStatus::kOtherTenantsFloors);
}

TEST(KvCacheManagerTest, FloorTreatsCachedBlocksAsAvailable) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16), BlocksBudget("b", 4, 16)});
  {
    // A fills 12 blocks with prompts that stay cached after it is done.
    std::vector<KvSequence> seqs;
    for (int i = 0; i < 12; ++i) seqs.push_back(Hold(*m, "a", 1, 100 * i));
  }
  EXPECT_EQ(m->reclaimable_blocks(), 12);
  EXPECT_EQ(m->free_blocks(), 4);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 0);

  // Cached blocks count against no one and never block an allocation: A
  // can take 12 new blocks again, by reclaiming them.
  KvSequence big = Hold(*m, "a", 12, 5000);
  EXPECT_EQ(m->Stats().evicted_blocks, 8);
  // B's floor is intact.
  ASSERT_OK_AND_ASSIGN(KvSequence b, NewSequenceFor(*m, "b"));
  EXPECT_EQ(TryAllocate(*m, b, 16), AllocStatus::kOk);
}

TEST(KvCacheManagerTest, ANeverPassesItsLimit) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 6), BlocksBudget("b", 0, 16)});
  ASSERT_OK_AND_ASSIGN(KvSequence seq, NewSequenceFor(*m, "a"));
  int32_t token = 0;
  AllocStatus status = AllocStatus::kOk;
  while (true) {
    status = TryAllocate(*m, seq, 1);
    if (status != AllocStatus::kOk) break;
    ASSERT_OK(m->AppendTokens(seq, {token++}));
  }
  EXPECT_EQ(status, AllocStatus::kTenantLimit);
  EXPECT_EQ(token, 24);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 6);
  EXPECT_FALSE(TenantByName(*m, "a")->over_limit());

  // All or nothing: a request for more than the limit takes nothing.
  seq.Free();
  ASSERT_OK_AND_ASSIGN(KvSequence big, NewSequenceFor(*m, "a"));
  ASSERT_OK_AND_ASSIGN(AllocationResult r, m->Allocate(big, 7 * 4));
  EXPECT_EQ(r.status, AllocStatus::kTenantLimit);
  EXPECT_EQ(r.new_blocks, 7);
  EXPECT_EQ(big.num_blocks(), 0);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 0);
  EXPECT_EQ(m->free_blocks() + m->reclaimable_blocks(), 16);
}

TEST(KvCacheManagerTest, ShrinkingABudgetAtRuntimeStopsNewBlocks) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 10), BlocksBudget("b", 0, 16)});
  KvSequence s1 = Hold(*m, "a", 4, 0);
  ASSERT_OK_AND_ASSIGN(KvSequence s2, NewSequenceFor(*m, "a"));
  Grow(*m, s2, Tokens(1000, 14));  // 4 blocks, 2 free slots in the last
  ASSERT_TRUE(
      m->SetBudgets({BlocksBudget("a", 0, 5), BlocksBudget("b", 0, 16)}).ok());
  const int32_t a_id = *m->FindTenant("a");
  const TenantKvStats a = m->GetTenant(a_id);
  EXPECT_TRUE(a.over_limit());
  EXPECT_TRUE(a.above_floor());
  EXPECT_TRUE(a.configured);
  EXPECT_EQ(a.used_blocks, 8);
  EXPECT_EQ(a.limit_blocks, 5);
  EXPECT_EQ(a.reserved_blocks, 0);
  EXPECT_EQ(a.used_bytes, 8 * m->block_bytes());
  EXPECT_EQ(a.limit_bytes, 5 * m->block_bytes());

  // No new block, but tokens that fit in its blocks still go.
  EXPECT_EQ(TryAllocate(*m, s2, 3), AllocStatus::kTenantLimit);
  EXPECT_EQ(TryAllocate(*m, s2, 2), AllocStatus::kOk);
  ASSERT_OK_AND_ASSIGN(KvSequence s3, NewSequenceFor(*m, "a"));
  EXPECT_EQ(TryAllocate(*m, s3, 1), AllocStatus::kTenantLimit);
  // B is not affected.
  KvSequence b = Hold(*m, "b", 8, 0);

  // Preempting s1 brings A back under its limit.
  s1.Free();
  EXPECT_FALSE(m->GetTenant(a_id).over_limit());
  EXPECT_EQ(m->GetTenant(a_id).used_blocks, 4);
  EXPECT_EQ(TryAllocate(*m, s3, 4), AllocStatus::kOk);
  EXPECT_EQ(TryAllocate(*m, s3, 5), AllocStatus::kTenantLimit);
}

TEST(KvCacheManagerTest, ReleasableAboveFloorNeverCrossesTheFloor) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 5, 16), BlocksBudget("b", 0, 16)});
  KvSequence big = Hold(*m, "a", 4, 0);
  KvSequence small = Hold(*m, "a", 2, 1000);  // A uses 6, floor 5
  EXPECT_EQ(m->ReleasableBlocks(big), 4);
  EXPECT_EQ(m->ReleasableAboveFloor(big), 0);    // 6 - 4 < 5
  EXPECT_EQ(m->ReleasableAboveFloor(small), 0);  // 6 - 2 < 5
  KvSequence third = Hold(*m, "a", 1, 2000);     // 7
  EXPECT_EQ(m->ReleasableAboveFloor(small), 2);  // 7 - 2 = 5
  EXPECT_EQ(m->ReleasableAboveFloor(big), 0);    // 7 - 4 < 5
  EXPECT_EQ(m->ReleasableAboveFloor(third), 1);
}

TEST(KvCacheManagerTest, RaisingAFloorAtRuntimeProtectsIt) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 0, 16), BlocksBudget("b", 0, 16)});
  KvSequence a = Hold(*m, "a", 12, 0);
  ASSERT_TRUE(
      m->SetBudgets({BlocksBudget("a", 0, 16), BlocksBudget("b", 8, 16)}).ok());
  ASSERT_OK_AND_ASSIGN(KvSequence a2, NewSequenceFor(*m, "a"));
  EXPECT_EQ(TryAllocate(*m, a2, 1), AllocStatus::kOtherTenantsFloors);
  EXPECT_TRUE(TenantByName(*m, "a")->above_floor());
  EXPECT_FALSE(TenantByName(*m, "b")->above_floor());
  ASSERT_OK_AND_ASSIGN(KvSequence b, NewSequenceFor(*m, "b"));
  EXPECT_EQ(TryAllocate(*m, b, 16), AllocStatus::kOk);
  EXPECT_EQ(TryAllocate(*m, b, 17), AllocStatus::kPoolExhausted);
}

TEST(KvCacheManagerTest, FailedSetBudgetsChangesNothing) {
  auto m = MakeManager(16, {BlocksBudget("a", 2, 10)});
  KvSequence a = Hold(*m, "a", 1, 0);
  EXPECT_THAT(
      m->SetBudgets({BlocksBudget("a", 2, 4), BlocksBudget("b", 15, 16)}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("17 blocks"), HasSubstr("16 blocks"),
                     HasSubstr("a 2 blocks, b 15 blocks"))));
  ASSERT_OK_AND_ASSIGN(TenantKvStats s, TenantByName(*m, "a"));
  EXPECT_EQ(s.limit_blocks, 10);
  EXPECT_EQ(s.reserved_blocks, 2);
  EXPECT_EQ(s.used_blocks, 1);
  EXPECT_THAT(NewSequenceFor(*m, "b"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'b'")));
}

TEST(KvCacheManagerTest, RemovedTenantKeepsCountingUntilFreed) {
  auto m =
      MakeManager(16, {BlocksBudget("a", 2, 10), BlocksBudget("b", 0, 16)});
  KvSequence a = Hold(*m, "a", 3, 0);
  ASSERT_OK(m->SetBudgets({BlocksBudget("b", 0, 16)}));
  EXPECT_THAT(NewSequenceFor(*m, "a"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'a'")));
  ASSERT_OK_AND_ASSIGN(TenantKvStats gone, TenantByName(*m, "a"));
  EXPECT_FALSE(gone.configured);
  EXPECT_EQ(gone.used_blocks, 3);
  EXPECT_EQ(gone.reserved_blocks, 0);
  EXPECT_EQ(gone.limit_blocks, 10);
  EXPECT_EQ(m->Stats().used_blocks, 3);
  // The name keeps its id, and FindTenant no longer maps it.
  EXPECT_FALSE(m->FindTenant("a").has_value());
  EXPECT_EQ(m->TenantName(a.tenant_id()), "a");
  // B can take only what A does not hold.
  ASSERT_OK_AND_ASSIGN(KvSequence b, NewSequenceFor(*m, "b"));
  EXPECT_EQ(TryAllocate(*m, b, 14 * 4), AllocStatus::kPoolExhausted);
  // A's running sequence goes on to its end within A's old limit.
  EXPECT_EQ(TryAllocate(*m, a, 4), AllocStatus::kOk);
  EXPECT_EQ(TenantByName(*m, "a")->used_blocks, 4);

  a.Free();
  EXPECT_THAT(TenantByName(*m, "a"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'a'")));
  EXPECT_EQ(m->Stats().used_blocks, 0);
  EXPECT_EQ(TryAllocate(*m, b, 16 * 4), AllocStatus::kOk);
}

// The same capacity holds exactly H / Hkv times more tokens with Hkv KV
// heads than with H (MHA): block bytes scale with Hkv.
TEST(KvCacheManagerTest, GqaAndMqaHoldGroupSizeTimesMoreTokens) {
  constexpr int kHeads = 8;
  constexpr int64_t kCapacity = int64_t{8} << 20;
  auto tokens_for = [&](int kv_heads, KvDtype dtype) -> int64_t {
    KvCacheManager::Options options;
    options.layout.n_layers = 2;
    options.layout.n_kv_heads = kv_heads;
    options.layout.head_dim = 64;
    options.layout.block_size = 16;
    options.layout.dtype = dtype;
    options.capacity_bytes = kCapacity;
    auto m = KvCacheManager::Create(options, {{"t", 0, kCapacity, true}});
    EXPECT_TRUE(m.ok()) << m.status();
    if (!m.ok()) return -1;
    const int64_t held = int64_t{(*m)->total_blocks()} * (*m)->block_size();
    EXPECT_EQ(*MaxTokensFor(**m, "t"), held);
    EXPECT_EQ((*m)->bytes_per_token(),
              2 * 2 * kv_heads *
                  (64 * KvDtypeSize(dtype) + KvDtypeScaleBytes(dtype)));
    return held;
  };
  const int64_t mha = tokens_for(kHeads, KvDtype::kF32);
  EXPECT_EQ(mha, 1024);  // 8 MiB / (16 * 2 * 2 * 8 * 64 * 4 B) * 16
  for (int kv_heads : {4, 2, 1}) {
    EXPECT_EQ(tokens_for(kv_heads, KvDtype::kF32), mha * (kHeads / kv_heads))
        << "Hkv=" << kv_heads;
  }
  EXPECT_EQ(tokens_for(kHeads, KvDtype::kBF16), 2 * mha);
  // int8 rows of 64 bytes plus a 4-byte scale: 8 MiB / (16 * 2 * 2 * 8 *
  // 68 B) = 240 whole blocks, 3.75x the f32 tokens.
  EXPECT_EQ(tokens_for(kHeads, KvDtype::kInt8), 240 * 16);
}

// The one figure everything derives from, with int8's scales included:
// stories260K's shape (5 layers, 4 KV heads of 8) is 2.67x smaller in int8
// than in f32; head_dim 128 nearly 4x.
TEST(KvLayoutTest, Int8BytesIncludeTheScales) {
  KvLayout l{.n_layers = 5, .n_kv_heads = 4, .head_dim = 8, .block_size = 16};
  l.dtype = KvDtype::kF32;
  EXPECT_EQ(l.BytesPerToken(), 1280);
  l.dtype = KvDtype::kBF16;
  EXPECT_EQ(l.BytesPerToken(), 640);
  l.dtype = KvDtype::kInt8;
  EXPECT_EQ(l.BytesPerToken(), 480);  // 2 * 5 * 4 * (8 + 4)
  EXPECT_EQ(l.BlockBytes(), 480 * 16);
  // Head regions: 16 rows of 8 int8, then 16 f32 scales.
  EXPECT_EQ(l.HeadBytes(), 16 * 12);
  EXPECT_EQ(l.HeadByteOffset(1, 0, 0), 2 * 4 * 16 * 12);
  EXPECT_EQ(l.ScaleByteOffset(1, 1, 2), l.HeadByteOffset(1, 1, 2) + 16 * 8);
  l.head_dim = 128;
  EXPECT_EQ(l.BytesPerToken(), 2 * 5 * 4 * 132);

  // The f32 scales must stay aligned.
  l.head_dim = 6;
  l.block_size = 3;
  EXPECT_THAT(
      l.Validate(),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("block_size * head_dim to be a multiple of 4")));
  l.dtype = KvDtype::kF32;
  EXPECT_THAT(l.Validate(), IsOk());
}

TEST(KvLayoutTest, ParsesEveryDtypeAndListsThemOnError) {
  for (KvDtype d : {KvDtype::kF32, KvDtype::kBF16, KvDtype::kInt8}) {
    absl::StatusOr<KvDtype> parsed = ParseKvDtype(KvDtypeName(d), "f");
    ASSERT_THAT(parsed, IsOk());
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_THAT(ParseKvDtype("int4", "kv_cache.dtype"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("kv_cache.dtype: 'int4' is not one of f32, "
                                 "bf16, int8")));
}

TEST(KvCacheManagerTest, TokenCapacityQueries) {
  auto m = MakeManager(16, {BlocksBudget("a", 0, 12), BlocksBudget("b", 6, 16),
                            BlocksBudget("c", 2, 3)});
  EXPECT_EQ(*MaxTokensFor(*m, "a"), 8 * 4);   // 16 - 6 - 2 floors
  EXPECT_EQ(*MaxTokensFor(*m, "b"), 14 * 4);  // 16 - 2
  EXPECT_EQ(*MaxTokensFor(*m, "c"), 3 * 4);   // its limit
}

TEST(KvCacheManagerTest, StatsReportBlocksBytesAndTenants) {
  auto m = MakeManager(10, {BlocksBudget("a", 2, 8), BlocksBudget("b", 1, 4)});
  KvSequence a = Hold(*m, "a", 3, 0);
  ASSERT_OK_AND_ASSIGN(KvSequence b, NewSequenceFor(*m, "b"));
  Grow(*m, b, Tokens(0, 2));
  const KvCacheStats s = m->Stats();
  EXPECT_EQ(s.total_blocks, 10);
  EXPECT_EQ(s.used_blocks, 4);
  EXPECT_EQ(s.free_blocks + s.cached_blocks + s.used_blocks, 10);
  EXPECT_EQ(s.block_size, 4);
  EXPECT_EQ(s.block_bytes, TinyBlockBytes());
  EXPECT_EQ(s.bytes_per_token, 32);
  EXPECT_EQ(s.live_sequences, 2);
  const TenantKvStats ta = m->GetTenant(a.tenant_id());
  EXPECT_TRUE(ta.configured);
  EXPECT_TRUE(ta.prefix_caching);
  EXPECT_EQ(ta.used_blocks, 3);
  EXPECT_EQ(ta.reserved_blocks, 2);
  EXPECT_EQ(ta.limit_blocks, 8);
  EXPECT_EQ(ta.used_bytes, 3 * TinyBlockBytes());
  EXPECT_EQ(ta.reserved_bytes, 2 * TinyBlockBytes());
  EXPECT_EQ(ta.limit_bytes, 8 * TinyBlockBytes());
  EXPECT_TRUE(ta.above_floor());
  EXPECT_FALSE(ta.over_limit());
  EXPECT_EQ(m->GetTenant(b.tenant_id()).used_blocks, 1);
  EXPECT_FALSE(m->GetTenant(b.tenant_id()).above_floor());
  EXPECT_EQ(m->TenantName(a.tenant_id()), "a");
  EXPECT_EQ(m->TenantName(b.tenant_id()), "b");
}

}  // namespace
}  // namespace kvasir::kvcache
