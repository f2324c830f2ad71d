#ifndef KVASIR_ENGINE_ENGINE_OUTPUT_H_
#define KVASIR_ENGINE_ENGINE_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/engine_request.h"
#include "engine/sched/usage_meter.h"

namespace kvasir::engine {

// What happens to a request's output after a model step: sample the next
// token, detokenize it incrementally (a character split over tokens is sent
// whole), apply stop sequences (text that could start one is held back until
// it is known not to), decide whether the request is done, and feed the sink.
//
// Engine thread only. Per token it allocates nothing beyond what the
// request reserved (its token and text buffers) and the sampler's scratch.
class OutputProcessor {
 public:
  // end_of_generation: the tokenizer's EndOfGenerationIds() (EOS, end of
  // turn, end of message), in any order; context_length: the model's.
  OutputProcessor(std::vector<int32_t> end_of_generation,
                  int32_t context_length);

  // Takes the logits of the request's last known token: samples, appends
  // the token to r.tokens and calls r.sink->OnTokens with it and the text
  // it releases. Returns the finish reason when the request is done (kEos
  // for any end-of-generation token unless r.ignore_eos, which then
  // ignores them all; max_new_tokens or the context reached; a stop
  // sequence); the caller then calls Finish. An end-of-generation token
  // that finishes the request adds no text.
  std::optional<FinishReason> OnLogits(EngineRequest& r,
                                       absl::Span<const float> logits,
                                       absl::Time now);

  // Calls r.sink->OnFinish exactly once. For kDeadline and kError, text
  // still held back (a possible stop-sequence start, an incomplete
  // character) is delivered first in an OnTokens call without tokens;
  // after kCancelled it is dropped. `usage` (may be null) is charged with
  // the FinishInfo before the sink sees it, so whoever the sink tells that
  // the request ended finds it in the usage already.
  void Finish(EngineRequest& r, FinishReason reason, const absl::Status& error,
              absl::Time now, sched::UsageMeter* usage = nullptr);

 private:
  std::vector<int32_t> end_of_generation_;  // sorted
  int32_t context_length_;
  std::vector<GeneratedToken> out_;  // one entry, reused every step
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_ENGINE_OUTPUT_H_
