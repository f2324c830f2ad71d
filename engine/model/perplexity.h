#ifndef KVASIR_ENGINE_MODEL_PERPLEXITY_H_
#define KVASIR_ENGINE_MODEL_PERPLEXITY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/model/model_runner.h"
#include "kvcache/kv_arena.h"

namespace kvasir::engine {

// Perplexity exactly as llama.cpp's `llama-perplexity` computes it (its
// default mode, tools/perplexity/perplexity.cpp):
//
//   - the text is tokenized once (BOS first when the vocabulary adds one:
//     the caller's job) and cut into n_chunks = tokens / ctx chunks of ctx
//     tokens (the tail is dropped); at least 2 * ctx tokens are needed;
//   - each chunk is a fresh sequence whose first token is replaced by BOS
//     (when the vocabulary adds one);
//   - only the second half is scored: with first = ctx / 2, the logits at
//     positions first .. ctx - 2 predict the tokens at first + 1 .. ctx - 1
//     (ctx - 1 - first tokens per chunk);
//   - log p = logit[tok] - max - log(sum exp(logit - max)) (float logits,
//     double sum), PPL = exp(mean NLL), and the uncertainty
//     PPL * sqrt((mean(NLL^2) - mean(NLL)^2) / (count - 1)).
struct PerplexityOptions {
  int32_t ctx = 512;
  // BOS id to put first in each chunk; -1: chunks keep their first token
  // (a vocabulary that adds no BOS).
  int32_t bos_id = -1;
  // How errors name ctx (the command's flag).
  std::string ctx_name = "ctx";
};

struct PerplexityResult {
  int32_t ctx = 0;
  int64_t n_tokens = 0;           // of the whole text
  int32_t n_chunks = 0;           // tokens / ctx
  int64_t n_scored = 0;           // n_chunks * (ctx - 1 - ctx / 2)
  std::vector<double> chunk_ppl;  // running estimate after each chunk
  double mean_nll = 0.0;          // nats per scored token
  double ppl = 0.0;
  double ppl_error = 0.0;  // llama.cpp's "+/-"
};

// Called after each chunk: (chunks done, chunks in all, running perplexity).
using PerplexityProgress = std::function<void(int32_t, int32_t, double)>;

// Runs the chunks through `runner` one prefill step each (logits of the
// scored half in that step: SequenceStep::logits_last_n), with the chunk's
// K/V in blocks 0 .. of `kv` (overwritten by every chunk).
//
// Needs a runner that takes ctx tokens and ctx - ctx / 2 logits rows in one
// step and an arena of at least ceil(ctx / block_size) blocks. InvalidArgument
// naming options.ctx_name when ctx < 3 (no token to score) or exceeds the
// model's context length, and when the text is too short (the message gives
// its token count and the 2 * ctx needed); the runner's error otherwise.
// Allocates per call, not per token.
absl::StatusOr<PerplexityResult> ComputePerplexity(
    ModelRunner& runner, kvcache::KvArena& kv, absl::Span<const int32_t> tokens,
    const PerplexityOptions& options,
    const PerplexityProgress& progress = nullptr);

// log p(token) under `logits`, as llama.cpp computes it.
double LogSoftmaxAt(absl::Span<const float> logits, int32_t token);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_PERPLEXITY_H_
