#ifndef KVASIR_SERVER_HTTP_OPENAI_RESPONSE_H_
#define KVASIR_SERVER_HTTP_OPENAI_RESPONSE_H_

// Engine output -> the JSON the OpenAI API answers with: completion and
// chat completion objects, their streaming chunks, usage, logprobs in each
// endpoint's shape, the error object, and Server-Sent Events framing.
// Pure functions; no I/O.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "nlohmann/json.hpp"
#include "server/http/openai_request.h"
#include "server/rpc/status_mapping.h"

namespace kvasir::server {

// What every object of one response repeats.
struct ResponseMeta {
  OpenAiEndpoint endpoint = OpenAiEndpoint::kCompletions;
  std::string id;       // "cmpl-<request id>" / "chatcmpl-<request id>"
  int64_t created = 0;  // Unix seconds
  std::string model;    // the served model's id
};

// "stop" (EOS, end of turn, a stop sequence) or "length".
absl::string_view OpenAiFinishReason(engine::FinishReason reason);

// {prompt_tokens, completion_tokens, total_tokens,
//  prompt_tokens_details: {cached_tokens}}.
nlohmann::json UsageJson(const engine::FinishInfo& info);

// One choice's logprobs, accumulated over the tokens as they come.
// Completions: {tokens, token_logprobs, top_logprobs: [{text: lp}] or null,
// text_offset}. Chat: {content: [{token, logprob, bytes, top_logprobs:
// [{token, logprob, bytes}]}]}. Token text is the token's output bytes
// (invalid UTF-8 is replaced when serialized).
class LogprobsBuilder {
 public:
  LogprobsBuilder(OpenAiEndpoint endpoint, int32_t top_logprobs,
                  const engine::Tokenizer* tokenizer);
  // Appends `tokens`; `text_offset` is the number of characters (code
  // points) of the returned text before each token, the text decoded as
  // the engine decodes it (engine::IncrementalDecoder: a character split
  // over tokens counts where it completes, an invalid byte is one U+FFFD).
  void Add(absl::Span<const engine::GeneratedToken> tokens);
  // What was added since the last Take (the whole when never taken), and
  // starts over (keeping the text offset).
  nlohmann::json Take();
  bool empty() const;

 private:
  nlohmann::json Empty() const;

  OpenAiEndpoint endpoint_;
  int32_t top_logprobs_;
  const engine::Tokenizer* tokenizer_;
  engine::IncrementalDecoder decoder_;
  std::string decoded_;  // scratch for decoder_'s output
  int64_t text_offset_ = 0;
  nlohmann::json current_;
};

// The whole response of a unary request: text_completion or
// chat.completion. `logprobs` is null when not asked for.
nlohmann::json CompletionJson(const ResponseMeta& meta, absl::string_view text,
                              nlohmann::json logprobs,
                              const engine::FinishInfo& info);

// A streaming chunk (text_completion / chat.completion.chunk) with
// `text` as the choice's text or delta content. `first` chat chunks carry
// the assistant role. `finish` non-null: the last choice chunk, with its
// finish_reason. `usage_null`: "usage": null, as OpenAI sends on every
// chunk when include_usage is on.
nlohmann::json ChunkJson(const ResponseMeta& meta, absl::string_view text,
                         nlohmann::json logprobs, bool first,
                         const engine::FinishInfo* finish, bool usage_null);

// The chunk after the last choice chunk when include_usage is on:
// "choices": [] and the usage.
nlohmann::json UsageChunkJson(const ResponseMeta& meta,
                              const engine::FinishInfo& info);

// {"error": {"message", "type", "param", "code"}}; `param` is the field
// the status names (common/field_error.h), or null.
nlohmann::json ErrorJson(const absl::Status& status, const HttpError& error);

// JSON text; invalid UTF-8 (a token's partial character) becomes U+FFFD.
std::string Dump(const nlohmann::json& j);

// "data: <json>\n\n".
std::string SseEvent(const nlohmann::json& j);
inline constexpr absl::string_view kSseDone = "data: [DONE]\n\n";
// A comment line: keeps the connection alive and finds a client that went
// away while nothing else is written (clients ignore it).
inline constexpr absl::string_view kSseKeepAlive = ": keep-alive\n\n";

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_HTTP_OPENAI_RESPONSE_H_
