#ifndef KVASIR_TESTS_TESTING_FAKE_RUNNER_H_
#define KVASIR_TESTS_TESTING_FAKE_RUNNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/model/model.h"
#include "engine/model/model_runner.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvcache/kv_arena.h"

namespace kvasir::testing {

// A ModelRunner for engine and scheduler tests: no weights, deterministic
// logits that depend on EVERY token of the sequence, with the byte-level
// tokenizer (ids 0 <unk>, 1 BOS, 2 EOS, 3 + b for byte b).
//
// The earlier tokens are not remembered by the runner: it writes each
// token's id and position into its K/V slot in the arena and reads the
// history back from the sequence's block table at the next step. So paging,
// prefix-cache hits and recomputation after preemption must all be right
// for the output to be right; a slot holding the wrong position is an
// Internal error ("KV cache corrupted ...").
//
// The next token after a history (NextToken):
//   - after byte '1'..'9': the digit one lower; after '0': EOS (a countdown,
//     for EOS tests);
//   - after '#': the three bytes of "€" (E2 82 AC) one per step, then '!'
//     (for UTF-8 tests);
//   - otherwise a lowercase letter chosen by a hash of all tokens and their
//     positions.
// Its logit is 10; every other logit is in [-1, 0), a deterministic
// function of the history, so sampling with temperature works.
//
// Thread-safe test controls (Pause/Resume, step pacing, FailNextStep,
// counters); Step itself is called by one thread.
class FakeRunner final : public engine::ModelRunner {
 public:
  struct Options {
    int32_t vocab_size = 300;  // >= 259
    int32_t context_length = 512;
    int32_t max_batch_tokens = 1024;
    int32_t max_seqs = 64;
    int32_t n_layers = 1;
    int32_t n_kv_heads = 1;
    int32_t head_dim = 2;  // >= 2: slot [0] = token, [1] = position
    int32_t n_heads = 0;   // query heads (ModelConfig only); 0 = n_kv_heads
    // The model's tokenizer; nullptr = the byte-level ByteTokenizer of
    // vocab_size. When set, its vocabulary is the model's (vocab_size is
    // ignored) and must give byte b the id 3 + b for the bytes NextToken
    // produces (AsciiTokenizer does for all but the '#' rule): a next token
    // outside the vocabulary fails the step.
    std::shared_ptr<const engine::Tokenizer> tokenizer;
    // Real time each step takes (SetStepDelay changes it).
    absl::Duration step_delay = absl::ZeroDuration();
  };

  static absl::StatusOr<std::unique_ptr<FakeRunner>> Create(
      const Options& options);

  // The model's deterministic next token (see the class comment).
  static int32_t NextToken(absl::Span<const int32_t> history);
  // The greedy continuation of `prompt`: n tokens (stops after EOS).
  static std::vector<int32_t> Generate(std::vector<int32_t> prompt, int n);
  // Token id of byte b, and the byte ids of a text.
  static int32_t ByteId(unsigned char b) { return 3 + b; }
  static std::vector<int32_t> Ids(absl::string_view text, bool bos = true);

  const engine::ModelConfig& config() const override { return config_; }
  const engine::Tokenizer& tokenizer() const override { return *tokenizer_; }
  absl::Status Step(absl::Span<const engine::SequenceStep> seqs,
                    kvcache::KvArena& kv) override;
  absl::Span<const float> logits(int i) const override;

  // While paused, Step blocks at its start (after counting itself as
  // started) until Resume.
  void Pause();
  void Resume();
  // Every later step takes at least `delay` of real time (it waits, after
  // counting itself as started), so requests advance slowly but the engine
  // keeps applying cancels, submits and tenant updates between steps.
  // Zero = full speed; a shorter delay also ends the wait of a step in
  // progress.
  void SetStepDelay(absl::Duration delay);
  // Blocks until at least n steps have started.
  void WaitForStepsStarted(int64_t n);
  // The next Step fails with `status` (nothing is written).
  void FailNextStep(absl::Status status);

  int64_t steps_started() const;
  // Largest sequence count and token count seen in one step.
  int32_t max_seqs_seen() const;
  int32_t max_tokens_seen() const;

 private:
  explicit FakeRunner(const Options& options);
  absl::Status Validate(absl::Span<const engine::SequenceStep> seqs,
                        const kvcache::KvArena& kv) const;

  Options options_;
  engine::ModelConfig config_;
  std::shared_ptr<const engine::Tokenizer> tokenizer_;
  std::vector<std::vector<float>> logits_;  // [max_seqs][vocab]
  int n_logits_ = 0;
  std::vector<int32_t> history_;  // scratch

  mutable absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration step_delay_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_next_ ABSL_GUARDED_BY(mu_);
  int64_t steps_started_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t max_seqs_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int32_t max_tokens_seen_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace kvasir::testing

#endif  // KVASIR_TESTS_TESTING_FAKE_RUNNER_H_
