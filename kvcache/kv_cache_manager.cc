#include "kvcache/kv_cache_manager.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::kvcache {

absl::StatusOr<std::unique_ptr<KvCacheManager>> KvCacheManager::Create(
    const Options& options, std::vector<TenantBudget> budgets) {
  ASSIGN_OR_RETURN(KvArena arena,
                   KvArena::Create(options.layout, options.capacity_bytes));
  ASSIGN_OR_RETURN(std::unique_ptr<BlockPool> pool,
                   BlockPool::Create({.num_blocks = arena.num_blocks()}));
  ASSIGN_OR_RETURN(
      std::unique_ptr<PrefixCache> prefix,
      PrefixCache::Create({.num_blocks = arena.num_blocks(),
                           .block_size = options.layout.block_size}));
  ASSIGN_OR_RETURN(
      std::unique_ptr<TenantBudgets> tenant_budgets,
      TenantBudgets::Create({.block_bytes = options.layout.BlockBytes(),
                             .total_blocks = arena.num_blocks()},
                            std::move(budgets)));
  return std::unique_ptr<KvCacheManager>(
      new KvCacheManager(options, std::move(arena), std::move(pool),
                         std::move(prefix), std::move(tenant_budgets)));
}

KvCacheManager::KvCacheManager(const Options& options, KvArena arena,
                               std::unique_ptr<BlockPool> pool,
                               std::unique_ptr<PrefixCache> prefix,
                               std::unique_ptr<TenantBudgets> budgets)
    : options_(options),
      arena_(std::move(arena)),
      pool_(std::move(pool)),
      prefix_(std::move(prefix)),
      budgets_(std::move(budgets)) {
  ApplyCacheShares();
}

void KvCacheManager::ApplyCacheShares() {
  for (int32_t id = 0; id < budgets_->size(); ++id) {
    pool_->SetShare(id, budgets_->tenant(id).cache_share_blocks);
  }
}

KvCacheManager::~KvCacheManager() = default;

bool KvCacheManager::CachingOn(int32_t tenant) const {
  const TenantBudgets::Tenant& t = budgets_->tenant(tenant);
  return options_.prefix_caching && t.configured && t.prefix_caching;
}

absl::Status KvCacheManager::SetBudgets(std::vector<TenantBudget> budgets) {
  RETURN_IF_ERROR(budgets_->Set(std::move(budgets)));
  ApplyCacheShares();
  if (prefix_->size() == 0) return absl::OkStatus();
  // A tenant that left or turned caching off must not find its old blocks
  // when it comes back, and they should not wait for LRU to go.
  for (int32_t b = 0; b < pool_->num_blocks(); ++b) {
    if (prefix_->Contains(b) && !CachingOn(prefix_->tenant_of(b))) {
      prefix_->Erase(b);
      pool_->Uncache(b);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<KvSequence> KvCacheManager::NewSequence(int32_t tenant_id) {
  if (!budgets_->tenant(tenant_id).configured) {
    return absl::NotFoundError(absl::StrCat(
        "KV cache: tenant '", TenantName(tenant_id), "' was removed"));
  }
  ++live_sequences_;
  return KvSequence(this, tenant_id, block_size(), CachingOn(tenant_id));
}

absl::Status KvCacheManager::CheckOwned(const KvSequence& seq) const {
  if (!seq.valid()) {
    return absl::InvalidArgumentError(
        "KV cache: the sequence handle is empty (moved from or freed)");
  }
  if (seq.manager_ != this) {
    return absl::InvalidArgumentError(
        "KV cache: the sequence belongs to another KvCacheManager");
  }
  return absl::OkStatus();
}

absl::StatusOr<PrefixMatch> KvCacheManager::FindCachedPrefix(
    const KvSequence& seq, absl::Span<const int32_t> prompt) const {
  PrefixMatch match;
  RETURN_IF_ERROR(FindCachedPrefix(seq, prompt, &match));
  return match;
}

absl::Status KvCacheManager::FindCachedPrefix(const KvSequence& seq,
                                              absl::Span<const int32_t> prompt,
                                              PrefixMatch* match) const {
  match->tenant_id = -1;
  match->looked_up = false;
  match->prompt_tokens = 0;
  match->blocks.clear();
  match->hashes.clear();
  match->num_tokens = 0;
  RETURN_IF_ERROR(CheckOwned(seq));
  if (seq.num_blocks() != 0 || seq.num_tokens() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "KV cache: prefix lookup for a sequence that already has ",
        seq.num_tokens(), " tokens in ", seq.num_blocks(),
        " blocks; only a new sequence can attach a cached prefix"));
  }
  match->tenant_id = seq.tenant_;
  if (!CachingOn(seq.tenant_)) return absl::OkStatus();
  match->looked_up = true;
  match->prompt_tokens = static_cast<int32_t>(
      std::min<size_t>(prompt.size(), std::numeric_limits<int32_t>::max()));
  if (prompt.empty()) return absl::OkStatus();
  const int64_t max_blocks =
      (static_cast<int64_t>(prompt.size()) - 1) / block_size();
  const int32_t matched = prefix_->Match(
      seq.tenant_, prompt,
      static_cast<int32_t>(std::min<int64_t>(max_blocks, total_blocks())),
      &match->blocks, &match->hashes);
  match->num_tokens = matched * block_size();
  return absl::OkStatus();
}

absl::Status KvCacheManager::CheckMatch(const KvSequence& seq,
                                        const PrefixMatch& prefix) const {
  if (!prefix.looked_up) {
    if (prefix.blocks.empty() && prefix.num_tokens == 0) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        "KV cache: malformed prefix match (blocks without a lookup)");
  }
  if (seq.num_blocks() != 0 || seq.num_tokens() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "KV cache: a prefix match can only be attached to a new sequence; "
        "this one has ",
        seq.num_tokens(), " tokens in ", seq.num_blocks(), " blocks"));
  }
  if (prefix.tenant_id != seq.tenant_) {
    const bool known =
        prefix.tenant_id >= 0 && prefix.tenant_id < budgets_->size();
    return absl::FailedPreconditionError(absl::StrCat(
        "KV cache: the prefix match was made for ",
        known ? absl::StrCat("tenant '", TenantName(prefix.tenant_id), "'")
              : absl::StrCat("tenant id ", prefix.tenant_id),
        ", the sequence belongs to tenant '", TenantName(seq.tenant_), "'"));
  }
  const int64_t n = static_cast<int64_t>(prefix.blocks.size());
  if (static_cast<int64_t>(prefix.hashes.size()) != n ||
      prefix.num_tokens != n * block_size() ||
      prefix.num_tokens > std::max(prefix.prompt_tokens - 1, 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: malformed prefix match (", n, " blocks, ",
                     prefix.hashes.size(), " hashes, ", prefix.num_tokens,
                     " tokens of a ", prefix.prompt_tokens, "-token prompt)"));
  }
  for (int64_t i = 0; i < n; ++i) {
    const int32_t b = prefix.blocks[i];
    if (b < 0 || b >= total_blocks()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "KV cache: prefix match names block ", b, " of ", total_blocks()));
    }
    if (!prefix_->Holds(b, prefix.hashes[i]) ||
        prefix_->tenant_of(b) != seq.tenant_) {
      return absl::FailedPreconditionError(absl::StrCat(
          "KV cache: stale prefix match (block ", b,
          " was reclaimed since the lookup); look the prompt up again"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<AllocationResult> KvCacheManager::Allocate(
    KvSequence& seq, int64_t n_new_tokens, const PrefixMatch& prefix) {
  RETURN_IF_ERROR(CheckOwned(seq));
  if (n_new_tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: n_new_tokens ", n_new_tokens, " must be >= 0"));
  }
  RETURN_IF_ERROR(CheckMatch(seq, prefix));
  const int64_t tokens_after =
      int64_t{seq.num_tokens()} + prefix.num_tokens + n_new_tokens;
  if (tokens_after > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("KV cache: a sequence of ", tokens_after,
                     " tokens exceeds the maximum of ",
                     std::numeric_limits<int32_t>::max()));
  }

  AllocationResult result;
  int64_t revived = 0;
  for (int32_t b : prefix.blocks) revived += pool_->refcount(b) == 0;
  const int64_t blocks_after = (tokens_after + block_size() - 1) / block_size();
  const int64_t have =
      seq.num_blocks() + static_cast<int64_t>(prefix.blocks.size());
  result.new_blocks = std::max<int64_t>(0, blocks_after - have);
  result.charged_blocks = result.new_blocks + revived;
  result.status = budgets_->CanTake(seq.tenant_, result.charged_blocks,
                                    pool_->available_blocks());
  if (!result.ok()) return result;

  // Apply. Prefix blocks first, so reclaiming below cannot take them.
  const int32_t tenant = seq.tenant_;
  for (int32_t b : prefix.blocks) {
    if (pool_->refcount(b) == 0) budgets_->AddUsed(tenant, 1);
    pool_->Ref(b);
    seq.table_.Append(b);
  }
  if (prefix.looked_up) {
    seq.num_tokens_ = prefix.num_tokens;
    seq.cached_tokens_ = prefix.num_tokens;
    seq.hashed_blocks_ = static_cast<int32_t>(prefix.blocks.size());
    if (!prefix.hashes.empty()) seq.chain_hash_ = prefix.hashes.back();
    result.cached_tokens = prefix.num_tokens;
    budgets_->AddPrefixStats(tenant, prefix.prompt_tokens, prefix.num_tokens);
    prefix_lookup_tokens_ += prefix.prompt_tokens;
    prefix_hit_tokens_ += prefix.num_tokens;
  }
  for (int64_t i = 0; i < result.new_blocks; ++i) {
    const BlockPool::Taken taken = pool_->Allocate();
    if (taken.evicted) {
      prefix_->Erase(taken.block);
      ++evicted_blocks_;
    }
    budgets_->AddUsed(tenant, 1);
    seq.table_.Append(taken.block);
  }
  return result;
}

void KvCacheManager::SealBlock(KvSequence& seq) {
  if (!CachingOn(seq.tenant_)) {
    // Caching was turned off for the tenant: stop hashing this sequence.
    seq.hashing_ = false;
    seq.pending_.clear();
    return;
  }
  const BlockHash hash =
      PrefixCache::HashBlock(seq.tenant_, seq.chain_hash_, seq.pending_);
  const int32_t block = seq.table_[seq.hashed_blocks_];
  if (!pool_->is_cached(block) &&
      prefix_->Insert(block, seq.tenant_, seq.chain_hash_, hash,
                      seq.pending_)) {
    pool_->MarkCached(block, seq.tenant_);
  }
  seq.chain_hash_ = hash;
  ++seq.hashed_blocks_;
  seq.pending_.clear();
}

absl::Status KvCacheManager::AppendTokens(KvSequence& seq,
                                          absl::Span<const int32_t> tokens) {
  RETURN_IF_ERROR(CheckOwned(seq));
  const int64_t after =
      int64_t{seq.num_tokens_} + static_cast<int64_t>(tokens.size());
  if (after > seq.capacity_tokens()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache: appending ", tokens.size(), " tokens to a sequence of ",
        seq.num_tokens_, " needs room for ", after, " tokens, but its ",
        seq.num_blocks(), " blocks hold ", seq.capacity_tokens(),
        "; call Allocate first"));
  }
  const size_t bs = static_cast<size_t>(block_size());
  if (seq.hashing_ && seq.pending_.capacity() < bs) seq.pending_.reserve(bs);
  size_t i = 0;
  while (seq.hashing_ && i < tokens.size()) {
    const size_t n = std::min(bs - seq.pending_.size(), tokens.size() - i);
    seq.pending_.insert(seq.pending_.end(), tokens.begin() + i,
                        tokens.begin() + i + n);
    i += n;
    if (seq.pending_.size() == bs) SealBlock(seq);
  }
  seq.num_tokens_ = static_cast<int32_t>(after);
  return absl::OkStatus();
}

void KvCacheManager::Release(KvSequence& seq) {
  // Cache entries exist only for tenants with caching on (SetBudgets drops
  // the others' and SealBlock adds none for them), so a released cached
  // block is worth keeping.
  const int32_t tenant = seq.tenant_;
  const absl::Span<const int32_t> ids = seq.table_.ids();
  // Last block first: the free queue then reclaims a sequence's tail
  // before its head, which other prompts are likelier to share.
  for (size_t i = ids.size(); i-- > 0;) {
    if (pool_->Unref(ids[i]) == 0) budgets_->AddUsed(tenant, -1);
  }
  --live_sequences_;
}

int64_t KvCacheManager::ReleasableBlocks(const KvSequence& seq) const {
  if (seq.manager_ != this) return 0;
  int64_t n = 0;
  for (int32_t b : seq.table_.ids()) n += pool_->refcount(b) == 1;
  return n;
}

int64_t KvCacheManager::ReleasableAboveFloor(const KvSequence& seq) const {
  const int64_t n = ReleasableBlocks(seq);
  if (n == 0) return 0;
  const TenantBudgets::Tenant& t = budgets_->tenant(seq.tenant_id());
  return t.used_blocks - n >= t.reserved_blocks ? n : 0;
}

TenantKvStats KvCacheManager::GetTenant(int32_t id) const {
  const TenantBudgets::Tenant& t = budgets_->tenant(id);
  TenantKvStats s;
  s.configured = t.configured;
  s.prefix_caching = CachingOn(id);
  s.used_blocks = t.used_blocks;
  s.reserved_blocks = t.reserved_blocks;
  s.limit_blocks = t.limit_blocks;
  s.used_bytes = t.used_blocks * block_bytes();
  s.reserved_bytes = t.reserved_blocks * block_bytes();
  s.limit_bytes = t.limit_blocks * block_bytes();
  s.prefix_lookup_tokens = t.prefix_lookup_tokens;
  s.prefix_hit_tokens = t.prefix_hit_tokens;
  s.cached_blocks = pool_->cached_blocks(id);
  s.cached_bytes = s.cached_blocks * block_bytes();
  s.cache_share_blocks = t.cache_share_blocks;
  s.cache_share_bytes = t.cache_share_blocks * block_bytes();
  return s;
}

absl::StatusOr<int64_t> KvCacheManager::MaxTokens(int32_t id) const {
  if (!budgets_->tenant(id).configured) {
    return absl::NotFoundError(
        absl::StrCat("KV cache: tenant '", TenantName(id), "' was removed"));
  }
  return budgets_->MaxBlocks(id) * block_size();
}

KvCacheStats KvCacheManager::Stats() const {
  KvCacheStats s;
  s.total_blocks = pool_->num_blocks();
  s.free_blocks = pool_->free_blocks();
  s.cached_blocks = pool_->cached_blocks();
  s.used_blocks = pool_->used_blocks();
  s.block_size = block_size();
  s.block_bytes = block_bytes();
  s.bytes_per_token = bytes_per_token();
  s.prefix_lookup_tokens = prefix_lookup_tokens_;
  s.prefix_hit_tokens = prefix_hit_tokens_;
  s.prefix_hit_rate =
      prefix_lookup_tokens_ == 0
          ? 0.0
          : static_cast<double>(prefix_hit_tokens_) / prefix_lookup_tokens_;
  s.evicted_blocks = evicted_blocks_;
  s.live_sequences = live_sequences_;
  return s;
}

}  // namespace kvasir::kvcache
