#include "engine/sched/usage_meter.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::sched {
namespace {

using ::kvasir::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

constexpr int64_t kBlock = 20480;  // bytes of one KV block

FinishInfo Finished(FinishReason reason, int32_t prompt, int32_t cached,
                    int32_t generated, bool started = true) {
  FinishInfo info;
  info.reason = reason;
  info.started = started;
  info.prompt_tokens = prompt;
  info.cached_prompt_tokens = cached;
  info.generated_tokens = generated;
  return info;
}

int64_t Requests(const TenantUsage& u, FinishReason reason) {
  return u.finished[static_cast<size_t>(reason)];
}
int64_t Refused(const TenantUsage& u, Refusal refusal) {
  return u.refused[static_cast<size_t>(refusal)];
}

// The tenant `name` of `report`; fails the test when it is missing.
TenantUsage Of(const UsageReport& report, const std::string& name) {
  for (const TenantUsage& t : report.tenants) {
    if (t.name == name) return t;
  }
  ADD_FAILURE() << "tenant " << name << " is not in the report";
  return TenantUsage();
}

class UsageMeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto meter = UsageMeter::Create({.clock = &clock_});
    ASSERT_OK(meter);
    meter_ = *std::move(meter);
    meter_->SetTenants(std::vector<std::string>{"alpha", "beta"});
    alpha_ = meter_->Slot("alpha");
    beta_ = meter_->Slot("beta");
  }

  FakeClock clock_;
  std::unique_ptr<UsageMeter> meter_;
  int32_t alpha_ = -1;
  int32_t beta_ = -1;
};

TEST(UsageMeterCreateTest, NeedsAClock) {
  EXPECT_THAT(UsageMeter::Create({}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("clock")));
}

TEST_F(UsageMeterTest, KvByteSecondsAreBytesHeldTimesElapsedTime) {
  ASSERT_GE(alpha_, 0);
  ASSERT_GE(beta_, 0);
  // alpha: 3 blocks for 2.5 s, then 5 blocks for 1 s, then none.
  // beta: 2 blocks for the whole 3.5 s.
  meter_->AccrueKv({{alpha_, 3 * kBlock}, {beta_, 2 * kBlock}});
  clock_.Advance(absl::Milliseconds(2500));
  meter_->AccrueKv({{alpha_, 5 * kBlock}, {beta_, 2 * kBlock}});
  clock_.Advance(absl::Seconds(1));
  meter_->AccrueKv({{beta_, 2 * kBlock}});
  clock_.Advance(absl::Seconds(7));  // alpha holds nothing now
  meter_->AccrueKv({});
  clock_.Advance(absl::Seconds(100));  // nobody holds anything
  const UsageReport r = meter_->Report(/*reset=*/false);
  EXPECT_EQ(Of(r, "alpha").kv_byte_seconds, (3 * 2.5 + 5 * 1.0) * kBlock);
  EXPECT_EQ(Of(r, "beta").kv_byte_seconds, 2 * (2.5 + 1 + 7) * kBlock);
}

TEST_F(UsageMeterTest, AReadChargesTheBytesHeldUpToNow) {
  meter_->AccrueKv({{alpha_, 4 * kBlock}});
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(Of(meter_->Report(false), "alpha").kv_byte_seconds, 8.0 * kBlock);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Of(meter_->ReportSinceStart(), "alpha").kv_byte_seconds,
            12.0 * kBlock);
  // A clock set back charges nothing (never a negative amount).
  clock_.Advance(absl::Seconds(-10));
  meter_->AccrueKv({{alpha_, 4 * kBlock}});
  EXPECT_EQ(Of(meter_->Report(false), "alpha").kv_byte_seconds, 12.0 * kBlock);
}

TEST_F(UsageMeterTest, CountsFinishesByReasonAndSumsTheirTokens) {
  meter_->RecordFinished("alpha", Finished(FinishReason::kLength, 10, 0, 4));
  meter_->RecordFinished("alpha", Finished(FinishReason::kLength, 20, 16, 4));
  meter_->RecordFinished("alpha", Finished(FinishReason::kStop, 5, 0, 2));
  meter_->RecordFinished("beta", Finished(FinishReason::kCancelled, 7, 0, 1));
  meter_->RecordFinished("beta", Finished(FinishReason::kDeadline, 3, 0, 0));
  meter_->RecordFinished("beta", Finished(FinishReason::kError, 3, 0, 0));
  // Not a known tenant: nothing is charged, no tenant appears.
  meter_->RecordFinished("nobody", Finished(FinishReason::kLength, 9, 0, 9));

  const UsageReport r = meter_->Report(false);
  EXPECT_THAT(r.tenants, ElementsAre(Field(&TenantUsage::name, "alpha"),
                                     Field(&TenantUsage::name, "beta")));
  const TenantUsage a = Of(r, "alpha");
  EXPECT_EQ(Requests(a, FinishReason::kLength), 2);
  EXPECT_EQ(Requests(a, FinishReason::kStop), 1);
  EXPECT_EQ(Requests(a, FinishReason::kCancelled), 0);
  EXPECT_EQ(a.prompt_tokens, 35);
  EXPECT_EQ(a.cached_prompt_tokens, 16);
  EXPECT_EQ(a.generated_tokens, 10);
  const TenantUsage b = Of(r, "beta");
  EXPECT_EQ(Requests(b, FinishReason::kCancelled), 1);
  EXPECT_EQ(Requests(b, FinishReason::kDeadline), 1);
  EXPECT_EQ(Requests(b, FinishReason::kError), 1);
  EXPECT_EQ(Requests(b, FinishReason::kLength), 0);
  EXPECT_EQ(b.prompt_tokens, 13);
  EXPECT_EQ(b.generated_tokens, 1);
}

TEST_F(UsageMeterTest, ARequestThatEndedInTheQueueIsCountedNotBilled) {
  meter_->RecordFinished("alpha", Finished(FinishReason::kLength, 10, 2, 4));
  meter_->RecordFinished(
      "alpha", Finished(FinishReason::kDeadline, 30, 0, 0, /*started=*/false));
  meter_->RecordFinished(
      "alpha", Finished(FinishReason::kCancelled, 7, 0, 0, /*started=*/false));
  const TenantUsage a = Of(meter_->Report(false), "alpha");
  EXPECT_EQ(Requests(a, FinishReason::kDeadline), 1);
  EXPECT_EQ(Requests(a, FinishReason::kCancelled), 1);
  EXPECT_EQ(a.prompt_tokens, 10);
  EXPECT_EQ(a.cached_prompt_tokens, 2);
}

TEST_F(UsageMeterTest, CountsRefusalsOfKnownTenantsByReason) {
  meter_->RecordRefusal("alpha", Refusal::kTenantQueueFull);
  meter_->RecordRefusal("alpha", Refusal::kTenantQueueFull);
  meter_->RecordRefusal("alpha", Refusal::kNeverFits);
  meter_->RecordRefusal("beta", Refusal::kInvalidRequest);
  meter_->RecordRefusal("beta", Refusal::kUnknownTenant);  // never charged
  meter_->RecordRefusal("nobody", Refusal::kQueueFull);    // unknown name
  const UsageReport r = meter_->Report(false);
  ASSERT_EQ(r.tenants.size(), 2u);
  EXPECT_EQ(Refused(Of(r, "alpha"), Refusal::kTenantQueueFull), 2);
  EXPECT_EQ(Refused(Of(r, "alpha"), Refusal::kNeverFits), 1);
  EXPECT_EQ(Refused(Of(r, "beta"), Refusal::kInvalidRequest), 1);
  EXPECT_EQ(Refused(Of(r, "beta"), Refusal::kUnknownTenant), 0);
  EXPECT_EQ(Refused(Of(r, "beta"), Refusal::kQueueFull), 0);
}

TEST_F(UsageMeterTest, ResetZeroesTheReportButNotTheSinceStartCounters) {
  const absl::Time t0 = clock_.Now();
  meter_->RecordFinished("alpha", Finished(FinishReason::kLength, 10, 2, 4));
  meter_->RecordRefusal("alpha", Refusal::kQueueFull);
  meter_->AccrueKv({{alpha_, kBlock}});
  clock_.Advance(absl::Seconds(2));

  // The reset report is the usage up to the reset, nothing lost.
  const UsageReport before = meter_->Report(/*reset=*/true);
  EXPECT_EQ(before.since, t0);
  EXPECT_EQ(Requests(Of(before, "alpha"), FinishReason::kLength), 1);
  EXPECT_EQ(Refused(Of(before, "alpha"), Refusal::kQueueFull), 1);
  EXPECT_EQ(Of(before, "alpha").kv_byte_seconds, 2.0 * kBlock);

  const UsageReport after = meter_->Report(false);
  EXPECT_EQ(after.since, t0 + absl::Seconds(2));
  const TenantUsage a = Of(after, "alpha");
  EXPECT_EQ(Requests(a, FinishReason::kLength), 0);
  EXPECT_EQ(Refused(a, Refusal::kQueueFull), 0);
  EXPECT_EQ(a.prompt_tokens, 0);
  EXPECT_EQ(a.cached_prompt_tokens, 0);
  EXPECT_EQ(a.generated_tokens, 0);
  EXPECT_EQ(a.kv_byte_seconds, 0);

  // After the reset both views go on counting; since-start never went back.
  meter_->RecordFinished("alpha", Finished(FinishReason::kEos, 5, 0, 3));
  clock_.Advance(absl::Seconds(1));  // still holding one block
  const TenantUsage period = Of(meter_->Report(false), "alpha");
  EXPECT_EQ(Requests(period, FinishReason::kEos), 1);
  EXPECT_EQ(period.prompt_tokens, 5);
  EXPECT_EQ(period.kv_byte_seconds, 1.0 * kBlock);
  const UsageReport total = meter_->ReportSinceStart();
  EXPECT_EQ(total.since, t0);
  const TenantUsage all = Of(total, "alpha");
  EXPECT_EQ(Requests(all, FinishReason::kLength), 1);
  EXPECT_EQ(Requests(all, FinishReason::kEos), 1);
  EXPECT_EQ(Refused(all, Refusal::kQueueFull), 1);
  EXPECT_EQ(all.prompt_tokens, 15);
  EXPECT_EQ(all.cached_prompt_tokens, 2);
  EXPECT_EQ(all.generated_tokens, 7);
  EXPECT_EQ(all.kv_byte_seconds, 3.0 * kBlock);
}

TEST_F(UsageMeterTest, UsageSurvivesAReloadThatKeepsTheTenant) {
  meter_->RecordFinished("alpha", Finished(FinishReason::kLength, 10, 0, 4));
  // A reload: alpha stays, gamma is new, beta (no usage) is removed.
  meter_->SetTenants(std::vector<std::string>{"gamma", "alpha"});
  EXPECT_EQ(meter_->Slot("alpha"), alpha_);  // same record
  const UsageReport r = meter_->Report(false);
  EXPECT_THAT(r.tenants, ElementsAre(Field(&TenantUsage::name, "alpha"),
                                     Field(&TenantUsage::name, "gamma")));
  EXPECT_EQ(Requests(Of(r, "alpha"), FinishReason::kLength), 1);
  EXPECT_EQ(Of(r, "alpha").prompt_tokens, 10);
  EXPECT_TRUE(Of(r, "gamma").configured);
}

TEST_F(UsageMeterTest, RemovedTenantStaysReadableUntilReset) {
  meter_->RecordFinished("beta", Finished(FinishReason::kLength, 8, 0, 2));
  meter_->SetTenants(std::vector<std::string>{"alpha"});  // beta removed
  UsageReport r = meter_->Report(false);
  ASSERT_EQ(r.tenants.size(), 2u);
  EXPECT_FALSE(Of(r, "beta").configured);
  EXPECT_EQ(Of(r, "beta").prompt_tokens, 8);
  // Its since-start counters stay too (and after the reset: never back).
  r = meter_->Report(/*reset=*/true);
  EXPECT_EQ(Of(r, "beta").prompt_tokens, 8);
  r = meter_->Report(false);
  EXPECT_THAT(r.tenants, ElementsAre(Field(&TenantUsage::name, "alpha")));
  EXPECT_EQ(Of(meter_->ReportSinceStart(), "beta").prompt_tokens, 8);

  // A removed tenant's request still running when it finishes is charged
  // (and the tenant is listed again); so is the KV it holds.
  meter_->RecordFinished("beta", Finished(FinishReason::kCancelled, 4, 0, 1));
  r = meter_->Report(false);
  ASSERT_EQ(r.tenants.size(), 2u);
  EXPECT_EQ(Requests(Of(r, "beta"), FinishReason::kCancelled), 1);
  EXPECT_EQ(Of(meter_->ReportSinceStart(), "beta").prompt_tokens, 12);

  // Configured again: the same record, counting on.
  meter_->SetTenants(std::vector<std::string>{"alpha", "beta"});
  EXPECT_EQ(meter_->Slot("beta"), beta_);
  EXPECT_TRUE(Of(meter_->Report(false), "beta").configured);
}

TEST_F(UsageMeterTest, AnUnusedRemovedTenantIsNotListed) {
  meter_->SetTenants(std::vector<std::string>{"alpha"});
  EXPECT_THAT(meter_->Report(false).tenants,
              ElementsAre(Field(&TenantUsage::name, "alpha")));
  EXPECT_EQ(meter_->Slot("nobody"), -1);
  meter_->SetTenants(std::vector<std::string>{});
  EXPECT_THAT(meter_->Report(false).tenants, IsEmpty());
}

}  // namespace
}  // namespace kvasir::engine::sched
