#include "kvcache/kv_sequence.h"

#include <utility>

#include "kvcache/kv_cache_manager.h"

namespace kvasir::kvcache {

KvSequence::KvSequence(KvCacheManager* manager, int32_t tenant,
                       int32_t block_size, bool hashing)
    : manager_(manager),
      tenant_(tenant),
      table_(block_size),
      hashing_(hashing) {
  // pending_ is reserved at the first AppendTokens: a sequence made only to
  // see whether a request fits (and dropped when it does not, maybe at every
  // step) allocates nothing.
}

KvSequence::KvSequence(KvSequence&& other) noexcept { TakeFrom(other); }

KvSequence& KvSequence::operator=(KvSequence&& other) noexcept {
  if (this != &other) {
    Free();
    TakeFrom(other);
  }
  return *this;
}

void KvSequence::TakeFrom(KvSequence& other) {
  manager_ = std::exchange(other.manager_, nullptr);
  tenant_ = std::exchange(other.tenant_, -1);
  table_ = std::move(other.table_);
  other.table_.Clear();
  num_tokens_ = std::exchange(other.num_tokens_, 0);
  cached_tokens_ = std::exchange(other.cached_tokens_, 0);
  hashing_ = std::exchange(other.hashing_, false);
  hashed_blocks_ = std::exchange(other.hashed_blocks_, 0);
  chain_hash_ = std::exchange(other.chain_hash_, kRootBlockHash);
  pending_ = std::move(other.pending_);
  other.pending_.clear();
}

void KvSequence::Free() {
  if (manager_ == nullptr) return;
  manager_->Release(*this);
  manager_ = nullptr;
  tenant_ = -1;
  table_.Clear();
  num_tokens_ = 0;
  cached_tokens_ = 0;
  hashing_ = false;
  hashed_blocks_ = 0;
  chain_hash_ = kRootBlockHash;
  pending_.clear();
}

}  // namespace kvasir::kvcache
