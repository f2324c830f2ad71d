#include "engine/tenant_rules.h"

#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;

TenantConfig T(std::string name, int64_t reserved = 0, int64_t limit = kMiB) {
  TenantConfig t;
  t.name = std::move(name);
  t.reserved_bytes = reserved;
  t.limit_bytes = limit;
  return t;
}

// The field a rule names, for a tenant set with one change.
std::string BrokenField(std::vector<TenantConfig> tenants) {
  const std::optional<kvcache::TenantRuleError> e =
      CheckTenantConfigs(tenants, 4 * kMiB);
  return e.has_value() ? e->field : "(none)";
}

TEST(TenantRulesTest, EachRuleNamesItsField) {
  EXPECT_EQ(BrokenField({T("a"), T(std::string(kDefaultTenantName))}),
            "(none)");
  EXPECT_EQ(BrokenField({T("")}), "name");
  EXPECT_EQ(BrokenField({T("bad name")}), "name");
  EXPECT_EQ(BrokenField({T(std::string(65, 'x'))}), "name");
  EXPECT_EQ(BrokenField({T("a"), T("a")}), "name");
  TenantConfig t = T("a");
  t.weight = 0;
  EXPECT_EQ(BrokenField({t}), "weight");
  t = T("a");
  t.max_concurrent = -1;
  EXPECT_EQ(BrokenField({t}), "max_concurrent");
  t = T("a");
  t.max_queued = -1;
  EXPECT_EQ(BrokenField({t}), "max_queued");
  t = T("a");
  t.rate_limit.tokens_per_second = 0;
  EXPECT_EQ(BrokenField({t}), "rate_limit.tokens_per_second");
  t.rate_limit.tokens_per_second = 5;
  t.rate_limit.burst = 0.99;
  EXPECT_EQ(BrokenField({t}), "rate_limit.burst");
  t.rate_limit.burst = 1;
  EXPECT_EQ(BrokenField({t}), "(none)");
  t.rate_limit.prompt_tokens_per_second = -1;
  EXPECT_EQ(BrokenField({t}), "rate_limit.prompt_tokens_per_second");
  t.rate_limit.prompt_tokens_per_second = std::nullopt;
  t.rate_limit.prompt_burst = 10;
  EXPECT_EQ(BrokenField({t}), "rate_limit.prompt_burst");
  // Budgets are kvcache's arithmetic, reached through the same call.
  EXPECT_EQ(BrokenField({T("a", 2 * kMiB, kMiB)}), "reserved_bytes");
  EXPECT_EQ(BrokenField({T("a", 0, 8 * kMiB)}), "limit_bytes");
  EXPECT_EQ(
      BrokenField({T("a", 3 * kMiB, 4 * kMiB), T("b", 2 * kMiB, 2 * kMiB)}),
      "reserved_bytes");
}

TEST(TenantRulesTest, TheErrorSaysTheTenantTheValueAndTheLimit) {
  const std::optional<kvcache::TenantRuleError> e =
      CheckTenantConfigs({T("a"), T("b"), T("a")}, 4 * kMiB);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->index, 2);
  EXPECT_EQ(e->tenant, "a");
  EXPECT_EQ(e->message, "duplicate tenant name 'a' (also tenants[0])");
  TenantConfig w = T("w");
  w.weight = -2;
  EXPECT_THAT(ValidateTenantConfigs({w}, 4 * kMiB),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenant 'w': weight: -2 is out of range "
                                 "[0.001, 1000]")));
  // The fair share divides by it: 1e-320 made its counters infinite.
  w.weight = 1e-320;
  EXPECT_THAT(ValidateTenantConfigs({w}, 4 * kMiB),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("weight: 9.99989e-321 is out of range")));
  EXPECT_THAT(ValidateTenantConfigs({}, 4 * kMiB),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants: at least one tenant is required")));
  EXPECT_THAT(ValidateTenantConfigs({T("a", 0, 8 * kMiB)}, 4 * kMiB),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenant 'a': limit_bytes: 8MiB exceeds the "
                                 "KV cache capacity 4MiB")));
}

TEST(TenantRulesTest, ToKvBudgetsKeepsOrderAndNumbers) {
  TenantConfig a = T("a", kMiB, 2 * kMiB);
  a.prefix_caching = false;
  const std::vector<kvcache::TenantBudget> b = ToKvBudgets({a, T("b")});
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].name, "a");
  EXPECT_EQ(b[0].reserved_bytes, kMiB);
  EXPECT_EQ(b[0].limit_bytes, 2 * kMiB);
  EXPECT_FALSE(b[0].prefix_caching);
  EXPECT_EQ(b[1].name, "b");
}

}  // namespace
}  // namespace kvasir::engine
