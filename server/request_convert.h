#ifndef KVASIR_SERVER_REQUEST_CONVERT_H_
#define KVASIR_SERVER_REQUEST_CONVERT_H_

// Validation of a GenerateRequest and its conversion to engine::Request.
// Every error is InvalidArgument naming the field, the value and the limit.

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/engine.h"

namespace kvasir::v1 {
class GenerateRequest;
}  // namespace kvasir::v1

namespace kvasir::server {

struct RequestLimits {
  int32_t max_stop_sequences = 16;
  int32_t max_stop_sequence_bytes = 256;
  int32_t max_top_logprobs = 20;
  int32_t max_request_id_chars = 128;
  int64_t max_prompt_text_bytes = int64_t{1} << 20;
  // max_new_tokens when the request gives none (less if the context has
  // less room left).
  int32_t default_max_new_tokens = 16;
};

// Validates `request` against the model and the limits and builds the
// engine request for `tenant`. A text prompt becomes encode(text) with the
// vocabulary's special prefix (BOS for SentencePiece and Llama 3; the
// tokenizer adds the dummy-prefix space), special-token text parsed when
// request.parse_special; token ids are used as given.
// The deadline is left infinite (the caller sets it from the RPC).
absl::StatusOr<engine::Request> ToEngineRequest(
    const v1::GenerateRequest& request, const engine::ModelConfig& model,
    const engine::Tokenizer& tokenizer, const RequestLimits& limits,
    absl::string_view tenant);

// Encodes a text prompt (Generate, noun "prompt") or text (Tokenize, noun
// "text"): INVALID_ARGUMENT naming the field `text` when it is longer than
// limits.max_prompt_text_bytes or the vocabulary cannot encode it.
absl::StatusOr<std::vector<int32_t>> EncodeText(
    absl::string_view text, const engine::EncodeOptions& options,
    const engine::Tokenizer& tokenizer, const RequestLimits& limits,
    absl::string_view noun);

}  // namespace kvasir::server

#endif  // KVASIR_SERVER_REQUEST_CONVERT_H_
