// KV-cache manager micro-benchmarks: block allocate/free and prefix lookup
// as the pool grows from 1K to 1M blocks. Allocation is O(1): the time per
// block should stay flat across pool sizes (beyond cache effects).
//
//   build/bench/kvcache_bench --benchmark_counters_tabular=true
#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "kvcache/block_pool.h"
#include "kvcache/kv_cache_manager.h"

namespace kvasir::kvcache {
namespace {

constexpr int kBlockSize = 16;
constexpr int kBatch = 64;  // blocks per allocate/free round

// A small layout (128 bytes per block) so a 1M-block arena stays small;
// the manager's costs do not depend on the block size in bytes.
KvLayout BenchLayout() {
  KvLayout layout;
  layout.n_layers = 1;
  layout.n_kv_heads = 1;
  layout.head_dim = 1;
  layout.block_size = kBlockSize;
  layout.dtype = KvDtype::kF32;
  return layout;
}

std::unique_ptr<KvCacheManager> MakeManager(int64_t num_blocks) {
  KvCacheManager::Options options;
  options.layout = BenchLayout();
  options.capacity_bytes = num_blocks * options.layout.BlockBytes();
  const int64_t all = options.capacity_bytes;
  auto m = KvCacheManager::Create(
      options, {{"a", 0, all, true}, {"b", all / 4, all, true}});
  return m.ok() ? *std::move(m) : nullptr;
}

// CPU seconds per block, printed with an SI prefix ("7.5n" = 7.5 ns).
void PerBlock(benchmark::State& state, int64_t blocks) {
  state.counters["per_block"] = benchmark::Counter(
      static_cast<double>(blocks),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

// BlockPool alone: allocate kBatch blocks, free them, with half the pool in
// use by blocks scattered at random (a fragmented free queue).
void BM_PoolAllocateFree(benchmark::State& state) {
  const int32_t n = static_cast<int32_t>(state.range(0));
  auto pool = *BlockPool::Create({.num_blocks = n});
  std::vector<int32_t> held;
  for (int32_t i = 0; i < n; ++i) held.push_back(pool->Allocate().block);
  std::shuffle(held.begin(), held.end(), std::mt19937(1));
  for (int32_t i = 0; i < n / 2; ++i) pool->Unref(held[i]);
  int32_t batch[kBatch];
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) batch[i] = pool->Allocate().block;
    for (int i = kBatch; i-- > 0;) pool->Unref(batch[i]);
    benchmark::DoNotOptimize(batch);
  }
  PerBlock(state, state.iterations() * kBatch);
}
BENCHMARK(BM_PoolAllocateFree)->RangeMultiplier(8)->Range(1 << 10, 1 << 20);

// Through KvCacheManager, as the scheduler uses it: a new sequence, one
// all-or-nothing Allocate of kBatch blocks (budget checks included), then
// the handle's release. Half the pool is held by other sequences.
void BM_ManagerAllocateFree(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto m = MakeManager(n);
  std::vector<KvSequence> background;
  for (int64_t held = 0; held + kBatch <= n / 2; held += kBatch) {
    KvSequence seq = *m->NewSequence(*m->FindTenant("a"));
    (void)m->Allocate(seq, kBatch * kBlockSize);
    background.push_back(std::move(seq));
  }
  for (auto _ : state) {
    KvSequence seq = *m->NewSequence(*m->FindTenant("a"));
    auto r = m->Allocate(seq, kBatch * kBlockSize);
    benchmark::DoNotOptimize(r);
  }
  PerBlock(state, state.iterations() * kBatch);
  background.clear();
}
BENCHMARK(BM_ManagerAllocateFree)->RangeMultiplier(8)->Range(1 << 10, 1 << 20);

// Decode: one token per step (Allocate 1 + AppendTokens 1, hashing each
// full block into the prefix cache), over a 1024-token sequence. With the
// large pool the prefix cache's hash map grows to ~1M entries and its
// lookups leave the CPU caches; the work per token stays the same.
void BM_ManagerDecodeToken(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto m = MakeManager(n);
  int64_t tokens = 0;
  int32_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    KvSequence seq = *m->NewSequence(*m->FindTenant("a"));
    state.ResumeTiming();
    for (int t = 0; t < 1024; ++t) {
      (void)m->Allocate(seq, 1);
      const int32_t token = next++;
      (void)m->AppendTokens(seq, absl::MakeConstSpan(&token, 1));
    }
    tokens += 1024;
  }
  state.counters["per_token"] = benchmark::Counter(
      static_cast<double>(tokens),
      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_ManagerDecodeToken)->Arg(1 << 10)->Arg(1 << 20);

// Prefix lookup of a 32-block (512-token) prompt that is fully cached,
// with the rest of the pool holding other cached prompts.
void BM_PrefixLookup(benchmark::State& state) {
  const int64_t n = state.range(0);
  constexpr int kPromptBlocks = 32;
  auto m = MakeManager(n);
  std::vector<int32_t> prompt;
  int32_t next = 0;
  // Fill the cache with prompts (freed, so their blocks are cached).
  for (int64_t filled = 0; filled + kPromptBlocks <= n * 3 / 4;
       filled += kPromptBlocks) {
    prompt.clear();
    for (int i = 0; i < kPromptBlocks * kBlockSize; ++i) {
      prompt.push_back(next++);
    }
    KvSequence seq = *m->NewSequence(*m->FindTenant("a"));
    (void)m->Allocate(seq, static_cast<int64_t>(prompt.size()));
    (void)m->AppendTokens(seq, prompt);
  }
  prompt.push_back(-1);  // one token past the cached blocks
  const KvSequence probe = *m->NewSequence(*m->FindTenant("a"));
  for (auto _ : state) {
    auto match = m->FindCachedPrefix(probe, prompt);
    if (match->blocks.size() != kPromptBlocks) {
      state.SkipWithError("prefix lookup missed");
      break;
    }
    benchmark::DoNotOptimize(match);
  }
  PerBlock(state, state.iterations() * kPromptBlocks);
}
BENCHMARK(BM_PrefixLookup)->RangeMultiplier(8)->Range(1 << 10, 1 << 20);

// A cached prompt admitted and released: lookup, attach (refcount++ on 32
// cached blocks, one new block) and free.
void BM_PrefixAttachFree(benchmark::State& state) {
  const int64_t n = state.range(0);
  constexpr int kPromptBlocks = 32;
  auto m = MakeManager(n);
  std::vector<int32_t> prompt;
  for (int i = 0; i < kPromptBlocks * kBlockSize; ++i) prompt.push_back(i);
  {
    KvSequence seq = *m->NewSequence(*m->FindTenant("a"));
    (void)m->Allocate(seq, static_cast<int64_t>(prompt.size()));
    (void)m->AppendTokens(seq, prompt);
  }
  prompt.push_back(-1);
  for (auto _ : state) {
    KvSequence seq = *m->NewSequence(*m->FindTenant("a"));
    auto match = m->FindCachedPrefix(seq, prompt);
    auto r = m->Allocate(seq, 1, *match);
    if (!r.ok() || !r->ok() || r->cached_tokens != kPromptBlocks * kBlockSize) {
      state.SkipWithError("attach failed");
      break;
    }
  }
  PerBlock(state, state.iterations() * (kPromptBlocks + 1));
}
BENCHMARK(BM_PrefixAttachFree)->RangeMultiplier(8)->Range(1 << 10, 1 << 20);

}  // namespace
}  // namespace kvasir::kvcache

BENCHMARK_MAIN();
