#include "server/http/openai_response.h"

#include <string>
#include <vector>

#include "common/field_error.h"
#include "engine/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/ascii_tokenizer.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::AsciiTokenizer;
using json = nlohmann::json;

engine::GeneratedToken Token(char c, float lp,
                             std::vector<engine::TokenLogprob> top = {}) {
  engine::GeneratedToken t;
  t.token = AsciiTokenizer::TokenOf(c);
  t.logprob = lp;
  t.top = std::move(top);
  return t;
}

engine::FinishInfo Finished(engine::FinishReason reason) {
  engine::FinishInfo info;
  info.reason = reason;
  info.prompt_tokens = 5;
  info.generated_tokens = 3;
  info.cached_prompt_tokens = 2;
  return info;
}

ResponseMeta Meta(OpenAiEndpoint endpoint) {
  ResponseMeta m;
  m.endpoint = endpoint;
  m.id = "cmpl-kv-1";
  m.created = 1700000000;
  m.model = "tiny.gguf";
  return m;
}

TEST(OpenAiResponseTest, CompletionObjectAndUsage) {
  const json j = CompletionJson(Meta(OpenAiEndpoint::kCompletions), "abc",
                                nullptr, Finished(engine::FinishReason::kEos));
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["id"], "cmpl-kv-1");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], "tiny.gguf");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["text"], "abc");
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);
  EXPECT_EQ(j["usage"]["completion_tokens"], 3);
  EXPECT_EQ(j["usage"]["total_tokens"], 8);
  EXPECT_EQ(j["usage"]["prompt_tokens_details"]["cached_tokens"], 2);
  // Length, EOS and stop sequences: OpenAI's two reasons.
  EXPECT_EQ(OpenAiFinishReason(engine::FinishReason::kLength), "length");
  EXPECT_EQ(OpenAiFinishReason(engine::FinishReason::kStop), "stop");

  const json chat =
      CompletionJson(Meta(OpenAiEndpoint::kChatCompletions), "hi", nullptr,
                     Finished(engine::FinishReason::kLength));
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(chat["choices"][0]["message"]["content"], "hi");
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "length");
}

TEST(OpenAiResponseTest, CompletionLogprobsShape) {
  AsciiTokenizer tok;
  LogprobsBuilder b(OpenAiEndpoint::kCompletions, 2, &tok);
  EXPECT_TRUE(b.empty());
  b.Add({Token('a', -0.5f,
               {{AsciiTokenizer::TokenOf('a'), -0.5f},
                {AsciiTokenizer::TokenOf('b'), -1.5f}}),
         Token('c', -0.25f,
               {{AsciiTokenizer::TokenOf('c'), -0.25f},
                {AsciiTokenizer::TokenOf('d'), -2.0f}})});
  const json first = b.Take();
  EXPECT_EQ(first["tokens"], json::array({"a", "c"}));
  EXPECT_EQ(first["token_logprobs"], json::array({-0.5, -0.25}));
  EXPECT_EQ(first["text_offset"], json::array({0, 1}));
  EXPECT_EQ(first["top_logprobs"][0]["b"], -1.5);
  EXPECT_EQ(first["top_logprobs"][1]["d"], -2.0);
  // The next chunk's offsets continue.
  b.Add({Token('e', -1.0f)});
  EXPECT_EQ(b.Take()["text_offset"], json::array({2}));
  // logprobs: 0 -> the chosen tokens only, top_logprobs null.
  LogprobsBuilder none(OpenAiEndpoint::kCompletions, 0, &tok);
  none.Add({Token('a', -0.5f)});
  EXPECT_TRUE(none.Take()["top_logprobs"].is_null());
}

// Tokens of fixed UTF-8 bytes: "ǀ" (2 bytes, one character), "נדל" (6
// bytes, three), "x", and the two halves of "é" split across tokens.
class Utf8Tokenizer final : public engine::Tokenizer {
 public:
  int32_t vocab_size() const override { return 5; }
  int32_t bos_id() const override { return -1; }
  int32_t eos_id() const override { return -1; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view /*text*/,
      const engine::EncodeOptions& /*options*/) const override {
    return std::vector<int32_t>();
  }
  absl::string_view TokenBytes(int32_t id) const override { return kBytes[id]; }
  absl::string_view Piece(int32_t id) const override { return kBytes[id]; }

 private:
  static constexpr const char* kBytes[] = {
      "\xC7\x80", "\xD7\xA0\xD7\x93\xD7\x9C", "x", "\xC3", "\xA9"};
};

TEST(OpenAiResponseTest, TextOffsetsCountCharactersNotBytes) {
  Utf8Tokenizer tok;
  LogprobsBuilder b(OpenAiEndpoint::kCompletions, 0, &tok);
  std::vector<engine::GeneratedToken> tokens;
  for (int32_t id : {0, 1, 2, 3, 4, 2}) {
    engine::GeneratedToken t;
    t.token = id;
    tokens.push_back(t);
  }
  b.Add(tokens);
  // "ǀנדלxéx": ǀ at 0, נדל at 1, x at 4, both halves of é at 5 (it
  // completes with the second), the last x at 6.
  EXPECT_EQ(b.Take()["text_offset"], json::array({0, 1, 4, 5, 5, 6}));
  // Stray continuation bytes are one U+FFFD each in the text: two
  // characters before the x.
  LogprobsBuilder stray(OpenAiEndpoint::kCompletions, 0, &tok);
  engine::GeneratedToken t;
  t.token = 4;
  stray.Add({t, t});
  t.token = 2;
  stray.Add({t});
  EXPECT_EQ(stray.Take()["text_offset"], json::array({0, 1, 2}));
}

TEST(OpenAiResponseTest, ChatLogprobsShape) {
  AsciiTokenizer tok;
  LogprobsBuilder b(OpenAiEndpoint::kChatCompletions, 1, &tok);
  b.Add({Token('a', -0.5f, {{AsciiTokenizer::TokenOf('a'), -0.5f}})});
  const json j = b.Take();
  ASSERT_EQ(j["content"].size(), 1u);
  const json& e = j["content"][0];
  EXPECT_EQ(e["token"], "a");
  EXPECT_EQ(e["logprob"], -0.5);
  EXPECT_EQ(e["bytes"], json::array({97}));
  EXPECT_EQ(e["top_logprobs"][0]["token"], "a");
  EXPECT_EQ(e["top_logprobs"][0]["bytes"], json::array({97}));
}

TEST(OpenAiResponseTest, StreamingChunks) {
  const ResponseMeta m = Meta(OpenAiEndpoint::kCompletions);
  json c = ChunkJson(m, "ab", nullptr, true, nullptr, false);
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_EQ(c["choices"][0]["text"], "ab");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(c.contains("usage"));
  const engine::FinishInfo done = Finished(engine::FinishReason::kLength);
  c = ChunkJson(m, "", nullptr, false, &done, true);
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(c["usage"].is_null());
  const json u = UsageChunkJson(m, done);
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["total_tokens"], 8);

  const ResponseMeta cm = Meta(OpenAiEndpoint::kChatCompletions);
  c = ChunkJson(cm, "", nullptr, true, nullptr, false);
  EXPECT_EQ(c["object"], "chat.completion.chunk");
  EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(c["choices"][0]["delta"]["content"], "");
  c = ChunkJson(cm, "x", nullptr, false, nullptr, false);
  EXPECT_FALSE(c["choices"][0]["delta"].contains("role"));
  EXPECT_EQ(c["choices"][0]["delta"]["content"], "x");
  c = ChunkJson(cm, "", nullptr, false, &done, false);
  EXPECT_TRUE(c["choices"][0]["delta"].empty());
  EXPECT_EQ(c["choices"][0]["finish_reason"], "length");

  EXPECT_EQ(SseEvent({{"a", 1}}), "data: {\"a\":1}\n\n");
  // A token's half of a UTF-8 character does not break the event.
  EXPECT_EQ(SseEvent({{"t", std::string("\xC3")}}),
            "data: {\"t\":\"\xEF\xBF\xBD\"}\n\n");
}

TEST(OpenAiResponseTest, ErrorObject) {
  const absl::Status s = FieldError("temperature", "-1 must be >= 0");
  const json e = ErrorJson(s, ToHttpError(s));
  EXPECT_EQ(e["error"]["message"], "temperature: -1 must be >= 0");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "temperature");
  EXPECT_EQ(e["error"]["code"], "invalid_value");
  const absl::Status u = absl::UnauthenticatedError("unknown API key");
  const json ue = ErrorJson(u, ToHttpError(u));
  EXPECT_TRUE(ue["error"]["param"].is_null());
  EXPECT_EQ(ue["error"]["type"], "authentication_error");
}

}  // namespace
}  // namespace kvasir::server
