#ifndef KVASIR_SERVER_RPC_REQUEST_CONVERT_H_
#define KVASIR_SERVER_RPC_REQUEST_CONVERT_H_

// GenerateRequest -> engine::Request, and the engine's field paths back to
// GenerateRequest's field names. The rules a request must meet are the
// engine's (engine/request_validation.h): this file only converts.

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/engine.h"

namespace kvasir::v1 {
class GenerateRequest;
}  // namespace kvasir::v1

namespace kvasir::server {

// The engine request of `request` for `tenant`. A text prompt becomes
// engine::EncodePrompt(text) with the vocabulary's special prefix (BOS for
// SentencePiece and Llama 3; the tokenizer adds the dummy-prefix space),
// special-token text parsed when request.parse_special; token ids are used
// as given; messages are rendered by `chat_template` (nullptr: the model
// has none, an error naming messages) with engine::chat::EncodeChat. Fields
// the request leaves unset stay unset for the engine to
// fill. The deadline is left infinite (the caller sets it from the RPC).
// Errors (a missing or unencodable prompt) name GenerateRequest's fields.
absl::StatusOr<engine::Request> ToEngineRequest(
    const v1::GenerateRequest& request, const engine::Tokenizer& tokenizer,
    const engine::chat::ChatTemplate* chat_template,
    const engine::RequestLimits& limits, absl::string_view tenant);

// `status` with an engine field path (FieldOf) renamed to the
// GenerateRequest field it came from: "prompt" -> "text" or
// "token_ids.ids", "prompt[i]" -> "token_ids.ids[i]", "stopping.stop..." ->
// "stopping.stop_sequences...", "top_logprobs" -> "response.top_logprobs".
absl::Status ToGenerateRequestField(const absl::Status& status,
                                    const v1::GenerateRequest& request);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_RPC_REQUEST_CONVERT_H_
