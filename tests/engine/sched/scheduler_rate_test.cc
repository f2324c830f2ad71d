// Token-rate limits in the scheduler (TenantConfig::rate_limit), on the
// harness's fake clock: a limited tenant's sequences sit out the steps its
// bucket cannot pay for, and the others take the slots it leaves.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "engine/sched/scheduler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/sched/sched_harness.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine::sched {
namespace {

using ::kvasir::engine::sched::testing::BlocksTenant;
using ::kvasir::engine::sched::testing::Opts;
using ::kvasir::engine::sched::testing::RunTable;
using ::kvasir::engine::sched::testing::SchedHarness;
using ::kvasir::testing::IsOk;

TenantConfig Limited(std::string name, int64_t limit_blocks, double rate,
                     double burst) {
  TenantConfig t = BlocksTenant(std::move(name), 0, limit_blocks);
  t.rate_limit.tokens_per_second = rate;
  t.rate_limit.burst = burst;
  return t;
}

int64_t Generated(SchedHarness& h, const std::string& tenant) {
  return h.sched().tenant(h.sched().FindTenant(tenant)).stats.generated_tokens;
}

TEST(SchedulerRateTest, LimitedTenantStaysUnderItsRateOthersTakeTheRest) {
  // 4 decode slots a step (the token budget), 4 long requests per tenant.
  constexpr double kRate = 10;  // tokens per second
  constexpr double kBurst = 5;
  constexpr int kSteps = 200;
  const absl::Duration kStep = absl::Milliseconds(10);
  SchedHarness h(Opts(512, 4, 8), {Limited("slow", 256, kRate, kBurst),
                                   BlocksTenant("fast", 0, 256)});
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("s", i), "slow", 1, 1000));
    ASSERT_OK(h.Submit(absl::StrCat("f", i), "fast", 1, 1000));
  }
  const absl::Time start = h.clock().Now();
  int64_t served = 0;
  for (int step = 0; step < kSteps; ++step) {
    h.Step();
    const int64_t now_served = h.sched().tenant(0).stats.served_tokens +
                               h.sched().tenant(1).stats.served_tokens;
    // Every slot the limited tenant leaves is taken: each step is full.
    EXPECT_EQ(now_served - served, 4) << "step " << step;
    served = now_served;
    h.clock().Advance(kStep);
  }
  const double elapsed = absl::ToDoubleSeconds(h.clock().Now() - start);
  const int64_t slow = Generated(h, "slow");
  const int64_t fast = Generated(h, "fast");
  EXPECT_LE(slow, kRate * elapsed + kBurst);
  // It is slowed down, not starved: it gets its rate (steps are 10 ms, so
  // it loses at most a step's refill at the end).
  EXPECT_GE(slow, kRate * (elapsed - 0.01));
  EXPECT_EQ(slow + fast, 4 * kSteps);
  EXPECT_EQ(h.sched().total_preemptions(), 0);
}

// Sequences in a step's plan ("a+1 b+1", or "-" for none).
int PlanSize(const std::string& plan) {
  if (plan == "-") return 0;
  return static_cast<int>(std::count(plan.begin(), plan.end(), ' ')) + 1;
}

TEST(SchedulerRateTest, ThrottledStreamsLeaveTheirSlotsToOtherTenants) {
  // max_running 4, all of them taken by a tenant whose rate (1 token/s)
  // keeps them idle nearly every step: the other tenant still starts and
  // runs every step, and no step computes more than 4 sequences.
  SchedHarness h(Opts(2048, 64, 4),
                 {Limited("slow", 256, 1, 4), BlocksTenant("fast", 0, 1024)});
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("s", i), "slow", 1, 1000));
  }
  EXPECT_EQ(PlanSize(h.Step()), 4);  // the burst pays for the 4 starts
  ASSERT_OK(h.Submit("f0", "fast", 1, 1000));
  ASSERT_OK(h.Submit("f1", "fast", 1, 1000));
  for (int step = 0; step < 600; ++step) {
    h.clock().Advance(absl::Milliseconds(10));
    const std::string plan = h.Step();
    SCOPED_TRACE(absl::StrCat("step ", step, ": ", plan));
    // At most one of slow's streams has a token (one every 100 steps).
    EXPECT_THAT(plan, ::testing::HasSubstr("f0+1"));
    EXPECT_THAT(plan, ::testing::HasSubstr("f1+1"));
  }
  EXPECT_EQ(Generated(h, "fast"), 2 * 600);
  EXPECT_LE(Generated(h, "slow"), 4 + 1 * 6.0 + 1e-9);
  // A full bucket again: 4 of slow's and 2 of fast's streams could run,
  // 4 do.
  h.clock().Advance(absl::Seconds(10));
  EXPECT_EQ(PlanSize(h.Step()), 4);
  EXPECT_EQ(h.sched().num_running(), 6);
}

TEST(SchedulerRateTest, OnlyLimitedWorkLeavesThePlanEmptyUntilTheRefill) {
  SchedHarness h(Opts(64, 16, 8), {Limited("slow", 64, 4, 1)});
  ASSERT_OK(h.Submit("a", "slow", 3, 10));
  ASSERT_OK(h.Submit("b", "slow", 3, 10));
  RunTable(h, {
                  // One token in the bucket: the first start generates it.
                  {nullptr, "a+3", "a:D3 b:W"},
                  // Nothing to pay with: nothing runs, nothing fails.
                  {nullptr, "-", "a:D3 b:W"},
              });
  // The engine sleeps until the bucket holds a token again: 1/4 s.
  EXPECT_EQ(h.sched().NextWakeTime(),
            h.clock().Now() + absl::Milliseconds(250));
  h.clock().Advance(absl::Milliseconds(249));
  EXPECT_EQ(h.Step(), "-");
  h.clock().Advance(absl::Milliseconds(1));
  // The tenant's tokens go round its streams and its waiting request: b
  // waited since before a's first token, so the refill starts b.
  EXPECT_EQ(h.Step(), "b+3");
  EXPECT_EQ(h.Step(), "-");
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "a+1");
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "b+1");
}

TEST(SchedulerRateTest, AWaitingRequestGetsItsTurnBeforeARunningStream) {
  // 4 tokens/s, burst 1: a long stream running alone took every refill,
  // and the tenant's next request waited for the stream's end. Now the
  // request takes its turn: the stream's token next, then the request's.
  SchedHarness h(Opts(64, 16, 8), {Limited("t", 64, 4, 1)});
  ASSERT_OK(h.Submit("long", "t", 1, 30));
  EXPECT_EQ(h.Step(), "long+1");
  for (int i = 0; i < 3; ++i) {
    h.clock().Advance(absl::Milliseconds(250));
    EXPECT_EQ(h.Step(), "long+1");
  }
  ASSERT_OK(h.Submit("short", "t", 1, 1));
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "long+1");
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "short+1");
  EXPECT_EQ(h.State(), "long:D5 short:F-length");
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "long+1");
}

TEST(SchedulerRateTest, AWaitingRequestThatCannotStartDoesNotStallTheStream) {
  // The tenant's limit holds one sequence: the waiting request cannot start
  // while the stream runs, so the token it was left goes back to the
  // stream at once (the next step is not put off) and the stream goes on.
  SchedHarness h(Opts(64, 16, 8), {Limited("t", 1, 4, 1)});
  ASSERT_OK(h.Submit("a", "t", 1, 3));
  EXPECT_EQ(h.Step(), "a+1");
  ASSERT_OK(h.Submit("b", "t", 1, 3));
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "a+1");  // a's turn came before b's
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "-");  // a leaves the token to b, which cannot start
  EXPECT_EQ(h.sched().NextWakeTime(), h.clock().Now());
  EXPECT_EQ(h.Step(), "a+1");  // b went behind a; a's last token
  EXPECT_EQ(h.State(), "a:F-length b:W");
  h.clock().Advance(absl::Milliseconds(250));
  EXPECT_EQ(h.Step(), "b+1");
}

TEST(SchedulerRateTest, ALimitedTenantsTokensGoRoundItsStreams) {
  // 100 tokens/s and 10 ms steps: one token a step once the burst is spent.
  SchedHarness h(Opts(64, 16, 8), {Limited("t", 64, 100, 3)});
  for (const char* name : {"a", "b", "c"})
    ASSERT_OK(h.Submit(name, "t", 1, 50));
  EXPECT_EQ(h.Step(), "a+1 b+1 c+1");
  std::vector<std::string> plans;
  for (int i = 0; i < 6; ++i) {
    h.clock().Advance(absl::Milliseconds(10));
    plans.push_back(h.Step());
  }
  // Not the oldest stream only: each in turn.
  EXPECT_THAT(plans,
              ::testing::ElementsAre("a+1", "b+1", "c+1", "a+1", "b+1", "c+1"));
}

TEST(SchedulerRateTest, PreemptedInTheSameStepGetsItsTokenBack) {
  // 3 blocks of 4 tokens. A (weight 2: its decode goes first) is limited
  // to a 2-token burst that barely refills.
  TenantConfig a = Limited("A", 3, 0.001, 2);
  a.weight = 2;
  SchedHarness h(Opts(3, 16, 8), {a, BlocksTenant("B", 0, 3)});
  ASSERT_OK(h.Submit("a", "A", 4, 8, /*priority=*/-1));
  ASSERT_OK(h.Submit("b", "B", 4, 8, /*priority=*/0));
  EXPECT_EQ(h.Step(), "a+4 b+4");  // a's first token: 1 left
  // a's decode takes the last token and the free block; b's then preempts
  // a (lower priority), which gives the token back.
  EXPECT_EQ(h.Step(), "b+1");
  EXPECT_EQ(h.State(), "a:W(p1) b:D5");
  const int32_t t = h.sched().FindTenant("A");
  EXPECT_NEAR(h.sched().rate_limiter().generated(t)->Level(h.clock().Now()), 1,
              1e-6);
}

TEST(SchedulerRateTest, APreemptedRequestsPromptIsChargedOnlyOnce) {
  // A's prompt bucket pays for one 4-token prompt and barely refills. B
  // preempts A's request; its recompute is the server's doing, so it
  // resumes without paying again and finishes.
  TenantConfig a = BlocksTenant("A", 0, 3);
  a.rate_limit.prompt_tokens_per_second = 0.001;
  a.rate_limit.prompt_burst = 4;
  a.weight = 2;
  SchedHarness h(Opts(3, 16, 8), {a, BlocksTenant("B", 0, 3)});
  ASSERT_OK(h.Submit("a", "A", 4, 8, /*priority=*/-1));
  ASSERT_OK(h.Submit("b", "B", 4, 8, /*priority=*/0));
  EXPECT_EQ(h.Step(), "a+4 b+4");
  EXPECT_EQ(h.Step(), "b+1");
  EXPECT_EQ(h.State(), "a:W(p1) b:D5");
  for (int i = 0; i < 30; ++i) {
    h.clock().Advance(absl::Milliseconds(10));
    h.Step();
  }
  EXPECT_EQ(h.State(), "a:F-length b:F-length");
}

TEST(SchedulerRateTest, RequestThatCannotStartForItsRateEndsAtItsDeadline) {
  SchedHarness h(Opts(64, 16, 8), {Limited("slow", 64, 1, 1)});
  ASSERT_OK(h.Submit("a", "slow", 3, 10));
  ASSERT_OK(h.Submit("b", "slow", 3, 10, 0,
                     h.clock().Now() + absl::Milliseconds(500)));
  EXPECT_EQ(h.Step(), "a+3");
  h.clock().Advance(absl::Milliseconds(500));
  EXPECT_EQ(h.Step(), "-");
  EXPECT_EQ(h.reason("b"), FinishReason::kDeadline);
  EXPECT_EQ(h.State(), "a:D3 b:F-deadline");
}

TEST(SchedulerRateTest, PromptLimitHoldsStartsButNotRunningDecodes) {
  TenantConfig t = BlocksTenant("p", 0, 64);
  t.rate_limit.prompt_tokens_per_second = 10;
  t.rate_limit.prompt_burst = 10;
  SchedHarness h(Opts(64, 64, 8), {t});
  ASSERT_OK(h.Submit("a", "p", 8, 100));
  ASSERT_OK(h.Submit("b", "p", 20, 100));  // > the burst
  EXPECT_EQ(h.Step(), "a+8");              // 2 prompt tokens left
  // b waits for a full bucket: 800 ms; a decodes meanwhile.
  for (int i = 0; i < 79; ++i) {
    h.clock().Advance(absl::Milliseconds(10));
    ASSERT_EQ(h.Step(), "a+1") << i;
  }
  h.clock().Advance(absl::Milliseconds(10));
  EXPECT_EQ(h.Step(), "a+1 b+20");
}

TEST(SchedulerRateTest, ReloadAppliesNewRatesToRunningRequests) {
  SchedHarness h(Opts(64, 16, 8), {Limited("t", 64, 1, 1)});
  ASSERT_OK(h.Submit("a", "t", 2, 50));
  EXPECT_EQ(h.Step(), "a+2");
  EXPECT_EQ(h.Step(), "-");
  std::vector<FinishedSeq> cancelled;
  // Unlimited now: the running request goes on every step.
  TenantConfig unlimited = BlocksTenant("t", 0, 64);
  ASSERT_THAT(h.sched().SetTenants({unlimited}, &cancelled), IsOk());
  EXPECT_EQ(h.Step(), "a+1");
  EXPECT_EQ(h.Step(), "a+1");
  // Limited again: a new bucket starts full (burst 2), then the rate.
  ASSERT_THAT(h.sched().SetTenants({Limited("t", 64, 100, 2)}, &cancelled),
              IsOk());
  EXPECT_EQ(h.Step(), "a+1");
  EXPECT_EQ(h.Step(), "a+1");
  EXPECT_EQ(h.Step(), "-");
  h.clock().Advance(absl::Milliseconds(10));
  EXPECT_EQ(h.Step(), "a+1");
  EXPECT_TRUE(cancelled.empty());
}

}  // namespace
}  // namespace kvasir::engine::sched
