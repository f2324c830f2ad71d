#ifndef KVASIR_ENGINE_SAMPLING_SAMPLER_H_
#define KVASIR_ENGINE_SAMPLING_SAMPLER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "engine/engine.h"
#include "engine/sampling/sampling_params.h"

namespace kvasir::engine {

// A small, fast, seedable PRNG (xoshiro256**), seeded through SplitMix64.
// Deterministic across platforms.
class SamplerRng {
 public:
  explicit SamplerRng(uint64_t seed);
  uint64_t Next();
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t s_[4];
};

// Chooses next tokens for one request, in vLLM's order:
//   1. repetition penalty (CTRL-style, over prompt + generated tokens: a
//      seen token's logit is divided by the penalty when positive and
//      multiplied by it when negative);
//   2. temperature 0 (below 1e-5): greedy, the first maximum wins; else
//   3. divide by the temperature and softmax; 4. min-p (drop tokens whose
//      probability is below min_p times the best one's); 5. top-k;
//   6. top-p (keep the smallest set of best tokens whose mass reaches p);
//   7. draw from what is left, renormalized, with the request's RNG.
// NaN logits count as -infinity.
//
// Per-request state: the RNG, seeded from SamplingParams::seed or, when
// unset, from Options::default_seed. Scratch buffers are sized on the first
// call and reused: later calls with the same vocabulary do not allocate.
// Not thread-safe (one request is sampled by one thread at a time).
class Sampler {
 public:
  struct Options {
    SamplingParams params;  // validated by Create()
    // Seed when params.seed is unset (the engine picks one per request).
    uint64_t default_seed = 0;
  };

  // InvalidArgument naming the field when the params are invalid
  // (SamplingParams::Validate()).
  static absl::StatusOr<std::unique_ptr<Sampler>> Create(
      const Options& options);

  // The next token for `logits` ([vocab]; must not be empty, else -1).
  // `previous_tokens` are the prompt and the tokens generated so far (for
  // the repetition penalty); ids outside the vocabulary are ignored.
  int32_t Sample(absl::Span<const float> logits,
                 absl::Span<const int32_t> previous_tokens);

  // The log-softmax of the raw `logits` (before penalties and temperature,
  // as vLLM returns by default) at `token`; when top_n > 0, also fills
  // `top` (cleared first) with the top_n most likely tokens, best first
  // (ties: lower id first). -inf for an id outside the vocabulary.
  float Logprobs(absl::Span<const float> logits, int32_t token, int32_t top_n,
                 std::vector<TokenLogprob>* top);

  const SamplingParams& params() const { return params_; }
  bool is_greedy() const;

 private:
  struct Candidate {
    float p;  // unnormalized probability
    int32_t id;
  };

  Sampler(const SamplingParams& params, uint64_t seed)
      : params_(params), rng_(seed) {}
  void EnsureScratch(size_t vocab);
  void ApplyRepetitionPenalty(absl::Span<const int32_t> previous_tokens);
  int32_t SampleFromCandidates();

  SamplingParams params_;
  SamplerRng rng_;
  std::vector<float> logits_;          // [vocab] working copy
  std::vector<uint8_t> seen_;          // [vocab] penalty marks, kept all-zero
  std::vector<Candidate> candidates_;  // tokens still in the running
  std::vector<int32_t> order_;         // [vocab] ids, for top logprobs
};

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_SAMPLING_SAMPLER_H_
