// kvasir.v1.Generation on a real gRPC server in front of the real engine
// (on the deterministic FakeRunner): outputs and every status code the API
// promises.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/server/rpc/generation_test_util.h"
#include "tests/server/test_server.h"
#include "tests/testing/ascii_tokenizer.h"
#include "tests/testing/captured_log.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait_until.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::AsciiTokenizer;
using ::kvasir::testing::CapturedLog;
using ::kvasir::testing::WaitUntil;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

int Tok(char c) { return AsciiTokenizer::TokenOf(c); }

TEST_F(GenerationTest, UnaryReturnsTextTokensAndUsage) {
  std::unique_ptr<CapturedLog> log = CaptureLog();
  StartServer();
  v1::GenerateRequest r = TextRequest("ab", 5);
  r.mutable_response()->set_token_ids(true);
  r.mutable_response()->set_prompt_token_ids(true);
  v1::GenerateResponse response;
  grpc::Status s = Generate(r, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::vector<int32_t> prompt = TextPromptIds("ab");
  EXPECT_EQ(response.text(), ContinuationText(prompt, 5));
  EXPECT_THAT(response.token_ids(),
              ::testing::ElementsAreArray(ContinuationIds(prompt, 5)));
  EXPECT_THAT(response.prompt_token_ids(),
              ElementsAre(AsciiTokenizer::kBos, Tok(' '), Tok('a'), Tok('b')));
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(response.usage().prompt_tokens(), 4);
  EXPECT_EQ(response.usage().generated_tokens(), 5);
  EXPECT_THAT(response.request_id(), StartsWith("kv-"));
  // The engine ran it for the key's tenant, under the server's request id.
  // (Its stats are taken at the end of the step, after the finish.)
  EXPECT_TRUE(WaitUntil([&] {
    return server_->TenantStats("alpha").sched.generated_tokens == 5;
  }));
  EXPECT_THAT(FinishedLine(*log),
              AllOf(HasSubstr("tenant=alpha"),
                    HasSubstr("request_id=" + response.request_id() + " "),
                    HasSubstr("finish_reason=length")));
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
  EXPECT_EQ(response.text(),
            ContinuationText({AsciiTokenizer::kBos, Tok('x')}, 2));
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
  EXPECT_EQ(text, ContinuationText(TextPromptIds("ab"), 12));
  EXPECT_EQ(tokens, 12);
  EXPECT_EQ(messages.back().finish_reason(), v1::FINISH_REASON_LENGTH);
  EXPECT_EQ(messages.back().usage().generated_tokens(), 12);
  EXPECT_EQ(messages.back().usage().prompt_tokens(), 4);
  EXPECT_EQ(messages.back().request_id(), messages.front().request_id());
}

TEST_F(GenerationTest, StreamToASlowReaderLosesNothing) {
  StartServer();
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
  EXPECT_THAT(ids, ::testing::ElementsAreArray(
                       ContinuationIds(TextPromptIds("a"), 90)));
  // The bytes of every non-control token, in order.
  std::string expected;
  for (int id : ids) {
    expected += std::string(AsciiTokenizer().TokenBytes(id));
  }
  EXPECT_EQ(text, expected);
}

// Short streams from several clients at once: the engine's finish often
// lands while a write is in flight, and the write's completion then
// finishes the call on a gRPC thread while the engine thread is still
// leaving Close. Once, the engine thread then touched the deleted call
// (seen only under ASan + UBSan, whose vptr check reads the object, and
// rarely: the window is a few instructions). Every stream must come whole.
TEST_F(GenerationTest, ManyShortStreamsAtOnceAllComeWhole) {
  StartServer();
  constexpr int kThreads = 16;
  constexpr int kStreamsPerThread = 80;
  std::vector<int> whole(kThreads, 0);
  std::vector<std::thread> clients;
  for (int c = 0; c < kThreads; ++c) {
    clients.emplace_back([&, c] {
      for (int i = 0; i < kStreamsPerThread; ++i) {
        const int n = 1 + (c + i) % 3;  // 1-3 tokens: the finish is early
        v1::GenerateRequest r = TextRequest("ab", n);
        r.mutable_response()->set_token_ids(true);
        auto ctx = TestServer::Context();
        auto reader = generation_->GenerateStream(ctx.get(), r);
        v1::GenerateResponse m;
        int tokens = 0;
        bool finished = false;
        while (reader->Read(&m)) {
          tokens += m.token_ids_size();
          finished = m.finish_reason() == v1::FINISH_REASON_LENGTH;
        }
        if (reader->Finish().ok() && finished && tokens == n) ++whole[c];
      }
    });
  }
  for (std::thread& t : clients) t.join();
  for (int c = 0; c < kThreads; ++c) {
    EXPECT_EQ(whole[c], kStreamsPerThread) << "client " << c;
  }
  EXPECT_TRUE(WaitUntil([&] { return EngineIdle(); }));
}

TEST_F(GenerationTest, EosEndsTheRequest) {
  StartServer();
  v1::GenerateRequest r;
  r.mutable_token_ids()->add_ids(AsciiTokenizer::kBos);
  r.mutable_token_ids()->add_ids(Tok('3'));  // the model counts down: 2 1 0
  r.mutable_stopping()->set_max_new_tokens(10);
  r.mutable_response()->set_token_ids(true);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  EXPECT_EQ(response.finish_reason(), v1::FINISH_REASON_EOS);
  EXPECT_THAT(response.token_ids(),
              ElementsAre(Tok('2'), Tok('1'), Tok('0'), AsciiTokenizer::kEos));
  EXPECT_EQ(response.text(), "210");
}

TEST_F(GenerationTest, StopSequences) {
  StartServer();
  // The stop sequence is the 3rd and 4th characters of the output.
  const std::string full = ContinuationText(TextPromptIds("ab"), 10);
  const std::string stop = full.substr(2, 2);
  const size_t at = full.find(stop);
  v1::GenerateRequest r = TextRequest("ab", 10);
  r.mutable_stopping()->add_stop_sequences(stop);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  EXPECT_EQ(response.text(), full.substr(0, at));
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
  EXPECT_EQ(text, full.substr(0, at + stop.size()));
  EXPECT_EQ(last, v1::FINISH_REASON_STOP);
}

TEST_F(GenerationTest, Logprobs) {
  StartServer();
  v1::GenerateRequest r = TextRequest("ab", 2);
  r.mutable_response()->set_top_logprobs(2);
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(r, &response).ok());
  ASSERT_EQ(response.tokens_size(), 2);
  const std::vector<int32_t> ids = ContinuationIds(TextPromptIds("ab"), 2);
  const AsciiTokenizer tokenizer;
  for (int i = 0; i < 2; ++i) {
    const v1::TokenInfo& t = response.tokens(i);
    EXPECT_EQ(t.token_id(), ids[i]);
    EXPECT_EQ(t.text(), tokenizer.TokenBytes(ids[i]));
    // The model's token has logit 10, every other one below 0.
    EXPECT_LT(t.logprob(), 0.0f);
    EXPECT_GT(t.logprob(), -0.01f);
    // The engine was asked for 2 alternatives: best first, the chosen
    // token among them.
    ASSERT_EQ(t.top_logprobs_size(), 2);
    EXPECT_EQ(t.top_logprobs(0).token_id(), ids[i]);
    EXPECT_FLOAT_EQ(t.top_logprobs(0).logprob(), t.logprob());
    EXPECT_LT(t.top_logprobs(1).logprob(), t.top_logprobs(0).logprob());
    EXPECT_EQ(t.top_logprobs(1).text(),
              tokenizer.TokenBytes(t.top_logprobs(1).token_id()));
  }
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
  // Nothing reached the model.
  EXPECT_EQ(server_->runner().steps_started(), 0);
}

TEST_F(GenerationTest, NoKeyRunsAsTheDefaultTenant) {
  StartServer();
  v1::GenerateResponse response;
  ASSERT_TRUE(Generate(TextRequest("a", 1), &response, "").ok());
  EXPECT_TRUE(WaitUntil([&] {
    return server_->TenantStats("default").sched.generated_tokens == 1;
  }));
  ASSERT_TRUE(Generate(TextRequest("a", 1), &response, kBetaKey).ok());
  EXPECT_TRUE(WaitUntil([&] {
    return server_->TenantStats("beta").sched.generated_tokens == 1;
  }));
  EXPECT_EQ(server_->TenantStats("alpha").sched.generated_tokens, 0);
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
              AllOf(HasSubstr("max_new_tokens"), HasSubstr("256")));
  // The AsciiTokenizer has no token for non-ASCII bytes.
  s = Generate(TextRequest("\xc3\xa9t\xc3\xa9", 1), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("text"));
  EXPECT_EQ(server_->runner().steps_started(), 0);
}

TEST_F(GenerationTest, ResourceExhaustedWhenTheTenantQueueIsFull) {
  TestServer::Options o;
  // The default tenant may run 1 request and queue 2.
  o.yaml = ReplaceOnce(TestConfigYaml(), "max_queued: 2",
                       "max_queued: 2, max_concurrent: 1");
  o.step_delay = kSlow;
  StartServer(o);
  std::vector<std::thread> calls;
  std::atomic<int> ok{0};
  auto call = [&](int max_new_tokens) {
    calls.emplace_back([&, max_new_tokens] {
      v1::GenerateResponse response;
      if (Generate(TextRequest("a", max_new_tokens), &response, "").ok()) ++ok;
    });
  };
  call(100);  // runs, slowly
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->TenantStats("default").sched.running == 1; }));
  call(3);
  call(3);
  ASSERT_TRUE(
      WaitUntil([&] { return server_->TenantStats("default").queued == 2; }));
  v1::GenerateResponse response;
  grpc::Status s = Generate(TextRequest("a", 3), &response, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(),
              AllOf(HasSubstr("queue is full"), HasSubstr("max_queued 2")));
  server_->runner().SetStepDelay(absl::ZeroDuration());
  for (std::thread& t : calls) t.join();
  EXPECT_EQ(ok.load(), 3);
}

TEST_F(GenerationTest, ResourceExhaustedWhenTheRequestNeverFitsTheLimit) {
  StartServer();
  // default's limit is 8 blocks (128 tokens); 4 + 200 tokens need 13.
  v1::GenerateResponse response;
  grpc::Status s = Generate(TextRequest("ab", 200), &response, "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("tenant 'default'"));
  EXPECT_EQ(server_->runner().steps_started(), 0);
}

TEST_F(GenerationTest, TokenizeRejectsTextOverTheLimit) {
  StartServer();
  const int64_t limit = engine::RequestLimits().max_prompt_text_bytes;
  v1::TokenizeRequest t;
  t.set_text(std::string(limit + 1, 'a'));
  v1::TokenizeResponse tr;
  auto ctx = TestServer::Context();
  const grpc::Status s = generation_->Tokenize(ctx.get(), t, &tr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr(absl::StrCat("text: is ", limit + 1,
                                     " bytes of text, at most ", limit)));
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
  EXPECT_EQ(info.name(), "fake");
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
