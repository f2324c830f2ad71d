#ifndef KVASIR_SERVER_HTTP_OPENAI_REQUEST_H_
#define KVASIR_SERVER_HTTP_OPENAI_REQUEST_H_

// The JSON bodies of POST /v1/completions and POST /v1/chat/completions ->
// engine::Request. Only conversion and the OpenAI API's own shape rules
// live here (types, which fields Kvasir implements); every rule on values
// (ranges, the context, stop sequences) is the engine's
// (engine/request_validation.h), and ToOpenAiField renames the engine's
// field paths into the names the client sent.
//
// Errors are FieldErrors (common/field_error.h) naming the OpenAI field
// ("temperature", "prompt[3]", "messages[1].content", "stream_options");
// an unknown model is NotFound (HTTP 404) naming "model" the same way. Fields
// Kvasir does not implement (tools, response_format, n > 1, penalties, ...) are
// accepted at their defaults and a 400 naming the field otherwise; fields the
// OpenAI API does not have are ignored, as OpenAI and vLLM do.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/engine.h"
#include "nlohmann/json.hpp"

namespace kvasir::server {

enum class OpenAiEndpoint { kCompletions, kChatCompletions };

// One chat message as sent: the text parts of its content joined.
struct ChatMessageIn {
  std::string role;
  std::string content;
};

struct OpenAiRequest {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kCompletions;
  // Everything but the tenant, request id and deadline (the caller's), and
  // for chat the prompt (rendered from `messages` by the chat template).
  // Without max_tokens: in chat, stopping.fill_room is set; in completions,
  // the engine's default (16).
  engine::Request engine;
  std::vector<ChatMessageIn> messages;  // chat only
  std::string model;                    // as sent; empty when omitted
  std::string user;                     // as sent, for the request log
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Completions: `logprobs` N (0..max_top_logprobs) was given. Chat:
  // `logprobs` was true (`top_logprobs` is engine.top_logprobs).
  bool logprobs = false;

  // How the client named the fields the engine may complain about, for
  // ToOpenAiField.
  std::string max_tokens_field = "max_tokens";  // or max_completion_tokens
  bool stop_is_string = false;
};

// What parsing needs from the served model.
struct OpenAiModelInfo {
  std::string id;  // what `model` must equal (GET /v1/models lists it)
  const engine::Tokenizer* tokenizer = nullptr;  // not owned
  const engine::RequestLimits* limits = nullptr;
};

// The body as JSON: InvalidArgument (no field) when it is not a JSON
// object, or nests more than kMaxJsonDepth levels (the body's own object
// counting as one).
inline constexpr int kMaxJsonDepth = 64;
absl::StatusOr<nlohmann::json> ParseJsonBody(absl::string_view body);

// POST /v1/completions. `prompt` is a string (encoded with the
// vocabulary's special prefix, BOS for SentencePiece and Llama 3; special
// token text is NOT parsed: user text stays text), an array of token ids
// (used as given), or an array holding one of those. `max_tokens` unset:
// the rest of the context after the prompt.
absl::StatusOr<OpenAiRequest> ParseCompletionRequest(
    const nlohmann::json& body, const OpenAiModelInfo& model);

// POST /v1/chat/completions: everything but the prompt, which the caller
// renders from `messages` with the model's chat template. `messages` is a
// non-empty list of {role, content}; content is a string, null, or a list
// of {"type": "text", "text": ...} parts.
absl::StatusOr<OpenAiRequest> ParseChatRequest(const nlohmann::json& body,
                                               const OpenAiModelInfo& model);

// `status` with an engine field path (common/field_error.h) renamed to the
// field the client sent: "prompt" -> "prompt" (chat: "messages"),
// "prompt[i]" -> "prompt[i]", "stopping.max_new_tokens" -> "max_tokens" or
// "max_completion_tokens", "sampling.<x>" -> "<x>", "stopping.stop[i]" ->
// "stop[i]" (or "stop" when it was a string), "top_logprobs" -> "logprobs"
// (completions) or "top_logprobs" (chat), "request_id" -> "X-Request-Id"
// (the header it comes from). Other statuses are returned as they are.
absl::Status ToOpenAiField(const absl::Status& status,
                           const OpenAiRequest& request);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_OPENAI_REQUEST_H_
