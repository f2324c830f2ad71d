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
#include "absl/types/span.h"

namespace kvasir::kvcache {

// One tenant's share of the KV cache, as configured (bytes).
struct TenantBudget {
  // Unique and non-empty: a precondition (the engine's tenant rules,
  // engine::CheckTenantConfigs, check names; this module checks numbers).
  std::string name;
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
  // Cached blocks (nobody references them) the tenant may hold before they
  // are reclaimed ahead of those of tenants within their share; nullopt:
  // reserved_bytes. Rounded UP to whole blocks, capped at the pool. >= 0.
  // Orders reclamation only: it reserves nothing, shares may add up to
  // more than the capacity, and any allocation may still take any cached
  // block (BlockPool).
  std::optional<int64_t> cache_share_bytes = std::nullopt;

  int64_t effective_cache_share_bytes() const {
    return cache_share_bytes.value_or(reserved_bytes);
  }
};

// A tenant rule a budget set breaks, told in parts so that each front end
// can name the field its own way (the config file says `tenants[1].limit`,
// the engine API `limit_bytes`). The engine's own tenant rules
// (engine::CheckTenantConfigs) report with the same type.
struct TenantRuleError {
  // The tenant's index in the list, and its name; -1 (and no name) for a
  // rule over the whole list (at least one tenant, the sum of floors).
  int32_t index = -1;
  std::string tenant{};
  // The field, as the engine's TenantConfig names it ("reserved_bytes",
  // "limit_bytes", "name", "weight", ...); empty for the list itself.
  std::string field{};
  // What is wrong, with the value and the limit, without the field:
  // "64MiB exceeds the tenant's limit 32MiB".
  // Bounded (common/bounded_text.h): a rule over the whole list names the
  // first few tenants and counts the rest.
  std::string message{};
  // The full listing `message` left out (every tenant's floor), for the
  // server log; empty when the message says everything.
  std::string detail{};

  // InvalidArgument "tenant 'a': reserved_bytes: 64MiB exceeds ..."
  // ("tenants[2]: name: ..." when the tenant has no name; "tenants: ..."
  // for the whole list), with `detail` as its log detail, and the error
  // itself attached (TenantRuleErrorOf), so that a server can point a
  // refusal from deep inside the engine at its config file's line.
  absl::Status ToStatus() const;
};

// The TenantRuleError a status from ToStatus carries (also after
// WithMessage), or nullopt.
std::optional<TenantRuleError> TenantRuleErrorOf(const absl::Status& status);

// The budget arithmetic that needs no block size, so that a config can be
// checked before its model is loaded: reserved >= 0, limit > 0,
// reserved <= limit, limit <= capacity_bytes, 0 <= cache share <=
// capacity_bytes, and the sum of the floors <= capacity_bytes. The first rule
// broken, or nullopt. The block rules (TenantBudgets::Validate) come on top
// once the block size is known: floors round up and limits down to whole
// blocks.
std::optional<TenantRuleError> CheckBudgetBytes(
    absl::Span<const TenantBudget> budgets, int64_t capacity_bytes);

// One tenant's KV numbers: the one stats type of the tenant path, from the
// KV cache to the engine API (engine::TenantStats::kv). The scheduler reads
// it to pick victims. Allocation-free to make.
struct TenantKvStats {
  // False for a tenant removed from the config whose sequences still hold
  // blocks (floor 0, the limit it had).
  bool configured = false;
  bool prefix_caching = false;  // effective: the tenant's and the global
                                // switch
  int64_t used_blocks = 0;      // distinct blocks its sequences reference
  int64_t reserved_blocks = 0;  // min(ceil(reserved / block), limit_blocks)
  int64_t limit_blocks = 0;     // floor(limit / block)
  int64_t used_bytes = 0;       // the same three in bytes (blocks * block
  int64_t reserved_bytes = 0;   // bytes)
  int64_t limit_bytes = 0;
  // Prompt tokens looked up in the prefix cache, and of those the tokens
  // found there, counted each time one of its sequences is admitted with a
  // lookup: a preempted request looks its prompt (and generated tokens) up
  // again when it resumes, so this counts more than the requests'
  // FinishInfo::cached_prompt_tokens (first admission only).
  int64_t prefix_lookup_tokens = 0;
  int64_t prefix_hit_tokens = 0;
  // Cached blocks of its prefix-cache entries that no sequence references
  // (counted against no one's budget, reclaimable), and its cache share
  // (TenantBudget::cache_share_bytes, in whole blocks).
  int64_t cached_blocks = 0;
  int64_t cached_bytes = 0;
  int64_t cache_share_blocks = 0;
  int64_t cache_share_bytes = 0;

  // used > limit: gets no new blocks, preempt it first.
  bool over_limit() const { return used_blocks > limit_blocks; }
  // used > reserved: may be preempted for another tenant (down to its
  // floor, never below).
  bool above_floor() const { return used_blocks > reserved_blocks; }
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
// the limit it had: its running sequences go on to their end, within that
// limit and the others' floors) until its usage drops to zero; if it is
// configured again it takes up its old id and usage.
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
                              // (with the limit it had, floor 0)
    int64_t reserved_bytes = 0;
    int64_t limit_bytes = 0;
    int64_t reserved_blocks = 0;  // min(ceil(reserved / block), limit_blocks)
    int64_t limit_blocks = 0;     // floor(limit_bytes / block_bytes)
    bool prefix_caching = false;
    // min(ceil(cache share / block), total blocks); 0 when removed.
    int64_t cache_share_blocks = 0;
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
  // InvalidArgument (see Validate). Usage is kept; tenants left out are
  // removed as described above. Precondition: names unique and non-empty.
  absl::Status Set(std::vector<TenantBudget> budgets);

  // Checks `budgets` as Set would, without applying them: negative
  // reserved or cache share, limit <= 0 or below one block, reserved > limit
  // (in bytes, or after rounding to blocks), sum of floors over the capacity
  // (in blocks). Limits above the capacity are fine (MaxBlocks caps them). The
  // first rule broken, or nullopt; thread-safe (reads only `options`).
  static std::optional<TenantRuleError> Check(
      const Options& options, absl::Span<const TenantBudget> budgets);
  // Check as a Status (TenantRuleError::ToStatus).
  static absl::Status Validate(const Options& options,
                               absl::Span<const TenantBudget> budgets);

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
