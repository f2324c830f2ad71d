#include "server/request_convert.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "kvasir/v1/generation.pb.h"

namespace kvasir::server {
namespace {

absl::Status Invalid(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", message));
}

absl::Status CheckRequestId(const std::string& id,
                            const RequestLimits& limits) {
  if (static_cast<int64_t>(id.size()) > limits.max_request_id_chars) {
    return Invalid("request_id",
                   absl::StrCat("is ", id.size(), " characters, at most ",
                                limits.max_request_id_chars));
  }
  for (size_t i = 0; i < id.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c > 0x7e) {
      return Invalid("request_id",
                     absl::StrCat("has a non-printable or non-ASCII byte at "
                                  "offset ",
                                  i, " (printable ASCII only)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<int32_t>> EncodeText(
    absl::string_view text, const engine::EncodeOptions& options,
    const engine::Tokenizer& tokenizer, const RequestLimits& limits,
    absl::string_view noun) {
  if (static_cast<int64_t>(text.size()) > limits.max_prompt_text_bytes) {
    return Invalid(
        "text", absl::StrCat("the ", noun, " is ", text.size(),
                             " bytes, at most ", limits.max_prompt_text_bytes));
  }
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer.Encode(text, options);
  if (!ids.ok()) {
    return Invalid("text",
                   absl::StrCat("cannot be encoded: ", ids.status().message()));
  }
  return ids;
}

namespace {

absl::StatusOr<std::vector<int32_t>> PromptTokens(
    const v1::GenerateRequest& request, const engine::ModelConfig& model,
    const engine::Tokenizer& tokenizer, const RequestLimits& limits) {
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText: {
      const std::string& text = request.text();
      if (text.empty()) return Invalid("text", "the prompt is empty");
      return EncodeText(text,
                        {.add_special = true,
                         .parse_special = request.has_parse_special() &&
                                          request.parse_special()},
                        tokenizer, limits, "prompt");
    }
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = request.token_ids().ids();
      if (ids.empty()) return Invalid("token_ids.ids", "the prompt is empty");
      for (int i = 0; i < ids.size(); ++i) {
        if (ids[i] < 0 || ids[i] >= model.vocab_size) {
          return Invalid(absl::StrCat("token_ids.ids[", i, "]"),
                         absl::StrCat(ids[i], " is outside the vocabulary [0, ",
                                      model.vocab_size, ")"));
        }
      }
      return std::vector<int32_t>(ids.begin(), ids.end());
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return Invalid("prompt", "is missing: set text or token_ids");
}

absl::Status ConvertSampling(const v1::SamplingParameters& s,
                             engine::SamplingParams* out) {
  if (s.has_temperature()) out->temperature = s.temperature();
  if (s.has_top_k()) out->top_k = s.top_k();
  if (s.has_top_p()) out->top_p = s.top_p();
  if (s.has_min_p()) out->min_p = s.min_p();
  if (s.has_repetition_penalty()) {
    out->repetition_penalty = s.repetition_penalty();
  }
  if (s.has_seed()) out->seed = s.seed();
  absl::Status status = out->Validate();
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling.", status.message()));
  }
  return absl::OkStatus();
}

// The prompt must leave room for at least one new token. `request` says
// which field the prompt came from.
absl::Status CheckPromptFits(const v1::GenerateRequest& request,
                             const engine::ModelConfig& model,
                             int32_t prompt_tokens) {
  if (prompt_tokens < model.context_length) return absl::OkStatus();
  const bool text = request.prompt_case() == v1::GenerateRequest::kText;
  return Invalid(
      text ? "text" : "token_ids.ids",
      absl::StrCat(text ? "the prompt encodes to " : "the prompt has ",
                   prompt_tokens,
                   text ? " tokens (special tokens included)" : " tokens",
                   "; the model's context length is ", model.context_length,
                   ", which leaves no room for a new token (at most ",
                   model.context_length - 1, " prompt tokens)"));
}

absl::Status ConvertStopping(const v1::StoppingCriteria& s,
                             const engine::ModelConfig& model,
                             int32_t prompt_tokens, const RequestLimits& limits,
                             engine::StoppingParams* out) {
  const int32_t room = model.context_length - prompt_tokens;
  if (s.has_max_new_tokens()) {
    const int64_t n = s.max_new_tokens();
    if (n < 1) {
      return Invalid("stopping.max_new_tokens",
                     absl::StrCat(n, " must be >= 1"));
    }
    if (n > room) {
      return Invalid("stopping.max_new_tokens",
                     absl::StrCat(n, " plus the prompt's ", prompt_tokens,
                                  " tokens (", n + prompt_tokens,
                                  ") exceeds the model's context length ",
                                  model.context_length, " (at most ", room,
                                  " new tokens for this prompt)"));
    }
    out->max_new_tokens = static_cast<int32_t>(n);
  } else {
    out->max_new_tokens = std::min(limits.default_max_new_tokens, room);
  }
  if (s.stop_sequences_size() > limits.max_stop_sequences) {
    return Invalid("stopping.stop_sequences",
                   absl::StrCat(s.stop_sequences_size(), " sequences, at most ",
                                limits.max_stop_sequences));
  }
  for (int i = 0; i < s.stop_sequences_size(); ++i) {
    const std::string& stop = s.stop_sequences(i);
    const std::string field = absl::StrCat("stopping.stop_sequences[", i, "]");
    if (stop.empty()) return Invalid(field, "is empty");
    if (static_cast<int64_t>(stop.size()) > limits.max_stop_sequence_bytes) {
      return Invalid(field, absl::StrCat("is ", stop.size(), " bytes, at most ",
                                         limits.max_stop_sequence_bytes));
    }
    out->stop.push_back(stop);
  }
  out->include_stop = s.include_stop_sequence();
  out->ignore_eos = s.ignore_eos();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<engine::Request> ToEngineRequest(
    const v1::GenerateRequest& request, const engine::ModelConfig& model,
    const engine::Tokenizer& tokenizer, const RequestLimits& limits,
    absl::string_view tenant) {
  engine::Request out;
  out.tenant = std::string(tenant);
  RETURN_IF_ERROR(CheckRequestId(request.request_id(), limits));
  out.request_id = request.request_id();
  ASSIGN_OR_RETURN(out.prompt, PromptTokens(request, model, tokenizer, limits));
  RETURN_IF_ERROR(
      CheckPromptFits(request, model, static_cast<int32_t>(out.prompt.size())));
  RETURN_IF_ERROR(ConvertSampling(request.sampling(), &out.sampling));
  RETURN_IF_ERROR(ConvertStopping(request.stopping(), model,
                                  static_cast<int32_t>(out.prompt.size()),
                                  limits, &out.stopping));
  const v1::ResponseOptions& r = request.response();
  if (r.top_logprobs() < 0 || r.top_logprobs() > limits.max_top_logprobs) {
    return Invalid("response.top_logprobs",
                   absl::StrCat(r.top_logprobs(), " is out of range [0, ",
                                limits.max_top_logprobs, "]"));
  }
  if (r.top_logprobs() > 0) {
    out.top_logprobs = r.top_logprobs();
  } else {
    out.top_logprobs = r.logprobs() ? 0 : -1;
  }
  out.priority = request.priority();
  return out;
}

}  // namespace kvasir::server
