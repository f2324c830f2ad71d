#ifndef KVASIR_KVCACHE_TENANT_BUDGETS_H_
#define KVASIR_KVCACHE_TENANT_BUDGETS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kvasir::kvcache {

// One tenant's share of the KV cache, as configured (bytes).
struct TenantBudget {
  std::string name;  // unique, non-empty
  // Floor: KV memory nobody else can take. Rounded UP to whole blocks, so
  // the tenant is guaranteed at least this many bytes, except that the
  // floor never exceeds the limit's block count (reserved == limit is valid
  // for any block size). >= 0.
  int64_t reserved_bytes = 0;
  // Ceiling: never exceeded. Rounded DOWN to whole blocks, so the tenant
  // never holds more than this many bytes. > 0, >= reserved_bytes, and at
  // least one block.
  int64_t limit_bytes = 0;
  // Whether this tenant's full blocks enter the prefix cache and its new
  // sequences look there (also needs the manager's global switch).
  bool prefix_caching = true;
};

// Why an allocation did not fit. A normal outcome, not an error: the
// scheduler waits or preempts, and the reason says whom.
enum class AllocStatus {
  kOk,
  // used + n would pass the tenant's limit (or the tenant is already above
  // a shrunk limit): only freeing this tenant's own blocks helps.
  kTenantLimit,
  // Enough blocks are available, but taking them would leave fewer than
  // the other tenants' unused floors: preempt a tenant above its floor.
  kOtherTenantsFloors,
  // Fewer free + reclaimable blocks than needed.
  kPoolExhausted,
};
absl::string_view AllocStatusName(AllocStatus status);  // "ok", ...

// Per-tenant block accounting and the admission rule of DESIGN.md:
// tenant T may take n more blocks iff
//   used(T) + n <= limit(T), n <= available, and
//   available - n >= sum over U != T of max(0, reserved(U) - used(U)),
// where available = free + reclaimable (cached, unreferenced) blocks.
// Checked at configuration: sum of reserved blocks <= total blocks.
//
// Tenant ids are small integers, stable for the life of the object: a name
// keeps its id when budgets are replaced, removed, or added back. A tenant
// removed while it still holds blocks stays (configured = false, floor 0,
// limit 0: over its limit, so it gets nothing new) until its usage drops to
// zero; if it is configured again it takes up its old id and usage.
//
// Not thread-safe. O(1) per accounting call; Set is O(tenants).
class TenantBudgets {
 public:
  struct Options {
    int64_t block_bytes = 0;   // >= 1: KvLayout::BlockBytes()
    int32_t total_blocks = 0;  // >= 1: blocks in the pool
  };

  struct Tenant {
    std::string name;
    bool configured = false;  // false: removed, kept while used_blocks > 0
    int64_t reserved_bytes = 0;
    int64_t limit_bytes = 0;
    int64_t reserved_blocks = 0;  // min(ceil(reserved / block), limit_blocks)
    int64_t limit_blocks = 0;     // floor(limit_bytes / block_bytes)
    bool prefix_caching = false;
    int64_t used_blocks = 0;  // distinct blocks its sequences reference
    int64_t prefix_lookup_tokens = 0;
    int64_t prefix_hit_tokens = 0;

    bool over_limit() const { return used_blocks > limit_blocks; }
    int64_t unused_floor() const {
      return used_blocks < reserved_blocks ? reserved_blocks - used_blocks : 0;
    }
  };

  // InvalidArgument for bad options or budgets (see Set).
  static absl::StatusOr<std::unique_ptr<TenantBudgets>> Create(
      const Options& options, std::vector<TenantBudget> budgets);

  TenantBudgets(const TenantBudgets&) = delete;
  TenantBudgets& operator=(const TenantBudgets&) = delete;

  // Validates `budgets` and replaces the current set, all or nothing.
  // InvalidArgument naming the tenant (or its index when the name is
  // empty), the values and the limit: empty or duplicate name, negative
  // reserved, limit <= 0 or below one block, reserved > limit (in bytes, or
  // after rounding to blocks), sum of floors over the capacity. Usage is
  // kept; tenants left out are removed as described above.
  absl::Status Set(std::vector<TenantBudget> budgets);

  // Checks `budgets` as Set would, without applying them.
  absl::Status Validate(const std::vector<TenantBudget>& budgets) const;

  // Id of a configured tenant; nullopt for unknown or removed names.
  std::optional<int32_t> Find(absl::string_view name) const;

  // Ids are 0 .. size() - 1 (removed tenants included).
  int32_t size() const { return static_cast<int32_t>(tenants_.size()); }
  const Tenant& tenant(int32_t id) const { return tenants_[id]; }

  int64_t block_bytes() const { return options_.block_bytes; }
  int32_t total_blocks() const { return options_.total_blocks; }

  // Sum over all tenants of max(0, reserved - used).
  int64_t unused_floors() const { return unused_floors_; }

  // Whether tenant `id` may take `n` more blocks when `available` blocks
  // are free or reclaimable. n == 0 always fits.
  AllocStatus CanTake(int32_t id, int64_t n, int64_t available) const;

  // The most blocks tenant `id` could ever hold: its limit, and no more
  // than the pool minus the other configured tenants' floors.
  int64_t MaxBlocks(int32_t id) const;

  // Usage changes (the manager calls these as blocks gain their first or
  // lose their last reference from the tenant's sequences).
  // Precondition: used_blocks + delta >= 0.
  void AddUsed(int32_t id, int64_t delta);
  void AddPrefixStats(int32_t id, int64_t lookup_tokens, int64_t hit_tokens);

 private:
  explicit TenantBudgets(const Options& options) : options_(options) {}

  Options options_;
  std::vector<Tenant> tenants_;
  absl::flat_hash_map<std::string, int32_t> ids_;
  int64_t unused_floors_ = 0;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_TENANT_BUDGETS_H_
