#ifndef KVASIR_ENGINE_TOKENIZER_LLAMA2C_TOKENIZER_H_
#define KVASIR_ENGINE_TOKENIZER_LLAMA2C_TOKENIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/tokenizer/spm_tokenizer.h"

namespace kvasir::engine {

// Parses a llama2.c tokenizer file: int32 max_token_length, then per token
// a float32 score, an int32 byte length and the bytes, to the end of the
// file. llama2.c's exporter turned SentencePiece's "▁" into " " and wrote
// BOS/EOS as "\n<s>\n" / "\n</s>\n"; this undoes both so the vocabulary
// reads like its GGUF twin. Types: id 0 unknown, ids 1 and 2 control (BOS,
// EOS, as in llama2.c), pieces "<0xNN>" byte tokens, the rest normal.
// `source` names the file in errors (DataLoss when truncated,
// InvalidArgument when malformed).
absl::StatusOr<std::unique_ptr<SpmTokenizer>> ParseLlama2cTokenizer(
    absl::string_view bytes, absl::string_view source);

// Reads and parses the tokenizer file at `path` (NotFound when missing).
absl::StatusOr<std::unique_ptr<SpmTokenizer>> LoadLlama2cTokenizer(
    const std::string& path);

}  // namespace kvasir::engine

#endif  // KVASIR_ENGINE_TOKENIZER_LLAMA2C_TOKENIZER_H_
