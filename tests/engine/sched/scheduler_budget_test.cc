// Preemption across tenants under KV budgets: who may be preempted for
// whom (DESIGN.md "KV-cache memory and tenant budgets"). Table-driven on
// the scheduler harness (fake clock, no model).

#include <string>
#include <vector>

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
using ::testing::ElementsAreArray;

// The tokens the harness generates after `prompt`: 500 + the position of
// the token, so a recomputed request must produce exactly these.
std::vector<int32_t> Generated(const Sequence& s) {
  return {s.tokens.begin() + s.prompt_len, s.tokens.end()};
}
std::vector<int32_t> Expected(int32_t prompt_len, int32_t n) {
  std::vector<int32_t> v;
  for (int32_t i = 0; i < n; ++i) v.push_back(500 + prompt_len + i);
  return v;
}

TEST(SchedulerBudgetTest, TenantBarelyAboveItsFloorIsNotPushedBelowIt) {
  // 8 blocks of 4 tokens. A keeps a floor of 4 blocks; B has none.
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 4, 8), BlocksTenant("B", 0, 8)});
  // a1 holds 5 blocks (1 above A's floor) for its whole life, with the
  // lowest priority: the first victim by rank. b1 holds 3 and needs a 4th
  // at its first decode.
  ASSERT_OK(h.Submit("a1", "A", 17, 3, /*priority=*/-10));
  ASSERT_OK(h.Submit("b1", "B", 12, 3));
  RunTable(h, {
                  {nullptr, "a1+17 b1+12", "a1:D17 b1:D12"},
                  // No block is free. Preempting a1 would free 5 blocks but
                  // leave A 4 below its floor, which B could not use anyway:
                  // b1 yields instead.
                  {nullptr, "a1+1", "a1:D18 b1:W(p1)"},
                  {nullptr, "a1+1", "a1:F-length b1:W(p1)"},
                  // a1 is done: b1 resumes from its cached blocks.
                  {nullptr, "b1+1", "a1:F-length b1:D13"},
              });
  h.RunUntilIdle();
  EXPECT_EQ(h.seq("a1").preemptions, 0);
  EXPECT_EQ(h.seq("b1").preemptions, 1);
  EXPECT_THAT(Generated(h.seq("b1")), ElementsAreArray(Expected(12, 3)));
  h.ExpectAllBlocksFree();
}

TEST(SchedulerBudgetTest, TenantAboveItsFloorGivesUpOnlyTheExcess) {
  // As above, but A's excess is a separate 1-block request: that one is
  // preempted for B (A stays at its floor), not B's own request.
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 4, 8), BlocksTenant("B", 0, 8)});
  ASSERT_OK(h.Submit("a1", "A", 13, 4));                   // 4 blocks
  ASSERT_OK(h.Submit("a2", "A", 2, 3, /*priority=*/-10));  // 1 block
  ASSERT_OK(h.Submit("b1", "B", 12, 3));                   // 3, then 4
  RunTable(h, {
                  {nullptr, "a1+13 b1+12 a2+2", "a1:D13 a2:D2 b1:D12"},
                  {nullptr, "b1+1 a1+1", "a1:D14 a2:W(p1) b1:D13"},
              });
  h.RunUntilIdle();
  EXPECT_EQ(h.seq("a1").preemptions, 0);
  EXPECT_EQ(h.seq("b1").preemptions, 0);
  EXPECT_THAT(Generated(h.seq("a2")), ElementsAreArray(Expected(2, 3)));
  h.ExpectAllBlocksFree();
}

TEST(SchedulerBudgetTest, WaitingRequestPreemptsATenantAboveItsNewLimit) {
  // 8 blocks of 4 tokens; both tenants may first use all of them.
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 0, 8), BlocksTenant("B", 0, 8)});
  // 9 prompt + 4 new tokens: at most 12 in the cache, 3 blocks each.
  ASSERT_OK(h.Submit("a1", "A", 9, 4));
  ASSERT_OK(h.Submit("a2", "A", 9, 4));
  RunTable(h, {
                  {nullptr, "a1+9 a2+9", "a1:D9 a2:D9"},
                  // A's limit shrinks to 4 blocks while it holds 6, and B's
                  // request (3 blocks) finds 2 free. A gets no new blocks but
                  // needs none to decode; B's request is short of pool blocks
                  // because of A, so A's latest request is preempted (A is back
                  // within its limit) and B's starts.
                  {[](SchedHarness& h) {
                     std::vector<FinishedSeq> cancelled;
                     ASSERT_OK(h.sched().SetTenants(
                         {BlocksTenant("A", 0, 4), BlocksTenant("B", 0, 8)},
                         &cancelled));
                     ASSERT_OK(h.Submit("b1", "B", 12, 2));
                   },
                   "a1+1 b1+12", "a1:D10 a2:W(p1) b1:D12"},
                  // a2 needs 3 blocks: 3 + 3 is above A's limit, it waits.
                  {nullptr, "a1+1 b1+1", "a1:D11 a2:W(p1) b1:F-length"},
                  {nullptr, "a1+1", "a1:F-length a2:W(p1) b1:F-length"},
                  // a1 is done: a2 resumes. b1's 4th block reclaimed one of
                  // a2's two cached full blocks; the other one is reused.
                  {nullptr, "a2+6", "a1:F-length a2:D10 b1:F-length"},
              });
  h.RunUntilIdle();
  EXPECT_EQ(h.seq("a1").preemptions, 0);
  EXPECT_EQ(h.seq("a2").preemptions, 1);
  EXPECT_EQ(h.reason("a2"), FinishReason::kLength);
  // The resumed request continues exactly where it was.
  EXPECT_THAT(Generated(h.seq("a2")), ElementsAreArray(Expected(9, 4)));
  EXPECT_THAT(Generated(h.seq("a1")), ElementsAreArray(Expected(9, 4)));
  EXPECT_EQ(h.sched().total_preemptions(), 1);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerBudgetTest, WaitingRequestNeverPreemptsWithinLimitTenants) {
  // Same pool, but A stays within its limit: B's request waits.
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 0, 8), BlocksTenant("B", 0, 8)});
  ASSERT_OK(h.Submit("a1", "A", 9, 3));
  ASSERT_OK(h.Submit("a2", "A", 9, 3));
  RunTable(h,
           {
               {nullptr, "a1+9 a2+9", "a1:D9 a2:D9"},
               {[](SchedHarness& h) { ASSERT_OK(h.Submit("b1", "B", 12, 2)); },
                "a1+1 a2+1", "a1:D10 a2:D10 b1:W"},
           });
  h.RunUntilIdle();
  EXPECT_EQ(h.sched().total_preemptions(), 0);
  EXPECT_EQ(h.reason("b1"), FinishReason::kLength);
  h.ExpectAllBlocksFree();
}

}  // namespace
}  // namespace kvasir::engine::sched
