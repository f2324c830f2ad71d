#include "engine/model/perplexity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace kvasir::engine {

double LogSoftmaxAt(absl::Span<const float> logits, int32_t token) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0.0;
  for (float l : logits) sum += std::exp(l - max);
  return logits[token] - max - std::log(sum);
}

absl::StatusOr<PerplexityResult> ComputePerplexity(
    ModelRunner& runner, kvcache::KvArena& kv, absl::Span<const int32_t> tokens,
    const PerplexityOptions& options, const PerplexityProgress& progress) {
  const int32_t ctx = options.ctx;
  const std::string& name = options.ctx_name;
  if (ctx < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " ", ctx,
        " must be at least 3 (the second half of each chunk, less its last "
        "token, is scored)"));
  }
  const int32_t context = runner.config().context_length;
  if (ctx > context) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " ", ctx, " exceeds the model's context length ",
                     context, " (", runner.config().name, ")"));
  }
  const int64_t n_tokens = static_cast<int64_t>(tokens.size());
  if (n_tokens < 2 * int64_t{ctx}) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the text is ", n_tokens, " tokens; ", name, " ", ctx,
        " needs at least ", 2 * int64_t{ctx},
        " (two chunks, as llama-perplexity requires): give a longer text or "
        "a smaller ",
        name));
  }
  const kvcache::KvLayout& layout = kv.layout();
  const int64_t blocks = layout.BlocksForTokens(ctx);
  if (kv.num_blocks() < blocks) {
    return absl::InvalidArgumentError(
        absl::StrCat("perplexity: the KV arena has ", kv.num_blocks(),
                     " blocks; a chunk of ", ctx, " tokens needs ", blocks));
  }
  std::vector<int32_t> table(static_cast<size_t>(blocks));
  std::iota(table.begin(), table.end(), 0);
  std::vector<int32_t> chunk(static_cast<size_t>(ctx));

  PerplexityResult r;
  r.ctx = ctx;
  r.n_tokens = n_tokens;
  r.n_chunks = static_cast<int32_t>(n_tokens / ctx);
  const int32_t first = ctx / 2;
  const int32_t scored = ctx - 1 - first;
  double nll = 0.0, nll2 = 0.0;
  int64_t count = 0;
  for (int32_t c = 0; c < r.n_chunks; ++c) {
    const absl::Span<const int32_t> src =
        tokens.subspan(static_cast<size_t>(c) * ctx, ctx);
    std::copy(src.begin(), src.end(), chunk.begin());
    if (options.bos_id >= 0) chunk[0] = options.bos_id;
    SequenceStep step;
    step.tokens = chunk;
    step.start_pos = 0;
    step.block_table = table;
    step.compute_logits = true;
    step.logits_last_n = ctx - first;  // positions first .. ctx - 1
    RETURN_IF_ERROR(runner.Step({&step, 1}, kv));
    for (int32_t j = 0; j < scored; ++j) {
      const absl::Span<const float> logits = runner.logits(j);
      if (logits.empty()) {
        return absl::InternalError(
            absl::StrCat("perplexity: the runner gave no logits row ", j));
      }
      const double lp = LogSoftmaxAt(logits, chunk[first + j + 1]);
      nll -= lp;
      nll2 += lp * lp;
    }
    count += scored;
    r.chunk_ppl.push_back(std::exp(nll / count));
    if (progress) progress(c + 1, r.n_chunks, r.chunk_ppl.back());
  }
  r.n_scored = count;
  r.mean_nll = nll / count;
  r.ppl = std::exp(r.mean_nll);
  const double var = nll2 / count - r.mean_nll * r.mean_nll;
  r.ppl_error = var > 0 ? std::sqrt(var / (count - 1)) * r.ppl : 0.0;
  return r;
}

}  // namespace kvasir::engine
