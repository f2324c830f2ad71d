#ifndef KVASIR_ENGINE_REQUEST_VALIDATION_H_
#define KVASIR_ENGINE_REQUEST_VALIDATION_H_

// Every rule a request must meet, in one place. Front ends (gRPC, HTTP,
// the command-line tools) only convert their request to engine::Request;
// Engine::Submit checks it here. Errors are FieldErrors
// (common/field_error.h): InvalidArgument naming the field by its path in
// engine::Request ("prompt[3]", "stopping.max_new_tokens", "sampling.top_p",
// "stopping.stop[1]", "top_logprobs", "request_id"), its value and the
// limit. A front end renames the path into its own field names.
//
// A new limit on a request field is added here (its number in
// RequestLimits, engine.h), and nowhere else.

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "engine/chat/chat_template.h"
#include "engine/engine.h"
#include "engine/model/model.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// Fills what the request left to the engine (stopping.max_new_tokens: the
// limits' default, or less when the context has less room after the
// prompt), then checks every field against the model and the limits: the
// prompt (at least one token, ids in the vocabulary, at least one position
// of the context left for a new token), max_new_tokens (>= 1, prompt +
// max_new_tokens within the context), sampling values, top_logprobs, stop
// sequences (count, bytes, none empty) and request_id (length, printable
// ASCII).
absl::Status ValidateRequest(const ModelConfig& model,
                             const RequestLimits& limits, Request& request);

// Text's token ids: a FieldError "prompt" when the text is longer than
// limits.max_prompt_text_bytes or the vocabulary cannot encode it. Empty
// text is the special prefix alone ([BOS] where the vocabulary adds one, as
// llama.cpp and `kvasir generate --prompt ""` take it); no token at all is
// refused by ValidateRequest.
absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text,
                                                const EncodeOptions& options,
                                                const Tokenizer& tokenizer,
                                                const RequestLimits& limits);

// A conversation's token ids: chat::EncodeChat (engine/chat/chat_prompt.h:
// the template's render, its markers as control tokens, the messages' text
// never), after checking that the messages' text is at most
// limits.max_prompt_text_bytes in all. Errors name "messages" or
// "messages[i]...".
absl::StatusOr<std::vector<int32_t>> EncodeChatPrompt(
    absl::Span<const chat::Message> messages,
    const chat::ChatTemplate* chat_template, const Tokenizer& tokenizer,
    const RequestLimits& limits);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_REQUEST_VALIDATION_H_
