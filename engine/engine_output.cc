#include "engine/engine_output.h"

#include <algorithm>
#include <utility>

#include "absl/strings/string_view.h"

namespace kvasir::engine {

OutputProcessor::OutputProcessor(std::vector<int32_t> end_of_generation,
                                 int32_t context_length)
    : end_of_generation_(std::move(end_of_generation)),
      context_length_(context_length),
      out_(1) {
  std::sort(end_of_generation_.begin(), end_of_generation_.end());
}

std::optional<FinishReason> OutputProcessor::OnLogits(
    EngineRequest& r, absl::Span<const float> logits, absl::Time now) {
  const int32_t token = r.sampler->Sample(logits, r.tokens);
  GeneratedToken& g = out_[0];
  g.token = token;
  g.logprob = 0.0f;
  g.top.clear();
  if (r.top_logprobs >= 0) {
    g.logprob = r.sampler->Logprobs(logits, token, r.top_logprobs, &g.top);
  }
  r.AppendToken(token);
  if (r.first_token_time == absl::InfinitePast()) r.first_token_time = now;

  std::optional<FinishReason> done;
  if (!r.ignore_eos && std::binary_search(end_of_generation_.begin(),
                                          end_of_generation_.end(), token)) {
    done = FinishReason::kEos;
  } else {
    r.decoder.Add(token, &r.text);
  }
  if (!done.has_value() && (r.num_generated() >= r.max_new_tokens ||
                            r.num_tokens() >= context_length_)) {
    done = FinishReason::kLength;
  }
  // The last token: an incomplete character will not be completed.
  if (done.has_value()) r.decoder.Flush(&r.text);

  size_t release = r.text.size();
  if (r.stop.has_value()) {
    const StopMatcher::Result m = r.stop->Check(r.text, r.checked);
    if (m.matched) {
      release = m.position + (r.include_stop ? m.length : 0);
      r.text.resize(release);
      done = FinishReason::kStop;
    } else {
      r.checked = r.text.size();
      if (!done.has_value()) release = r.text.size() - m.hold_back;
    }
  }
  // Held-back text is never a prefix of emitted text (the matcher keeps
  // the longest candidate), so release >= emitted; be safe regardless.
  release = std::max(release, r.emitted);
  const absl::string_view delta =
      absl::string_view(r.text).substr(r.emitted, release - r.emitted);
  r.emitted = release;
  r.sink->OnTokens(out_, delta);
  return done;
}

void OutputProcessor::Finish(EngineRequest& r, FinishReason reason,
                             const absl::Status& error, absl::Time now,
                             sched::UsageMeter* usage) {
  if (reason == FinishReason::kDeadline || reason == FinishReason::kError) {
    r.decoder.Flush(&r.text);
    if (r.text.size() > r.emitted) {
      const absl::string_view rest =
          absl::string_view(r.text).substr(r.emitted);
      r.emitted = r.text.size();
      r.sink->OnTokens({}, rest);
    }
  }
  FinishInfo info;
  info.reason = reason;
  if (reason == FinishReason::kError) {
    info.error =
        error.ok() ? absl::InternalError("unknown engine error") : error;
  }
  info.prompt_tokens = r.prompt_len;
  info.generated_tokens = r.num_generated();
  info.cached_prompt_tokens = r.cached_prompt_tokens;
  info.preemptions = r.preemptions;
  info.started = r.started;
  info.queue_time = (r.started ? r.first_scheduled_time : now) - r.submit_time;
  info.time_to_first_token = r.first_token_time == absl::InfinitePast()
                                 ? absl::ZeroDuration()
                                 : r.first_token_time - r.submit_time;
  info.total_time = now - r.submit_time;
  if (usage != nullptr) usage->RecordFinished(r.tenant, info);
  r.sink->OnFinish(info);
}

}  // namespace kvasir::engine
