#ifndef KVASIR_KVCACHE_KV_CACHE_MANAGER_H_
#define KVASIR_KVCACHE_KV_CACHE_MANAGER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "kvcache/block_pool.h"
#include "kvcache/kv_arena.h"
#include "kvcache/kv_layout.h"
#include "kvcache/kv_sequence.h"
#include "kvcache/prefix_cache.h"
#include "kvcache/tenant_budgets.h"

namespace kvasir::kvcache {

// The cached prefix found for a new sequence's prompt: the "prepare" half
// of attaching it. Made by FindCachedPrefix, applied (or not) by Allocate;
// nothing changes in between, so a prompt that does not fit leaves the
// cache as it was.
struct PrefixMatch {
  int32_t tenant_id = -1;
  // False when no lookup was made (prefix caching is off for the tenant or
  // globally): the match is empty and Allocate counts no lookup.
  bool looked_up = false;
  // Prompt length looked up (for the hit rate).
  int32_t prompt_tokens = 0;
  // Cached full blocks covering prompt positions [0, num_tokens), in order,
  // and their chain hashes.
  std::vector<int32_t> blocks;
  std::vector<BlockHash> hashes;
  // blocks.size() * block_size: prompt tokens that need no computing.
  // Always <= prompt_tokens - 1 (the model needs the last prompt token's
  // logits).
  int32_t num_tokens = 0;
};

// Outcome of Allocate. "Does not fit" is a normal result: the scheduler
// waits or preempts according to `status`.
struct AllocationResult {
  AllocStatus status = AllocStatus::kOk;
  // Blocks taken (or that would have been taken) from the pool.
  int64_t new_blocks = 0;
  // Blocks newly counted against the tenant: new_blocks plus cached prefix
  // blocks nobody referenced. Prefix blocks another sequence of the same
  // tenant already references count once and cost nothing.
  int64_t charged_blocks = 0;
  // Prompt tokens attached from the prefix cache (0 unless ok()).
  int32_t cached_tokens = 0;

  bool ok() const { return status == AllocStatus::kOk; }
};

struct KvCacheStats {
  int64_t total_blocks = 0;
  int64_t free_blocks = 0;    // unreferenced and not cached
  int64_t cached_blocks = 0;  // unreferenced, kept for prefix reuse;
                              // reclaimable
  int64_t used_blocks = 0;    // referenced by a sequence;
                              // free + cached + used == total
  int32_t block_size = 0;     // tokens per block
  int64_t block_bytes = 0;
  int64_t bytes_per_token = 0;
  int64_t prefix_lookup_tokens = 0;  // prompt tokens of admitted lookups
  int64_t prefix_hit_tokens = 0;     // of which served from the cache
  double prefix_hit_rate = 0;        // hit / lookup tokens; 0 when none
  int64_t evicted_blocks = 0;        // cached blocks reclaimed for reuse
  int64_t live_sequences = 0;
};

// The paged KV cache: the only allocation interface of the scheduler (in
// the spirit of vLLM v1's kv_cache_manager.py). It owns the KvArena (the
// memory the model runner reads and writes), the BlockPool, the
// PrefixCache and the TenantBudgets, and hands out KvSequence handles.
//
// Tenants are named in the budgets and known by id everywhere else:
// FindTenant maps a name to its id (stable for the manager's life).
//
// Per step, for each sequence the scheduler:
//   1. new request: seq = NewSequence(tenant_id);
//      match = FindCachedPrefix(seq, prompt)      (prepare; no change)
//   2. r = Allocate(seq, n_tokens_this_step, match) (apply; all or nothing)
//      !r.ok(): wait, or preempt by r.status and retry;
//   3. runs the model on positions [seq.num_tokens(), + n) with
//      seq.block_table();
//   4. AppendTokens(seq, those token ids): full blocks enter the prefix
//      cache;
//   5. on finish, cancel or preemption: destroy seq (or seq.Free()).
//
// Accounting (DESIGN.md "KV-cache memory and tenant budgets"): a block
// counts against a tenant while one of its sequences references it, once
// however many of them do; cached blocks nobody references count against
// no one and never block an allocation (available = free + cached), a
// floor included. Prefix reuse never crosses tenants.
//
// Fair retention: a cached block belongs to the tenant of its prefix-cache
// entry. When cached blocks must be reclaimed, those of tenants holding
// more cached blocks than their cache share (TenantBudget) go first, LRU
// within each class (BlockPool), so a tenant flooding unique prompts
// reclaims its own cached blocks before a quiet tenant's.
//
// Not thread-safe: one thread (the engine thread) uses the manager and all
// its sequences. Every KvSequence must be destroyed or freed before the
// manager.
class KvCacheManager {
 public:
  struct Options {
    // Shape of a block (layers, KV heads, head_dim, block_size, dtype);
    // must be valid. Block bytes follow the attention mode: Hkv KV heads.
    KvLayout layout;
    // Size of the arena. num_blocks = capacity_bytes / layout.BlockBytes();
    // a remainder smaller than a block is not allocated. >= one block.
    // Bookkeeping outside the arena: about 4 bytes per token slot (the
    // prefix cache keeps each cached block's token ids) plus ~55 bytes per
    // block.
    int64_t capacity_bytes = int64_t{256} << 20;
    // Global prefix-caching switch; off: no lookups and nothing cached for
    // any tenant.
    bool prefix_caching = true;
  };

  // Allocates the arena and applies `budgets` (see SetBudgets).
  // InvalidArgument for an invalid layout, a capacity below one block, or
  // invalid budgets; ResourceExhausted when the memory cannot be mapped.
  static absl::StatusOr<std::unique_ptr<KvCacheManager>> Create(
      const Options& options, std::vector<TenantBudget> budgets);

  KvCacheManager(const KvCacheManager&) = delete;
  KvCacheManager& operator=(const KvCacheManager&) = delete;
  ~KvCacheManager();

  // Replaces every tenant's budget, all or nothing (a failed call changes
  // nothing); InvalidArgument naming the tenant and the numbers (see
  // TenantBudgets::Set). Bytes round to blocks: floors and cache shares up,
  // limits down; new cache shares order the next reclamation.
  // Usage is kept: a tenant above its new limit gets no new blocks and
  // reports over_limit; a removed tenant's live sequences keep counting
  // until freed (NewSequence for it is NotFound). Cached prefix blocks of
  // tenants removed or with prefix caching now off are dropped.
  // O(tenants + blocks).
  absl::Status SetBudgets(std::vector<TenantBudget> budgets);

  // The memory the model runner reads and writes.
  KvArena& arena() { return arena_; }
  const KvArena& arena() const { return arena_; }
  const KvLayout& layout() const { return arena_.layout(); }
  int32_t block_size() const { return arena_.layout().block_size; }
  int64_t block_bytes() const { return arena_.layout().BlockBytes(); }
  int64_t bytes_per_token() const { return arena_.layout().BytesPerToken(); }
  // As configured (Options::capacity_bytes): what the byte rules of the
  // budgets (CheckBudgetBytes) compare limits and floors with.
  int64_t capacity_bytes() const { return options_.capacity_bytes; }

  int32_t total_blocks() const { return pool_->num_blocks(); }
  int32_t free_blocks() const { return pool_->free_blocks(); }
  // Cached blocks nobody references (reclaimed when free blocks run out).
  int32_t reclaimable_blocks() const { return pool_->cached_blocks(); }

  // The id of the configured tenant `name`; nullopt for unknown or removed
  // names. The only call keyed by name.
  std::optional<int32_t> FindTenant(absl::string_view name) const {
    return budgets_->Find(name);
  }

  // An empty sequence of tenant `tenant_id` (no blocks, no tokens).
  // NotFound for a removed tenant. Precondition: the id came from this
  // manager.
  absl::StatusOr<KvSequence> NewSequence(int32_t tenant_id);

  // Prepare: the longest run of cached full blocks of the sequence's
  // tenant that starts `prompt`, capped at (prompt.size() - 1) rounded
  // down to a block boundary so that at least one prompt token is left to
  // compute. Changes nothing. Apply it right away: a call that reclaims one
  // of its blocks in between makes it stale (Allocate checks every block
  // and rejects a stale match). An empty, not-looked-up match when prefix
  // caching is off for the tenant or globally.
  // InvalidArgument for a sequence of another manager or an empty handle;
  // FailedPrecondition when the sequence already has blocks or tokens.
  absl::StatusOr<PrefixMatch> FindCachedPrefix(
      const KvSequence& seq, absl::Span<const int32_t> prompt) const;
  // The same into *match (overwritten; its vectors' capacity is reused, so
  // a caller that keeps one PrefixMatch does not allocate per lookup). On
  // error *match is left empty.
  absl::Status FindCachedPrefix(const KvSequence& seq,
                                absl::Span<const int32_t> prompt,
                                PrefixMatch* match) const;

  // Apply: attaches `prefix` (from FindCachedPrefix on this fresh sequence;
  // its tokens become computed: num_tokens() += prefix.num_tokens) and
  // makes room for n_new_tokens more tokens, all or nothing. When it does
  // not fit, returns !ok() with the reason and changes nothing. Cached
  // blocks are reclaimed only when no free block is left: over-share
  // tenants' first, LRU (see the class comment).
  // Errors are misuse only: InvalidArgument (other manager, empty handle,
  // n_new_tokens < 0, a malformed match, a sequence longer than 2^31 - 1
  // tokens), FailedPrecondition (a match for a sequence that already has
  // blocks or tokens, for another tenant, or stale: its blocks were
  // reclaimed since the lookup).
  absl::StatusOr<AllocationResult> Allocate(
      KvSequence& seq, int64_t n_new_tokens,
      const PrefixMatch& prefix = PrefixMatch());

  // Records that the model has written K/V for `tokens` at positions
  // [num_tokens(), num_tokens() + tokens.size()); num_tokens() grows by
  // tokens.size(). Blocks that become full enter the prefix cache when
  // prefix caching is on for the tenant (and globally). InvalidArgument for
  // misuse, or when the tokens do not fit in the allocated blocks (nothing
  // is recorded then).
  absl::Status AppendTokens(KvSequence& seq, absl::Span<const int32_t> tokens);

  // Blocks that freeing `seq` would return to the pool (those only it
  // references); a preemption victim's worth.
  int64_t ReleasableBlocks(const KvSequence& seq) const;
  // ReleasableBlocks(seq) when freeing them leaves seq's tenant at or above
  // its reserved floor, else 0: what preempting seq for ANOTHER tenant
  // would gain (a tenant is never pushed below its floor for another).
  int64_t ReleasableAboveFloor(const KvSequence& seq) const;

  // The KV numbers of tenant `id` (e.g. KvSequence::tenant_id()), O(1),
  // allocation-free. Precondition: id came from this manager.
  TenantKvStats GetTenant(int32_t id) const;
  absl::string_view TenantName(int32_t id) const {
    return budgets_->tenant(id).name;
  }

  // The longest sequence tenant `id` could ever hold: its limit in blocks,
  // and no more than the pool minus the other tenants' floors, times
  // block_size. A request needing more can never run (the server answers
  // RESOURCE_EXHAUSTED). NotFound for a removed tenant. Precondition: id
  // came from this manager.
  absl::StatusOr<int64_t> MaxTokens(int32_t id) const;

  KvCacheStats Stats() const;

 private:
  friend class KvSequence;
  // Read-only views of the parts for invariant checks in tests
  // (tests/kvcache/kv_test_util.h).
  friend class KvCacheManagerTestPeer;

  KvCacheManager(const Options& options, KvArena arena,
                 std::unique_ptr<BlockPool> pool,
                 std::unique_ptr<PrefixCache> prefix,
                 std::unique_ptr<TenantBudgets> budgets);

  absl::Status CheckOwned(const KvSequence& seq) const;
  absl::Status CheckMatch(const KvSequence& seq,
                          const PrefixMatch& prefix) const;
  bool CachingOn(int32_t tenant) const;
  // Hands every tenant's cache share to the pool (removed tenants: 0).
  void ApplyCacheShares();
  // Hashes the sequence's full pending block and offers it to the cache.
  void SealBlock(KvSequence& seq);
  // Called by KvSequence::Free.
  void Release(KvSequence& seq);

  Options options_;
  KvArena arena_;
  std::unique_ptr<BlockPool> pool_;
  std::unique_ptr<PrefixCache> prefix_;
  std::unique_ptr<TenantBudgets> budgets_;
  int64_t prefix_lookup_tokens_ = 0;
  int64_t prefix_hit_tokens_ = 0;
  int64_t evicted_blocks_ = 0;
  int64_t live_sequences_ = 0;
};

}  // namespace kvasir::kvcache

#endif  // KVASIR_KVCACHE_KV_CACHE_MANAGER_H_
