#include "server/rpc/request_convert.h"

#include <cmath>
#include <initializer_list>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/chat/chat_template.h"
#include "engine/request_validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvasir/v1/generation.pb.h"
#include "tests/testing/ascii_tokenizer.h"
#include "tests/testing/status_matchers.h"

namespace kvasir::server {
namespace {

using ::kvasir::testing::AsciiTokenizer;
using ::kvasir::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class RequestConvertTest : public ::testing::Test {
 protected:
  RequestConvertTest() {
    model_.vocab_size = AsciiTokenizer::kVocabSize;
    model_.context_length = 64;
  }

  // What a Generate call does before queueing: convert, let the engine
  // validate (and fill defaults), name the field as the proto does.
  absl::StatusOr<engine::Request> Convert(const v1::GenerateRequest& r) {
    absl::StatusOr<engine::Request> e =
        ToEngineRequest(r, tokenizer_, chat_template_, limits_, "alpha");
    if (!e.ok()) return e.status();
    const absl::Status valid = engine::ValidateRequest(model_, limits_, *e);
    if (!valid.ok()) return ToGenerateRequestField(valid, r);
    return e;
  }

  absl::Status Error(const v1::GenerateRequest& r) {
    return Convert(r).status();
  }

  static v1::GenerateRequest Text(const std::string& text) {
    v1::GenerateRequest r;
    r.set_text(text);
    return r;
  }

  engine::ModelConfig model_;
  AsciiTokenizer tokenizer_;
  const engine::chat::ChatTemplate* chat_template_ = nullptr;
  engine::RequestLimits limits_;
};

TEST_F(RequestConvertTest, TextPromptGetsBosAndDummyPrefix) {
  v1::GenerateRequest r = Text("ab");
  r.set_request_id("req-1");
  r.set_priority(3);
  r.mutable_sampling()->set_temperature(0.7f);
  r.mutable_sampling()->set_top_k(5);
  r.mutable_sampling()->set_seed(42);
  r.mutable_stopping()->set_max_new_tokens(10);
  r.mutable_stopping()->add_stop_sequences("\n\n");
  r.mutable_stopping()->set_include_stop_sequence(true);
  r.mutable_response()->set_top_logprobs(3);
  ASSERT_OK_AND_ASSIGN(engine::Request e, Convert(r));
  EXPECT_EQ(e.tenant, "alpha");
  EXPECT_EQ(e.request_id, "req-1");
  EXPECT_THAT(
      e.prompt,
      ElementsAre(AsciiTokenizer::kBos, AsciiTokenizer::TokenOf(' '),
                  AsciiTokenizer::TokenOf('a'), AsciiTokenizer::TokenOf('b')));
  EXPECT_FLOAT_EQ(e.sampling.temperature, 0.7f);
  EXPECT_EQ(e.sampling.top_k, 5);
  EXPECT_EQ(e.sampling.seed.value_or(0), 42u);
  EXPECT_EQ(e.sampling.top_p, 1.0f);  // unset keeps the default
  EXPECT_EQ(e.stopping.max_new_tokens, 10);
  EXPECT_THAT(e.stopping.stop, ElementsAre("\n\n"));
  EXPECT_TRUE(e.stopping.include_stop);
  EXPECT_EQ(e.top_logprobs, 3);
  EXPECT_EQ(e.priority, 3);
  EXPECT_EQ(e.deadline, absl::InfiniteFuture());
}

TEST_F(RequestConvertTest, ParseSpecialIsOptIn) {
  const int32_t lt = AsciiTokenizer::TokenOf('<');
  ASSERT_OK_AND_ASSIGN(engine::Request plain, Convert(Text("<s>a")));
  EXPECT_THAT(
      plain.prompt,
      ElementsAre(AsciiTokenizer::kBos, AsciiTokenizer::TokenOf(' '), lt,
                  AsciiTokenizer::TokenOf('s'), AsciiTokenizer::TokenOf('>'),
                  AsciiTokenizer::TokenOf('a')));
  v1::GenerateRequest r = Text("<s>a");
  r.set_parse_special(true);
  ASSERT_OK_AND_ASSIGN(engine::Request parsed, Convert(r));
  EXPECT_THAT(parsed.prompt,
              ElementsAre(AsciiTokenizer::kBos, AsciiTokenizer::TokenOf(' '),
                          AsciiTokenizer::kBos, AsciiTokenizer::TokenOf('a')));
}

TEST_F(RequestConvertTest, TokenIdsAndDefaults) {
  v1::GenerateRequest r;
  r.mutable_token_ids()->add_ids(1);
  r.mutable_token_ids()->add_ids(70);
  ASSERT_OK_AND_ASSIGN(engine::Request e, Convert(r));
  EXPECT_THAT(e.prompt, ElementsAre(1, 70));
  EXPECT_EQ(e.stopping.max_new_tokens, limits_.default_max_new_tokens);
  EXPECT_FALSE(e.logprobs);
  EXPECT_EQ(e.top_logprobs, 0);
  r.mutable_response()->set_logprobs(true);
  ASSERT_OK_AND_ASSIGN(engine::Request with_logprobs, Convert(r));
  EXPECT_TRUE(with_logprobs.logprobs);
  EXPECT_EQ(with_logprobs.top_logprobs, 0);
}

TEST_F(RequestConvertTest, DefaultMaxNewTokensShrinksToTheContextLeft) {
  v1::GenerateRequest r = Text(std::string(58, 'x'));  // 60 tokens of 64
  ASSERT_OK_AND_ASSIGN(engine::Request e, Convert(r));
  EXPECT_EQ(e.stopping.max_new_tokens, 4);
}

TEST_F(RequestConvertTest, PromptErrors) {
  EXPECT_THAT(Error(v1::GenerateRequest()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prompt: is missing: set text, token_ids or "
                                 "messages")));
  // Empty text is BOS alone where the vocabulary adds one (as llama.cpp
  // and `kvasir generate --prompt ""` take it).
  ASSERT_OK_AND_ASSIGN(engine::Request bos, Convert(Text("")));
  EXPECT_EQ(bos.prompt.size(), 1u);
  EXPECT_THAT(Error(Text("caf\xc3\xa9")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("text: cannot be encoded"),
                             HasSubstr("offset 3"))));
  v1::GenerateRequest empty_ids;
  empty_ids.mutable_token_ids();
  EXPECT_THAT(Error(empty_ids), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("token_ids.ids: is empty")));
  v1::GenerateRequest bad_id;
  bad_id.mutable_token_ids()->add_ids(1);
  bad_id.mutable_token_ids()->add_ids(600);
  EXPECT_THAT(Error(bad_id),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token_ids.ids[1]: 600 is outside the "
                                 "vocabulary [0, 131)")));
  bad_id.mutable_token_ids()->set_ids(1, -1);
  EXPECT_THAT(Error(bad_id), StatusIs(absl::StatusCode::kInvalidArgument,
                                      HasSubstr("token_ids.ids[1]: -1")));
  limits_.max_prompt_text_bytes = 4;
  EXPECT_THAT(Error(Text("hello")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("text: is 5 bytes of text, at most 4")));
}

v1::GenerateRequest Chat(
    std::initializer_list<std::pair<std::string, std::string>> turns) {
  v1::GenerateRequest r;
  r.mutable_messages();  // set even when empty
  for (const auto& [role, content] : turns) {
    v1::ChatMessage* m = r.mutable_messages()->add_messages();
    m->set_role(role);
    m->set_content(content);
  }
  return r;
}

TEST_F(RequestConvertTest, MessagesAreRenderedByTheModelsTemplate) {
  // No template: the request is refused, saying why.
  EXPECT_THAT(Error(Chat({{"user", "hi"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages: the model has no chat template")));
  engine::chat::ChatTemplate::Options o;
  o.source =
      "{% for m in messages %}{{ m.role[0] }}{{ m.content }}{% endfor %}"
      "{% if add_generation_prompt %}>{% endif %}";
  ASSERT_OK_AND_ASSIGN(std::unique_ptr<engine::chat::ChatTemplate> tmpl,
                       engine::chat::ChatTemplate::Create(std::move(o)));
  chat_template_ = tmpl.get();
  ASSERT_OK_AND_ASSIGN(engine::Request e,
                       Convert(Chat({{"system", "x"}, {"user", "ab"}})));
  // BOS (the vocabulary adds one), then the render "sxuab>" as text, with
  // the dummy-prefix space SentencePiece-style vocabularies put first.
  std::vector<int32_t> want = {1, AsciiTokenizer::TokenOf(' ')};
  for (char c : std::string("sxuab>")) {
    want.push_back(AsciiTokenizer::TokenOf(c));
  }
  EXPECT_EQ(e.prompt, want);
  // Errors name GenerateRequest's fields.
  EXPECT_THAT(Error(Chat({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages: must not be empty")));
  EXPECT_THAT(Error(Chat({{"user", "a"}, {"", "b"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages.messages[1].role")));
  limits_.max_prompt_text_bytes = 4;
  EXPECT_THAT(Error(Chat({{"user", "abc"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("messages: are 7 bytes of text, at most 4")));
}

TEST_F(RequestConvertTest, ContextErrors) {
  v1::GenerateRequest r = Text("ab");  // 4 tokens
  r.mutable_stopping()->set_max_new_tokens(100000);
  EXPECT_THAT(Error(r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("stopping.max_new_tokens: 100000"),
                             HasSubstr("exceeds the model's context length 64"),
                             HasSubstr("at most 60 new tokens"))));
  r.mutable_stopping()->set_max_new_tokens(0);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("stopping.max_new_tokens: 0 must "
                                           "be >= 1")));
  EXPECT_THAT(Error(Text(std::string(70, 'x'))),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("text: has 72 tokens "
                                 "(special tokens included); the model's "
                                 "context length is 64, which leaves no room "
                                 "for a new token (at most 63 prompt "
                                 "tokens)")));
  v1::GenerateRequest ids;
  for (int i = 0; i < 64; ++i) ids.mutable_token_ids()->add_ids(5);
  EXPECT_THAT(Error(ids),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token_ids.ids: has 64 tokens (special "
                                 "tokens included); the model's context "
                                 "length is 64")));
  ids.mutable_token_ids()->mutable_ids()->RemoveLast();
  ids.mutable_stopping()->set_max_new_tokens(1);
  EXPECT_TRUE(Error(ids).ok());
}

TEST_F(RequestConvertTest, SamplingErrorsNameTheField) {
  v1::GenerateRequest r = Text("a");
  r.mutable_sampling()->set_temperature(-1);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("sampling.temperature: -1")));
  r.mutable_sampling()->set_temperature(std::nanf(""));
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("sampling.temperature: nan")));
  r = Text("a");
  r.mutable_sampling()->set_top_p(0);
  EXPECT_THAT(Error(r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampling.top_p: 0 must be in (0, 1]")));
  r.mutable_sampling()->set_top_p(1.5f);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("sampling.top_p: 1.5")));
  r = Text("a");
  r.mutable_sampling()->set_min_p(2);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("sampling.min_p: 2")));
  r = Text("a");
  r.mutable_sampling()->set_top_k(-3);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("sampling.top_k: -3")));
  r = Text("a");
  r.mutable_sampling()->set_repetition_penalty(0);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("sampling.repetition_penalty: 0")));
  r.mutable_sampling()->set_repetition_penalty(
      std::numeric_limits<float>::infinity());
  EXPECT_THAT(Error(r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("sampling.repetition_penalty: inf")));
}

TEST_F(RequestConvertTest, StopAndResponseErrors) {
  v1::GenerateRequest r = Text("a");
  for (int i = 0; i < 17; ++i) r.mutable_stopping()->add_stop_sequences("x");
  EXPECT_THAT(Error(r),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("stopping.stop_sequences: 17 sequences, at "
                                 "most 16")));
  r = Text("a");
  r.mutable_stopping()->add_stop_sequences("ok");
  r.mutable_stopping()->add_stop_sequences("");
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("stopping.stop_sequences[1]: is "
                                           "empty")));
  r = Text("a");
  r.mutable_stopping()->add_stop_sequences(std::string(300, 's'));
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("stopping.stop_sequences[0]: is "
                                           "300 bytes, at most 256")));
  r = Text("a");
  r.mutable_response()->set_top_logprobs(21);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("response.top_logprobs: 21 is out "
                                           "of range [0, 20]")));
  r.mutable_response()->set_top_logprobs(-1);
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("response.top_logprobs: -1")));
  r = Text("a");
  r.set_request_id(std::string(129, 'r'));
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("request_id: is 129 characters, "
                                           "at most 128")));
  r.set_request_id("bad\nid");
  EXPECT_THAT(Error(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr("request_id: has a non-printable")));
}

}  // namespace
}  // namespace kvasir::server
