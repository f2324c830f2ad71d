// The engine on the FakeRunner: output, stop sequences, cancellation,
// deadlines, shutdown, chunked prefill and preemption, prefix caching,
// tenant updates and stats (Submit's refusals: engine_admission_test.cc).
#include "engine/engine.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_fixture.h"
#include "tests/testing/fake_runner.h"
#include "tests/testing/recording_sink.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::engine_test::Bytes;
using ::kvasir::engine::engine_test::DefaultOptions;
using ::kvasir::engine::engine_test::EngineTest;
using ::kvasir::engine::engine_test::ExpectAllBlocksFree;
using ::kvasir::engine::engine_test::kBlockBytes;
using ::kvasir::engine::engine_test::Tenant;
using ::kvasir::testing::FakeRunner;
using ::kvasir::testing::RecordingSink;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST_F(EngineTest, SinkGetsTokensThenExactlyOneFinish) {
  Start();
  Request r = Req("hello", 10);
  const std::vector<int32_t> expected = FakeRunner::Generate(r.prompt, 10);
  auto sink = Run(r);
  EXPECT_EQ(sink->token_ids(), expected);
  EXPECT_EQ(sink->text(), Bytes(expected));
  // One OnTokens per step, one finish.
  EXPECT_EQ(sink->deltas().size(), 10u);
  EXPECT_EQ(sink->calls(), 11);
  const FinishInfo info = sink->info();
  EXPECT_EQ(info.reason, FinishReason::kLength);
  EXPECT_TRUE(info.error.ok());
  EXPECT_EQ(info.prompt_tokens, 6);
  EXPECT_EQ(info.generated_tokens, 10);
  EXPECT_EQ(info.preemptions, 0);
}

TEST_F(EngineTest, EosEndsTheRequestUnlessIgnored) {
  Start();
  // The fake model counts down "210" and then says EOS.
  auto sink = Run(Req("x3", 10));
  EXPECT_EQ(sink->text(), "210");
  EXPECT_EQ(sink->token_ids().back(), 2);
  EXPECT_EQ(sink->info().reason, FinishReason::kEos);
  EXPECT_EQ(sink->info().generated_tokens, 4);

  Request r = Req("x3", 6);
  r.stopping.ignore_eos = true;
  auto sink2 = Run(r);
  EXPECT_EQ(sink2->info().reason, FinishReason::kLength);
  EXPECT_EQ(sink2->token_ids().size(), 6u);
  EXPECT_EQ(sink2->token_ids()[3], 2);  // EOS, then on
  EXPECT_EQ(sink2->text().substr(0, 3), "210");
}

TEST_F(EngineTest, StopSequenceHoldsBackTextThatMayStartIt) {
  Start();
  // "a5" -> "43210" EOS.
  Request r = Req("a5", 10);
  r.stopping.stop = {"21"};
  auto sink = Run(r);
  EXPECT_EQ(sink->info().reason, FinishReason::kStop);
  EXPECT_EQ(sink->text(), "43");
  // "2" is held back (it may start "21"); the match releases nothing more.
  EXPECT_THAT(sink->deltas(), ElementsAre("4", "3", "", ""));
  EXPECT_EQ(sink->info().generated_tokens, 4);

  r.stopping.include_stop = true;
  auto sink2 = Run(r);
  EXPECT_EQ(sink2->text(), "4321");
  EXPECT_THAT(sink2->deltas(), ElementsAre("4", "3", "", "21"));

  // A false start is released once it cannot be a stop sequence.
  r.stopping.include_stop = false;
  r.stopping.stop = {"2x", "nope"};
  auto sink3 = Run(r);
  EXPECT_EQ(sink3->info().reason, FinishReason::kEos);
  EXPECT_EQ(sink3->text(), "43210");
  EXPECT_THAT(sink3->deltas(), ElementsAre("4", "3", "", "21", "0", ""));
}

TEST_F(EngineTest, StopSequenceOnHashedText) {
  Start();
  Request r = Req("the quick brown fox", 12);
  const std::string full = Bytes(FakeRunner::Generate(r.prompt, 12));
  ASSERT_EQ(full.size(), 12u);
  // Stop at the first occurrence of the 3 letters at [5, 8).
  const std::string stop = full.substr(5, 3);
  const std::string expected = full.substr(0, full.find(stop));
  r.stopping.stop = {stop};
  auto sink = Run(r);
  EXPECT_EQ(sink->info().reason, FinishReason::kStop);
  EXPECT_EQ(sink->text(), expected);
}

TEST_F(EngineTest, TextIsUtf8Safe) {
  Start();
  // After '#' the model spells the euro sign one byte per token.
  auto sink = Run(Req("#", 4));
  EXPECT_THAT(sink->deltas(), ElementsAre("", "", "\xE2\x82\xAC", "!"));
  EXPECT_EQ(sink->text(), "\xE2\x82\xAC!");
}

TEST_F(EngineTest, IncompleteCharacterAtTheEndIsReplaced) {
  Start();
  auto sink = Run(Req("#", 2));  // E2 82, then the length limit
  EXPECT_EQ(sink->info().reason, FinishReason::kLength);
  EXPECT_EQ(sink->text(), "\xEF\xBF\xBD");  // U+FFFD
}

TEST_F(EngineTest, CancelFinishesAtTheNextStepAndFreesBlocks) {
  Start();
  runner_->Pause();
  auto sink = std::make_shared<RecordingSink>();
  auto id = engine_->Submit(Req("cancel me", 100), sink);
  ASSERT_OK(id);
  runner_->WaitForStepsStarted(1);
  engine_->Cancel(*id);
  engine_->Cancel(*id + 1000);  // unknown: ignored
  runner_->Resume();
  ASSERT_TRUE(sink->WaitForFinish());
  EXPECT_EQ(sink->info().reason, FinishReason::kCancelled);
  EXPECT_LT(sink->info().generated_tokens, 100);
  engine_->Cancel(*id);  // finished: ignored
  EXPECT_THAT(sink->violations(), IsEmpty());
  // Another request runs to the end meanwhile.
  EXPECT_EQ(Run(Req("next", 3))->info().reason, FinishReason::kLength);
}

TEST_F(EngineTest, DeadlinePassingWhileRunning) {
  Start();
  runner_->Pause();
  Request r = Req("slow", 100);
  r.deadline = clock_.Now() + absl::Seconds(1);
  auto sink = Submit(r);
  runner_->WaitForStepsStarted(1);
  clock_.Advance(absl::Seconds(2));
  runner_->Resume();
  ASSERT_TRUE(sink->WaitForFinish());
  EXPECT_EQ(sink->info().reason, FinishReason::kDeadline);
  EXPECT_EQ(sink->info().generated_tokens, 1);
  EXPECT_EQ(sink->info().total_time, absl::Seconds(2));
}

TEST_F(EngineTest, ACancelAfterTheDeadlineIsTheDeadline) {
  // gRPC cancels a call when its deadline passes, and the engine may see
  // that cancel before its own expiry: the request still ends `deadline`
  // (a cancel before the deadline: CancelFinishesAtTheNextStepAndFreesBlocks).
  Start();
  runner_->Pause();
  Request r = Req("late", 100);
  r.deadline = clock_.Now() + absl::Seconds(1);
  auto sink = std::make_shared<RecordingSink>();
  auto id = engine_->Submit(r, sink);
  ASSERT_OK(id);
  runner_->WaitForStepsStarted(1);
  clock_.Advance(absl::Seconds(2));
  engine_->Cancel(*id);
  runner_->Resume();
  ASSERT_TRUE(sink->WaitForFinish());
  EXPECT_EQ(sink->info().reason, FinishReason::kDeadline);
}

TEST_F(EngineTest, AlreadyExpiredRequestNeverRuns) {
  Start();
  Request r = Req("late", 5);
  r.deadline = clock_.Now() - absl::Seconds(1);
  auto sink = Run(r);
  EXPECT_EQ(sink->info().reason, FinishReason::kDeadline);
  EXPECT_EQ(sink->info().generated_tokens, 0);
  EXPECT_EQ(runner_->steps_started(), 0);
}

TEST_F(EngineTest, ModelStepFailureFailsThatStepsRequestsOnly) {
  Start();
  runner_->FailNextStep(absl::InternalError("boom"));
  auto sink = Run(Req("x", 5));
  EXPECT_EQ(sink->info().reason, FinishReason::kError);
  EXPECT_THAT(sink->info().error.message(), HasSubstr("boom"));
  EXPECT_EQ(Run(Req("y", 5))->info().reason, FinishReason::kLength);
}

TEST_F(EngineTest, ShutdownWithDrainFinishesEverything) {
  Start();
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < 8; ++i) {
    Request r = Req(absl::StrCat("request ", i, " go"), 20);
    expected.push_back(FakeRunner::Generate(r.prompt, 20));
    sinks.push_back(Submit(r));
  }
  engine_->Shutdown(absl::InfiniteDuration());
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(sinks[i]->finished());  // before Shutdown returned
    EXPECT_EQ(sinks[i]->info().reason, FinishReason::kLength);
    EXPECT_EQ(sinks[i]->token_ids(), expected[i]);
  }
  const absl::StatusOr<RequestId> late =
      engine_->Submit(Req("late", 2), std::make_shared<RecordingSink>());
  EXPECT_THAT(late, StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(RefusalOf(late.status()), Refusal::kShuttingDown);
  EXPECT_THAT(engine_->UpdateTenants({Tenant("t")}),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  ExpectAllBlocksFree(engine_->Stats());
}

TEST_F(EngineTest, ShutdownWithoutDrainCancelsWhatIsLeft) {
  StartEndless(/*max_running=*/1);
  auto running = Submit(Req("long", kEndless));
  runner_->WaitForStepsStarted(1);
  auto queued = Submit(Req("queued", 5));
  engine_->Shutdown(absl::ZeroDuration());
  ASSERT_TRUE(running->finished());
  ASSERT_TRUE(queued->finished());
  EXPECT_EQ(running->info().reason, FinishReason::kDrainTimeout);
  EXPECT_GE(running->info().generated_tokens, 1);
  EXPECT_EQ(queued->info().reason, FinishReason::kDrainTimeout);
  EXPECT_EQ(queued->info().generated_tokens, 0);
  EXPECT_THAT(running->violations(), IsEmpty());
  ExpectAllBlocksFree(engine_->Stats());
}

TEST_F(EngineTest, ChunkedPrefillAndPreemptionKeepEveryOutputExact) {
  Engine::Options o = DefaultOptions();
  o.max_batch_tokens = 24;                 // long prompts take several steps
  o.kv_capacity_bytes = 24 * kBlockBytes;  // 384 tokens: forces preemption
  FakeRunner::Options ro;
  ro.max_batch_tokens = 24;
  Start(o, {Tenant("t", 0, 24)}, ro);
  // All twelve must be in flight together, whatever the thread scheduling,
  // or the early ones could finish before the late ones need their blocks.
  runner_->Pause();
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<std::vector<int32_t>> expected;
  for (int i = 0; i < 12; ++i) {
    Request r = Req(absl::StrCat("prompt number ", i, " ",
                                 std::string(static_cast<size_t>(5 * i), 'z')),
                    40);
    expected.push_back(FakeRunner::Generate(r.prompt, 40));
    sinks.push_back(Submit(r));
  }
  runner_->Resume();
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(sinks[i]->WaitForFinish());
    EXPECT_EQ(sinks[i]->token_ids(), expected[i]) << "request " << i;
    EXPECT_THAT(sinks[i]->violations(), IsEmpty());
  }
  engine_->Shutdown(absl::InfiniteDuration());
  const EngineStats s = engine_->Stats();
  EXPECT_GT(s.preemptions, 0);
  EXPECT_LE(runner_->max_tokens_seen(), 24);
  EXPECT_GT(s.prefill_tokens, 0);
  EXPECT_GT(s.decode_step_tokens, 0);
  EXPECT_LE(s.decode_step_tokens, s.decode_tokens);
  ExpectAllBlocksFree(s);
}

TEST_F(EngineTest, SharedPrefixIsServedFromTheCache) {
  Start();
  const std::string system(40, 's');
  auto first = Run(Req(system + " one", 3));
  EXPECT_EQ(first->info().cached_prompt_tokens, 0);
  Request r = Req(system + " two", 3);
  const auto expected = FakeRunner::Generate(r.prompt, 3);
  auto second = Run(r);
  EXPECT_EQ(second->info().cached_prompt_tokens, 32);  // 2 full blocks
  EXPECT_EQ(second->token_ids(), expected);
  engine_->Shutdown(absl::InfiniteDuration());
  EXPECT_GT(engine_->Stats().kv.prefix_hit_rate, 0.0);
  EXPECT_EQ(engine_->Stats().tenants[0].kv.prefix_hit_tokens, 32);
  // The tenant's billed count is the sum of its requests' counts.
  EXPECT_EQ(engine_->Stats().tenants[0].sched.cached_prompt_tokens, 32);
}

TEST_F(EngineTest, LogprobsAndSeededSampling) {
  Start();
  Request r = Req("logprobs", 3);
  r.top_logprobs = 2;
  auto sink = Run(r);
  for (const GeneratedToken& t : sink->tokens()) {
    ASSERT_EQ(t.top.size(), 2u);
    EXPECT_EQ(t.top[0].token, t.token);  // greedy: the best one
    EXPECT_FLOAT_EQ(t.top[0].logprob, t.logprob);
    EXPECT_LT(t.logprob, 0.0f);
    EXPECT_GE(t.top[0].logprob, t.top[1].logprob);
  }
  Request s = Req("sampled", 16);
  s.sampling.temperature = 5.0f;  // flat enough that the seed matters
  s.sampling.seed = 42;
  EXPECT_EQ(Run(s)->token_ids(), Run(s)->token_ids());
}

TEST_F(EngineTest, UpdateTenantsAppliesBetweenSteps) {
  StartEndless(/*max_running=*/1, {Tenant("a", 0, 62500), Tenant("b", 0, 100)});
  // `long_a` holds the only running slot, so `queued` is still waiting
  // when the update lands.
  auto long_a = std::make_shared<RecordingSink>();
  auto long_id = engine_->Submit(Req("runs", kEndless, "a"), long_a);
  ASSERT_OK(long_id);
  auto queued = Submit(Req("waits", 5, "b"));
  // Invalid sets are refused on the caller's thread, changing nothing.
  TenantConfig bad = Tenant("a");
  bad.weight = -1;
  EXPECT_THAT(
      engine_->UpdateTenants({bad}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tenant 'a'"), HasSubstr("weight: -1"))));
  EXPECT_THAT(engine_->UpdateTenants({Tenant("a", 70000, 70000)}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'a'")));
  // Removing b ends its queued request, saying why.
  ASSERT_OK(engine_->UpdateTenants({Tenant("a", 0, 62500)}));
  ASSERT_TRUE(queued->WaitForFinish());
  EXPECT_EQ(queued->info().reason, FinishReason::kTenantRemoved);
  EXPECT_EQ(queued->info().generated_tokens, 0);
  const absl::StatusOr<RequestId> gone =
      engine_->Submit(Req("x", 2, "b"), std::make_shared<RecordingSink>());
  EXPECT_THAT(gone, StatusIs(absl::StatusCode::kNotFound, HasSubstr("'b'")));
  EXPECT_EQ(RefusalOf(gone.status()), Refusal::kUnknownTenant);
  const EngineStats s = engine_->Stats();
  ASSERT_EQ(s.tenants.size(), 1u);
  EXPECT_EQ(s.tenants[0].name, "a");
  engine_->Cancel(*long_id);
  ASSERT_TRUE(long_a->WaitForFinish());
  EXPECT_EQ(long_a->info().reason, FinishReason::kCancelled);
}

TEST_F(EngineTest, StatsDescribeTheCacheAndTenants) {
  Start(DefaultOptions(), {Tenant("t", 8, 128), Tenant("u")});
  Run(Req("some text", 5));
  engine_->Shutdown(absl::InfiniteDuration());
  const EngineStats s = engine_->Stats();
  EXPECT_EQ(s.kv.total_blocks, 256);
  EXPECT_EQ(s.kv.block_size, 16);
  EXPECT_EQ(s.kv.block_bytes, kBlockBytes);
  EXPECT_EQ(s.kv.bytes_per_token, 16);
  EXPECT_EQ(engine_->kv_capacity_blocks(), 256);
  EXPECT_EQ(s.steps, 5);
  EXPECT_EQ(s.prefill_tokens, 10);
  EXPECT_EQ(s.decode_tokens, 4);
  ASSERT_EQ(s.tenants.size(), 2u);
  EXPECT_EQ(s.tenants[0].name, "t");
  EXPECT_EQ(s.tenants[0].kv.reserved_blocks, 8);
  EXPECT_EQ(s.tenants[0].kv.limit_bytes, 128 * kBlockBytes);
  EXPECT_EQ(s.tenants[0].sched.prompt_tokens_served, 10);
  EXPECT_EQ(s.tenants[0].sched.generated_tokens, 5);
  EXPECT_EQ(s.tenants[1].name, "u");
  ExpectAllBlocksFree(s);
}

TEST(EngineCreateTest, ValidatesOptionsAndTenants) {
  auto make = [](Engine::Options o, std::vector<TenantConfig> tenants) {
    auto runner = FakeRunner::Create({});
    EXPECT_OK(runner);
    return Engine::Create(o, *std::move(runner), std::move(tenants));
  };
  Engine::Options o = DefaultOptions();
  o.max_batch_tokens = 0;
  EXPECT_THAT(make(o, {Tenant("t")}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_batch_tokens 0")));
  o = DefaultOptions();
  o.kv_capacity_bytes = 10;
  EXPECT_THAT(make(o, {Tenant("t")}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(
      make(DefaultOptions(), {}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("at least one")));
  EXPECT_THAT(make(DefaultOptions(), {Tenant("t", 200), Tenant("u", 200)}),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_THAT(
      Engine::Create(DefaultOptions(), nullptr, {Tenant("t")}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("runner")));
}

}  // namespace
}  // namespace kvasir::engine
