#ifndef KVASIR_ENGINE_ENGINE_REQUEST_H_
#define KVASIR_ENGINE_ENGINE_REQUEST_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/model/model.h"
#include "engine/sampling/sampler.h"
#include "engine/sampling/stop_matcher.h"
#include "engine/sched/sequence.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// One request inside the engine: its scheduling state (the base, which the
// scheduler sees) and its output state: sampler, incremental detokenizer,
// stop matcher, the text produced so far and the sink.
//
// Built on the submitting thread; from then on used by the engine thread
// only.
struct EngineRequest : sched::Sequence {
  // `request` must have passed ValidateRequest (request_validation.h);
  // `tokenizer` outlives this.
  static absl::StatusOr<std::unique_ptr<EngineRequest>> Create(
      Request request, std::shared_ptr<RequestSink> sink,
      const Tokenizer* tokenizer, uint64_t default_seed, absl::Time now);

  std::shared_ptr<RequestSink> sink;
  std::unique_ptr<Sampler> sampler;
  std::optional<StopMatcher> stop;  // empty: no stop sequences
  bool include_stop = false;
  bool ignore_eos = false;
  int32_t top_logprobs = -1;  // -1: no logprobs; else the alternatives
  std::string request_id;     // the client's, for logs

  IncrementalDecoder decoder;
  // Output text so far (cut at the stop sequence once one matched).
  std::string text;
  size_t emitted = 0;  // bytes of `text` delivered to the sink
  size_t checked = 0;  // bytes of `text` searched for stop sequences

  absl::Time submit_time;
  absl::Time first_token_time = absl::InfinitePast();

 private:
  explicit EngineRequest(const Tokenizer* tokenizer) : decoder(tokenizer) {}
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_ENGINE_REQUEST_H_
