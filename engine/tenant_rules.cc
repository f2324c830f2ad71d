#include "engine/tenant_rules.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/bounded_text.h"

namespace kvasir::engine {
namespace {

// Names appear in metric labels, logs and config diffs: keep them plain.
bool ValidTenantName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '-' && c != '.') {
      return false;
    }
  }
  return true;
}

kvcache::TenantRuleError Broken(size_t index, const TenantConfig& t,
                                absl::string_view field, std::string message) {
  return kvcache::TenantRuleError{.index = static_cast<int32_t>(index),
                                  .tenant = t.name,
                                  .field = std::string(field),
                                  .message = std::move(message)};
}

// A rate is finite and > 0; a burst finite and >= 1 (a smaller bucket
// could never hold one token), and only given with its rate.
std::optional<kvcache::TenantRuleError> CheckRate(
    size_t index, const TenantConfig& t, const std::optional<double>& rate,
    absl::string_view rate_key, const std::optional<double>& burst,
    absl::string_view burst_key) {
  const std::string rate_field = absl::StrCat("rate_limit.", rate_key);
  const std::string burst_field = absl::StrCat("rate_limit.", burst_key);
  if (rate.has_value() && (!std::isfinite(*rate) || *rate <= 0)) {
    return Broken(index, t, rate_field,
                  absl::StrCat(*rate,
                               " must be a finite number > 0 (tokens "
                               "per second)"));
  }
  if (!burst.has_value()) return std::nullopt;
  if (!rate.has_value()) {
    return Broken(index, t, burst_field,
                  absl::StrCat("needs rate_limit.", rate_key,
                               " (a burst of no rate limits nothing)"));
  }
  if (!std::isfinite(*burst) || *burst < 1) {
    return Broken(index, t, burst_field,
                  absl::StrCat(*burst,
                               " must be a finite number >= 1 "
                               "(tokens; a smaller bucket never "
                               "holds one token)"));
  }
  return std::nullopt;
}

}  // namespace

std::string DescribeRateLimit(const RateLimit& r) {
  auto one = [](const std::optional<double>& rate,
                const std::optional<double>& burst) {
    if (!rate.has_value()) return std::string("unlimited");
    return absl::StrCat(*rate, "/s burst ",
                        burst.value_or(std::max(1.0, *rate)));
  };
  return absl::StrCat("generated ", one(r.tokens_per_second, r.burst),
                      ", prompt ",
                      one(r.prompt_tokens_per_second, r.prompt_burst));
}

std::optional<kvcache::TenantRuleError> CheckTenantConfigs(
    const std::vector<TenantConfig>& tenants, int64_t kv_capacity_bytes) {
  if (tenants.empty()) {
    return kvcache::TenantRuleError{.message =
                                        "at least one tenant is required"};
  }
  absl::flat_hash_map<absl::string_view, size_t> seen;
  for (size_t i = 0; i < tenants.size(); ++i) {
    const TenantConfig& t = tenants[i];
    if (t.name.empty()) return Broken(i, t, "name", "must not be empty");
    if (!ValidTenantName(t.name)) {
      return Broken(i, t, "name",
                    absl::StrCat(Quoted(t.name),
                                 " must be 1-64 characters of "
                                 "A-Z a-z 0-9 _ - ."));
    }
    const auto [it, inserted] = seen.try_emplace(t.name, i);
    if (!inserted) {
      return Broken(i, t, "name",
                    absl::StrCat("duplicate tenant name ", Quoted(t.name),
                                 " (also tenants[", it->second, "])"));
    }
    // Bounded both ways: the fair share divides by it (1e-320 made its
    // counters infinite, and a refund inf - inf).
    if (!(t.weight >= kMinTenantWeight && t.weight <= kMaxTenantWeight)) {
      return Broken(
          i, t, "weight",
          absl::StrCat(t.weight, " is out of range [", kMinTenantWeight, ", ",
                       kMaxTenantWeight, "]"));
    }
    if (t.max_concurrent < 0) {
      return Broken(
          i, t, "max_concurrent",
          absl::StrCat(t.max_concurrent, " must be >= 0 (0 = no cap)"));
    }
    if (t.max_queued < 0) {
      return Broken(i, t, "max_queued",
                    absl::StrCat(t.max_queued, " must be >= 0 (0 = no cap)"));
    }
    const RateLimit& r = t.rate_limit;
    if (auto e = CheckRate(i, t, r.tokens_per_second, "tokens_per_second",
                           r.burst, "burst")) {
      return e;
    }
    if (auto e = CheckRate(i, t, r.prompt_tokens_per_second,
                           "prompt_tokens_per_second", r.prompt_burst,
                           "prompt_burst")) {
      return e;
    }
  }
  return kvcache::CheckBudgetBytes(ToKvBudgets(tenants), kv_capacity_bytes);
}

absl::Status ValidateTenantConfigs(const std::vector<TenantConfig>& tenants,
                                   int64_t kv_capacity_bytes) {
  const std::optional<kvcache::TenantRuleError> e =
      CheckTenantConfigs(tenants, kv_capacity_bytes);
  return e.has_value() ? e->ToStatus() : absl::OkStatus();
}

std::vector<kvcache::TenantBudget> ToKvBudgets(
    const std::vector<TenantConfig>& tenants) {
  std::vector<kvcache::TenantBudget> budgets;
  budgets.reserve(tenants.size());
  for (const TenantConfig& t : tenants) {
    budgets.push_back(kvcache::TenantBudget{t.name, t.reserved_bytes,
                                            t.limit_bytes, t.prefix_caching,
                                            t.cache_share_bytes});
  }
  return budgets;
}

}  // namespace kvasir::engine
