#include "engine/tenant_rules.h"

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

}  // namespace

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
    if (!std::isfinite(t.weight) || t.weight <= 0) {
      return Broken(i, t, "weight",
                    absl::StrCat(t.weight, " must be a finite number > 0"));
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
