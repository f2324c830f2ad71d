#include "server/rpc/request_convert.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/field_error.h"
#include "common/status_macros.h"
#include "engine/request_validation.h"
#include "kvasir/v1/generation.pb.h"

namespace kvasir::server {
namespace {

absl::StatusOr<std::vector<int32_t>> PromptTokens(
    const v1::GenerateRequest& request, const engine::Tokenizer& tokenizer,
    const engine::chat::ChatTemplate* chat_template,
    const engine::RequestLimits& limits) {
  switch (request.prompt_case()) {
    case v1::GenerateRequest::kText:
      return engine::EncodeText(
          request.text(),
          {.add_special = true,
           .parse_special =
               request.has_parse_special() && request.parse_special()},
          tokenizer, limits);
    case v1::GenerateRequest::kTokenIds: {
      const auto& ids = request.token_ids().ids();
      return std::vector<int32_t>(ids.begin(), ids.end());
    }
    case v1::GenerateRequest::kMessages: {
      std::vector<engine::chat::Message> messages;
      messages.reserve(request.messages().messages_size());
      for (const v1::ChatMessage& m : request.messages().messages()) {
        messages.push_back({m.role(), m.content()});
      }
      return engine::EncodeChatPrompt(messages, chat_template, tokenizer,
                                      limits);
    }
    case v1::GenerateRequest::PROMPT_NOT_SET:
      break;
  }
  return FieldError("prompt", "is missing: set text, token_ids or messages");
}

void ConvertSampling(const v1::SamplingParameters& s,
                     engine::SamplingParams* out) {
  if (s.has_temperature()) out->temperature = s.temperature();
  if (s.has_top_k()) out->top_k = s.top_k();
  if (s.has_top_p()) out->top_p = s.top_p();
  if (s.has_min_p()) out->min_p = s.min_p();
  if (s.has_repetition_penalty()) {
    out->repetition_penalty = s.repetition_penalty();
  }
  if (s.has_seed()) out->seed = s.seed();
}

void ConvertStopping(const v1::StoppingCriteria& s,
                     engine::StoppingParams* out) {
  if (s.has_max_new_tokens()) {
    // Values beyond int32 are clamped so that the engine reports them as
    // over the context, not wrapped.
    const int64_t n = s.max_new_tokens();
    out->max_new_tokens = static_cast<int32_t>(
        std::clamp<int64_t>(n, std::numeric_limits<int32_t>::min(),
                            std::numeric_limits<int32_t>::max()));
  }
  out->stop.assign(s.stop_sequences().begin(), s.stop_sequences().end());
  out->include_stop = s.include_stop_sequence();
  out->ignore_eos = s.ignore_eos();
}

}  // namespace

absl::StatusOr<engine::Request> ToEngineRequest(
    const v1::GenerateRequest& request, const engine::Tokenizer& tokenizer,
    const engine::chat::ChatTemplate* chat_template,
    const engine::RequestLimits& limits, absl::string_view tenant) {
  engine::Request out;
  out.tenant = std::string(tenant);
  out.request_id = request.request_id();
  absl::StatusOr<std::vector<int32_t>> prompt =
      PromptTokens(request, tokenizer, chat_template, limits);
  if (!prompt.ok()) return ToGenerateRequestField(prompt.status(), request);
  out.prompt = *std::move(prompt);
  ConvertSampling(request.sampling(), &out.sampling);
  ConvertStopping(request.stopping(), &out.stopping);
  const v1::ResponseOptions& r = request.response();
  out.logprobs = r.logprobs();
  out.top_logprobs = r.top_logprobs();
  out.priority = request.priority();
  return out;
}

absl::Status ToGenerateRequestField(const absl::Status& status,
                                    const v1::GenerateRequest& request) {
  const std::optional<std::string> path = FieldOf(status);
  if (!path.has_value()) return status;
  const bool text = request.prompt_case() == v1::GenerateRequest::kText;
  const bool ids = request.prompt_case() == v1::GenerateRequest::kTokenIds;
  std::string renamed = *path;
  if (*path == "prompt" && (text || ids)) {
    renamed = text ? "text" : "token_ids.ids";
  } else if (absl::StartsWith(*path, "prompt[")) {
    renamed = absl::StrCat("token_ids.ids", path->substr(6));
  } else if (absl::StartsWith(*path, "messages[")) {
    // EncodeChat's "messages[i].role": the repeated field is one level
    // down in GenerateRequest.
    renamed = absl::StrCat("messages.messages", path->substr(8));
  } else if (absl::StartsWith(*path, "stopping.stop")) {
    renamed = absl::StrCat("stopping.stop_sequences", path->substr(13));
  } else if (*path == "top_logprobs") {
    renamed = "response.top_logprobs";
  }
  return RenameField(status, renamed);
}

}  // namespace kvasir::server
