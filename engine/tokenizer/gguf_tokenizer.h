#ifndef KVASIR_ENGINE_TOKENIZER_GGUF_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_GGUF_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "engine/model/gguf_file.h"
#include "engine/tokenizer/spm_tokenizer.h"

namespace kvasir::engine {

// The tokenizer a GGUF file carries: `tokenizer.ggml.model` must be "llama"
// (SentencePiece BPE); reads tokenizer.ggml.tokens, .scores (default 0),
// .token_type (default: inferred, "<0xNN>" pieces are byte tokens),
// .bos_token_id (default 1), .eos_token_id (2), .unknown_token_id (0) and
// .add_space_prefix (true). Errors name the file and the key:
// NotFound when the file has no tokenizer, InvalidArgument for another
// tokenizer model or inconsistent arrays.
absl::StatusOr<std::unique_ptr<SpmTokenizer>> TokenizerFromGguf(
    const GgufFile& file);

// Opens `path` and reads only its tokenizer (vocab-only GGUF files work).
absl::StatusOr<std::unique_ptr<SpmTokenizer>> LoadGgufTokenizer(
    const std::string& path);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_GGUF_TOKENIZER_H_
