#include "engine/model/kv_calibration.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/text_file.h"
#include "engine/model/llama_runner.h"
#include "kvcache/kv_arena.h"

namespace kvasir::engine {
namespace {

constexpr int kMaxChunkTokens = 4096;
constexpr int kMinGenerated = 16;
constexpr int kMaxGenerated = 65536;

// The token a sequence starts with: BOS, or for vocabularies without one
// (Qwen2) EOS, which their documents are separated by.
int32_t StartToken(const Tokenizer& t) {
  return t.bos_id() >= 0 ? t.bos_id() : t.eos_id();
}

// A runner over `model` (borrowed) with one sequence of up to `step_tokens`
// per step and a cache for `max_len` tokens.
struct Pass {
  std::unique_ptr<LlamaRunner> runner;
  std::unique_ptr<kvcache::KvArena> kv;
  std::vector<int32_t> blocks;
};

absl::StatusOr<Pass> MakePass(
    const Model& model, int step_tokens, int max_len, int num_threads,
    std::function<void(int, const float*, int)> observer) {
  LlamaRunner::Options ro;
  ro.max_batch_tokens = step_tokens;
  ro.max_seqs = 1;
  ro.num_threads = num_threads;
  ro.attention_input_observer = std::move(observer);
  // The runner copies what it needs; the model outlives the pass.
  std::shared_ptr<const Model> borrowed(&model, [](const Model*) {});
  Pass pass;
  ASSIGN_OR_RETURN(pass.runner, LlamaRunner::Create(ro, borrowed));
  const kvcache::KvLayout layout = pass.runner->kv_layout();
  const int64_t blocks = layout.BlocksForTokens(max_len);
  ASSIGN_OR_RETURN(
      kvcache::KvArena arena,
      kvcache::KvArena::Create(layout, blocks * layout.BlockBytes()));
  pass.kv = std::make_unique<kvcache::KvArena>(std::move(arena));
  for (int32_t b = 0; b < pass.kv->num_blocks(); ++b) pass.blocks.push_back(b);
  return pass;
}

int ChunkLimit(const Model& model, const CalibrationOptions& options) {
  return std::min(options.chunk_tokens, model.config.context_length);
}

// Samples `options.generated_tokens` tokens at temperature 1.
absl::StatusOr<std::vector<std::vector<int32_t>>> SampleText(
    const Model& model, const CalibrationOptions& options) {
  const Tokenizer& tok = *model.tokenizer;
  const int32_t start = StartToken(tok);
  if (start < 0) {
    return absl::InvalidArgumentError(
        "calibration: the model's vocabulary has neither BOS nor EOS to "
        "start sampled calibration text from; give a calibration text file");
  }
  const int limit = ChunkLimit(model, options);
  ASSIGN_OR_RETURN(Pass pass,
                   MakePass(model, 1, limit, options.num_threads, {}));
  std::mt19937_64 rng(options.seed);
  const int vocab = model.config.vocab_size;
  std::vector<double> probs(static_cast<size_t>(vocab));
  std::vector<std::vector<int32_t>> sequences;
  int produced = 0;
  while (produced < options.generated_tokens) {
    std::vector<int32_t> seq = {start};
    while (static_cast<int>(seq.size()) < limit &&
           produced < options.generated_tokens) {
      SequenceStep step;
      step.tokens = absl::MakeConstSpan(&seq.back(), 1);
      step.start_pos = static_cast<int32_t>(seq.size()) - 1;
      step.block_table = pass.blocks;
      step.compute_logits = true;
      RETURN_IF_ERROR(pass.runner->Step({&step, 1}, *pass.kv));
      const absl::Span<const float> logits = pass.runner->logits(0);
      const float top = *std::max_element(logits.begin(), logits.end());
      double sum = 0;
      for (int v = 0; v < vocab; ++v) {
        probs[v] = std::exp(static_cast<double>(logits[v]) - top);
        sum += probs[v];
      }
      // 53 random bits in [0, 1): the same draw on every platform.
      double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
      int32_t next = vocab - 1;
      for (int v = 0; v < vocab; ++v) {
        if (u < probs[v]) {
          next = v;
          break;
        }
        u -= probs[v];
      }
      ++produced;
      if (tok.IsEndOfGeneration(next)) break;
      seq.push_back(next);
    }
    if (seq.size() >= 2) sequences.push_back(std::move(seq));
  }
  if (sequences.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "calibration: the model ended every sampled text at once in ",
        options.generated_tokens,
        " tokens; give a calibration text file instead"));
  }
  return sequences;
}

}  // namespace

absl::StatusOr<std::vector<std::vector<int32_t>>> CalibrationTokens(
    const Model& model, const CalibrationOptions& options) {
  if (options.chunk_tokens < 2 || options.chunk_tokens > kMaxChunkTokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration: chunk_tokens ", options.chunk_tokens,
                     " must be in [2, ", kMaxChunkTokens, "]"));
  }
  if (model.tokenizer == nullptr) {
    return absl::InvalidArgumentError(
        "calibration: the model has no tokenizer");
  }
  if (options.text_file.empty()) {
    if (options.generated_tokens < kMinGenerated ||
        options.generated_tokens > kMaxGenerated) {
      return absl::InvalidArgumentError(absl::StrCat(
          "calibration: generated_tokens ", options.generated_tokens,
          " must be in [", kMinGenerated, ", ", kMaxGenerated, "]"));
    }
    return SampleText(model, options);
  }
  ASSIGN_OR_RETURN(const std::string text,
                   ReadTextFile(options.text_file, "calibration text file"));
  ASSIGN_OR_RETURN(std::vector<int32_t> tokens,
                   model.tokenizer->Encode(text, EncodeOptions{}));
  const int32_t start = StartToken(*model.tokenizer);
  if (start >= 0 && (tokens.empty() || tokens[0] != start)) {
    tokens.insert(tokens.begin(), start);
  }
  if (tokens.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration text file '", options.text_file, "' has ",
                     tokens.size(), " tokens; at least 2 are needed"));
  }
  // Chunks of `limit` tokens, each restarting at the start token (as
  // perplexity does), so no position goes past what the model saw trained.
  const size_t limit = static_cast<size_t>(ChunkLimit(model, options));
  std::vector<std::vector<int32_t>> chunks;
  size_t pos = start >= 0 ? 1 : 0;
  while (pos < tokens.size()) {
    std::vector<int32_t> chunk;
    if (start >= 0) chunk.push_back(start);
    const size_t take = std::min(limit - chunk.size(), tokens.size() - pos);
    chunk.insert(chunk.end(), tokens.begin() + pos,
                 tokens.begin() + pos + take);
    pos += take;
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

absl::StatusOr<CalibrationStats> CollectCalibrationStats(
    const Model& model, const std::vector<std::vector<int32_t>>& sequences,
    int num_threads) {
  const ModelConfig& c = model.config;
  size_t longest = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("calibration: sequence ", i, " is empty"));
    }
    longest = std::max(longest, sequences[i].size());
  }
  if (longest == 0) {
    return absl::InvalidArgumentError("calibration: no tokens to run");
  }
  if (longest >
      static_cast<size_t>(std::min(c.context_length, kMaxChunkTokens))) {
    return absl::InvalidArgumentError(
        absl::StrCat("calibration: a sequence of ", longest, " tokens exceeds ",
                     std::min(c.context_length, kMaxChunkTokens)));
  }
  CalibrationStats stats;
  stats.dim = c.dim;
  const int64_t w = c.dim + 1;
  stats.moment.assign(c.n_layers, std::vector<double>(w * w, 0.0));
  auto observe = [&stats, w](int layer, const float* xn, int rows) {
    std::vector<double>& m = stats.moment[layer];
    std::vector<double> x(static_cast<size_t>(w));
    for (int r = 0; r < rows; ++r) {
      const float* row = xn + int64_t{r} * (w - 1);
      std::copy(row, row + w - 1, x.begin());
      x[w - 1] = 1.0;
      for (int64_t i = 0; i < w; ++i) {
        const double xi = x[i];
        double* out = m.data() + i * w;
        for (int64_t j = 0; j <= i; ++j) out[j] += xi * x[j];
      }
    }
  };
  ASSIGN_OR_RETURN(Pass pass,
                   MakePass(model, static_cast<int>(longest),
                            static_cast<int>(longest), num_threads, observe));
  for (const std::vector<int32_t>& seq : sequences) {
    SequenceStep step;
    step.tokens = seq;
    step.start_pos = 0;
    step.block_table = pass.blocks;
    step.compute_logits = false;
    RETURN_IF_ERROR(pass.runner->Step({&step, 1}, *pass.kv));
    stats.tokens += static_cast<int64_t>(seq.size());
  }
  // Mirror the lower triangle and average.
  for (std::vector<double>& m : stats.moment) {
    for (int64_t i = 0; i < w; ++i) {
      for (int64_t j = 0; j <= i; ++j) {
        m[i * w + j] /= static_cast<double>(stats.tokens);
        m[j * w + i] = m[i * w + j];
      }
    }
  }
  return stats;
}

}  // namespace kvasir::engine
