// Every status code of the generation API, provoked against the real
// `kvasir serve` process (stories260K.gguf, the two-tenant config) through
// both Generate and GenerateStream: UNAUTHENTICATED, INVALID_ARGUMENT,
// RESOURCE_EXHAUSTED (queue full; could never fit), DEADLINE_EXCEEDED,
// CANCELLED and UNAVAILABLE (draining).
#include <signal.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/live_server.h"

namespace kvasir::integration {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Tokens of the long generations: about a second of work in the Release
// build (several in ASan), far longer than any step of a test takes.
constexpr int32_t kLong = 2000;

class StatusCodesTest : public ::testing::Test {
 protected:
  void Start(const ConfigSpec& spec = TwoTenantConfig()) {
    absl::StatusOr<std::unique_ptr<LiveServer>> s = LiveServer::Start(spec);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = *std::move(s);
    stub_ = server_->Generation();
  }

  // Both RPCs with the same request and key; both must fail alike.
  void ExpectBoth(const std::string& key, const v1::GenerateRequest& request,
                  grpc::StatusCode code,
                  const ::testing::Matcher<std::string>& message) {
    const Outcome unary = RunUnary(*stub_, key, request);
    EXPECT_EQ(unary.status.error_code(), code)
        << "Generate: " << unary.status.error_message();
    EXPECT_THAT(unary.status.error_message(), message) << "Generate";
    const Outcome stream = RunStream(*stub_, key, request);
    EXPECT_EQ(stream.status.error_code(), code)
        << "GenerateStream: " << stream.status.error_message();
    EXPECT_THAT(stream.status.error_message(), message) << "GenerateStream";
    EXPECT_TRUE(stream.ids.empty());
  }

  v1::TenantStats Tenant(const std::string& name) {
    absl::StatusOr<v1::GetStatsResponse> s = server_->Stats();
    return s.ok() ? FindTenant(*s, name) : v1::TenantStats();
  }

  // The tenant holds no KV block and runs nothing; every block is free or
  // cached (reclaimable).
  bool Idle(const std::string& tenant) {
    absl::StatusOr<v1::GetStatsResponse> s = server_->Stats();
    if (!s.ok()) return false;
    const v1::TenantStats t = FindTenant(*s, tenant);
    return t.running() == 0 && t.queued() == 0 && t.kv_used_blocks() == 0 &&
           s->free_blocks() + s->cached_blocks() == s->total_blocks();
  }

  std::unique_ptr<LiveServer> server_;
  std::unique_ptr<v1::Generation::Stub> stub_;
};

TEST_F(StatusCodesTest, UnauthenticatedWithoutAKeyOrWithAnUnknownKey) {
  Start();  // no default tenant
  const v1::GenerateRequest r = TextRequest("Once upon a time", 4);
  ExpectBoth(
      "", r, grpc::StatusCode::UNAUTHENTICATED,
      AllOf(HasSubstr("missing API key"), HasSubstr("no default tenant")));
  ExpectBoth("not-a-configured-key", r, grpc::StatusCode::UNAUTHENTICATED,
             HasSubstr("unknown API key"));
  // The keys that are configured work.
  EXPECT_TRUE(RunUnary(*stub_, kAlphaKey, r).status.ok());
  EXPECT_TRUE(RunUnary(*stub_, kBetaKey, r).status.ok());
  // Admin needs the admin key.
  auto ctx = Context(kAlphaKey);
  v1::GetStatsResponse stats;
  EXPECT_EQ(server_->Admin()
                ->GetStats(ctx.get(), v1::GetStatsRequest(), &stats)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ctx = Context("");
  EXPECT_EQ(server_->Admin()
                ->GetStats(ctx.get(), v1::GetStatsRequest(), &stats)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(StatusCodesTest, InvalidArgumentNamesTheFieldTheValueAndTheLimit) {
  Start();
  struct Case {
    std::string what;
    v1::GenerateRequest request;
    std::vector<std::string> message_parts;
  };
  std::vector<Case> cases;
  {
    Case c{"zero max_new_tokens", TextRequest("Once", 0), {}};
    c.message_parts = {"stopping.max_new_tokens", "0", ">= 1"};
    cases.push_back(c);
  }
  {
    // stories260K's GGUF declares a 2048-token context.
    Case c{"over the context", TextRequest("Once upon a time", 5000), {}};
    c.message_parts = {"stopping.max_new_tokens", "5000", "2048"};
    cases.push_back(c);
  }
  {
    Case c{"token outside the vocabulary", TextRequest("", 4), {}};
    c.request.mutable_token_ids()->add_ids(1);
    c.request.mutable_token_ids()->add_ids(600);
    c.message_parts = {"token_ids.ids[1]", "600", "512"};
    cases.push_back(c);
  }
  {
    Case c{"negative temperature", TextRequest("Once", 4), {}};
    c.request.mutable_sampling()->set_temperature(-1);
    c.message_parts = {"sampling.temperature", "-1", ">= 0"};
    cases.push_back(c);
  }
  {
    Case c{"top_p above 1", TextRequest("Once", 4), {}};
    c.request.mutable_sampling()->set_top_p(1.5f);
    c.message_parts = {"sampling.top_p", "1.5", "(0, 1]"};
    cases.push_back(c);
  }
  {
    Case c{"too many top_logprobs", TextRequest("Once", 4), {}};
    c.request.mutable_response()->set_top_logprobs(50);
    c.message_parts = {"response.top_logprobs", "50", "20"};
    cases.push_back(c);
  }
  {
    Case c{"no prompt", TextRequest("Once", 4), {}};
    c.request.clear_prompt();
    c.message_parts = {"prompt", "missing"};
    cases.push_back(c);
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    std::vector<::testing::Matcher<std::string>> parts;
    for (const std::string& p : c.message_parts) parts.push_back(HasSubstr(p));
    ExpectBoth(kAlphaKey, c.request, grpc::StatusCode::INVALID_ARGUMENT,
               ::testing::AllOfArray(parts));
  }
  // Nothing of that reached the engine.
  EXPECT_EQ(Tenant("alpha").tokens_served(), 0);
}

TEST_F(StatusCodesTest, ResourceExhaustedWhenTheTenantQueueIsFull) {
  ConfigSpec spec = TwoTenantConfig();
  spec.tenants[1].limit = "";  // beta may hold the long generations
  spec.tenants[1].max_concurrent = 1;
  spec.tenants[1].max_queued = 1;
  Start(spec);
  // One running, one waiting behind it: the queue of one is full.
  OpenStream running(*stub_, kBetaKey, TextRequest("Once upon a time", kLong));
  ASSERT_TRUE(WaitUntil([&] { return Tenant("beta").running() == 1; }));
  OpenStream queued(*stub_, kBetaKey, TextRequest("The little dog", kLong));
  ASSERT_TRUE(WaitUntil([&] { return Tenant("beta").queued() == 1; }));
  ExpectBoth(kBetaKey, TextRequest("One day", 4),
             grpc::StatusCode::RESOURCE_EXHAUSTED,
             AllOf(HasSubstr("tenant 'beta' queue is full"),
                   HasSubstr("max_queued 1")));
  // The other tenant's queue is its own.
  const Outcome alpha = RunUnary(*stub_, kAlphaKey, TextRequest("One day", 4));
  EXPECT_TRUE(alpha.status.ok()) << alpha.status.error_message();
  EXPECT_EQ(alpha.ids.size(), 4u);
  // Both long calls were running/waiting the whole time.
  running.Cancel();
  queued.Cancel();
  EXPECT_EQ(running.Finish().status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(queued.Finish().status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitUntil([&] { return Idle("beta"); }));
}

TEST_F(StatusCodesTest, ResourceExhaustedWhenTheRequestCouldNeverFit) {
  Start();
  // beta's limit is 48 blocks of 16 tokens: 768 tokens. A request needs
  // prompt + max_new_tokens - 1 of them; "Once upon a time" is 5 tokens.
  ExpectBoth(kBetaKey, TextRequest("Once upon a time", 800),
             grpc::StatusCode::RESOURCE_EXHAUSTED,
             AllOf(HasSubstr("needs 804 tokens of KV cache"),
                   HasSubstr("tenant 'beta' can hold at most 768 tokens"),
                   HasSubstr("could never run")));
  // Exactly at the limit it runs to the end.
  const Outcome fits =
      RunStream(*stub_, kBetaKey, TextRequest("Once upon a time", 764));
  ASSERT_TRUE(fits.status.ok()) << fits.status.error_message();
  EXPECT_EQ(fits.ids.size(), 764u);
  // The same request is fine for alpha, whose limit is the whole cache.
  EXPECT_TRUE(RunUnary(*stub_, kAlphaKey, TextRequest("Once upon a time", 800))
                  .status.ok());
}

TEST_F(StatusCodesTest, DeadlineExceededStopsTheGenerationInTheServer) {
  Start();
  const v1::GenerateRequest r = TextRequest("Once upon a time", kLong);
  const Outcome unary =
      RunUnary(*stub_, kAlphaKey, r, /*timeout=*/absl::Milliseconds(200));
  EXPECT_EQ(unary.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << unary.status.error_message();
  const Outcome stream =
      RunStream(*stub_, kAlphaKey, r, /*timeout=*/absl::Milliseconds(200));
  EXPECT_EQ(stream.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << stream.status.error_message();
  EXPECT_LT(stream.ids.size(), static_cast<size_t>(kLong));
  // The server stopped both early and gave their blocks back.
  ASSERT_TRUE(WaitUntil([&] { return Idle("alpha"); }));
  EXPECT_LT(Tenant("alpha").generated_tokens(), 2 * kLong);
}

TEST_F(StatusCodesTest, CancelledWhenTheClientCancels) {
  Start();
  // A stream cancelled after its first message.
  OpenStream stream(*stub_, kAlphaKey, TextRequest("Once upon a time", kLong));
  ASSERT_TRUE(stream.ReadOne());
  stream.Cancel();
  const Outcome& out = stream.Finish();
  EXPECT_EQ(out.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(out.ids.size(), static_cast<size_t>(kLong));
  ASSERT_TRUE(WaitUntil([&] { return Idle("alpha"); }));

  // A unary call cancelled while it runs.
  auto ctx = Context(kAlphaKey);
  grpc::Status unary;
  std::thread call([&] {
    v1::GenerateResponse response;
    unary = stub_->Generate(ctx.get(), TextRequest("The little dog", kLong),
                            &response);
  });
  ASSERT_TRUE(WaitUntil([&] { return Tenant("alpha").running() == 1; }));
  ctx->TryCancel();
  call.join();
  EXPECT_EQ(unary.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitUntil([&] { return Idle("alpha"); }));
  EXPECT_LT(Tenant("alpha").generated_tokens(), 2 * kLong);
}

TEST_F(StatusCodesTest, UnavailableWhileDraining) {
  Start();
  OpenStream running(*stub_, kAlphaKey, TextRequest("Once upon a time", kLong));
  ASSERT_TRUE(running.ReadOne());
  ASSERT_TRUE(server_->process().Signal(SIGTERM).ok());
  ASSERT_TRUE(WaitUntil([&] {
    auto h = server_->HealthStatus();
    return h.ok() && *h == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  }));
  ExpectBoth(kBetaKey, TextRequest("One day", 4), grpc::StatusCode::UNAVAILABLE,
             HasSubstr("the server is shutting down (draining)"));
  // The running stream was not dropped.
  const Outcome& out = running.Finish();
  EXPECT_TRUE(out.status.ok()) << out.status.error_message();
  EXPECT_EQ(out.ids.size(), static_cast<size_t>(kLong));
  absl::StatusOr<int> code = server_->process().Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->process().ReadLog();
}

TEST_F(StatusCodesTest, UnavailableWhenTheDrainTimeoutCutsRequestsShort) {
  ConfigSpec spec = TwoTenantConfig();
  spec.drain_timeout = "0s";
  spec.tenants[0].max_concurrent = 1;  // the second alpha call waits
  Start(spec);
  OpenStream running(*stub_, kAlphaKey, TextRequest("Once upon a time", kLong));
  ASSERT_TRUE(running.ReadOne());
  OpenStream queued(*stub_, kAlphaKey, TextRequest("The little dog", kLong));
  ASSERT_TRUE(WaitUntil([&] { return Tenant("alpha").queued() == 1; }));
  ASSERT_TRUE(server_->process().Signal(SIGTERM).ok());
  // Both were cut short by the server, not by their clients: they may be
  // retried on another replica.
  for (OpenStream* s : {&running, &queued}) {
    const Outcome& out = s->Finish();
    EXPECT_EQ(out.status.error_code(), grpc::StatusCode::UNAVAILABLE)
        << out.status.error_message();
    EXPECT_THAT(out.status.error_message(),
                AllOf(HasSubstr("the server is shutting down"),
                      HasSubstr("drain timeout (server.drain_timeout 0)")));
    EXPECT_LT(out.ids.size(), static_cast<size_t>(kLong));
  }
  absl::StatusOr<int> code = server_->process().Wait(absl::Seconds(120));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0) << server_->process().ReadLog();
  EXPECT_THAT(server_->process().ReadLog(), HasSubstr("status=UNAVAILABLE"));
}

}  // namespace
}  // namespace kvasir::integration
