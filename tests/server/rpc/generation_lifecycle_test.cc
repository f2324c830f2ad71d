// kvasir.v1.Generation calls that end early: deadlines, client cancels,
// a model still loading, and the drain of a shutdown, on a real gRPC server
// in front of the real engine (on the deterministic FakeRunner).
#include <memory>
#include <string>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/rpc/generation_test_util.h"
#include "tests/server/test_server.h"
#include "tests/testing/captured_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::CapturedLog;
using ::kvasir::testing::WaitUntil;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST_F(GenerationTest, EngineDeadlineBecomesDeadlineExceeded) {
  std::unique_ptr<CapturedLog> log = CaptureLog();
  // The fixture's clock: the server's threads may still read it after the
  // test body returns, until server_ is destroyed.
  FakeClock& clock = clock_;
  TestServer::Options o;
  o.clock = &clock;
  o.start_paused = true;
  StartServer(o);
  std::thread advance([&] {
    // The request is in its first step; the engine's clock jumps past the
    // call's deadline meanwhile.
    server_->runner().WaitForStepsStarted(1);
    clock.Advance(absl::Minutes(2));
    server_->runner().Resume();
  });
  // The call's 60 s are spent on the engine's clock only: the server passed
  // the gRPC deadline to the engine on its clock.
  auto ctx = TestServer::Context(kAlphaKey, absl::Seconds(60));
  v1::GenerateResponse response;
  grpc::Status s =
      generation_->Generate(ctx.get(), TextRequest("a", 3), &response);
  advance.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(s.error_message(), HasSubstr("deadline passed"));
  EXPECT_THAT(FinishedLine(*log), AllOf(HasSubstr("finish_reason=deadline"),
                                        HasSubstr("generated_tokens=1 ")));
}

TEST_F(GenerationTest, ClientDeadlineFreesTheEngineRequest) {
  TestServer::Options o;
  o.start_paused = true;
  StartServer(o);
  auto ctx = TestServer::Context(kAlphaKey, absl::Milliseconds(300));
  v1::GenerateResponse response;
  grpc::Status s =
      generation_->Generate(ctx.get(), TextRequest("a", 200), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // Paced as in UnaryCancelBeforeAnyTokenReachesEngineCancel: the client
  // gives up on its clock, and the server's deadline and cancel can land a
  // few milliseconds after this Resume (seen under load: at full speed the
  // fake runner then finished all 200 tokens first).
  server_->runner().SetStepDelay(kSlow);
  server_->runner().Resume();
  EXPECT_TRUE(WaitUntil([&] { return EngineIdle(); }));
  EXPECT_LT(server_->TenantStats("alpha").sched.generated_tokens, 200);
}

TEST_F(GenerationTest, ClientCancelMidStreamReachesEngineCancel) {
  std::unique_ptr<CapturedLog> log = CaptureLog();
  TestServer::Options o;
  o.step_delay = kSlow;  // 200 tokens would take 10 s
  StartServer(o);
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("a", 200));
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));  // generating
  ctx->TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Only the engine's Cancel ends it early: it finishes as cancelled with
  // fewer tokens than asked for, and its blocks come back.
  const std::string line = FinishedLine(*log);
  EXPECT_THAT(line, AllOf(HasSubstr("status=CANCELLED"),
                          HasSubstr("finish_reason=cancelled")));
  EXPECT_GT(GeneratedTokens(line), 0);
  EXPECT_LT(GeneratedTokens(line), 200);
  EXPECT_TRUE(WaitUntil([&] { return EngineIdle(); }));
}

TEST_F(GenerationTest, UnaryCancelBeforeAnyTokenReachesEngineCancel) {
  std::unique_ptr<CapturedLog> log = CaptureLog();
  TestServer::Options o;
  o.start_paused = true;
  StartServer(o);
  auto ctx = TestServer::Context();
  std::thread canceller([&] {
    // In its first step, before any token.
    server_->runner().WaitForStepsStarted(1);
    ctx->TryCancel();
  });
  v1::GenerateResponse response;
  grpc::Status s =
      generation_->Generate(ctx.get(), TextRequest("a", 200), &response);
  canceller.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  server_->runner().SetStepDelay(kSlow);
  server_->runner().Resume();
  const std::string line = FinishedLine(*log);
  EXPECT_THAT(line, AllOf(HasSubstr("status=CANCELLED"),
                          HasSubstr("finish_reason=cancelled")));
  EXPECT_LT(GeneratedTokens(line), 200);
  EXPECT_TRUE(WaitUntil([&] { return EngineIdle(); }));
}

TEST_F(GenerationTest, UnavailableWhileLoading) {
  StartServer(EngineNotAttached());
  v1::GenerateResponse response;
  grpc::Status s = Generate(TextRequest("a", 1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(s.error_message(), HasSubstr("still loading"));
  server_->AttachEngine();
  EXPECT_TRUE(Generate(TextRequest("a", 1), &response).ok());
}

// A sink for submitting to the engine directly.
class NullSink final : public engine::RequestSink {
 public:
  void OnTokens(absl::Span<const engine::GeneratedToken>,
                absl::string_view) override {}
  void OnFinish(const engine::FinishInfo&) override {}
};

TEST_F(GenerationTest, DrainLetsRunningRequestsFinishAndRefusesNewOnes) {
  TestServer::Options o;
  o.start_paused = true;
  StartServer(o);
  auto ctx = TestServer::Context();
  v1::GenerateRequest request = TextRequest("a", 60);
  request.mutable_response()->set_token_ids(true);
  auto reader = generation_->GenerateStream(ctx.get(), request);
  server_->runner().WaitForStepsStarted(1);  // running: in its first step
  std::thread shutdown([&] { server_->server().Shutdown(); });
  ASSERT_TRUE(WaitUntil([&] { return server_->server().draining(); }));
  v1::GenerateResponse refused;
  grpc::Status s = Generate(TextRequest("a", 1), &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  server_->runner().Resume();
  v1::GenerateResponse m;
  int tokens = 0;
  while (reader->Read(&m)) tokens += m.token_ids_size();
  grpc::Status stream_status = reader->Finish();
  shutdown.join();
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();
  EXPECT_EQ(tokens, 60);
  // The server shut the engine down after the drain.
  engine::Request r;
  r.tenant = "alpha";
  r.prompt = TextPromptIds("a");
  EXPECT_THAT(server_->engine().Submit(r, std::make_shared<NullSink>()),
              testing::StatusIs(absl::StatusCode::kUnavailable,
                                HasSubstr("shutting down")));
}

// The server stops (Shutdown returns) before the client reads anything: the
// stream that finished in the drain still arrives whole, with its status.
TEST_F(GenerationTest, AStreamDrainedBeforeItsClientReadsArrivesWhole) {
  TestServer::Options o;
  o.start_paused = true;
  StartServer(o);
  auto ctx = TestServer::Context();
  v1::GenerateRequest request = TextRequest("a", 250);
  request.mutable_response()->set_token_ids(true);
  auto reader = generation_->GenerateStream(ctx.get(), request);
  server_->runner().WaitForStepsStarted(1);
  std::thread shutdown([&] { server_->server().Shutdown(); });
  ASSERT_TRUE(WaitUntil([&] { return server_->server().draining(); }));
  server_->runner().Resume();
  shutdown.join();
  v1::GenerateResponse m;
  int tokens = 0;
  while (reader->Read(&m)) tokens += m.token_ids_size();
  const grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
  EXPECT_EQ(tokens, 250);
}

TEST_F(GenerationTest, DrainTimeoutEndsRunningCallsWithUnavailable) {
  CapturedLog log(std::make_unique<spdlog::pattern_formatter>("%v"));
  TestServer::Options o;
  o.yaml =
      ReplaceOnce(TestConfigYaml(), "drain_timeout: 20s", "drain_timeout: 0s");
  o.step_delay = kSlow;  // 200 tokens take 10 s: none finishes by itself
  StartServer(o);
  grpc::Status unary;
  std::thread call([&] {
    v1::GenerateResponse response;
    unary = Generate(TextRequest("a", 200), &response);
  });
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("b", 200));
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->TenantStats("alpha").sched.running == 2; }));
  server_->server().Shutdown();
  v1::GenerateResponse m;
  while (reader->Read(&m)) {
  }
  const grpc::Status stream = reader->Finish();
  call.join();
  // The client may retry elsewhere: UNAVAILABLE, saying why.
  for (const grpc::Status& s : {unary, stream}) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_THAT(s.error_message(),
                AllOf(HasSubstr("the server is shutting down"),
                      HasSubstr("drain timeout (server.drain_timeout 0)"),
                      HasSubstr("retry on another replica")));
  }
  // The engine's drain ended both, and said so.
  int cancelled = 0;
  for (const std::string& line : log.lines()) {
    if (line.find("request finished:") == std::string::npos) continue;
    EXPECT_THAT(line, AllOf(HasSubstr("status=UNAVAILABLE"),
                            HasSubstr("finish_reason=drain_timeout")));
    EXPECT_LT(GeneratedTokens(line), 200);
    ++cancelled;
  }
  EXPECT_EQ(cancelled, 2);
}

TEST_F(GenerationTest, ClientCancelWhileDrainingStaysCancelled) {
  std::unique_ptr<CapturedLog> log = CaptureLog();
  TestServer::Options o;
  // The drain (20 s) would wait for the request: 200 tokens take 40 s.
  o.step_delay = absl::Milliseconds(200);
  StartServer(o);
  auto ctx = TestServer::Context();
  grpc::Status unary;
  std::thread call([&] {
    v1::GenerateResponse response;
    unary = generation_->Generate(ctx.get(), TextRequest("a", 200), &response);
  });
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->TenantStats("alpha").sched.running == 1; }));
  std::thread shutdown([&] { server_->server().Shutdown(); });
  ASSERT_TRUE(WaitUntil([&] { return server_->server().draining(); }));
  ctx->TryCancel();
  call.join();
  shutdown.join();
  EXPECT_EQ(unary.error_code(), grpc::StatusCode::CANCELLED);
  // The server forwarded the client's cancel (the drain did not time out),
  // and it counts as the client's cancel, not as the shutdown's.
  const std::string line = FinishedLine(*log);
  EXPECT_THAT(line, AllOf(HasSubstr("request finished: method=Generate"),
                          HasSubstr("status=CANCELLED"),
                          HasSubstr("finish_reason=cancelled"),
                          HasSubstr("error=\"the call was cancelled")));
  EXPECT_LT(GeneratedTokens(line), 200);
}

}  // namespace
}  // namespace kvasir::server
