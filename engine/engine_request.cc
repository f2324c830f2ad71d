#include "engine/engine_request.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine {

absl::Status ValidateRequest(const Request& request, const ModelConfig& model) {
  if (request.prompt.empty()) {
    return absl::InvalidArgumentError(
        "prompt is empty: a request needs at least one token (BOS included "
        "if wanted)");
  }
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    const int32_t id = request.prompt[i];
    if (id < 0 || id >= model.vocab_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt[", i, "] = ", id, " is outside the vocabulary [0, ",
          model.vocab_size, ")"));
    }
  }
  const int32_t max_new = request.stopping.max_new_tokens;
  if (max_new < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_new_tokens ", max_new, " must be >= 1"));
  }
  const int64_t total = static_cast<int64_t>(request.prompt.size()) + max_new;
  if (total > model.context_length) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prompt of ", request.prompt.size(), " tokens + max_new_tokens ",
        max_new, " = ", total, " exceeds the model's context length ",
        model.context_length));
  }
  RETURN_IF_ERROR(request.sampling.Validate());
  if (request.top_logprobs < -1 || request.top_logprobs > kMaxTopLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat(
        "top_logprobs ", request.top_logprobs, " must be in [-1, ",
        kMaxTopLogprobs, "] (-1: none, 0: the chosen token's only)"));
  }
  for (size_t i = 0; i < request.stopping.stop.size(); ++i) {
    if (request.stopping.stop[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stop[", i,
                       "] is empty (stop sequences need at least "
                       "one character)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<EngineRequest>> EngineRequest::Create(
    Request request, std::shared_ptr<RequestSink> sink,
    const Tokenizer* tokenizer, uint64_t default_seed, absl::Time now) {
  std::unique_ptr<EngineRequest> r(new EngineRequest(tokenizer));
  ASSIGN_OR_RETURN(r->sampler, Sampler::Create({.params = request.sampling,
                                                .default_seed = default_seed}));
  if (!request.stopping.stop.empty()) {
    ASSIGN_OR_RETURN(StopMatcher m,
                     StopMatcher::Create(std::move(request.stopping.stop)));
    r->stop.emplace(std::move(m));
  }
  r->tenant = std::move(request.tenant);
  r->priority = request.priority;
  r->deadline = request.deadline;
  r->prompt_len = static_cast<int32_t>(request.prompt.size());
  r->max_new_tokens = request.stopping.max_new_tokens;
  r->tokens = std::move(request.prompt);
  // Sampled tokens are appended on the engine thread: never reallocate
  // there.
  r->tokens.reserve(r->tokens.size() +
                    static_cast<size_t>(request.stopping.max_new_tokens));
  r->text.reserve(std::min<size_t>(
      4 * static_cast<size_t>(request.stopping.max_new_tokens), 64 << 10));
  r->sink = std::move(sink);
  r->include_stop = request.stopping.include_stop;
  r->ignore_eos = request.stopping.ignore_eos;
  r->top_logprobs = request.top_logprobs;
  r->request_id = std::move(request.request_id);
  r->submit_time = now;
  return r;
}

}  // namespace kvasir::engine
