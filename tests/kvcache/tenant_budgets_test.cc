#include "kvcache/tenant_budgets.h"

#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/bounded_text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::kvcache {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr int64_t kBlock = 1000;  // bytes per block in these tests

std::unique_ptr<TenantBudgets> Make(std::vector<TenantBudget> budgets,
                                    int32_t total_blocks = 10) {
  auto b = TenantBudgets::Create(
      {.block_bytes = kBlock, .total_blocks = total_blocks},
      std::move(budgets));
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *std::move(b) : nullptr;
}

absl::Status Try(std::vector<TenantBudget> budgets, int32_t total = 10) {
  return TenantBudgets::Create({.block_bytes = kBlock, .total_blocks = total},
                               std::move(budgets))
      .status();
}

TEST(TenantBudgetsTest, RoundsFloorsUpAndLimitsDown) {
  auto b = Make({{"a", 1500, 5999, true}, {"b", 0, 1000, false}});
  ASSERT_NE(b, nullptr);
  const TenantBudgets::Tenant& a = b->tenant(*b->Find("a"));
  EXPECT_EQ(a.reserved_blocks, 2);
  EXPECT_EQ(a.limit_blocks, 5);
  EXPECT_TRUE(a.prefix_caching);
  const TenantBudgets::Tenant& bt = b->tenant(*b->Find("b"));
  EXPECT_EQ(bt.reserved_blocks, 0);
  EXPECT_EQ(bt.limit_blocks, 1);
  EXPECT_FALSE(bt.prefix_caching);
  EXPECT_EQ(b->unused_floors(), 2);
}

TEST(TenantBudgetsTest, FloorEqualToAnUnalignedLimitStaysWithinIt) {
  auto b = Make({{"a", 2500, 2500, true}});
  ASSERT_NE(b, nullptr);
  const TenantBudgets::Tenant& a = b->tenant(*b->Find("a"));
  EXPECT_EQ(a.limit_blocks, 2);
  EXPECT_EQ(a.reserved_blocks, 2);
}

TEST(TenantBudgetsTest, ErrorsNameTheTenantAndTheNumbers) {
  // (Names are the engine's rules: engine/tenant_rules.h.)
  EXPECT_THAT(Try({{"a", -1, 1000}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenant 'a': reserved_bytes: -1 bytes")));
  EXPECT_THAT(
      Try({{"a", 0, 0}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("tenant 'a': limit_bytes: 0 bytes must be > 0")));
  EXPECT_THAT(
      Try({{"a", 3000, 2000}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tenant 'a': reserved"), HasSubstr("3000 bytes"),
                     HasSubstr("exceeds the tenant's limit"),
                     HasSubstr("2000 bytes"))));
  EXPECT_THAT(
      Try({{"a", 0, 999}}),
      StatusIs(
          absl::StatusCode::kInvalidArgument,
          AllOf(HasSubstr("tenant 'a': limit"), HasSubstr("999 bytes"),
                HasSubstr("less than one KV block"), HasSubstr("1000 bytes"))));
  EXPECT_THAT(
      Try({{"a", 6000, 10000}, {"b", 4001, 10000}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("sum of reserved floors, 11 blocks, exceeds"),
                     HasSubstr("capacity of 10 blocks"),
                     HasSubstr("a 6 blocks, b 5 blocks"))));
  EXPECT_THAT(Try({{"a", 20000, 30000}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tenant 'a': reserved"),
                             HasSubstr("rounds up to 20 blocks"),
                             HasSubstr("capacity of 10 blocks"))));
  // Exactly the capacity is fine.
  EXPECT_TRUE(Try({{"a", 6000, 10000}, {"b", 4000, 10000}}).ok());
  // Limits may exceed the capacity.
  EXPECT_TRUE(Try({{"a", 0, 1000000}}).ok());
}

TEST(TenantBudgetsTest, FailedSetChangesNothing) {
  auto b = Make({{"a", 2000, 5000, true}});
  ASSERT_NE(b, nullptr);
  b->AddUsed(*b->Find("a"), 1);
  EXPECT_THAT(b->Set({{"a", 1000, 3000, true}, {"b", 9500, 10000, true}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sum of reserved floors, 11 blocks")));
  EXPECT_FALSE(b->Find("b").has_value());
  const TenantBudgets::Tenant& a = b->tenant(*b->Find("a"));
  EXPECT_EQ(a.reserved_blocks, 2);
  EXPECT_EQ(a.limit_blocks, 5);
  EXPECT_EQ(a.used_blocks, 1);
  EXPECT_EQ(b->unused_floors(), 1);
}

TEST(TenantBudgetsTest, CanTakeAppliesLimitPoolAndOthersFloors) {
  auto b = Make({{"a", 0, 8000, true}, {"b", 3000, 10000, true}});
  ASSERT_NE(b, nullptr);
  const int32_t a = *b->Find("a");
  const int32_t bb = *b->Find("b");
  EXPECT_EQ(b->CanTake(a, 0, 0), AllocStatus::kOk);
  EXPECT_EQ(b->CanTake(a, 7, 10), AllocStatus::kOk);
  // 10 available minus B's 3 unused floor leaves 7 for A.
  EXPECT_EQ(b->CanTake(a, 8, 10), AllocStatus::kOtherTenantsFloors);
  EXPECT_EQ(b->CanTake(a, 9, 10), AllocStatus::kTenantLimit);
  EXPECT_EQ(b->CanTake(a, 3, 2), AllocStatus::kPoolExhausted);
  // B's own floor never stops B.
  EXPECT_EQ(b->CanTake(bb, 10, 10), AllocStatus::kOk);
  // As B uses its floor, less is protected.
  b->AddUsed(bb, 2);
  EXPECT_EQ(b->unused_floors(), 1);
  EXPECT_EQ(b->CanTake(a, 7, 8), AllocStatus::kOk);
  EXPECT_EQ(b->CanTake(a, 8, 8), AllocStatus::kOtherTenantsFloors);
}

TEST(TenantBudgetsTest, MaxBlocksSubtractsOtherFloors) {
  auto b = Make({{"a", 0, 8000, true}, {"b", 3000, 10000, true}});
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->MaxBlocks(*b->Find("a")), 7);
  EXPECT_EQ(b->MaxBlocks(*b->Find("b")), 10);
}

TEST(TenantBudgetsTest, RemovedTenantKeepsItsIdAndUsage) {
  auto b = Make({{"a", 2000, 5000, true}, {"b", 0, 5000, true}});
  ASSERT_NE(b, nullptr);
  const int32_t a = *b->Find("a");
  b->AddUsed(a, 3);
  ASSERT_TRUE(b->Set({{"b", 0, 5000, true}}).ok());
  EXPECT_FALSE(b->Find("a").has_value());
  const TenantBudgets::Tenant& gone = b->tenant(a);
  EXPECT_FALSE(gone.configured);
  EXPECT_EQ(gone.used_blocks, 3);
  // Its running sequences go on within the limit it had; its floor is gone.
  EXPECT_EQ(gone.limit_blocks, 5);
  EXPECT_EQ(gone.reserved_blocks, 0);
  EXPECT_FALSE(gone.over_limit());
  EXPECT_EQ(b->CanTake(a, 2, 10), AllocStatus::kOk);
  EXPECT_EQ(b->CanTake(a, 3, 10), AllocStatus::kTenantLimit);
  EXPECT_EQ(b->unused_floors(), 0);

  ASSERT_TRUE(b->Set({{"b", 0, 5000, true}, {"a", 1000, 4000, true}}).ok());
  EXPECT_EQ(b->Find("a"), a);
  EXPECT_EQ(b->tenant(a).used_blocks, 3);
  EXPECT_EQ(b->tenant(a).limit_blocks, 4);
}

TEST(CheckBudgetBytesTest, SaysTheTenantTheFieldTheValueAndTheLimit) {
  constexpr int64_t kMiB = int64_t{1} << 20;
  EXPECT_FALSE(CheckBudgetBytes({{"a", kMiB, 2 * kMiB, true},
                                 {"b", 3 * kMiB, 4 * kMiB, true}},
                                4 * kMiB)
                   .has_value());

  std::optional<TenantRuleError> e = CheckBudgetBytes(
      {{"a", 0, kMiB, true}, {"b", 0, 8 * kMiB, true}}, 4 * kMiB);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->index, 1);
  EXPECT_EQ(e->tenant, "b");
  EXPECT_EQ(e->field, "limit_bytes");
  EXPECT_EQ(e->message, "8MiB exceeds the KV cache capacity 4MiB");
  EXPECT_THAT(e->ToStatus(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenant 'b': limit_bytes: 8MiB exceeds")));

  e = CheckBudgetBytes({{"a", 3000, 2000, true}}, 4 * kMiB);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->field, "reserved_bytes");
  EXPECT_THAT(e->message, AllOf(HasSubstr("(3000 bytes) exceeds the "
                                          "tenant's limit"),
                                HasSubstr("(2000 bytes)")));

  // The sum of floors is a rule over the whole list.
  e = CheckBudgetBytes(
      {{"a", 3 * kMiB, 4 * kMiB, true}, {"b", 2 * kMiB, 4 * kMiB, true}},
      4 * kMiB);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->index, -1);
  EXPECT_EQ(e->field, "reserved_bytes");
  EXPECT_THAT(e->message, AllOf(HasSubstr("5MiB (a 3MiB + b 2MiB)"),
                                HasSubstr("capacity 4MiB")));
  EXPECT_THAT(e->ToStatus(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tenants: reserved_bytes: the floors of 2 "
                                 "tenants add up to 5MiB")));
}

// A rule over the whole list names the first five tenants and counts the
// rest; the full listing is the status's log detail.
TEST(TenantBudgetsTest, FloorsOverCapacityMessageIsBounded) {
  std::vector<TenantBudget> budgets;
  for (int i = 0; i < 1000; ++i) {
    budgets.push_back({absl::StrCat("t", i), 1024, 1024, true});
  }
  const std::optional<TenantRuleError> e =
      TenantBudgets::Check({.block_bytes = 1024, .total_blocks = 100}, budgets);
  ASSERT_TRUE(e.has_value());
  EXPECT_THAT(e->message,
              AllOf(HasSubstr("1000 blocks, exceeds"),
                    HasSubstr("1000 tenants with floors: t0 1 block, t1 1 "
                              "block, t2 1 block, t3 1 block, t4 1 block ... "
                              "and 995 more")));
  EXPECT_LT(e->message.size(), 400u);
  EXPECT_THAT(e->detail, HasSubstr("t999 1 block"));
  EXPECT_EQ(LogDetailOf(e->ToStatus()), e->detail);
  // The same rule on bytes, before the block size is known.
  const std::optional<TenantRuleError> bytes = CheckBudgetBytes(budgets, 4096);
  ASSERT_TRUE(bytes.has_value());
  EXPECT_THAT(bytes->message, HasSubstr("t4 1KiB ... and 995 more"));
  EXPECT_LT(bytes->message.size(), 400u);
  EXPECT_THAT(bytes->detail, HasSubstr("t999 1KiB"));
}

TEST(TenantBudgetsTest, AllocStatusNames) {
  EXPECT_EQ(AllocStatusName(AllocStatus::kOk), "ok");
  EXPECT_EQ(AllocStatusName(AllocStatus::kTenantLimit), "tenant_limit");
  EXPECT_EQ(AllocStatusName(AllocStatus::kOtherTenantsFloors),
            "other_tenants_floors");
  EXPECT_EQ(AllocStatusName(AllocStatus::kPoolExhausted), "pool_exhausted");
}

}  // namespace
}  // namespace kvasir::kvcache
