// Engine::Submit's refusals on the FakeRunner: invalid requests name their
// field, a tenant's limit and the queues refuse with their numbers, and
// fill_room sizes a request to what fits.
#include <memory>
#include <string>

#include "common/field_error.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/engine/engine_test_fixture.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::engine {
namespace {

using ::kvasir::engine::engine_test::DefaultOptions;
using ::kvasir::engine::engine_test::EngineTest;
using ::kvasir::engine::engine_test::Tenant;
using ::kvasir::testing::FakeRunner;
using ::kvasir::testing::RecordingSink;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST_F(EngineTest, SubmitErrorsNameTheFieldAndNeverCallTheSink) {
  Engine::Options o = DefaultOptions();
  TenantConfig small = Tenant("small", 0, 4);  // 64 tokens
  FakeRunner::Options ro;
  ro.context_length = 128;
  Start(o, {Tenant("t"), small}, ro);
  auto sink = std::make_shared<RecordingSink>();
  // Every refusal names its field (invalid requests) and says its reason.
  auto expect_error = [&](Request r, absl::StatusCode code,
                          const std::string& text, Refusal refusal,
                          const std::string& field = "") {
    const absl::StatusOr<RequestId> id = engine_->Submit(std::move(r), sink);
    EXPECT_THAT(id, StatusIs(code, HasSubstr(text)));
    EXPECT_EQ(RefusalOf(id.status()), refusal) << id.status();
    EXPECT_EQ(FieldOf(id.status()).value_or(""), field) << id.status();
  };
  const Refusal kInvalid = Refusal::kInvalidRequest;
  Request r = Req("hi", 4);
  r.prompt.clear();
  expect_error(r, absl::StatusCode::kInvalidArgument, "prompt: is empty",
               kInvalid, "prompt");
  r = Req("hi", 4);
  r.prompt[1] = 300;
  expect_error(r, absl::StatusCode::kInvalidArgument,
               "prompt[1]: 300 is outside the vocabulary [0, 300)", kInvalid,
               "prompt[1]");
  r = Req("hi", 4);
  r.prompt.assign(128, 1);  // the whole context: no room for a new token
  expect_error(r, absl::StatusCode::kInvalidArgument, "prompt: has 128 tokens",
               Refusal::kPromptTooLong, "prompt");
  r = Req("hi", 0);
  expect_error(r, absl::StatusCode::kInvalidArgument,
               "stopping.max_new_tokens: 0 must be >= 1", kInvalid,
               "stopping.max_new_tokens");
  r = Req("hi", 126);
  expect_error(r, absl::StatusCode::kInvalidArgument,
               "126 plus the prompt's 3 tokens (129) exceeds the model's "
               "context length 128",
               kInvalid, "stopping.max_new_tokens");
  r = Req("hi", 4);
  r.sampling.temperature = -1;
  expect_error(r, absl::StatusCode::kInvalidArgument, "temperature: -1",
               kInvalid, "sampling.temperature");
  r = Req("hi", 4);
  r.sampling.top_p = 0;
  expect_error(r, absl::StatusCode::kInvalidArgument, "top_p: 0", kInvalid,
               "sampling.top_p");
  r = Req("hi", 4);
  r.top_logprobs = 21;
  expect_error(r, absl::StatusCode::kInvalidArgument, "top_logprobs: 21",
               kInvalid, "top_logprobs");
  r = Req("hi", 4);
  r.stopping.stop = {"ok", ""};
  expect_error(r, absl::StatusCode::kInvalidArgument, "stop[1]: is empty",
               kInvalid, "stopping.stop[1]");
  r = Req("hi", 4);
  r.request_id = "a\tb";
  expect_error(r, absl::StatusCode::kInvalidArgument, "non-printable", kInvalid,
               "request_id");
  r = Req("hi", 4, "nobody");
  expect_error(r, absl::StatusCode::kNotFound, "unknown tenant 'nobody'",
               Refusal::kUnknownTenant);
  r = Req(std::string(60, 'a'), 10, "small");
  expect_error(r, absl::StatusCode::kResourceExhausted,
               "needs 70 tokens of KV cache", Refusal::kNeverFits);
  EXPECT_THAT(engine_->Submit(Req("hi", 4), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("sink")));
  EXPECT_EQ(sink->calls(), 0);
  // A good one still goes through.
  Run(Req("hi", 4));
}

// fill_room without max_new_tokens (OpenAI's max_tokens left out): as many
// tokens as the tenant's limit holds after the prompt instead of a refusal,
// or the context's room when that is less.
TEST_F(EngineTest, FillRoomStopsAtWhatTheTenantsLimitHolds) {
  FakeRunner::Options ro;
  ro.context_length = 128;
  Start(DefaultOptions(), {Tenant("t"), Tenant("small", 0, 4)}, ro);
  Request r = Req(std::string(60, 'a'), 1, "small");  // 61 prompt tokens
  r.stopping.max_new_tokens.reset();
  r.stopping.fill_room = true;
  r.stopping.ignore_eos = true;
  auto sink = Run(r);
  EXPECT_EQ(sink->info().reason, FinishReason::kLength);
  EXPECT_EQ(sink->info().generated_tokens, 4);  // 61 + 4 - 1 = 64 tokens
  r.tenant = "t";  // 4096 tokens: the context is less
  sink = Run(r);
  EXPECT_EQ(sink->info().reason, FinishReason::kLength);
  EXPECT_EQ(sink->info().generated_tokens, 128 - 61);
  // A prompt that alone does not fit is refused, counting the prompt only.
  r = Req(std::string(70, 'a'), 1, "small");
  r.stopping.max_new_tokens.reset();
  r.stopping.fill_room = true;
  const absl::StatusOr<RequestId> id =
      engine_->Submit(r, std::make_shared<RecordingSink>());
  EXPECT_THAT(id, StatusIs(absl::StatusCode::kResourceExhausted,
                           AllOf(HasSubstr("needs 71 tokens"),
                                 HasSubstr("can hold at most 64 tokens"))));
  EXPECT_EQ(RefusalOf(id.status()), Refusal::kNeverFits);
}

TEST_F(EngineTest, QueueFullIsResourceExhaustedNamingTheQueue) {
  Engine::Options o = DefaultOptions();
  o.max_queued = 3;
  TenantConfig t = Tenant("t");
  t.max_queued = 2;
  Start(o, {t, Tenant("u")});
  runner_->Pause();
  auto first = Submit(Req("a", 50));
  runner_->WaitForStepsStarted(1);  // `first` runs; the queue is empty
  auto q1 = Submit(Req("b", 2));
  auto q2 = Submit(Req("c", 2));
  auto sink = std::make_shared<RecordingSink>();
  const absl::StatusOr<RequestId> tenant_full =
      engine_->Submit(Req("d", 2), sink);
  EXPECT_THAT(tenant_full, StatusIs(absl::StatusCode::kResourceExhausted,
                                    HasSubstr("tenant 't' queue is full")));
  EXPECT_EQ(RefusalOf(tenant_full.status()), Refusal::kTenantQueueFull);
  auto q3 = Submit(Req("e", 2, "u"));
  const absl::StatusOr<RequestId> all_full =
      engine_->Submit(Req("f", 2, "u"), sink);
  EXPECT_THAT(all_full, StatusIs(absl::StatusCode::kResourceExhausted,
                                 HasSubstr("global queue is full")));
  EXPECT_EQ(RefusalOf(all_full.status()), Refusal::kQueueFull);
  EXPECT_EQ(sink->calls(), 0);
  runner_->Resume();
  for (auto& s : {first, q1, q2, q3}) {
    ASSERT_TRUE(s->WaitForFinish());
    EXPECT_EQ(s->info().reason, FinishReason::kLength);
  }
}

}  // namespace
}  // namespace kvasir::engine
