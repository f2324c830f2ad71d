#ifndef KVASIR_TESTS_KVCACHE_KV_TEST_UTIL_H_
#define KVASIR_TESTS_KVCACHE_KV_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "kvcache/kv_cache_manager.h"
#include "kvcache/kv_layout.h"

namespace kvasir::kvcache {

// What tests look at in a KvCacheManager beyond its API: its parts (for
// invariant checks) and tenants by name, removed ones included (the API
// takes ids; the scheduler maps names).
class KvCacheManagerTestPeer {
 public:
  explicit KvCacheManagerTestPeer(const KvCacheManager& m) : m_(m) {}

  const BlockPool& pool() const { return *m_.pool_; }
  const PrefixCache& prefix_cache() const { return *m_.prefix_; }

  // The id of `name`, configured or removed; -1 when it never was.
  int32_t AnyTenantId(absl::string_view name) const {
    for (int32_t id = 0; id < m_.budgets_->size(); ++id) {
      if (m_.TenantName(id) == name) return id;
    }
    return -1;
  }

 private:
  const KvCacheManager& m_;
};

namespace testing {

// The KV numbers of a configured tenant, or of a removed one that still
// holds blocks; NotFound otherwise.
inline absl::StatusOr<TenantKvStats> TenantByName(const KvCacheManager& m,
                                                  absl::string_view name) {
  const int32_t id = KvCacheManagerTestPeer(m).AnyTenantId(name);
  if (id >= 0) {
    const TenantKvStats s = m.GetTenant(id);
    if (s.configured || s.used_blocks > 0) return s;
  }
  return absl::NotFoundError(absl::StrCat("unknown tenant '", name, "'"));
}

// A sequence of the configured tenant `name`; NotFound otherwise.
inline absl::StatusOr<KvSequence> NewSequenceFor(KvCacheManager& m,
                                                 absl::string_view name) {
  const std::optional<int32_t> id = m.FindTenant(name);
  if (!id.has_value()) {
    return absl::NotFoundError(absl::StrCat("unknown tenant '", name, "'"));
  }
  return m.NewSequence(*id);
}

// MaxTokens of the configured tenant `name`; NotFound otherwise.
inline absl::StatusOr<int64_t> MaxTokensFor(const KvCacheManager& m,
                                            absl::string_view name) {
  const std::optional<int32_t> id = m.FindTenant(name);
  if (!id.has_value()) {
    return absl::NotFoundError(absl::StrCat("unknown tenant '", name, "'"));
  }
  return m.MaxTokens(*id);
}

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

}  // namespace testing
}  // namespace kvasir::kvcache

#endif  // KVASIR_TESTS_KVCACHE_KV_TEST_UTIL_H_
