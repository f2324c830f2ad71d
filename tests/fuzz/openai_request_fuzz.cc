// The OpenAI HTTP API's request parser: bytes -> ParseJsonBody -> both
// ParseCompletionRequest and ParseChatRequest (the chat prompt rendered by
// a ChatML template with EncodeChatPrompt, as openai_call.cc does) ->
// engine::ValidateRequest. Every refusal must be InvalidArgument (NotFound
// for an unknown model); a request the engine accepts must fit the context
// with ids in the vocabulary.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "engine/chat/chat_template.h"
#include "engine/engine.h"
#include "engine/model/model.h"
#include "engine/request_validation.h"
#include "server/http/openai_request.h"
#include "tests/fuzz/fuzz_util.h"

namespace kvasir::fuzz {
namespace {

// A refusal is InvalidArgument (HTTP 400), or NotFound (404, OpenAI's
// model_not_found) for a `model` this server does not serve.
void CheckRefusal(const absl::Status& status, absl::string_view stage) {
  Check(status.code() == absl::StatusCode::kInvalidArgument ||
            status.code() == absl::StatusCode::kNotFound,
        absl::StrCat(stage,
                     ": not InvalidArgument or NotFound: ", status.ToString()));
}

void Validate(const engine::ModelConfig& model,
              const engine::RequestLimits& limits,
              server::OpenAiRequest& request) {
  engine::Request& r = request.engine;
  const absl::Status valid = engine::ValidateRequest(model, limits, r);
  if (!valid.ok()) {
    CheckRefusal(valid, "ValidateRequest");
    CheckRefusal(server::ToOpenAiField(valid, request), "ToOpenAiField");
    return;
  }
  for (int32_t id : r.prompt) {
    Check(id >= 0 && id < model.vocab_size, "accepted an id out of range");
  }
  Check(
      !r.prompt.empty() && r.stopping.max_new_tokens.has_value() &&
          static_cast<int64_t>(r.prompt.size()) + *r.stopping.max_new_tokens <=
              model.context_length,
      "accepted a request that does not fit the context");
}

}  // namespace
}  // namespace kvasir::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace kvasir;  // NOLINT: a fuzz entry point
  auto body = server::ParseJsonBody(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!body.ok()) {
    fuzz::CheckRefusal(body.status(), "ParseJsonBody");
    return 0;
  }
  const engine::Tokenizer& tok = fuzz::FuzzSpmTokenizer(true);
  engine::ModelConfig model;
  model.vocab_size = tok.vocab_size();
  model.context_length = 64;
  engine::RequestLimits limits;
  limits.max_prompt_text_bytes = 4096;
  server::OpenAiModelInfo info;
  info.id = "fuzz-model";
  info.tokenizer = &tok;
  info.limits = &limits;

  auto completion = server::ParseCompletionRequest(*body, info);
  if (completion.ok()) {
    fuzz::Validate(model, limits, *completion);
  } else {
    fuzz::CheckRefusal(completion.status(), "ParseCompletionRequest");
  }

  auto chat = server::ParseChatRequest(*body, info);
  if (!chat.ok()) {
    fuzz::CheckRefusal(chat.status(), "ParseChatRequest");
    return 0;
  }
  std::vector<engine::chat::Message> messages;
  for (const server::ChatMessageIn& m : chat->messages) {
    messages.push_back({m.role, m.content});
  }
  auto prompt = engine::EncodeChatPrompt(messages, &fuzz::FuzzChatTemplate(),
                                         tok, limits);
  if (!prompt.ok()) {
    fuzz::CheckRefusal(server::ToOpenAiField(prompt.status(), *chat),
                       "EncodeChatPrompt");
    return 0;
  }
  chat->engine.prompt = *std::move(prompt);
  fuzz::Validate(model, limits, *chat);
  return 0;
}
