#include "engine/engine_request.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine {

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
  r->max_new_tokens = *request.stopping.max_new_tokens;
  r->tokens = std::move(request.prompt);
  // Sampled tokens are appended on the engine thread: never reallocate
  // there.
  r->tokens.reserve(r->tokens.size() +
                    static_cast<size_t>(*request.stopping.max_new_tokens));
  r->text.reserve(std::min<size_t>(
      4 * static_cast<size_t>(*request.stopping.max_new_tokens), 64 << 10));
  r->sink = std::move(sink);
  r->include_stop = request.stopping.include_stop;
  r->ignore_eos = request.stopping.ignore_eos;
  r->top_logprobs =
      request.logprobs || request.top_logprobs > 0 ? request.top_logprobs : -1;
  r->request_id = std::move(request.request_id);
  r->submit_time = now;
  return r;
}

}  // namespace kvasir::engine
