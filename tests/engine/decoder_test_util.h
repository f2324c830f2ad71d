#ifndef KVASIR_TESTS_ENGINE_DECODER_TEST_UTIL_H_
#define KVASIR_TESTS_ENGINE_DECODER_TEST_UTIL_H_

// Helpers for the decoder tests: small random Llama models, a trivial
// tokenizer, and a naive reference forward pass (scalar loops in double,
// dense per-sequence K/V, no paging) to check the runner against.

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "engine/model/llama_runner.h"
#include "engine/model/model.h"
#include "engine/tokenizer/tokenizer.h"
#include "kvcache/kv_arena.h"

namespace kvasir::engine::testing {

// A tokenizer whose token i is the text "<i>"; enough for runners that
// never tokenize.
class IdTokenizer final : public Tokenizer {
 public:
  explicit IdTokenizer(int32_t vocab_size);
  int32_t vocab_size() const override { return vocab_size_; }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  absl::StatusOr<std::vector<int32_t>> Encode(
      absl::string_view text, const EncodeOptions& options) const override;
  absl::string_view TokenBytes(int32_t id) const override;
  absl::string_view Piece(int32_t id) const override { return TokenBytes(id); }

 private:
  int32_t vocab_size_;
  std::vector<std::string> pieces_;
};

// Shape of a small test model: D = n_heads * head_dim.
struct TinyShape {
  std::string name;
  int n_heads = 4;
  int n_kv_heads = 4;
  int head_dim = 16;
  int n_layers = 2;
  int hidden_dim = 96;
  int vocab_size = 101;
  int context_length = 128;
  bool tied_output = false;
};

// MHA (4/4), GQA G=2 (8/4), GQA G=4 (8/2), MQA (4/1); untied.
std::vector<TinyShape> TinyShapes();

// A model with uniformly random weights scaled so activations stay O(1),
// deterministic in `seed`, with an IdTokenizer.
std::unique_ptr<Model> RandomModel(const TinyShape& shape, uint32_t seed);

// Deep copy (tensors copied, new IdTokenizer).
std::unique_ptr<Model> CopyModel(const Model& model);

// Logits [tokens.size()][vocab] of the reference forward pass: the logits
// after each position of one sequence.
std::vector<std::vector<float>> ReferenceLogits(
    const Model& model, absl::Span<const int32_t> tokens);

// `n` token ids uniform in [0, vocab).
std::vector<int32_t> RandomTokens(int n, int vocab, uint32_t seed);

// Sequences decoded side by side by a real runner, one token per step after
// their prompts; every step schedules all unfinished sequences. Each
// sequence owns blocks for max_len positions. Failures are test failures.
class Batch {
 public:
  Batch(LlamaRunner& runner, int n_seqs, int max_len);

  // One step: seqs[i] gets tokens[i] at position pos[i]; returns the logits
  // of each sequence's last token (empty when the step failed).
  std::vector<std::vector<float>> Step(
      const std::vector<std::vector<int32_t>>& tokens,
      const std::vector<int32_t>& pos);

 private:
  LlamaRunner& runner_;
  int blocks_per_seq_;
  std::unique_ptr<kvcache::KvArena> kv_;
  std::vector<std::vector<int32_t>> tables_;
};

// Largest |a[i] - b[i]| / max(1, |b[i]|); sizes must match.
double MaxRelError(absl::Span<const float> a, absl::Span<const float> b);

// Runner options for the tiny models: 64 batch tokens, 8 sequences,
// blocks of 4.
LlamaRunner::Options SmallOptions();

// A runner owning a copy of `model`; nullptr (with a test failure) when
// Create fails.
std::unique_ptr<LlamaRunner> MakeRunner(const LlamaRunner::Options& options,
                                        const Model& model);

// An arena of `blocks` blocks in the runner's layout.
kvcache::KvArena MakeArena(const LlamaRunner& runner, int blocks);

}  // namespace kvasir::engine::testing

#endif  // KVASIR_TESTS_ENGINE_DECODER_TEST_UTIL_H_
