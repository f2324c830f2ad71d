#include "engine/sched/scheduler.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(SchedulerTest, ChunkedPrefillNeverStallsDecodes) {
  SchedHarness h(Opts(64, 8, 8), {BlocksTenant("t", 0, 64)});
  ASSERT_OK(h.Submit("a", "t", 3, 6));
  RunTable(h,
           {
               {nullptr, "a+3", "a:D3"},
               // A 20-token prompt arrives: it is cut into chunks that
               // fill what the decode leaves of the 8-token budget.
               {[](SchedHarness& h) { ASSERT_OK(h.Submit("b", "t", 20, 2)); },
                "a+1 b+7", "a:D4 b:P7"},
               {nullptr, "a+1 b+7", "a:D5 b:P14"},
               {nullptr, "a+1 b+6", "a:D6 b:D20"},
               {nullptr, "a+1 b+1", "a:D7 b:F-length"},
               {nullptr, "a+1", "a:F-length b:F-length"},
               {nullptr, "-", "a:F-length b:F-length"},
           });
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, PriorityThenArrivalWithinATenantAndMaxRunning) {
  SchedHarness h(Opts(64, 64, 2), {BlocksTenant("t", 0, 64)});
  ASSERT_OK(h.Submit("a", "t", 4, 2, /*priority=*/0));
  ASSERT_OK(h.Submit("b", "t", 4, 2, /*priority=*/0));
  ASSERT_OK(h.Submit("c", "t", 4, 2, /*priority=*/5));
  RunTable(h, {
                  {nullptr, "c+4 a+4", "a:D4 b:W c:D4"},
                  {nullptr, "c+1 a+1", "a:F-length b:W c:F-length"},
                  {nullptr, "b+4", "a:F-length b:D4 c:F-length"},
                  {nullptr, "b+1", "a:F-length b:F-length c:F-length"},
              });
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, MaxConcurrentPerTenant) {
  TenantConfig x = BlocksTenant("x", 0, 32);
  x.max_concurrent = 1;
  SchedHarness h(Opts(64, 64, 8), {x, BlocksTenant("y", 0, 32)});
  ASSERT_OK(h.Submit("x1", "x", 4, 2));
  ASSERT_OK(h.Submit("x2", "x", 4, 2));
  ASSERT_OK(h.Submit("y1", "y", 4, 2));
  RunTable(h, {
                  {nullptr, "x1+4 y1+4", "x1:D4 x2:W y1:D4"},
                  {nullptr, "x1+1 y1+1", "x1:F-length x2:W y1:F-length"},
                  {nullptr, "x2+4", "x1:F-length x2:D4 y1:F-length"},
              });
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, PreemptsLowestPriorityThenLatestArrival) {
  // 6 blocks of 4 tokens; both tenants may use all of them.
  SchedHarness h(Opts(6, 32, 8),
                 {BlocksTenant("A", 0, 6), BlocksTenant("B", 0, 6)});
  ASSERT_OK(h.Submit("a1", "A", 8, 5, /*priority=*/0));
  ASSERT_OK(h.Submit("a2", "A", 8, 5, /*priority=*/1));
  ASSERT_OK(h.Submit("b1", "B", 7, 5, /*priority=*/0));
  RunTable(h, {
                  // Fair order: A and B alternate; every block is taken.
                  {nullptr, "a2+8 b1+7 a1+8", "a1:D8 a2:D8 b1:D7"},
                  // a2 needs a 3rd block: of the lowest priority (a1, b1)
                  // the latest arrival, b1, is preempted (it had already
                  // been scheduled this step: it is taken out again).
                  {nullptr, "a2+1 a1+1", "a1:D9 a2:D9 b1:W(p1)"},
                  // b1 needs 2 blocks again; none is free: it waits.
                  {nullptr, "a2+1 a1+1", "a1:D10 a2:D10 b1:W(p1)"},
                  {nullptr, "a2+1 a1+1", "a1:D11 a2:D11 b1:W(p1)"},
                  {nullptr, "a2+1 a1+1", "a1:F-length a2:F-length b1:W(p1)"},
                  // It resumes with prompt + its generated token.
                  {nullptr, "b1+8", "a1:F-length a2:F-length b1:D8"},
              });
  h.RunUntilIdle();
  EXPECT_EQ(h.reason("b1"), FinishReason::kLength);
  EXPECT_EQ(h.seq("b1").num_generated(), 5);
  EXPECT_EQ(h.seq("b1").preemptions, 1);
  EXPECT_EQ(h.sched().total_preemptions(), 1);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, TenantAboveItsLimitIsPreemptedFirst) {
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 0, 8), BlocksTenant("B", 0, 8)});
  ASSERT_OK(h.Submit("a1", "A", 8, 5));
  ASSERT_OK(h.Submit("a2", "A", 16, 5));
  ASSERT_OK(h.Submit("b1", "B", 6, 5, /*priority=*/5));
  RunTable(h,
           {
               {nullptr, "a1+8 b1+6 a2+16", "a1:D8 a2:D16 b1:D6"},
               // B's limit shrinks to 1 block while it holds 2. b1 needs no new
               // block and decodes; a1 needs one: b1 (over its limit) is the
               // victim although it has the highest priority and A's own
               // requests are above their (zero) floor.
               {[](SchedHarness& h) {
                  std::vector<FinishedSeq> cancelled;
                  ASSERT_OK(h.sched().SetTenants(
                      {BlocksTenant("A", 0, 8), BlocksTenant("B", 0, 1)},
                      &cancelled));
                  EXPECT_TRUE(cancelled.empty());
                },
                "a1+1 a2+1", "a1:D9 a2:D17 b1:W(p1)"},
               // b1 can never fit in 1 block now: it fails instead of waiting.
               {nullptr, "a1+1 a2+1", "a1:D10 a2:D18 b1:F-error"},
           });
  h.RunUntilIdle();
  EXPECT_EQ(h.seq("a1").preemptions, 0);
  EXPECT_EQ(h.seq("a2").preemptions, 0);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, ARemovedTenantsRequestMakesRoomFirst) {
  // 8 blocks of 4 tokens. B is removed while b1 runs; when a1 needs a block
  // the pool lacks, b1 (it would end anyway, and starts nothing) is the
  // victim, not A's own later a2.
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 0, 8), BlocksTenant("B", 0, 8)});
  ASSERT_OK(h.Submit("b1", "B", 8, 5, /*priority=*/5));
  ASSERT_OK(h.Submit("a1", "A", 8, 5));
  ASSERT_OK(h.Submit("a2", "A", 16, 5));
  EXPECT_EQ(h.Step(), "b1+8 a1+8 a2+16");
  std::vector<FinishedSeq> cancelled;
  ASSERT_OK(h.sched().SetTenants({BlocksTenant("A", 0, 8)}, &cancelled));
  EXPECT_TRUE(cancelled.empty());
  EXPECT_EQ(h.Step(), "a1+1 a2+1");
  EXPECT_EQ(h.reason("b1"), FinishReason::kTenantRemoved);
  EXPECT_EQ(h.sched().total_preemptions(), 0);
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, TenantWithinItsFloorIsNeverPreemptedForAnother) {
  // A has a floor of 4 blocks out of 8; B none.
  SchedHarness h(Opts(8, 32, 8),
                 {BlocksTenant("A", 4, 8), BlocksTenant("B", 0, 8)});
  ASSERT_OK(h.Submit("b1", "B", 8, 5));
  ASSERT_OK(h.Submit("b2", "B", 8, 5));
  // Lowest priority and latest arrival: the first victim, were it not
  // within its tenant's floor.
  ASSERT_OK(h.Submit("a1", "A", 8, 5, /*priority=*/-10));
  RunTable(h, {
                  {nullptr, "b1+8 a1+8 b2+8", "a1:D8 b1:D8 b2:D8"},
                  // 2 blocks are free but 1 is A's unused floor: b1's new
                  // block costs B its own latest request, never a1.
                  {nullptr, "a1+1 b1+1", "a1:D9 b1:D9 b2:W(p1)"},
                  {nullptr, "a1+1 b1+1", "a1:D10 b1:D10 b2:W(p1)"},
              });
  h.RunUntilIdle();
  EXPECT_EQ(h.seq("a1").preemptions, 0);
  EXPECT_EQ(h.reason("b2"), FinishReason::kLength);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, PreemptedRequestResumesFromItsCachedPrefix) {
  SchedHarness h(Opts(5, 64, 4), {BlocksTenant("t", 0, 5)});
  ASSERT_OK(h.Submit("a", "t", 8, 2));
  ASSERT_OK(h.Submit("b", "t", 8, 4));
  RunTable(h, {
                  {nullptr, "a+8 b+8", "a:D8 b:D8"},
                  // Both need a 3rd block, one is free: b (latest) yields.
                  {nullptr, "a+1", "a:F-length b:W(p1)"},
                  // b's two full blocks are still cached: only its
                  // generated token is computed again.
                  {nullptr, "b+1", "a:F-length b:D9"},
                  {nullptr, "b+1", "a:F-length b:D10"},
                  {nullptr, "b+1", "a:F-length b:F-length"},
              });
  EXPECT_EQ(h.seq("b").cached_prompt_tokens, 0);  // first admission
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, PrefixHitsSkipRecompute) {
  SchedHarness h(Opts(32, 64, 4), {BlocksTenant("t", 0, 32)});
  std::vector<int32_t> prompt;
  for (int i = 1; i <= 10; ++i) prompt.push_back(i);
  std::vector<int32_t> longer = prompt;
  longer.push_back(11);
  longer.push_back(12);
  ASSERT_OK(h.Submit("a", "t", 0, 1, 0, absl::InfiniteFuture(), prompt));
  RunTable(h, {
                  {nullptr, "a+10", "a:F-length"},
                  // Two full blocks (8 tokens) of a's prompt are cached.
                  {[&](SchedHarness& h) {
                     ASSERT_OK(h.Submit("b", "t", 0, 1, 0,
                                        absl::InfiniteFuture(), longer));
                   },
                   "b+4", "a:F-length b:F-length"},
                  {[&](SchedHarness& h) {
                     ASSERT_OK(h.Submit("c", "t", 0, 1, 0,
                                        absl::InfiniteFuture(), prompt));
                   },
                   "c+2", "a:F-length b:F-length c:F-length"},
              });
  EXPECT_EQ(h.seq("a").cached_prompt_tokens, 0);
  EXPECT_EQ(h.seq("b").cached_prompt_tokens, 8);
  EXPECT_EQ(h.seq("c").cached_prompt_tokens, 8);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, PrefixReuseNeverCrossesTenants) {
  SchedHarness h(Opts(32, 64, 4),
                 {BlocksTenant("A", 0, 16), BlocksTenant("B", 0, 16)});
  std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  ASSERT_OK(h.Submit("a", "A", 0, 1, 0, absl::InfiniteFuture(), prompt));
  EXPECT_EQ(h.Step(), "a+9");
  ASSERT_OK(h.Submit("b", "B", 0, 1, 0, absl::InfiniteFuture(), prompt));
  EXPECT_EQ(h.Step(), "b+9");
  EXPECT_EQ(h.seq("b").cached_prompt_tokens, 0);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, DeadlineWhileRunningAndBeforePrefill) {
  SchedHarness h(Opts(64, 64, 1), {BlocksTenant("t", 0, 64)});
  const absl::Time t0 = h.clock().Now();
  ASSERT_OK(h.Submit("a", "t", 4, 100, 0, t0 + absl::Seconds(10)));
  ASSERT_OK(h.Submit("b", "t", 4, 100, 0, t0 + absl::Seconds(5)));
  RunTable(h, {
                  {nullptr, "a+4", "a:D4 b:W"},
                  // b expires while waiting behind a: it never starts.
                  {[](SchedHarness& h) { h.clock().Advance(absl::Seconds(6)); },
                   "a+1", "a:D5 b:F-deadline"},
                  // a's deadline passes while it runs: it ends at the next
                  // step and its blocks are freed.
                  {[](SchedHarness& h) { h.clock().Advance(absl::Seconds(5)); },
                   "-", "a:F-deadline b:F-deadline"},
              });
  EXPECT_TRUE(h.seq("a").started);
  EXPECT_FALSE(h.seq("b").started);
  EXPECT_EQ(h.seq("b").num_computed(), 0);
  EXPECT_EQ(h.admission().queued_total(), 0);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, ExpiredRequestAtTheHeadOfTheQueueNeverStarts) {
  SchedHarness h(Opts(64, 64, 4), {BlocksTenant("t", 0, 64)});
  const absl::Time t0 = h.clock().Now();
  ASSERT_OK(h.Submit("a", "t", 4, 2, 0, t0));  // expires at once
  ASSERT_OK(h.Submit("b", "t", 4, 2));
  RunTable(h, {{nullptr, "b+4", "a:F-deadline b:D4"}});
  EXPECT_FALSE(h.seq("a").started);
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, CancelFreesBlocksAtOnce) {
  SchedHarness h(Opts(64, 64, 4), {BlocksTenant("t", 0, 64)});
  ASSERT_OK(h.Submit("a", "t", 12, 100));
  ASSERT_OK(h.Submit("b", "t", 4, 100));
  h.Step();
  EXPECT_EQ(h.used_blocks("t"), 3 + 1);
  h.Cancel("a");
  EXPECT_EQ(h.used_blocks("t"), 1);
  EXPECT_EQ(h.State(), "a:F-cancelled b:D4");
  EXPECT_EQ(h.Step(), "b+1");
  h.Cancel("b");
  h.ExpectAllBlocksFree();
  EXPECT_TRUE(h.sched().idle());
}

TEST(SchedulerTest, QueueLimitsPerTenantAndGlobal) {
  SchedHarness::Options o = Opts(64, 64, 8);
  o.max_queued = 3;
  TenantConfig a = BlocksTenant("A", 0, 32);
  a.max_queued = 2;
  SchedHarness h(o, {a, BlocksTenant("B", 0, 32)});
  ASSERT_OK(h.Submit("a1", "A", 4, 2));
  ASSERT_OK(h.Submit("a2", "A", 4, 2));
  EXPECT_THAT(h.Submit("a3", "A", 4, 2),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("tenant 'A' queue is full"),
                             HasSubstr("max_queued 2"))));
  ASSERT_OK(h.Submit("b1", "B", 4, 2));
  EXPECT_THAT(h.Submit("b2", "B", 4, 2),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr("global queue is full"),
                             HasSubstr("max_queued 3"))));
  EXPECT_EQ(h.admission().queued("A"), 2);
  EXPECT_EQ(h.admission().queued_total(), 3);
  // Started requests leave the queue.
  EXPECT_EQ(h.Step(), "a1+4 b1+4 a2+4");
  EXPECT_EQ(h.admission().queued_total(), 0);
  ASSERT_OK(h.Submit("a3", "A", 4, 2));
  ASSERT_OK(h.Submit("b2", "B", 4, 2));
  EXPECT_THAT(h.Submit("x", "nobody", 4, 2),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, RequestThatCanNeverFitIsRefusedWithTheNumbers) {
  // B may hold at most 2 blocks = 8 tokens.
  SchedHarness h(Opts(16, 64, 8),
                 {BlocksTenant("A", 4, 16), BlocksTenant("B", 0, 2)});
  EXPECT_THAT(
      h.Submit("b", "B", 6, 4),
      StatusIs(absl::StatusCode::kResourceExhausted,
               AllOf(HasSubstr("needs 9 tokens"), HasSubstr("tenant 'B'"),
                     HasSubstr("at most 8 tokens"))));
  ASSERT_OK(h.Submit("b", "B", 6, 3));  // 8 tokens fit exactly
  // A's limit is the pool, less nobody's floor: 64 tokens.
  EXPECT_THAT(h.Submit("a", "A", 60, 6),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("at most 64 tokens")));
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, PreemptedRequestsGetBackInLineWhateverTheQueueLimit) {
  SchedHarness::Options o = Opts(5, 64, 4);
  o.max_queued = 1;
  SchedHarness h(o, {BlocksTenant("t", 0, 5)});
  ASSERT_OK(h.Submit("a", "t", 8, 4));
  EXPECT_EQ(h.Step(), "a+8");
  ASSERT_OK(h.Submit("b", "t", 8, 4));
  EXPECT_EQ(h.Step(), "a+1 b+8");
  ASSERT_OK(h.Submit("c", "t", 4, 1));  // the queue is full now
  EXPECT_EQ(h.admission().queued_total(), 1);
  // b needs a 3rd block and yields to a: it is back in the queue although
  // the queue was full; new requests are still refused.
  EXPECT_EQ(h.Step(), "a+1");
  EXPECT_EQ(h.State(), "a:D10 b:W(p1) c:W");
  EXPECT_EQ(h.admission().queued_total(), 2);
  EXPECT_THAT(h.Submit("d", "t", 4, 1),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("global queue is full")));
  h.RunUntilIdle();
  EXPECT_EQ(h.admission().queued_total(), 0);
  EXPECT_EQ(h.reason("b"), FinishReason::kLength);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, RemovedTenantsQueuedRequestsAreCancelled) {
  SchedHarness h(Opts(64, 64, 1),
                 {BlocksTenant("A", 0, 32), BlocksTenant("B", 0, 32)});
  ASSERT_OK(h.Submit("b1", "B", 2, 3));
  ASSERT_OK(h.Submit("b2", "B", 2, 3));
  EXPECT_EQ(h.Step(), "b1+2");
  std::vector<FinishedSeq> cancelled;
  ASSERT_OK(h.sched().SetTenants({BlocksTenant("A", 0, 32)}, &cancelled));
  ASSERT_EQ(cancelled.size(), 1u);
  EXPECT_EQ(cancelled[0].seq, &h.seq("b2"));
  EXPECT_EQ(cancelled[0].reason, FinishReason::kTenantRemoved);
  EXPECT_EQ(h.admission().queued_total(), 0);
  EXPECT_THAT(h.Submit("b3", "B", 4, 3),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("'B'")));
  // The running one goes on with the blocks it holds.
  EXPECT_EQ(h.Step(), "b1+1");
  EXPECT_EQ(h.Step(), "b1+1");
  EXPECT_EQ(h.reason("b1"), FinishReason::kLength);
  h.sched().Finish(const_cast<Sequence*>(&h.seq("b2")));
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, RemovedTenantsRunningRequestGoesOnToItsEnd) {
  // 4 tokens a block: b1 (2 prompt + 9 generated tokens) needs its second
  // and third blocks after B is removed, and gets them within B's old
  // limit. Nothing counts as a preemption.
  SchedHarness h(Opts(64, 64, 4),
                 {BlocksTenant("A", 0, 32), BlocksTenant("B", 0, 32)});
  ASSERT_OK(h.Submit("b1", "B", 2, 10));
  EXPECT_EQ(h.Step(), "b1+2");
  std::vector<FinishedSeq> cancelled;
  ASSERT_OK(h.sched().SetTenants({BlocksTenant("A", 0, 32)}, &cancelled));
  EXPECT_TRUE(cancelled.empty());
  for (int i = 0; i < 9; ++i) EXPECT_EQ(h.Step(), "b1+1") << i;
  EXPECT_EQ(h.reason("b1"), FinishReason::kLength);
  EXPECT_EQ(h.sched().total_preemptions(), 0);
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, SetTenantsValidatesAllOrNothing) {
  SchedHarness h(Opts(16, 64, 4), {BlocksTenant("A", 0, 16)});
  std::vector<FinishedSeq> cancelled;
  TenantConfig bad = BlocksTenant("B", 0, 16);
  bad.weight = 0;
  EXPECT_THAT(h.sched().SetTenants({BlocksTenant("A", 0, 16), bad}, &cancelled),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tenant 'B'"), HasSubstr("weight: 0"))));
  EXPECT_THAT(
      h.sched().SetTenants(
          {BlocksTenant("A", 10, 16), BlocksTenant("B", 10, 16)}, &cancelled),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("B")));
  EXPECT_THAT(
      h.sched().SetTenants({}, &cancelled),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least one")));
  EXPECT_EQ(h.sched().FindTenant("B"), -1);
  ASSERT_OK(h.Submit("a", "A", 4, 1));
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, FloorsHoldUnderAFloodFromAnotherTenant) {
  // 32 blocks; A keeps a floor of 8.
  SchedHarness h(Opts(32, 64, 16),
                 {BlocksTenant("A", 8, 16), BlocksTenant("B", 0, 32)});
  for (int i = 0; i < 20; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("b", i), "B", 16, 20));
  }
  for (int step = 0; step < 10; ++step) {
    h.Step();
    ASSERT_LE(h.used_blocks("B"), 24) << "step " << step;
  }
  // A's request (up to 6 blocks) starts at the next step and is never
  // preempted, while B keeps preempting its own requests.
  ASSERT_OK(h.Submit("a", "A", 16, 8));
  h.Step();
  EXPECT_TRUE(h.seq("a").started);
  int steps = 0;
  while (h.seq("a").status != SeqStatus::kFinished && steps++ < 100) {
    h.Step();
    ASSERT_LE(h.used_blocks("B"), 24);
  }
  EXPECT_EQ(h.reason("a"), FinishReason::kLength);
  EXPECT_EQ(h.seq("a").preemptions, 0);
  EXPECT_GT(h.sched().total_preemptions(), 0);
  h.RunUntilIdle();
  h.ExpectAllBlocksFree();
}

// Runs two flooding tenants for `steps` steps; returns B's served tokens
// over A's.
double ServedRatio(SchedHarness& h, int steps) {
  for (int i = 0; i < steps; ++i) h.Step();
  return static_cast<double>(h.served("B")) / h.served("A");
}

TEST(SchedulerTest, FairShareFollowsWeightsWhenSlotsAreScarce) {
  SchedHarness h(Opts(1024, 64, 6), {BlocksTenant("A", 0, 512, 1.0),
                                     BlocksTenant("B", 0, 512, 2.0)});
  // Enough work that neither runs out during the measurement.
  for (int i = 0; i < 300; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("a", i), "A", 4, 12));
    ASSERT_OK(h.Submit(absl::StrCat("b", i), "B", 4, 12));
  }
  const double ratio = ServedRatio(h, 400);
  EXPECT_GT(h.served("A"), 700);
  EXPECT_NEAR(ratio, 2.0, 0.2)
      << "A " << h.served("A") << " B " << h.served("B");
  for (int i = 0; i < 300; ++i) {
    h.Cancel(absl::StrCat("a", i));
    h.Cancel(absl::StrCat("b", i));
  }
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, FairShareFollowsWeightsWhenTokensAreScarce) {
  SchedHarness h(Opts(1024, 16, 64), {BlocksTenant("A", 0, 512, 1.0),
                                      BlocksTenant("B", 0, 512, 2.0)});
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("a", i), "A", 40, 1));
    ASSERT_OK(h.Submit(absl::StrCat("b", i), "B", 40, 1));
  }
  const double ratio = ServedRatio(h, 300);
  EXPECT_GT(h.served("A"), 1000);
  EXPECT_NEAR(ratio, 2.0, 0.2)
      << "A " << h.served("A") << " B " << h.served("B");
  for (int i = 0; i < 200; ++i) {
    h.Cancel(absl::StrCat("a", i));
    h.Cancel(absl::StrCat("b", i));
  }
  h.ExpectAllBlocksFree();
}

// A reload that changes the weights (SetTenants) moves the service ratio of
// tenants already under contention: 1:1 before, 3:1 after.
TEST(SchedulerTest, ReloadedWeightsMoveTheServiceRatio) {
  SchedHarness h(Opts(1024, 16, 64), {BlocksTenant("A", 0, 512, 1.0),
                                      BlocksTenant("B", 0, 512, 1.0)});
  for (int i = 0; i < 400; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("a", i), "A", 40, 1));
    ASSERT_OK(h.Submit(absl::StrCat("b", i), "B", 40, 1));
  }
  EXPECT_NEAR(ServedRatio(h, 200), 1.0, 0.1)
      << "A " << h.served("A") << " B " << h.served("B");
  std::vector<FinishedSeq> cancelled;
  ASSERT_OK(h.sched().SetTenants(
      {BlocksTenant("A", 0, 512, 1.0), BlocksTenant("B", 0, 512, 3.0)},
      &cancelled));
  EXPECT_TRUE(cancelled.empty());
  const int64_t a0 = h.served("A");
  const int64_t b0 = h.served("B");
  for (int i = 0; i < 300; ++i) h.Step();
  const int64_t a = h.served("A") - a0;
  const int64_t b = h.served("B") - b0;
  ASSERT_GT(a, 500);
  EXPECT_NEAR(static_cast<double>(b) / a, 3.0, 0.3) << "A " << a << " B " << b;
  for (int i = 0; i < 400; ++i) {
    h.Cancel(absl::StrCat("a", i));
    h.Cancel(absl::StrCat("b", i));
  }
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, IdleTimeIsNotBanked) {
  SchedHarness h(Opts(1024, 64, 6), {BlocksTenant("A", 0, 512, 1.0),
                                     BlocksTenant("B", 0, 512, 1.0)});
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("a", i), "A", 4, 12));
  }
  for (int i = 0; i < 200; ++i) h.Step();  // B is idle meanwhile
  const int64_t a0 = h.served("A");
  for (int i = 0; i < 200; ++i) {
    ASSERT_OK(h.Submit(absl::StrCat("b", i), "B", 4, 12));
  }
  for (int i = 0; i < 300; ++i) h.Step();
  // From B's arrival on, the two share equally: B does not get A's past
  // service back as credit.
  const double ratio =
      static_cast<double>(h.served("B")) / (h.served("A") - a0);
  EXPECT_NEAR(ratio, 1.0, 0.1)
      << "A " << h.served("A") - a0 << " B " << h.served("B");
  for (int i = 0; i < 200; ++i) {
    h.Cancel(absl::StrCat("a", i));
    h.Cancel(absl::StrCat("b", i));
  }
  h.ExpectAllBlocksFree();
}

TEST(SchedulerTest, CreateValidates) {
  FakeClock clock;
  kvcache::KvCacheManager::Options kvo;
  kvo.layout = testing::HarnessLayout(4);
  kvo.capacity_bytes = kvo.layout.BlockBytes() * 8;
  auto kv = kvcache::KvCacheManager::Create(
      kvo, ToKvBudgets({BlocksTenant("t", 0, 8)}));
  ASSERT_OK(kv);
  Scheduler::Options o;
  o.clock = &clock;
  o.max_batch_tokens = 0;
  EXPECT_THAT(
      Scheduler::Create(o, kv->get(), nullptr, {BlocksTenant("t", 0, 8)}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("max_batch_tokens 0")));
  o.max_batch_tokens = 8;
  o.max_running = 0;
  EXPECT_THAT(
      Scheduler::Create(o, kv->get(), nullptr, {BlocksTenant("t", 0, 8)}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("max_running 0")));
  o.max_running = 4;
  TenantConfig dup = BlocksTenant("t", 0, 8);
  EXPECT_THAT(Scheduler::Create(o, kv->get(), nullptr, {dup, dup}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("duplicate tenant name")));
  EXPECT_THAT(Scheduler::Create(o, kv->get(), nullptr, {dup}), IsOk());
}

}  // namespace
}  // namespace kvasir::engine::sched
