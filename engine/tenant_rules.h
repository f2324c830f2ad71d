#ifndef KVASIR_ENGINE_TENANT_RULES_H_
#define KVASIR_ENGINE_TENANT_RULES_H_

// The rules a tenant set follows, in one place for every front end: the
// engine applies them on Create and UpdateTenants, the config file is
// checked with them before anything starts
// (server/config/config_validate.cc adds only the file, the line and its key
// names). Names, weights and caps are checked here; the KV budget arithmetic
// is kvcache's (CheckBudgetBytes, and the block rules of TenantBudgets once
// the block size is known).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"
#include "kvcache/tenant_budgets.h"

namespace kvasir::engine {

// A tenant's weight, relative to the others'.
inline constexpr double kMinTenantWeight = 0.001;
inline constexpr double kMaxTenantWeight = 1000;

// The first rule `tenants` breaks, or nullopt: at least one tenant; names
// 1-64 characters of [A-Za-z0-9_.-], unique; weight in [kMinTenantWeight,
// kMaxTenantWeight]; max_concurrent and max_queued >= 0; rate limits as
// RateLimit says (field "rate_limit.tokens_per_second", ...); then
// kvcache::CheckBudgetBytes against `kv_capacity_bytes`.
std::optional<kvcache::TenantRuleError> CheckTenantConfigs(
    const std::vector<TenantConfig>& tenants, int64_t kv_capacity_bytes);

// "generated 20/s burst 10, prompt unlimited": a rate limit with its
// defaults filled in, for config diffs and logs.
std::string DescribeRateLimit(const RateLimit& rate_limit);

// CheckTenantConfigs as a Status: InvalidArgument naming the tenant, the
// field, the value and the limit.
absl::Status ValidateTenantConfigs(const std::vector<TenantConfig>& tenants,
                                   int64_t kv_capacity_bytes);

// The KV budgets of a tenant set.
std::vector<kvcache::TenantBudget> ToKvBudgets(
    const std::vector<TenantConfig>& tenants);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TENANT_RULES_H_
