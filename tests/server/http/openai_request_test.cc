#include "server/http/openai_request.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "engine/request_validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/rpc/status_mapping.h"
#include "tests/testing/ascii_tokenizer.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::AsciiTokenizer;
using ::kvasir::testing::IsOk;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

class OpenAiRequestTest : public ::testing::Test {
 protected:
  OpenAiRequestTest() {
    model_.vocab_size = AsciiTokenizer::kVocabSize;
    model_.context_length = 64;
    info_.id = "tiny.gguf";
    info_.tokenizer = &tokenizer_;
    info_.limits = &limits_;
  }

  // What a call does before queueing: parse, let the engine validate, name
  // the field as the client sent it.
  absl::StatusOr<OpenAiRequest> Completion(const std::string& body) {
    absl::StatusOr<json> j = ParseJsonBody(body);
    if (!j.ok()) return j.status();
    absl::StatusOr<OpenAiRequest> r = ParseCompletionRequest(*j, info_);
    if (!r.ok()) return r.status();
    const absl::Status valid =
        engine::ValidateRequest(model_, limits_, r->engine);
    if (!valid.ok()) return ToOpenAiField(valid, *r);
    return r;
  }
  absl::Status Error(const std::string& body) {
    return Completion(body).status();
  }
  absl::StatusOr<OpenAiRequest> Chat(const std::string& body) {
    absl::StatusOr<json> j = ParseJsonBody(body);
    if (!j.ok()) return j.status();
    return ParseChatRequest(*j, info_);
  }

  engine::ModelConfig model_;
  AsciiTokenizer tokenizer_;
  engine::RequestLimits limits_;
  OpenAiModelInfo info_;
};

TEST_F(OpenAiRequestTest, EveryCompletionFieldReachesTheEngine) {
  ASSERT_OK_AND_ASSIGN(OpenAiRequest r, Completion(R"({
    "model": "tiny.gguf", "prompt": "ab", "max_tokens": 7,
    "temperature": 0.5, "top_p": 0.9, "top_k": 4, "min_p": 0.1,
    "repetition_penalty": 1.2, "seed": 42, "stop": ["x", "yz"],
    "logprobs": 3, "ignore_eos": true, "user": "u-1", "stream": true,
    "stream_options": {"include_usage": true},
    "n": 1, "frequency_penalty": 0, "presence_penalty": 0.0, "echo": false,
    "best_of": 1, "logit_bias": {}, "suffix": null, "some_extension": 5})"));
  const engine::Request& e = r.engine;
  EXPECT_THAT(
      e.prompt,
      ElementsAre(AsciiTokenizer::kBos, AsciiTokenizer::TokenOf(' '),
                  AsciiTokenizer::TokenOf('a'), AsciiTokenizer::TokenOf('b')));
  EXPECT_EQ(e.stopping.max_new_tokens, 7);
  EXPECT_FLOAT_EQ(e.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(e.sampling.top_p, 0.9f);
  EXPECT_EQ(e.sampling.top_k, 4);
  EXPECT_FLOAT_EQ(e.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(e.sampling.repetition_penalty, 1.2f);
  EXPECT_EQ(e.sampling.seed.value_or(0), 42u);
  EXPECT_THAT(e.stopping.stop, ElementsAre("x", "yz"));
  EXPECT_TRUE(e.stopping.ignore_eos);
  EXPECT_TRUE(e.logprobs);
  EXPECT_EQ(e.top_logprobs, 3);
  EXPECT_TRUE(r.logprobs);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.user, "u-1");
  EXPECT_EQ(r.model, "tiny.gguf");
}

TEST_F(OpenAiRequestTest, DefaultsAndPromptForms) {
  // No max_tokens: 16 in completions (OpenAI's and vLLM's default; chat's
  // is as many as fit, ChatMessagesAndLogprobs). No temperature: OpenAI's
  // 1. No logprobs.
  ASSERT_OK_AND_ASSIGN(OpenAiRequest r, Completion(R"({"prompt": [5, 6]})"));
  EXPECT_THAT(r.engine.prompt, ElementsAre(5, 6));
  EXPECT_FALSE(r.engine.stopping.fill_room);
  EXPECT_EQ(r.engine.stopping.max_new_tokens, 16);
  EXPECT_EQ(r.engine.sampling.temperature, 1.0f);
  EXPECT_FALSE(r.engine.logprobs);
  EXPECT_FALSE(r.stream);
  EXPECT_TRUE(r.model.empty());
  // One prompt in a list, as text or ids; top_k -1 is vLLM's "off".
  ASSERT_OK_AND_ASSIGN(r, Completion(R"({"prompt": ["a"], "top_k": -1})"));
  EXPECT_EQ(r.engine.prompt.size(), 3u);
  EXPECT_EQ(r.engine.sampling.top_k, 0);
  ASSERT_OK_AND_ASSIGN(r, Completion(R"({"prompt": [[7]], "stop": "q"})"));
  EXPECT_THAT(r.engine.prompt, ElementsAre(7));
  EXPECT_THAT(r.engine.stopping.stop, ElementsAre("q"));
  // Special-token text in a completions prompt is the special token, as
  // vLLM's and llama.cpp's (a prompt rendered by the client); parse_special
  // false keeps it text.
  ASSERT_OK_AND_ASSIGN(r, Completion(R"({"prompt": "<s>"})"));
  EXPECT_EQ(r.engine.prompt.size(), 3u);  // BOS, ' ', <s>
  ASSERT_OK_AND_ASSIGN(
      r, Completion(R"({"prompt": "<s>", "parse_special": false})"));
  EXPECT_EQ(r.engine.prompt.size(), 5u);  // BOS, ' ', '<', 's', '>'
  // An empty prompt is BOS alone where the vocabulary adds one.
  ASSERT_OK_AND_ASSIGN(r, Completion(R"({"prompt": ""})"));
  EXPECT_EQ(r.engine.prompt.size(), 1u);
}

TEST_F(OpenAiRequestTest, ErrorsNameTheOpenAiField) {
  const struct {
    const char* body;
    std::vector<std::string> parts;
  } cases[] = {
      {R"({"prompt": "a", "temperature": -1})", {"temperature: -1", ">= 0"}},
      {R"({"prompt": "a", "temperature": 1e300})",
       {"temperature: 1e+300 is out of range"}},
      {R"({"prompt": "a", "temperature": 3.4028236e38})",
       {"temperature: 3.4028236e+38 is out of range"}},
      {R"({"prompt": "a", "temperature": "hot"})",
       {"temperature: must be a number, got a string"}},
      {R"({"prompt": "a", "top_p": 2})", {"top_p: 2"}},
      {R"({"prompt": "a", "max_tokens": 0})", {"max_tokens: 0 must be >= 1"}},
      {R"({"prompt": "a", "max_tokens": 1.5})",
       {"max_tokens: must be an integer"}},
      {R"({"prompt": "a", "max_tokens": 100})",
       {"max_tokens: 100 plus the prompt's 3 tokens"}},
      {R"({"prompt": [1, 500]})", {"prompt[1]: 500 is outside"}},
      // Values beyond 32 bits are quoted as sent, not clamped.
      {R"({"prompt": [4294967296]})",
       {"prompt[0]: 4294967296 is outside the vocabulary"}},
      {R"({"prompt": [1, -4294967296]})",
       {"prompt[1]: -4294967296 is outside the vocabulary"}},
      {R"({"prompt": "a", "max_tokens": 10000000000})",
       {"max_tokens: 10000000000 is out of range [1, 2147483647]"}},
      {R"({"prompt": "a", "max_completion_tokens": 3})",
       {"max_completion_tokens: is a chat completions field"}},
      {R"({"prompt": "a", "chat_template_kwargs": {"enable_thinking": false}})",
       {"chat_template_kwargs: ", "is not supported"}},
      {R"({"prompt": "a", "add_generation_prompt": false})",
       {"add_generation_prompt: false is not supported"}},
      {R"({"prompt": [1, "x"]})", {"prompt[1]: must be a token id"}},
      {R"({"prompt": ["a", "b"]})", {"prompt: is a batch of 2 prompts"}},
      {R"({})", {"prompt: is missing"}},
      {R"({"prompt": "a", "stop": ["ok", ""]})", {"stop[1]: is empty"}},
      {R"({"prompt": "a", "stop": ""})", {"stop: is empty"}},
      {R"({"prompt": "a", "stop": 3})", {"stop: must be a string or an"}},
      {R"({"prompt": "a", "logprobs": 50})", {"logprobs: 50 is out of range"}},
      {R"({"prompt": "a", "n": 2})", {"n: 2 is not supported"}},
      {R"({"prompt": "a", "best_of": 3})", {"best_of: 3 is not supported"}},
      {R"({"prompt": "a", "echo": true})", {"echo: true is not supported"}},
      {R"({"prompt": "a", "frequency_penalty": 0.5})",
       {"frequency_penalty: 0.5 is not supported", "repetition_penalty"}},
      {R"({"prompt": "a", "presence_penalty": 1})",
       {"presence_penalty: 1 is not supported"}},
      {R"({"prompt": "a", "logit_bias": {"5": 1}})",
       {"logit_bias: {\"5\":1} is not supported"}},
      {R"({"prompt": "a", "tools": [{"type": "function"}]})",
       {"tools: ", "is not supported"}},
      {R"({"prompt": "a", "response_format": {"type": "json_object"}})",
       {"response_format: ", "is not supported"}},
      {R"({"prompt": "a", "stream_options": {"include_usage": true}})",
       {"stream_options: is only allowed when `stream` is true"}},
      {R"({"prompt": "a", "stream": true, "stream_options": {"x": 1}})",
       {"stream_options.x: is not supported"}},
      {R"({"prompt": "a", "stream": true,
           "stream_options": {"include_usage": "yes"}})",
       {"stream_options.include_usage: must be true or false"}},
      {R"({"prompt": "a", "stream": "yes"})",
       {"stream: must be true or false, got a string"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    std::vector<::testing::Matcher<const std::string&>> parts;
    for (const std::string& p : c.parts) parts.push_back(HasSubstr(p));
    EXPECT_THAT(Error(c.body), StatusIs(absl::StatusCode::kInvalidArgument,
                                        ::testing::AllOfArray(parts)));
  }
}

TEST_F(OpenAiRequestTest, BodyModelAndContext) {
  EXPECT_THAT(Error("not json"), StatusIs(absl::StatusCode::kInvalidArgument,
                                          HasSubstr("not valid JSON")));
  EXPECT_THAT(Error("[1]"), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("must be a JSON object")));
  // Nesting is bounded (a 4 MiB body of "[" took ~150 MB to parse); an
  // ignored field at the limit's depth is still parsed.
  auto nested = [](int levels) {
    return absl::StrCat(R"({"prompt": "a", "x": )", std::string(levels, '['),
                        std::string(levels, ']'), "}");
  };
  EXPECT_THAT(Error(nested(2000000)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than 64 levels deep")));
  EXPECT_THAT(Error(nested(kMaxJsonDepth)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than 64 levels deep")));
  EXPECT_THAT(ParseJsonBody(nested(kMaxJsonDepth - 1)), IsOk());
  // Brackets inside strings (and after escaped quotes) are text.
  const std::string brackets(200, '[');
  EXPECT_THAT(
      ParseJsonBody(absl::StrCat(R"({"prompt": ")", brackets,
                                 R"(\"", "stop": "\\)", brackets, R"("})")),
      IsOk());
  EXPECT_THAT(Error(R"({"prompt": "a", "model": "other"})"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("'other' is not served here"),
                             HasSubstr("'tiny.gguf'"))));
  EXPECT_EQ(FieldOf(Error(R"({"prompt": "a", "model": "other"})")), "model");
}

TEST_F(OpenAiRequestTest, PromptOverTheContextIsPromptTooLong) {
  std::string ids = "1";
  for (int i = 1; i < 64; ++i) ids += ",1";
  const absl::Status s = Error(absl::StrCat(R"({"prompt": [)", ids, "]}"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("prompt: has 64 tokens")));
  EXPECT_EQ(engine::RefusalOf(s), engine::Refusal::kPromptTooLong);
  EXPECT_EQ(ToHttpError(s).status, 400);
}

TEST_F(OpenAiRequestTest, ChatMessagesAndLogprobs) {
  ASSERT_OK_AND_ASSIGN(OpenAiRequest r, Chat(R"({
    "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi "},
                                   {"type": "text", "text": "there"}]},
      {"role": "assistant", "content": null}],
    "logprobs": true, "top_logprobs": 2, "max_completion_tokens": 9})"));
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[0].role, "system");
  EXPECT_EQ(r.messages[0].content, "be brief");
  EXPECT_EQ(r.messages[1].content, "hi \nthere");  // parts: vLLM's "\n"
  EXPECT_EQ(r.messages[2].content, "");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.engine.top_logprobs, 2);
  EXPECT_EQ(r.engine.stopping.max_new_tokens, 9);
  EXPECT_EQ(r.max_tokens_field, "max_completion_tokens");
  EXPECT_TRUE(r.engine.prompt.empty());  // the chat template's job

  const struct {
    const char* body;
    const char* part;
  } errors[] = {
      {R"({})", "messages: is missing"},
      {R"({"messages": []})", "messages: is empty"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role: is missing"},
      {R"({"messages": [{"role": "user"}]})",
       "messages[0].content: is missing"},
      {R"({"messages": [{"role": "user", "content": null}]})",
       "messages[0].content: is missing"},
      {R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
       "messages[0].content[0].text: is missing"},
      {R"({"messages": [{"role": "user", "content": 5}]})",
       "messages[0].content: must be a string or an array"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content[0].type: 'image_url' is not supported"},
      {R"({"messages": [{"role": "user", "content": "x"}],
          "parse_special": true})",
       "parse_special: true is not supported in chat"},
      {R"({"messages": [{"role": "user", "content": "x"}],
          "continue_final_message": true})",
       "continue_final_message: true is not supported"},
      // Found by openai_request_fuzz: a "type" or "text" that is not a
      // string threw out of json::value() instead of being refused.
      {R"({"messages": [{"role": 1, "content": "x"}]})",
       "messages[0].role: must be a string"},
      {R"({"messages": [{"role": "user", "content": [{"type": 6.5}]}]})",
       "messages[0].content[0].type: must be a string"},
      {R"({"messages": [{"role": "user", "content":
          [{"type": "text", "text": 2}]}]})",
       "messages[0].content[0].text: must be a string"},
      {R"({"messages": [{"role": "user", "content": "x"}],
          "response_format": {"type": 1}})",
       "response_format: "},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 2})",
       "logprobs: must be true or false"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})",
       "top_logprobs: needs `logprobs` set to true"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tool_choice":
          {"type": "function"}})",
       "tool_choice: "},
  };
  for (const auto& e : errors) {
    SCOPED_TRACE(e.body);
    EXPECT_THAT(
        Chat(e.body).status(),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(e.part)));
  }
}

TEST_F(OpenAiRequestTest, EngineFieldsAreRenamedPerEndpoint) {
  OpenAiRequest chat;
  chat.endpoint = OpenAiEndpoint::kChatCompletions;
  chat.max_tokens_field = "max_completion_tokens";
  auto renamed = [](const absl::Status& s, const OpenAiRequest& r) {
    return std::string(ToOpenAiField(s, r).message());
  };
  EXPECT_EQ(renamed(FieldError("prompt", "x"), chat), "messages: x");
  EXPECT_EQ(renamed(FieldError("stopping.max_new_tokens", "x"), chat),
            "max_completion_tokens: x");
  EXPECT_EQ(renamed(FieldError("top_logprobs", "x"), chat), "top_logprobs: x");
  OpenAiRequest completion;
  EXPECT_EQ(renamed(FieldError("top_logprobs", "x"), completion),
            "logprobs: x");
  EXPECT_EQ(renamed(FieldError("request_id", "x"), completion),
            "X-Request-Id: x");
  EXPECT_EQ(renamed(FieldError("sampling.min_p", "x"), completion), "min_p: x");
  // Not a field error: unchanged.
  EXPECT_EQ(renamed(absl::UnavailableError("u"), completion), "u");
}

}  // namespace
}  // namespace kvasir::server
