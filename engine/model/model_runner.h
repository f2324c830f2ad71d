#ifndef KVASIR_ENGINE_MODEL_MODEL_RUNNER_H_
#define KVASIR_ENGINE_MODEL_MODEL_RUNNER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "engine/model/model.h"
#include "kvcache/kv_arena.h"

namespace kvasir::engine {

// One sequence's share of a step: its new tokens, where they go, and where
// its earlier tokens' K/V are.
struct SequenceStep {
  // [n] new token ids at positions start_pos .. start_pos + n - 1; n >= 1.
  absl::Span<const int32_t> tokens;
  // Tokens of this sequence already in the KV cache (their K/V is read from
  // the blocks, never recomputed).
  int32_t start_pos = 0;
  // Physical block ids covering positions [0, start_pos + n), in order
  // (entry p / block_size holds position p). Owned by the caller.
  absl::Span<const int32_t> block_table;
  // Whether to produce logits for the last of `tokens`.
  bool compute_logits = false;
  // With compute_logits: logits for the last `logits_last_n` of `tokens`
  // (1 <= logits_last_n <= tokens.size()), one row per token, in order.
  // Serving asks for 1 (the next token); evaluation (`kvasir perplexity`)
  // asks for every scored position of a prefill in one step.
  int32_t logits_last_n = 1;
};

// Wall time of the last Step split by kind of work, for benchmarks.
// Where a step's time went, and the work it did: what a roofline compares
// with the machine's limits (bytes against read bandwidth, flops against
// arithmetic peak).
struct StepTimings {
  int64_t matmul_ns = 0;
  int64_t attention_ns = 0;
  int64_t other_ns = 0;
  int64_t weight_bytes = 0;  // weight bytes the matmuls read (once per call)
  int64_t matmul_flops = 0;  // 2 * rows * in_features * out_features, summed
  int64_t kv_bytes = 0;      // K/V cache bytes attention read, all layers
  // Of matmul_flops, those on bf16 weights (bf16 products, f32 sums) and
  // those on quantized weights (int8 dot products); the rest ran on f32
  // FMAs (f32 and f16 weights).
  int64_t bf16_flops = 0;
  int64_t quant_flops = 0;

  StepTimings& operator+=(const StepTimings& o) {
    matmul_ns += o.matmul_ns;
    attention_ns += o.attention_ns;
    other_ns += o.other_ns;
    weight_bytes += o.weight_bytes;
    matmul_flops += o.matmul_flops;
    kv_bytes += o.kv_bytes;
    bf16_flops += o.bf16_flops;
    quant_flops += o.quant_flops;
    return *this;
  }
};

// Runs the decoder over a batch of sequences, one step at a time, with K/V
// in a paged KvArena. Implemented by the Llama runner (oneDNN) and, in
// tests, by a fake with deterministic logits.
//
// Not thread-safe: one thread (the engine thread) calls Step and logits.
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;

  virtual const ModelConfig& config() const = 0;
  virtual const Tokenizer& tokenizer() const = 0;

  // Processes every sequence's new tokens as one batch: writes their K/V
  // into their cache slots and computes logits where asked. The sequences
  // must be distinct, the total token count at most the runner's
  // max_batch_tokens, and the arena's layout the runner's KvLayout.
  // InvalidArgument when a precondition fails (nothing is written then).
  virtual absl::Status Step(absl::Span<const SequenceStep> seqs,
                            kvcache::KvArena& kv) = 0;

  // The i-th row of logits [vocab] of the last Step, rows in sequence
  // order: each sequence with compute_logits contributes logits_last_n
  // consecutive rows (so with logits_last_n = 1 everywhere, row i is the
  // i-th such sequence's). Valid until the next Step; empty for i out of
  // range.
  virtual absl::Span<const float> logits(int i) const = 0;

  virtual StepTimings last_timings() const { return {}; }
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_MODEL_MODEL_RUNNER_H_
