#ifndef KVASIR_TESTS_KVCACHE_KV_PROPERTY_HARNESS_H_
#define KVASIR_TESTS_KVCACHE_KV_PROPERTY_HARNESS_H_

// The driver and reference model of the KV-cache property test
// (kv_cache_property_test.cc): random operations on a KvCacheManager, each
// mirrored in a simple model of what the manager must do (distinct-block
// usage per tenant, the admission rule, a prefix cache keyed by tenant and
// whole token prefix), and Check() comparing the two after every step.

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kvcache/kv_cache_manager.h"
#include "tests/kvcache/kv_test_util.h"

namespace kvasir::kvcache::testing {

inline constexpr int32_t kBlocks = 48;
inline constexpr int32_t kBlockSize = 4;
inline constexpr int32_t kMaxSeqTokens = 15 * kBlockSize;
inline const char* const kNames[] = {"t0", "t1", "t2", "t3"};

// Cache key of the reference model: a tenant and the whole token prefix up
// to and including the block.
using RefCacheKey = std::pair<std::string, std::vector<int32_t>>;

struct RefTenant {
  bool configured = false;
  int64_t reserved = 0;  // blocks
  int64_t limit = 0;     // blocks
  bool caching = false;
};

struct LiveSequence {
  KvSequence seq;
  std::string tenant;
  std::vector<int32_t> tokens;  // written (== seq.num_tokens())
  std::vector<int32_t> plan;    // prompt tokens still to prefill
  int64_t blocks = 0;
  bool hashing = false;
};

struct ExpectedAllocation {
  AllocStatus status = AllocStatus::kOk;
  int64_t new_blocks = 0;
  int64_t charged = 0;
};

class PropertyHarness {
 public:
  explicit PropertyHarness(uint64_t seed) : rng_(seed) {
    for (int f = 0; f < 6; ++f) {
      std::vector<int32_t> family(24);
      for (int32_t& t : family) t = Uniform(0, 999);
      families_.push_back(std::move(family));
    }
    key_of_.resize(kBlocks);
    std::vector<TenantBudget> budgets = {Budget("t0", 8, 32, 0, 0, true),
                                         Budget("t1", 4, 24, 0, 0, true),
                                         Budget("t2", 0, 48, 0, 0, true)};
    manager_ = MakeManager(kBlocks, budgets);
    ApplyRefBudgets(budgets);
  }

  ~PropertyHarness() {
    live_.clear();  // before the manager
  }

  bool ok() const { return manager_ != nullptr; }

  // One random operation; returns its name. A mismatch with the reference
  // is remembered and reported by the next Check().
  const char* Step() {
    const int r = Uniform(0, 99);
    if (r < 22) return AddSequence();
    if (r < 72) return Advance();
    if (r < 88) return FreeOne();
    if (r < 90) return ChangeBudgets();
    return Fork();
  }

  // Snapshot of per-tenant usage before a step, for the limit check.
  void BeforeStep() { used_before_ = RefUsed(); }

  // Every invariant; empty when all hold.
  std::string Check();

  int64_t allocations_refused() const { return refused_; }
  int64_t prefix_hits() const { return hits_; }
  // Steps that ended with a tenant over its (shrunk) limit, or with a
  // removed tenant still holding blocks.
  int64_t over_limit_steps() const { return over_limit_steps_; }
  int64_t removed_holding_steps() const { return removed_holding_steps_; }

 private:
  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }

  static TenantBudget Budget(const std::string& name, int64_t reserved,
                             int64_t limit, int64_t reserved_slack,
                             int64_t limit_slack, bool caching) {
    const int64_t bb = TinyBlockBytes(kBlockSize);
    return TenantBudget{name,
                        reserved == 0 ? 0 : reserved * bb - reserved_slack,
                        limit * bb + limit_slack, caching};
  }

  void RemoveLive(size_t i) {
    if (i + 1 != live_.size()) live_[i] = std::move(live_.back());
    live_.pop_back();
  }

  void Fail(const std::string& what) {
    if (error_.empty()) error_ = what;
  }

  bool CachingOn(const std::string& tenant) const {
    const auto it = ref_tenants_.find(tenant);
    return it != ref_tenants_.end() && it->second.configured &&
           it->second.caching;
  }

  // Reference: validity and rounding of a budget set, as documented.
  std::optional<std::map<std::string, RefTenant>> RefValidate(
      const std::vector<TenantBudget>& budgets) const {
    const int64_t bb = TinyBlockBytes(kBlockSize);
    std::map<std::string, RefTenant> out;
    int64_t floors = 0;
    for (const TenantBudget& b : budgets) {
      if (b.reserved_bytes < 0 || b.limit_bytes <= 0) return std::nullopt;
      if (b.reserved_bytes > b.limit_bytes) return std::nullopt;
      RefTenant t;
      t.configured = true;
      t.limit = b.limit_bytes / bb;
      if (t.limit < 1) return std::nullopt;
      t.reserved = std::min(t.limit, (b.reserved_bytes + bb - 1) / bb);
      t.caching = b.prefix_caching;
      floors += t.reserved;
      out[b.name] = t;
    }
    if (floors > kBlocks) return std::nullopt;
    return out;
  }

  void ApplyRefBudgets(const std::vector<TenantBudget>& budgets) {
    auto valid = RefValidate(budgets);
    // A removed tenant keeps the limit it had (its sequences go on).
    for (auto& [name, t] : ref_tenants_) t = RefTenant{.limit = t.limit};
    for (auto& [name, t] : *valid) ref_tenants_[name] = t;
    // Cached blocks of tenants now without caching are dropped.
    for (int32_t b = 0; b < kBlocks; ++b) {
      if (key_of_[b].has_value() && !CachingOn(key_of_[b]->first)) DropKey(b);
    }
  }

  void DropKey(int32_t b) {
    if (!key_of_[b].has_value()) return;
    cache_.erase(*key_of_[b]);
    key_of_[b].reset();
  }

  // Reference refcounts and per-tenant usage, from the live sequences.
  std::vector<int32_t> RefCounts() const {
    std::vector<int32_t> counts(kBlocks, 0);
    for (const LiveSequence& l : live_) {
      for (int32_t b : l.seq.block_table()) {
        if (b >= 0 && b < kBlocks) ++counts[b];
      }
    }
    return counts;
  }
  std::map<std::string, int64_t> RefUsed() const {
    std::map<std::string, int64_t> used;
    std::vector<bool> seen(kBlocks, false);
    for (const LiveSequence& l : live_) {
      for (int32_t b : l.seq.block_table()) {
        if (b >= 0 && b < kBlocks && !seen[b]) {
          seen[b] = true;
          ++used[l.tenant];
        }
      }
    }
    return used;
  }

  // The longest cached prefix the reference model knows for `prompt`.
  std::vector<int32_t> RefMatch(const std::string& tenant,
                                const std::vector<int32_t>& prompt) const {
    std::vector<int32_t> blocks;
    if (!CachingOn(tenant) || prompt.empty()) return blocks;
    const size_t max_blocks = (prompt.size() - 1) / kBlockSize;
    for (size_t i = 0; i < max_blocks; ++i) {
      const RefCacheKey key{
          tenant, std::vector<int32_t>(prompt.begin(),
                                       prompt.begin() + (i + 1) * kBlockSize)};
      const auto it = cache_.find(key);
      if (it == cache_.end()) break;
      blocks.push_back(it->second);
    }
    return blocks;
  }

  // Reference admission rule of DESIGN.md for Allocate(l, n, match).
  ExpectedAllocation RefAdmit(const LiveSequence& l, int64_t n,
                              const std::vector<int32_t>& match) const {
    const std::vector<int32_t> counts = RefCounts();
    const std::map<std::string, int64_t> used = RefUsed();
    int64_t used_total = 0;
    for (int32_t c : counts) used_total += c > 0;
    ExpectedAllocation e;
    int64_t revived = 0;
    for (int32_t b : match) revived += counts[b] == 0;
    const int64_t tokens = static_cast<int64_t>(l.tokens.size()) +
                           static_cast<int64_t>(match.size()) * kBlockSize + n;
    const int64_t blocks_after = (tokens + kBlockSize - 1) / kBlockSize;
    e.new_blocks = std::max<int64_t>(
        0, blocks_after - l.blocks - static_cast<int64_t>(match.size()));
    e.charged = e.new_blocks + revived;
    if (e.charged == 0) return e;
    const auto t_it = ref_tenants_.find(l.tenant);
    const RefTenant t = t_it == ref_tenants_.end() ? RefTenant{} : t_it->second;
    const auto used_of = [&](const std::string& name) {
      const auto it = used.find(name);
      return it == used.end() ? int64_t{0} : it->second;
    };
    const int64_t available = kBlocks - used_total;
    int64_t others_unused = 0;
    for (const auto& [name, u] : ref_tenants_) {
      if (name != l.tenant && u.configured) {
        others_unused += std::max<int64_t>(0, u.reserved - used_of(name));
      }
    }
    if (used_of(l.tenant) + e.charged > t.limit) {
      e.status = AllocStatus::kTenantLimit;
    } else if (e.charged > available) {
      e.status = AllocStatus::kPoolExhausted;
    } else if (available - e.charged < others_unused) {
      e.status = AllocStatus::kOtherTenantsFloors;
    }
    return e;
  }

  int64_t RefFreeBlocks() const {
    const std::vector<int32_t> counts = RefCounts();
    int64_t free = 0;
    for (int32_t b = 0; b < kBlocks; ++b) {
      free += counts[b] == 0 && !key_of_[b].has_value();
    }
    return free;
  }

  // Allocate through the manager and compare with the reference; on success
  // update the reference (new blocks lose any cache entry).
  bool Allocate(LiveSequence& l, int64_t n, const PrefixMatch& match,
                const std::vector<int32_t>& ref_match) {
    const ExpectedAllocation e = RefAdmit(l, n, ref_match);
    const int64_t free_before = RefFreeBlocks();
    const int64_t evicted_before = manager_->Stats().evicted_blocks;
    const int64_t had = l.seq.num_blocks();
    auto r = manager_->Allocate(l.seq, n, match);
    if (!r.ok()) {
      Fail(absl::StrCat("Allocate error: ", r.status().ToString()));
      return false;
    }
    if (r->status != e.status || r->new_blocks != e.new_blocks ||
        r->charged_blocks != e.charged) {
      Fail(absl::StrCat("Allocate(n=", n, ", prefix=", ref_match.size(),
                        ") of ", l.tenant, " gave ", AllocStatusName(r->status),
                        " new ", r->new_blocks, " charged ", r->charged_blocks,
                        "; expected ", AllocStatusName(e.status), " new ",
                        e.new_blocks, " charged ", e.charged));
      return false;
    }
    if (!r->ok()) {
      ++refused_;
      if (l.seq.num_blocks() != had) Fail("refused Allocate changed the table");
      return false;
    }
    const int64_t evicted = manager_->Stats().evicted_blocks - evicted_before;
    if (evicted != std::max<int64_t>(0, e.new_blocks - free_before)) {
      Fail(absl::StrCat("reclaimed ", evicted, " cached blocks for ",
                        e.new_blocks, " new ones with ", free_before,
                        " free: free blocks must go first"));
    }
    const absl::Span<const int32_t> table = l.seq.block_table();
    for (size_t i = static_cast<size_t>(had) + ref_match.size();
         i < table.size(); ++i) {
      DropKey(table[i]);
    }
    if (!ref_match.empty()) {
      l.tokens.assign(l.plan.begin(),
                      l.plan.begin() + ref_match.size() * kBlockSize);
      l.plan.erase(l.plan.begin(),
                   l.plan.begin() + ref_match.size() * kBlockSize);
      hits_ += static_cast<int64_t>(ref_match.size());
    }
    l.blocks = std::max<int64_t>(
        l.blocks + ref_match.size(),
        (static_cast<int64_t>(l.tokens.size()) + n + kBlockSize - 1) /
            kBlockSize);
    return true;
  }

  // The model wrote K/V for `tokens`: record them in both.
  void Append(LiveSequence& l, const std::vector<int32_t>& tokens) {
    const absl::Status s = manager_->AppendTokens(l.seq, tokens);
    if (!s.ok()) {
      Fail(absl::StrCat("AppendTokens: ", s.ToString()));
      return;
    }
    const size_t before = l.tokens.size();
    l.tokens.insert(l.tokens.end(), tokens.begin(), tokens.end());
    for (size_t i = before / kBlockSize; i < l.tokens.size() / kBlockSize;
         ++i) {
      if (!l.hashing) break;
      if (!CachingOn(l.tenant)) {
        l.hashing = false;
        break;
      }
      RefCacheKey key{l.tenant, std::vector<int32_t>(
                                    l.tokens.begin(),
                                    l.tokens.begin() + (i + 1) * kBlockSize)};
      const int32_t b = l.seq.block_table()[i];
      if (cache_.count(key) == 0 && !key_of_[b].has_value()) {
        cache_[key] = b;
        key_of_[b] = std::move(key);
      }
    }
  }

  std::vector<int32_t> RandomPrompt() {
    std::vector<int32_t> prompt;
    if (!live_.empty() && Uniform(0, 3) == 0) {
      // A continuation of a live sequence's text (multi-turn, n > 1).
      const LiveSequence& l =
          live_[Uniform(0, static_cast<int>(live_.size()) - 1)];
      const size_t keep =
          l.tokens.empty() ? 0 : Uniform(1, static_cast<int>(l.tokens.size()));
      prompt.assign(l.tokens.begin(), l.tokens.begin() + keep);
    } else {
      const std::vector<int32_t>& f =
          families_[Uniform(0, static_cast<int>(families_.size()) - 1)];
      prompt.assign(f.begin(), f.begin() + Uniform(1, 24));
    }
    const int tail = Uniform(0, 8);
    for (int i = 0; i < tail; ++i) prompt.push_back(Uniform(0, 3));
    if (prompt.empty()) prompt.push_back(Uniform(0, 3));
    if (prompt.size() > kMaxSeqTokens / 2) prompt.resize(kMaxSeqTokens / 2);
    return prompt;
  }

  const char* StartSequence(const std::string& tenant,
                            std::vector<int32_t> prompt) {
    auto seq = NewSequenceFor(*manager_, tenant);
    const auto known = ref_tenants_.find(tenant);
    if (known == ref_tenants_.end() || !known->second.configured) {
      if (seq.ok() || seq.status().code() != absl::StatusCode::kNotFound) {
        Fail(absl::StrCat("NewSequence(", tenant, ") should be NotFound"));
      }
      return "add-unknown";
    }
    if (!seq.ok()) {
      Fail(absl::StrCat("NewSequence: ", seq.status().ToString()));
      return "add";
    }
    LiveSequence l;
    l.seq = *std::move(seq);
    l.tenant = tenant;
    l.hashing = CachingOn(tenant);
    auto match = manager_->FindCachedPrefix(l.seq, prompt);
    if (!match.ok()) {
      Fail(absl::StrCat("FindCachedPrefix: ", match.status().ToString()));
      return "add";
    }
    const std::vector<int32_t> ref_match = RefMatch(tenant, prompt);
    if (match->blocks != ref_match || match->looked_up != CachingOn(tenant) ||
        match->num_tokens !=
            static_cast<int32_t>(ref_match.size()) * kBlockSize) {
      Fail(absl::StrCat("prefix match of ", match->blocks.size(),
                        " blocks, reference expects ", ref_match.size()));
      return "add";
    }
    l.plan = std::move(prompt);
    const int64_t rest =
        static_cast<int64_t>(l.plan.size()) - match->num_tokens;
    // Chunked prefill: the first chunk, sometimes with spare slots.
    const int64_t chunk =
        Uniform(0, 1) ? rest : Uniform(1, static_cast<int>(rest));
    const int64_t spare = Uniform(0, 4) == 0 ? Uniform(1, 5) : 0;
    if (!Allocate(l, chunk + spare, *match, ref_match)) return "add";
    std::vector<int32_t> first(l.plan.begin(), l.plan.begin() + chunk);
    l.plan.erase(l.plan.begin(), l.plan.begin() + chunk);
    Append(l, first);
    live_.push_back(std::move(l));
    return "add";
  }

  const char* AddSequence() {
    const int who = Uniform(0, 20);
    const std::string tenant = who == 20 ? "nobody" : kNames[who % 4];
    return StartSequence(tenant, RandomPrompt());
  }

  const char* Fork() {
    if (live_.empty()) return "fork-none";
    const LiveSequence& parent =
        live_[Uniform(0, static_cast<int>(live_.size()) - 1)];
    const std::string tenant = parent.tenant;
    std::vector<int32_t> prompt = parent.tokens;
    prompt.push_back(Uniform(0, 3));
    if (prompt.size() > kMaxSeqTokens / 2) prompt.resize(kMaxSeqTokens / 2);
    StartSequence(tenant, std::move(prompt));
    return "fork";
  }

  const char* Advance() {
    if (live_.empty()) return "step-none";
    const size_t i = Uniform(0, static_cast<int>(live_.size()) - 1);
    LiveSequence& l = live_[i];
    if (l.tokens.size() + 8 > kMaxSeqTokens) {  // finished
      RemoveLive(i);
      return "finish";
    }
    std::vector<int32_t> tokens;
    if (!l.plan.empty()) {
      const int n =
          std::min<int>(Uniform(1, 8), static_cast<int>(l.plan.size()));
      tokens.assign(l.plan.begin(), l.plan.begin() + n);
    } else {
      const int n = Uniform(1, 3);
      for (int k = 0; k < n; ++k) tokens.push_back(Uniform(0, 3));
    }
    if (!Allocate(l, static_cast<int64_t>(tokens.size()), PrefixMatch(), {})) {
      return "step";
    }
    if (!l.plan.empty()) {
      l.plan.erase(l.plan.begin(), l.plan.begin() + tokens.size());
    }
    Append(l, tokens);
    return "step";
  }

  const char* FreeOne() {
    if (live_.empty()) return "free-none";
    const size_t i = Uniform(0, static_cast<int>(live_.size()) - 1);
    // Cached blocks stay cached (a tenant without caching has none).
    if (Uniform(0, 1)) live_[i].seq.Free();
    RemoveLive(i);  // destroys the handle when not freed above
    return "free";
  }

  const char* ChangeBudgets() {
    std::vector<TenantBudget> budgets;
    for (const char* name : kNames) {
      if (Uniform(0, 9) < 2) continue;
      const int64_t limit = Uniform(1, kBlocks + 8);
      const int64_t reserved = Uniform(0, std::min<int>(limit, kBlocks / 3));
      const int64_t bb = TinyBlockBytes(kBlockSize);
      budgets.push_back(
          Budget(name, reserved, limit, Uniform(0, static_cast<int>(bb) - 1),
                 Uniform(0, static_cast<int>(bb) - 1), Uniform(0, 4) != 0));
    }
    switch (Uniform(0, 11)) {  // sometimes an invalid set
      case 0:                  // (names are unique: the engine checks them)
        if (!budgets.empty()) budgets[0].reserved_bytes = -1;
        break;
      case 1:
        if (!budgets.empty()) {
          budgets[0].reserved_bytes = budgets[0].limit_bytes + 1;
        }
        break;
      case 2:
        for (TenantBudget& b : budgets) {
          b.limit_bytes = kBlocks * TinyBlockBytes(kBlockSize);
          b.reserved_bytes = b.limit_bytes / 2 + 1;
        }
        break;
      case 3:
        if (!budgets.empty()) budgets[0].limit_bytes = 7;
        break;
      default:
        break;
    }
    std::shuffle(budgets.begin(), budgets.end(), rng_);
    const bool valid = RefValidate(budgets).has_value();
    const absl::Status s = manager_->SetBudgets(budgets);
    if (s.ok() != valid) {
      Fail(absl::StrCat("SetBudgets returned ", s.ToString(),
                        valid ? " for a valid set" : " for an invalid set"));
      return "budgets";
    }
    if (valid) {
      ApplyRefBudgets(budgets);
      floors_ok_ = FloorsHold();
    }
    return valid ? "budgets" : "budgets-invalid";
  }

  bool FloorsHold() const {
    const std::map<std::string, int64_t> used = RefUsed();
    int64_t used_total = 0;
    for (const auto& [name, u] : used) used_total += u;
    int64_t unused = 0;
    for (const auto& [name, t] : ref_tenants_) {
      if (!t.configured) continue;
      const auto it = used.find(name);
      unused += std::max<int64_t>(
          0, t.reserved - (it == used.end() ? 0 : it->second));
    }
    return kBlocks - used_total >= unused;
  }

  std::mt19937_64 rng_;
  std::vector<std::vector<int32_t>> families_;
  std::unique_ptr<KvCacheManager> manager_;
  std::vector<LiveSequence> live_;
  std::map<std::string, RefTenant> ref_tenants_;
  std::map<RefCacheKey, int32_t> cache_;
  std::vector<std::optional<RefCacheKey>> key_of_;
  std::map<std::string, int64_t> used_before_;
  bool floors_ok_ = true;
  std::string error_;
  int64_t refused_ = 0;
  int64_t hits_ = 0;
  int64_t over_limit_steps_ = 0;
  int64_t removed_holding_steps_ = 0;
};

}  // namespace kvasir::kvcache::testing

#endif  // KVASIR_TESTS_KVCACHE_KV_PROPERTY_HARNESS_H_
