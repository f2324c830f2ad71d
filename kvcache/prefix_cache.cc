#include "kvcache/prefix_cache.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kvasir::kvcache {

absl::StatusOr<std::unique_ptr<PrefixCache>> PrefixCache::Create(
    const Options& options) {
  if (options.num_blocks < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PrefixCache: num_blocks ", options.num_blocks, " must be >= 1"));
  }
  if (options.block_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "PrefixCache: block_size ", options.block_size, " must be >= 1"));
  }
  return std::unique_ptr<PrefixCache>(
      new PrefixCache(options.num_blocks, options.block_size));
}

PrefixCache::PrefixCache(int32_t num_blocks, int32_t block_size)
    : block_size_(block_size),
      has_entry_(static_cast<size_t>(num_blocks), 0),
      hash_(static_cast<size_t>(num_blocks), 0),
      parent_(static_cast<size_t>(num_blocks), 0),
      tenant_(static_cast<size_t>(num_blocks), -1),
      tokens_(static_cast<size_t>(num_blocks) * block_size, 0) {
  by_hash_.reserve(static_cast<size_t>(num_blocks));
}

BlockHash PrefixCache::HashBlock(int32_t tenant, BlockHash parent,
                                 absl::Span<const int32_t> tokens) {
  return absl::HashOf(tenant, parent, tokens);
}

int32_t PrefixCache::Match(int32_t tenant, absl::Span<const int32_t> tokens,
                           int32_t max_blocks, std::vector<int32_t>* blocks,
                           std::vector<BlockHash>* hashes) const {
  const int64_t whole = static_cast<int64_t>(tokens.size()) / block_size_;
  const int32_t limit =
      static_cast<int32_t>(std::min<int64_t>(whole, max_blocks));
  BlockHash parent = kRootBlockHash;
  int32_t matched = 0;
  for (; matched < limit; ++matched) {
    const absl::Span<const int32_t> block_tokens =
        tokens.subspan(static_cast<size_t>(matched) * block_size_, block_size_);
    const BlockHash hash = HashBlock(tenant, parent, block_tokens);
    const auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) break;
    const int32_t block = it->second;
    if (tenant_[block] != tenant || parent_[block] != parent ||
        !std::equal(block_tokens.begin(), block_tokens.end(),
                    TokensOf(block).begin())) {
      break;  // a hash collision: treat as a miss
    }
    blocks->push_back(block);
    hashes->push_back(hash);
    parent = hash;
  }
  return matched;
}

bool PrefixCache::Insert(int32_t block, int32_t tenant, BlockHash parent,
                         BlockHash hash, absl::Span<const int32_t> tokens) {
  if (has_entry_[block] != 0 ||
      static_cast<int64_t>(tokens.size()) != block_size_) {
    return false;
  }
  if (!by_hash_.try_emplace(hash, block).second) return false;
  has_entry_[block] = 1;
  hash_[block] = hash;
  parent_[block] = parent;
  tenant_[block] = tenant;
  std::copy(tokens.begin(), tokens.end(),
            tokens_.begin() + static_cast<ptrdiff_t>(block) * block_size_);
  return true;
}

void PrefixCache::Erase(int32_t block) {
  if (has_entry_[block] == 0) return;
  by_hash_.erase(hash_[block]);
  has_entry_[block] = 0;
  tenant_[block] = -1;
}

}  // namespace kvasir::kvcache
