#ifndef KVASIR_ENGINE_SAMPLING_SAMPLING_PARAMS_H_
#define KVASIR_ENGINE_SAMPLING_SAMPLING_PARAMS_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"

namespace kvasir::engine {

// How the next token is chosen from the logits. Defaults are greedy.
// Names follow vLLM's SamplingParams.
struct SamplingParams {
  float temperature = 0.0f;         // 0 = greedy (argmax, first max wins)
  int32_t top_k = 0;                // 0 = off; else keep the k best
  float top_p = 1.0f;               // (0, 1]; 1 = off
  float min_p = 0.0f;               // [0, 1]; 0 = off
  float repetition_penalty = 1.0f;  // > 0; 1 = off (CTRL-style, as vLLM)
  std::optional<uint64_t> seed;     // same seed + same input = same output

  // A FieldError (common/field_error.h) naming the field by its path in
  // engine::Request, its value and the allowed range, e.g.
  // "sampling.temperature: -1 must be a finite number >= 0". NaN and
  // infinities are rejected.
  absl::Status Validate() const;
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_SAMPLING_SAMPLING_PARAMS_H_
