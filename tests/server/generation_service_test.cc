// kvasir.v1.Generation on a real gRPC server with the fake engine: outputs
// and every status code the API promises.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "spdlog/pattern_formatter.h"
#include "tests/server/test_server.h"
#include "tests/testing/ascii_tokenizer.h"
#include "tests/testing/captured_log.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::AsciiTokenizer;
using ::kvasir::testing::FakeEngine;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

int Tok(char c) { return AsciiTokenizer::TokenOf(c); }

class GenerationTest : public ServerTest {
 protected:
  grpc::Status Generate(const v1::GenerateRequest& request,
                        v1::GenerateResponse* response,
                        const std::string& key = kAlphaKey) {
    auto ctx = TestServer::Context(key);
    return generation_->Generate(ctx.get(), request, response);
  }
};

TEST_F(GenerationTest, UnaryReturnsTextTokensAndUsage) {
  StartServer();
  v1::GenerateRequest r = TextRequest("ab", 5);
  r.mutable_response()->set_token_ids(true);
  r.mutable_response()->set_prompt_token_ids(true);
  v1::GenerateResponse response;
  grpc::Status s = Generate(r, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.text(), "cdefg");
  EXPECT_THAT(response.token_ids(),
              ElementsAre(Tok('c'), Tok('d'), Tok('e'), Tok('f'), Tok('g')));
  EXPECT_THAT(response.prompt_token_ids(),
              ElementsAre(AsciiTokenizer::kBos, Tok(' '), Tok('a'), Tok('b')));
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(response.usage().prompt_tokens(), 4);
  EXPECT_EQ(response.usage().generated_tokens(), 5);
  EXPECT_THAT(response.request_id(), StartsWith("kv-"));
  // What reached the engine.
  const std::vector<engine::Request> sent = server_->engine().submitted();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].tenant, "alpha");
  EXPECT_EQ(sent[0].request_id, response.request_id());
  EXPECT_LT(sent[0].deadline, absl::InfiniteFuture());
}

TEST_F(GenerationTest, TokenIdPromptAndClientRequestId) {
  StartServer();
  v1::GenerateRequest r;
  r.set_request_id("my-id-7");
  r.mutable_token_ids()->add_ids(AsciiTokenizer::kBos);
  r.mutable_token_ids()->add_ids(Tok('x'));
  r.mutable_stopping()->set_max_new_tokens(2);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  EXPECT_EQ(response.text(), "yz");
  EXPECT_EQ(response.request_id(), "my-id-7");
  // token ids were not asked for.
  EXPECT_EQ(response.token_ids_size(), 0);
}

TEST_F(GenerationTest, StreamSendsTokensThenAFinalMessage) {
  StartServer();
  v1::GenerateRequest r = TextRequest("ab", 12);
  r.mutable_response()->set_token_ids(true);
  r.mutable_response()->set_prompt_token_ids(true);
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), r);
  std::vector<v1::GenerateResponse> messages;
  v1::GenerateResponse m;
  while (reader->Read(&m)) messages.push_back(m);
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(messages.empty());
  std::string text;
  int tokens = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    text += messages[i].text();
    tokens += messages[i].token_ids_size();
    EXPECT_EQ(messages[i].prompt_token_ids_size(), i == 0 ? 4 : 0);
    if (i + 1 < messages.size()) {
      EXPECT_EQ(messages[i].finish_reason(), v1::FINISH_REASON_UNSPECIFIED);
      EXPECT_FALSE(messages[i].has_usage());
    }
  }
  EXPECT_EQ(text, "cdefghijklmn");
  EXPECT_EQ(tokens, 12);
  EXPECT_EQ(messages.back().finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(messages.back().usage().generated_tokens(), 12);
  EXPECT_EQ(messages.back().usage().prompt_tokens(), 4);
  EXPECT_EQ(messages.back().request_id(), messages.front().request_id());
}

TEST_F(GenerationTest, StreamToASlowReaderLosesNothing) {
  TestServer::Options o;
  o.engine.tokens_per_step = 3;
  o.engine.step_interval = absl::Milliseconds(1);
  StartServer(o);
  v1::GenerateRequest r = TextRequest("a", 90);
  r.mutable_response()->set_token_ids(true);
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), r);
  v1::GenerateResponse m;
  std::vector<int> ids;
  std::string text;
  while (reader->Read(&m)) {
    ids.insert(ids.end(), m.token_ids().begin(), m.token_ids().end());
    text += m.text();
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(ids.size(), 90u);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i], (Tok('a') + 1 + static_cast<int>(i)) %
                          AsciiTokenizer::kVocabSize);
  }
  // The bytes of every non-control token, in order.
  std::string expected;
  for (int id : ids) {
    expected += std::string(AsciiTokenizer().TokenBytes(id));
  }
  EXPECT_EQ(text, expected);
}

TEST_F(GenerationTest, EosEndsTheRequest) {
  StartServer();
  v1::GenerateRequest r;
  r.mutable_token_ids()->add_ids(AsciiTokenizer::kBos);
  r.mutable_token_ids()->add_ids(129);  // then 130, 0, 1, 2 (EOS)
  r.mutable_stopping()->set_max_new_tokens(10);
  r.mutable_response()->set_token_ids(true);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_EOS);
  EXPECT_THAT(response.token_ids(), ElementsAre(130, 0, 1, 2));
}

TEST_F(GenerationTest, StopSequences) {
  StartServer();
  v1::GenerateRequest r = TextRequest("ab", 10);
  r.mutable_stopping()->add_stop_sequences("ef");
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  EXPECT_EQ(response.text(), "cd");
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_STOP);
  r.mutable_stopping()->set_include_stop_sequence(true);
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), r);
  std::string text;
  v1::GenerateResponse m;
  v1::FinishReason last = v1::FINISH_REASON_UNSPECIFIED;
  while (reader->Read(&m)) {
    text += m.text();
    last = m.finish_reason();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(text, "cdef");
  EXPECT_EQ(last, v1::FINISH_REASON_STOP);
}

TEST_F(GenerationTest, Logprobs) {
  StartServer();
  v1::GenerateRequest r = TextRequest("ab", 2);
  r.mutable_response()->set_top_logprobs(2);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  ASSERT_EQ(response.tokens_size(), 2);
  EXPECT_EQ(response.tokens(0).token_id(), Tok('c'));
  EXPECT_EQ(response.tokens(0).text(), "c");
  EXPECT_FLOAT_EQ(response.tokens(0).logprob(), -0.25f);
  ASSERT_EQ(response.tokens(0).top_logprobs_size(), 2);
  EXPECT_EQ(response.tokens(0).top_logprobs(0).token_id(), Tok('d'));
  EXPECT_EQ(response.tokens(0).top_logprobs(1).text(), "e");
  EXPECT_EQ(server_->engine().submitted()[0].top_logprobs, 2);
}

TEST_F(GenerationTest, Unauthenticated) {
  StartServer(NoDefaultTenant());
  v1::GenerateResponse response;
  grpc::Status s = Generate(TextRequest("a", 1), &response, "wrong-key");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("unknown API key"));
  s = Generate(TextRequest("a", 1), &response, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("missing API key"));
  // Streams check the same way.
  auto ctx = TestServer::Context("");
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("a", 1));
  v1::GenerateResponse m;
  EXPECT_FALSE(reader->Read(&m));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(server_->engine().submitted().empty());
}

TEST_F(GenerationTest, NoKeyRunsAsTheDefaultTenant) {
  StartServer();
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(TextRequest("a", 1), &response, "").ok());
  EXPECT_EQ(server_->engine().submitted()[0].tenant, "default");
  ASSERT_TRUE(Generate(TextRequest("a", 1), &response, kBetaKey).ok());
  EXPECT_EQ(server_->engine().submitted()[1].tenant, "beta");
}

TEST_F(GenerationTest, InvalidArgumentNamesTheField) {
  StartServer();
  v1::GenerateRequest r = TextRequest("a", 1);
  r.mutable_sampling()->set_top_p(2);
  v1::GenerateResponse response;
  grpc::Status s = Generate(r, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("sampling.top_p: 2"));
  s = Generate(TextRequest("a", 100000), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              AllOf(HasSubstr("stopping.max_new_tokens: 100000"),
                    HasSubstr("context length 256")));
  s = Generate(TextRequest("\xc3\xa9t\xc3\xa9", 1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("text: cannot be encoded"));
  EXPECT_TRUE(server_->engine().submitted().empty());
}

TEST_F(GenerationTest, ResourceExhaustedWhenTheTenantQueueIsFull) {
  TestServer::Options o;
  o.engine.start_paused = true;
  StartServer(o);
  // The default tenant may queue 2 requests.
  std::vector<std::thread> waiting;
  std::atomic<int> ok{0};
  for (int i = 0; i < 2; ++i) {
    waiting.emplace_back([&] {
      v1::GenerateResponse response;
      if (Generate(TextRequest("a", 3), &response, "").ok()) ++ok;
    });
  }
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 2; }));
  v1::GenerateResponse response;
  grpc::Status s = Generate(TextRequest("a", 3), &response, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("queue is full (max_queued 2)"));
  server_->engine().Resume();
  for (std::thread& t : waiting) t.join();
  EXPECT_EQ(ok.load(), 2);
}

TEST_F(GenerationTest, ResourceExhaustedWhenTheRequestNeverFitsTheLimit) {
  StartServer();
  // default's limit is 8 blocks (128 tokens); 4 + 200 tokens need 13.
  v1::GenerateResponse response;
  grpc::Status s = Generate(TextRequest("ab", 200), &response, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("too large for tenant 'default'"));
}

TEST_F(GenerationTest, EngineDeadlineBecomesDeadlineExceeded) {
  // The fixture's clock: the server's threads may still read it after the
  // test body returns, until server_ is destroyed.
  FakeClock& clock = clock_;
  TestServer::Options o;
  o.clock = &clock;
  o.engine.start_paused = true;
  StartServer(o);
  std::thread advance([&] {
    ASSERT_TRUE(FakeEngine::WaitUntil(
        [&] { return server_->engine().active_requests() == 1; }));
    // The call's 60 s are spent on the engine's clock only.
    clock.Advance(absl::Minutes(2));
  });
  auto ctx = TestServer::Context(kAlphaKey, absl::Seconds(60));
  v1::GenerateResponse response;
  grpc::Status s =
      generation_->Generate(ctx.get(), TextRequest("a", 3), &response);
  advance.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(s.error_message(), HasSubstr("deadline passed"));
  const std::vector<engine::Request> sent = server_->engine().submitted();
  ASSERT_EQ(sent.size(), 1u);
  // The gRPC deadline reached the engine on its clock.
  EXPECT_GT(sent[0].deadline, clock.Now() - absl::Minutes(2));
  EXPECT_LT(sent[0].deadline, clock.Now());
}

TEST_F(GenerationTest, ClientDeadlineFreesTheEngineRequest) {
  TestServer::Options o;
  o.engine.start_paused = true;
  StartServer(o);
  auto ctx = TestServer::Context(kAlphaKey, absl::Milliseconds(300));
  v1::GenerateResponse response;
  grpc::Status s =
      generation_->Generate(ctx.get(), TextRequest("a", 3), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 0; }));
}

TEST_F(GenerationTest, ClientCancelMidStreamReachesEngineCancel) {
  StartServer();
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("a", 200));
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));  // generating
  ctx->TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return !server_->engine().cancel_calls().empty(); }));
  EXPECT_THAT(server_->engine().cancel_calls(), ElementsAre(1u));
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 0; }));
  const auto finished = server_->engine().finished();
  ASSERT_EQ(finished.size(), 1u);
  EXPECT_EQ(finished[0].second.reason, engine::FinishReason::kCancelled);
  EXPECT_LT(finished[0].second.generated_tokens, 200);
}

TEST_F(GenerationTest, UnaryCancelBeforeAnyTokenReachesEngineCancel) {
  TestServer::Options o;
  o.engine.start_paused = true;
  StartServer(o);
  auto ctx = TestServer::Context();
  std::thread canceller([&] {
    ASSERT_TRUE(FakeEngine::WaitUntil(
        [&] { return server_->engine().active_requests() == 1; }));
    ctx->TryCancel();
  });
  v1::GenerateResponse response;
  grpc::Status s =
      generation_->Generate(ctx.get(), TextRequest("a", 3), &response);
  canceller.join();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 0; }));
  EXPECT_THAT(server_->engine().cancel_calls(), ElementsAre(1u));
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

TEST_F(GenerationTest, DrainLetsRunningRequestsFinishAndRefusesNewOnes) {
  StartServer();
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("a", 60));
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));
  std::string text = m.text();
  std::thread shutdown([&] { server_->server().Shutdown(); });
  ASSERT_TRUE(
      FakeEngine::WaitUntil([&] { return server_->server().draining(); }));
  v1::GenerateResponse refused;
  grpc::Status s = Generate(TextRequest("a", 1), &refused);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  while (reader->Read(&m)) text += m.text();
  grpc::Status stream_status = reader->Finish();
  shutdown.join();
  EXPECT_TRUE(stream_status.ok()) << stream_status.error_message();
  EXPECT_EQ(server_->engine().finished().size(), 1u);
  EXPECT_EQ(server_->engine().finished()[0].second.generated_tokens, 60);
  EXPECT_EQ(server_->engine().shutdown_calls(), 1);
}

TEST_F(GenerationTest, DrainTimeoutEndsRunningCallsWithUnavailable) {
  TestServer::Options o;
  o.yaml =
      ReplaceOnce(TestConfigYaml(), "drain_timeout: 20s", "drain_timeout: 0s");
  o.engine.start_paused = true;  // nothing can finish before the drain ends
  StartServer(o);
  grpc::Status unary;
  std::thread call([&] {
    v1::GenerateResponse response;
    unary = Generate(TextRequest("a", 3), &response);
  });
  auto ctx = TestServer::Context();
  auto reader = generation_->GenerateStream(ctx.get(), TextRequest("b", 3));
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 2; }));
  server_->server().Shutdown();
  v1::GenerateResponse m;
  EXPECT_FALSE(reader->Read(&m));
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
  const auto finished = server_->engine().finished();
  ASSERT_EQ(finished.size(), 2u);
  for (const auto& [id, info] : finished) {
    EXPECT_EQ(info.reason, engine::FinishReason::kDrainTimeout) << id;
  }
  // The server did not cancel them itself: the engine's drain did.
  EXPECT_TRUE(server_->engine().cancel_calls().empty());
}

TEST_F(GenerationTest, ClientCancelWhileDrainingStaysCancelled) {
  testing::CapturedLog log(std::make_unique<spdlog::pattern_formatter>("%v"));
  TestServer::Options o;
  o.engine.start_paused = true;  // the drain (20 s) waits for the request
  StartServer(o);
  auto ctx = TestServer::Context();
  grpc::Status unary;
  std::thread call([&] {
    v1::GenerateResponse response;
    unary = generation_->Generate(ctx.get(), TextRequest("a", 3), &response);
  });
  ASSERT_TRUE(FakeEngine::WaitUntil(
      [&] { return server_->engine().active_requests() == 1; }));
  std::thread shutdown([&] { server_->server().Shutdown(); });
  ASSERT_TRUE(
      FakeEngine::WaitUntil([&] { return server_->server().draining(); }));
  ctx->TryCancel();
  call.join();
  shutdown.join();
  EXPECT_EQ(unary.error_code(), grpc::StatusCode::CANCELLED);
  // The server forwarded the client's cancel; the drain did not time out.
  EXPECT_THAT(server_->engine().cancel_calls(), ElementsAre(1u));
  // And it counts as the client's cancel, not as the shutdown's.
  EXPECT_THAT(log.text(), AllOf(HasSubstr("request finished: method=Generate"),
                                HasSubstr("status=CANCELLED"),
                                HasSubstr("error=\"the call was cancelled")));
  ASSERT_EQ(server_->engine().finished().size(), 1u);
  EXPECT_EQ(server_->engine().finished()[0].second.reason,
            engine::FinishReason::kCancelled);
}

TEST_F(GenerationTest, TokenizeRejectsTextOverTheLimit) {
  TestServer::Options o;
  o.engine.request_limits.max_prompt_text_bytes = 4;
  StartServer(o);
  v1::TokenizeRequest t;
  t.set_text("hello");
  v1::TokenizeResponse tr;
  auto ctx = TestServer::Context();
  const grpc::Status s = generation_->Tokenize(ctx.get(), t, &tr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("text: is 5 bytes of text, at "
                                           "most 4"));
  t.set_text("hell");
  auto ctx2 = TestServer::Context();
  EXPECT_TRUE(generation_->Tokenize(ctx2.get(), t, &tr).ok());
}

TEST_F(GenerationTest, TokenizeAndModelInfo) {
  StartServer();
  v1::TokenizeRequest t;
  t.set_text("ab");
  t.set_return_pieces(true);
  v1::TokenizeResponse tr;
  auto ctx = TestServer::Context();
  ASSERT_TRUE(generation_->Tokenize(ctx.get(), t, &tr).ok());
  EXPECT_THAT(tr.token_ids(), ElementsAre(1, Tok(' '), Tok('a'), Tok('b')));
  EXPECT_THAT(tr.pieces(), ElementsAre("<s>", "\xe2\x96\x81", "a", "b"));
  EXPECT_EQ(tr.token_count(), 4);
  t.set_add_bos(false);
  auto ctx2 = TestServer::Context();
  ASSERT_TRUE(generation_->Tokenize(ctx2.get(), t, &tr).ok());
  EXPECT_EQ(tr.token_ids(0), Tok(' '));
  // Special-token text is plain text unless parse_special is set.
  t.set_text("a</s>");
  auto ctx_plain = TestServer::Context();
  ASSERT_TRUE(generation_->Tokenize(ctx_plain.get(), t, &tr).ok());
  EXPECT_THAT(tr.token_ids(), ElementsAre(Tok(' '), Tok('a'), Tok('<'),
                                          Tok('/'), Tok('s'), Tok('>')));
  t.set_parse_special(true);
  auto ctx_special = TestServer::Context();
  ASSERT_TRUE(generation_->Tokenize(ctx_special.get(), t, &tr).ok());
  EXPECT_THAT(tr.token_ids(), ElementsAre(Tok(' '), Tok('a'), 2));
  t.clear_parse_special();
  t.set_text("caf\xc3\xa9");  // valid UTF-8, not in the vocabulary
  auto ctx3 = TestServer::Context();
  EXPECT_EQ(generation_->Tokenize(ctx3.get(), t, &tr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::ModelInfoResponse info;
  auto ctx4 = TestServer::Context();
  ASSERT_TRUE(
      generation_->ModelInfo(ctx4.get(), v1::ModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.name(), "fake:ascii");
  EXPECT_EQ(info.n_heads(), 4);
  EXPECT_EQ(info.n_kv_heads(), 2);
  EXPECT_EQ(info.head_dim(), 8);
  EXPECT_EQ(info.attention_mode(), v1::ATTENTION_MODE_GQA);
  EXPECT_EQ(info.group_size(), 2);
  EXPECT_EQ(info.context_length(), 256);
  EXPECT_EQ(info.kv_bytes_per_token(), 256);
  EXPECT_EQ(info.kv_dtype(), "f32");
  EXPECT_EQ(info.block_size(), 16);
  EXPECT_EQ(info.kv_capacity_blocks(), 64);
  EXPECT_EQ(info.kv_capacity_tokens(), 1024);
  EXPECT_EQ(info.vocab_size(), AsciiTokenizer::kVocabSize);

  auto bad = TestServer::Context("nope");
  EXPECT_EQ(generation_->ModelInfo(bad.get(), v1::ModelInfoRequest(), &info)
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace kvasir::server
