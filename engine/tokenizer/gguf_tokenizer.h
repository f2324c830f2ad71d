#ifndef KVASIR_ENGINE_TOKENIZER_GGUF_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_GGUF_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/gguf_file.h"
#include "engine/tokenizer/tokenizer.h"

namespace kvasir::engine {

// The tokenizer a GGUF file carries, by `tokenizer.ggml.model`:
//   llama: SentencePiece BPE (SpmTokenizer) from tokenizer.ggml.tokens,
//     .scores (default 0), .token_type (default: inferred, "<0xNN>" pieces
//     are byte tokens), .bos_token_id (default 1), .eos_token_id (2),
//     .unknown_token_id (0), .add_space_prefix (true), .add_bos_token (true);
//   gpt2: byte-level BPE (BpeTokenizer) from .tokens, .token_type (default
//     all normal), .merges (required), .pre (default "default"),
//     .bos_token_id, .eos_token_id (default none), .add_bos_token (default:
//     the pre-tokenizer's; Llama 3 adds BOS, Qwen2 does not).
// Both read the end-of-generation tokens .eot_token_id and .eom_token_id;
// when a key is absent, a control or user-defined token spelled like a
// known end of turn ("<|eot_id|>", "<|im_end|>", "<|end|>",
// "<end_of_turn>", "<|endoftext|>", "<EOT>") or end of message
// ("<|eom_id|>") takes its place, as llama.cpp does for the many files that
// do not declare them.
//
// Errors name the file and the key: NotFound when the file has no
// tokenizer; InvalidArgument for another tokenizer model (listing the
// supported ones), a missing tokenizer.ggml.merges, an unknown
// tokenizer.ggml.pre, or inconsistent arrays.
absl::StatusOr<std::unique_ptr<Tokenizer>> TokenizerFromGguf(
    const GgufFile& file);

// Opens `path` and reads only its tokenizer (vocab-only GGUF files work).
absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(
    const std::string& path);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_GGUF_TOKENIZER_H_
