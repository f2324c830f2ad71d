#ifndef KVASIR_TOOLS_BENCH_SERVE_WORKLOAD_H_
#define KVASIR_TOOLS_BENCH_SERVE_WORKLOAD_H_

// The prompts `kvasir bench serve` sends: random token ids of a fixed
// length, or the lines of a JSONL file. Pure functions of their inputs.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace kvasir::tools {

struct PromptSpec {
  std::vector<int32_t> token_ids;  // the prompt as ids; or
  std::string text;                // as text, when token_ids is empty
  int32_t max_tokens = 0;
};

// `n` prompts of `prompt_len` ids drawn uniformly from [3, vocab_size)
// (above the UNK/BOS/EOS ids of Llama vocabularies, so no prompt holds an
// EOS; random, so no two share a cached prefix), each asking for
// `gen_len` tokens. The same seed gives the same prompts.
// Preconditions: n, prompt_len, gen_len >= 1, vocab_size >= 4.
std::vector<PromptSpec> RandomPrompts(int32_t n, int32_t prompt_len,
                                      int32_t gen_len, int32_t vocab_size,
                                      uint64_t seed);

// Parses a JSONL file: one object per non-blank line, {"prompt": "text"}
// or {"prompt": [ids]}, with an optional "max_tokens" (>= 1; default
// `default_max_tokens`). Errors name the file and the line: NotFound for a
// missing file, InvalidArgument for a bad line or an empty file.
absl::StatusOr<std::vector<PromptSpec>> ReadPromptsFile(
    const std::string& path, int32_t default_max_tokens);

}  // namespace kvasir::tools

#endif  // KVASIR_TOOLS_BENCH_SERVE_WORKLOAD_H_
