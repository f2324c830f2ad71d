// Randomized property test of KvCacheManager against a simple reference
// model: random sequences (prompts drawn so that prefixes repeat, forks of
// live sequences), chunked prefill, decode steps, frees and budget changes,
// with every invariant checked after every step.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/kvcache/kv_property_harness.h"

namespace kvasir::kvcache::testing {

std::string PropertyHarness::Check() {
  if (!error_.empty()) return error_;
  const KvCacheManagerTestPeer peer(*manager_);
  const BlockPool& pool = peer.pool();
  const PrefixCache& prefix = peer.prefix_cache();
  std::vector<int32_t> counts(kBlocks, 0);
  std::vector<int32_t> owner(kBlocks, -1);
  std::vector<int32_t> owner_index(kBlocks, -1);
  for (size_t li = 0; li < live_.size(); ++li) {
    const LiveSequence& l = live_[li];
    if (!l.seq.valid()) return "a live sequence handle is empty";
    if (l.seq.num_tokens() != static_cast<int32_t>(l.tokens.size())) {
      return absl::StrCat("sequence has ", l.seq.num_tokens(),
                          " tokens, reference ", l.tokens.size());
    }
    if (l.seq.num_blocks() != l.blocks) {
      return absl::StrCat("sequence has ", l.seq.num_blocks(),
                          " blocks, reference ", l.blocks);
    }
    const absl::Span<const int32_t> table = l.seq.block_table();
    for (size_t i = 0; i < table.size(); ++i) {
      const int32_t b = table[i];
      if (b < 0 || b >= kBlocks) return absl::StrCat("block id ", b);
      if (counts[b] > 0) {
        // Shared: only a full block of the same tenant, at the same
        // position, with the same token prefix.
        const LiveSequence& o = live_[owner[b]];
        if (owner[b] == static_cast<int32_t>(li)) {
          return absl::StrCat("block ", b, " twice in one sequence");
        }
        if (o.tenant != l.tenant) {
          return absl::StrCat("block ", b, " shared by tenants ", o.tenant,
                              " and ", l.tenant);
        }
        const size_t end = (i + 1) * kBlockSize;
        if (owner_index[b] != static_cast<int32_t>(i) ||
            o.tokens.size() < end || l.tokens.size() < end ||
            !std::equal(o.tokens.begin(), o.tokens.begin() + end,
                        l.tokens.begin())) {
          return absl::StrCat("block ", b,
                              " shared by sequences with different contents");
        }
      } else {
        owner[b] = static_cast<int32_t>(li);
        owner_index[b] = static_cast<int32_t>(i);
      }
      ++counts[b];
    }
  }
  std::map<std::string, int64_t> used;
  int64_t used_total = 0;
  int64_t cached_unref = 0;
  std::map<int32_t, int32_t> cached_of;  // tenant id -> unreferenced cached
  for (int32_t b = 0; b < kBlocks; ++b) {
    if (pool.refcount(b) != counts[b]) {
      return absl::StrCat("block ", b, " refcount ", pool.refcount(b),
                          ", referenced ", counts[b], " times");
    }
    const bool keyed = key_of_[b].has_value();
    if (pool.is_cached(b) != keyed || prefix.Contains(b) != keyed) {
      return absl::StrCat("block ", b, " cached=", pool.is_cached(b),
                          " in prefix cache=", prefix.Contains(b),
                          ", reference ", keyed);
    }
    // A cached block belongs to its prefix-cache entry's tenant, the
    // owner whose cache share orders its reclamation.
    if (keyed && pool.owner(b) != prefix.tenant_of(b)) {
      return absl::StrCat("block ", b, " pool owner ", pool.owner(b),
                          ", prefix-cache tenant ", prefix.tenant_of(b));
    }
    if (counts[b] > 0) {
      ++used_total;
      ++used[live_[owner[b]].tenant];
    } else if (keyed) {
      ++cached_unref;
      ++cached_of[prefix.tenant_of(b)];
    }
  }
  for (const auto& [tenant, n] : cached_of) {
    if (pool.cached_blocks(tenant) != n) {
      return absl::StrCat("tenant id ", tenant, " has ",
                          pool.cached_blocks(tenant), " cached blocks, ",
                          "reference ", n);
    }
  }
  if (prefix.size() != static_cast<int32_t>(cache_.size())) {
    return absl::StrCat("prefix cache holds ", prefix.size(),
                        " blocks, reference ", cache_.size());
  }
  const KvCacheStats s = manager_->Stats();
  if (s.used_blocks != used_total || s.cached_blocks != cached_unref ||
      s.free_blocks + s.cached_blocks + s.used_blocks != kBlocks ||
      s.total_blocks != kBlocks) {
    return absl::StrCat("stats used/cached/free ", s.used_blocks, "/",
                        s.cached_blocks, "/", s.free_blocks, ", reference ",
                        used_total, "/", cached_unref, "/",
                        kBlocks - used_total - cached_unref);
  }
  if (s.live_sequences != static_cast<int64_t>(live_.size())) {
    return "live sequence count";
  }
  bool over_limit = false;
  bool removed_holding = false;
  for (const auto& [name, t] : ref_tenants_) {
    const int64_t u = used.count(name) ? used[name] : 0;
    over_limit |= t.configured && u > t.limit;
    removed_holding |= !t.configured && u > 0;
    auto got = TenantByName(*manager_, name);
    if (!t.configured && u == 0) {
      if (got.ok()) return absl::StrCat("removed tenant ", name, " listed");
      continue;
    }
    if (!got.ok()) return got.status().ToString();
    if (got->used_blocks != u || got->configured != t.configured ||
        got->reserved_blocks != t.reserved || got->limit_blocks != t.limit ||
        got->over_limit() != (u > t.limit)) {
      return absl::StrCat("tenant ", name, " used/reserved/limit ",
                          got->used_blocks, "/", got->reserved_blocks, "/",
                          got->limit_blocks, ", reference ", u, "/", t.reserved,
                          "/", t.limit);
    }
    // A tenant never grows past its limit.
    const int64_t before = used_before_.count(name) ? used_before_[name] : 0;
    if (u > before && u > t.limit) {
      return absl::StrCat("tenant ", name, " grew to ", u, " blocks over its ",
                          "limit ", t.limit);
    }
  }
  over_limit_steps_ += over_limit;
  removed_holding_steps_ += removed_holding;
  // Once the floors can be honoured they stay honoured until the budgets
  // change again.
  const bool floors = FloorsHold();
  if (floors_ok_ && !floors) return "free blocks fell below unused floors";
  floors_ok_ = floors;
  return "";
}

namespace {

constexpr int kSteps = 120000;

TEST(KvCachePropertyTest, RandomOperationsKeepEveryInvariant) {
  uint64_t seed = 20240607;
  if (const char* env = std::getenv("KVASIR_KVCACHE_SEED")) {
    seed = std::strtoull(env, nullptr, 10);
  }
  std::printf(
      "kvcache property test: seed %llu (set KVASIR_KVCACHE_SEED "
      "to replay another), %d steps\n",
      static_cast<unsigned long long>(seed), kSteps);
  PropertyHarness h(seed);
  ASSERT_TRUE(h.ok());
  std::map<std::string, int> ops;
  for (int step = 0; step < kSteps; ++step) {
    h.BeforeStep();
    const char* op = h.Step();
    ++ops[op];
    const std::string err = h.Check();
    ASSERT_EQ(err, "") << "step " << step << " (" << op << "), seed " << seed;
  }
  std::string summary;
  for (const auto& [op, n] : ops) absl::StrAppend(&summary, " ", op, "=", n);
  std::printf(
      "ops:%s; refused allocations %lld, prefix blocks reused %lld, steps "
      "with a tenant over its limit %lld, with a removed tenant holding "
      "blocks %lld\n",
      summary.c_str(), static_cast<long long>(h.allocations_refused()),
      static_cast<long long>(h.prefix_hits()),
      static_cast<long long>(h.over_limit_steps()),
      static_cast<long long>(h.removed_holding_steps()));
  // The run must have exercised the interesting paths.
  EXPECT_GT(ops["add"], 10000);
  EXPECT_GT(ops["fork"], 5000);
  EXPECT_GT(ops["budgets"], 500);
  EXPECT_GT(ops["budgets-invalid"], 100);
  EXPECT_GT(h.allocations_refused(), 1000);
  EXPECT_GT(h.prefix_hits(), 10000);
  EXPECT_GT(h.over_limit_steps(), 1000);
  EXPECT_GT(h.removed_holding_steps(), 1000);
}

}  // namespace
}  // namespace kvasir::kvcache::testing
