#ifndef KVASIR_TESTS_KVCACHE_KV_TEST_UTIL_H_
#define KVASIR_TESTS_KVCACHE_KV_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kvcache/kv_cache_manager.h"
#include "kvcache/kv_layout.h"

namespace kvasir::kvcache::testing {

// 1 layer, 1 KV head, head_dim 4, f32: 32 bytes per token.
inline KvLayout TinyLayout(int block_size = 4) {
  KvLayout layout;
  layout.n_layers = 1;
  layout.n_kv_heads = 1;
  layout.head_dim = 4;
  layout.block_size = block_size;
  layout.dtype = KvDtype::kF32;
  return layout;
}

inline int64_t TinyBlockBytes(int block_size = 4) {
  return TinyLayout(block_size).BlockBytes();
}

// A budget given in whole blocks of TinyLayout(block_size).
inline TenantBudget BlocksBudget(std::string name, int64_t reserved_blocks,
                                 int64_t limit_blocks,
                                 bool prefix_caching = true,
                                 int block_size = 4) {
  return TenantBudget{
      std::move(name), reserved_blocks * TinyBlockBytes(block_size),
      limit_blocks * TinyBlockBytes(block_size), prefix_caching};
}

inline std::unique_ptr<KvCacheManager> MakeManager(
    int32_t num_blocks, std::vector<TenantBudget> budgets,
    bool prefix_caching = true, int block_size = 4) {
  KvCacheManager::Options options;
  options.layout = TinyLayout(block_size);
  options.capacity_bytes = num_blocks * TinyBlockBytes(block_size);
  options.prefix_caching = prefix_caching;
  auto manager = KvCacheManager::Create(options, std::move(budgets));
  EXPECT_TRUE(manager.ok()) << manager.status();
  return manager.ok() ? *std::move(manager) : nullptr;
}

// n token ids first, first + 1, ...
inline std::vector<int32_t> Tokens(int32_t first, int32_t n) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

}  // namespace kvasir::kvcache::testing

#endif  // KVASIR_TESTS_KVCACHE_KV_TEST_UTIL_H_
