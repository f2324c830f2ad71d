// LlamaRunner::Validate: the preconditions of a Step, checked before it
// writes anything (so a refused step leaves the cache as it was).

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/model/llama_runner.h"

namespace kvasir::engine {

absl::Status LlamaRunner::Validate(absl::Span<const SequenceStep> seqs,
                                   const kvcache::KvArena& kv) const {
  const ModelConfig& c = config();
  const kvcache::KvLayout& a = kv.layout();
  if (a != layout_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "step: the KV arena's layout (", a.DebugString(),
        ") is not the runner's kv_layout() (", layout_.DebugString(), ")"));
  }
  if (seqs.empty()) {
    return absl::InvalidArgumentError("step: no sequences");
  }
  if (seqs.size() > static_cast<size_t>(options_.max_seqs)) {
    return absl::InvalidArgumentError(
        absl::StrCat("step: ", seqs.size(), " sequences exceed max_seqs ",
                     options_.max_seqs));
  }
  int64_t total = 0;
  int64_t logit_rows = 0;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const SequenceStep& s = seqs[i];
    const int64_t n = static_cast<int64_t>(s.tokens.size());
    if (n < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("step: seqs[", i, "].tokens is empty"));
    }
    if (s.compute_logits) {
      if (s.logits_last_n < 1 || s.logits_last_n > n) {
        return absl::InvalidArgumentError(
            absl::StrCat("step: seqs[", i, "].logits_last_n ", s.logits_last_n,
                         " must be in [1, ", n, "] (its token count)"));
      }
      logit_rows += s.logits_last_n;
      if (logit_rows > max_logit_rows()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "step: ", logit_rows, " or more logits rows exceed max_logit_rows ",
            max_logit_rows()));
      }
    }
    total += n;
    if (total > options_.max_batch_tokens) break;  // reported below
    for (int64_t j = 0; j < n; ++j) {
      const int32_t id = s.tokens[j];
      if (id < 0 || id >= c.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("step: seqs[", i, "].tokens[", j, "]: token id ", id,
                         " is outside the vocabulary [0, ", c.vocab_size, ")"));
      }
    }
    if (s.start_pos < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "step: seqs[", i, "].start_pos ", s.start_pos, " is negative"));
    }
    const int64_t end = int64_t{s.start_pos} + n;
    if (end > c.context_length) {
      return absl::InvalidArgumentError(absl::StrCat(
          "step: seqs[", i, "]: start_pos ", s.start_pos, " + ", n,
          " tokens = ", end, " exceeds the context length ", c.context_length));
    }
    const int64_t blocks_needed = layout_.BlocksForTokens(end);
    if (static_cast<int64_t>(s.block_table.size()) < blocks_needed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "step: seqs[", i, "].block_table has ", s.block_table.size(),
          " blocks; positions [0, ", end, ") need ", blocks_needed, " of ",
          layout_.block_size, " tokens"));
    }
    for (int64_t b = 0; b < blocks_needed; ++b) {
      const int32_t block = s.block_table[b];
      if (block < 0 || block >= kv.num_blocks()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "step: seqs[", i, "].block_table[", b, "]: block ", block,
            " is outside the arena's ", kv.num_blocks(), " blocks"));
      }
    }
  }
  if (total > options_.max_batch_tokens) {
    int64_t all = 0;
    for (const SequenceStep& s : seqs) all += s.tokens.size();
    return absl::InvalidArgumentError(
        absl::StrCat("step: ", all, " tokens exceed max_batch_tokens ",
                     options_.max_batch_tokens));
  }
  return absl::OkStatus();
}

}  // namespace kvasir::engine
