#include "engine/request_validation.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "common/status_macros.h"
#include "engine/chat/chat_prompt.h"

namespace kvasir::engine {
namespace {

absl::Status CheckPrompt(const ModelConfig& model,
                         const std::vector<int32_t>& prompt) {
  if (prompt.empty()) {
    return FieldError("prompt",
                      "is empty: a request needs at least one token (BOS "
                      "included if wanted)");
  }
  for (size_t i = 0; i < prompt.size(); ++i) {
    const int32_t id = prompt[i];
    if (id < 0 || id >= model.vocab_size) {
      return FieldError(absl::StrCat("prompt[", i, "]"),
                        absl::StrCat(id, " is outside the vocabulary [0, ",
                                     model.vocab_size, ")"));
    }
  }
  if (static_cast<int64_t>(prompt.size()) >= model.context_length) {
    return WithRefusal(
        FieldError("prompt",
                   absl::StrCat(
                       "has ", prompt.size(),
                       " tokens (special tokens included); the model's context "
                       "length is ",
                       model.context_length,
                       ", which leaves no room for a new token (at most ",
                       model.context_length - 1, " prompt tokens)")),
        Refusal::kPromptTooLong);
  }
  return absl::OkStatus();
}

absl::Status CheckMaxNewTokens(const ModelConfig& model,
                               const RequestLimits& limits,
                               int32_t prompt_tokens, bool fill_room,
                               std::optional<int32_t>& max_new_tokens) {
  const int32_t room = model.context_length - prompt_tokens;
  if (!max_new_tokens.has_value()) {
    max_new_tokens =
        fill_room ? room : std::min(limits.default_max_new_tokens, room);
    return absl::OkStatus();
  }
  const int64_t n = *max_new_tokens;
  if (n < 1) {
    return FieldError("stopping.max_new_tokens",
                      absl::StrCat(n, " must be >= 1"));
  }
  if (n > room) {
    return FieldError(
        "stopping.max_new_tokens",
        absl::StrCat(n, " plus the prompt's ", prompt_tokens, " tokens (",
                     n + prompt_tokens, ") exceeds the model's context length ",
                     model.context_length, " (at most ", room,
                     " new tokens for this prompt)"));
  }
  return absl::OkStatus();
}

absl::Status CheckStops(const RequestLimits& limits,
                        const std::vector<std::string>& stops) {
  if (static_cast<int64_t>(stops.size()) > limits.max_stop_sequences) {
    return FieldError("stopping.stop",
                      absl::StrCat(stops.size(), " sequences, at most ",
                                   limits.max_stop_sequences));
  }
  for (size_t i = 0; i < stops.size(); ++i) {
    const std::string field = absl::StrCat("stopping.stop[", i, "]");
    if (stops[i].empty()) {
      return FieldError(field,
                        "is empty (stop sequences need at least one byte)");
    }
    if (static_cast<int64_t>(stops[i].size()) >
        limits.max_stop_sequence_bytes) {
      return FieldError(field,
                        absl::StrCat("is ", stops[i].size(), " bytes, at most ",
                                     limits.max_stop_sequence_bytes));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRequestId(const RequestLimits& limits,
                            const std::string& id) {
  if (static_cast<int64_t>(id.size()) > limits.max_request_id_chars) {
    return FieldError("request_id",
                      absl::StrCat("is ", id.size(), " characters, at most ",
                                   limits.max_request_id_chars));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c > 0x7e) {
      return FieldError(
          "request_id",
          absl::StrCat("has a non-printable or non-ASCII byte at offset ", i,
                       " (printable ASCII only)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRequest(const ModelConfig& model,
                             const RequestLimits& limits, Request& request) {
  RETURN_IF_ERROR(CheckRequestId(limits, request.request_id));
  RETURN_IF_ERROR(CheckPrompt(model, request.prompt));
  RETURN_IF_ERROR(CheckMaxNewTokens(
      model, limits, static_cast<int32_t>(request.prompt.size()),
      request.stopping.fill_room, request.stopping.max_new_tokens));
  RETURN_IF_ERROR(request.sampling.Validate());
  if (request.top_logprobs < 0 ||
      request.top_logprobs > limits.max_top_logprobs) {
    return FieldError(
        "top_logprobs",
        absl::StrCat(request.top_logprobs, " is out of range [0, ",
                     limits.max_top_logprobs,
                     "] (0: the chosen token's logprob only)"));
  }
  return CheckStops(limits, request.stopping.stop);
}

absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text,
                                                const EncodeOptions& options,
                                                const Tokenizer& tokenizer,
                                                const RequestLimits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_prompt_text_bytes) {
    return WithRefusal(
        FieldError("prompt",
                   absl::StrCat("is ", text.size(), " bytes of text, at most ",
                                limits.max_prompt_text_bytes)),
        Refusal::kPromptTooLong);
  }
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text, options);
  if (!ids.ok()) {
    return FieldError(
        "prompt", absl::StrCat("cannot be encoded: ", ids.status().message()));
  }
  return ids;
}

absl::StatusOr<std::vector<int32_t>> EncodeChatPrompt(
    absl::Span<const chat::Message> messages,
    const chat::ChatTemplate* chat_template, const Tokenizer& tokenizer,
    const RequestLimits& limits) {
  int64_t bytes = 0;
  for (const chat::Message& m : messages) {
    bytes += static_cast<int64_t>(m.role.size() + m.content.size());
  }
  if (bytes > limits.max_prompt_text_bytes) {
    return WithRefusal(
        FieldError("messages",
                   absl::StrCat("are ", bytes, " bytes of text, at most ",
                                limits.max_prompt_text_bytes)),
        Refusal::kPromptTooLong);
  }
  return chat::EncodeChat(chat_template, tokenizer, messages);
}

}  // namespace kvasir::engine
