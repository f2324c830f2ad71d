#include "engine/tokenizer/gguf_tokenizer.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"

namespace kvasir::engine {
namespace {

// An optional integer key: `fallback` when absent; -1 for the "none"
// marker (UINT32_MAX) some converters write.
absl::StatusOr<int32_t> OptionalId(const GgufFile& file, absl::string_view key,
                                   int32_t fallback) {
  if (file.FindValue(key) == nullptr) return fallback;
  ASSIGN_OR_RETURN(int64_t v, file.GetInt(key));
  if (v == 0xFFFFFFFFll || v == -1) return -1;
  if (v < 0 || v > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.path(), ": metadata key '", key, "' value ", v,
                     " is not a token id"));
  }
  return static_cast<int32_t>(v);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SpmTokenizer>> TokenizerFromGguf(
    const GgufFile& file) {
  const std::string& path = file.path();
  if (file.FindValue("tokenizer.ggml.model") == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path,
                     ": the file has no tokenizer (metadata key "
                     "'tokenizer.ggml.model' is missing)"));
  }
  ASSIGN_OR_RETURN(std::string model, file.GetString("tokenizer.ggml.model"));
  if (model != "llama") {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": tokenizer.ggml.model '", model,
        "' is not supported (supported: llama, the SentencePiece BPE vocab)"));
  }

  SpmVocab vocab;
  ASSIGN_OR_RETURN(vocab.pieces, file.GetStringArray("tokenizer.ggml.tokens"));
  const size_t n = vocab.pieces.size();
  auto check_size = [&](absl::string_view key, size_t got) -> absl::Status {
    if (got == n) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": metadata key '", key, "' has ", got,
                     " entries but tokenizer.ggml.tokens has ", n));
  };
  if (file.FindValue("tokenizer.ggml.scores") != nullptr) {
    ASSIGN_OR_RETURN(vocab.scores, file.GetFloatArray("tokenizer.ggml.scores"));
    RETURN_IF_ERROR(check_size("tokenizer.ggml.scores", vocab.scores.size()));
  } else {
    vocab.scores.assign(n, 0.0f);
  }
  if (file.FindValue("tokenizer.ggml.token_type") != nullptr) {
    ASSIGN_OR_RETURN(std::vector<int64_t> types,
                     file.GetIntArray("tokenizer.ggml.token_type"));
    RETURN_IF_ERROR(check_size("tokenizer.ggml.token_type", types.size()));
    vocab.types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::kByte)) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": tokenizer.ggml.token_type[", i, "] is ",
                         types[i], " (valid types are 0 to 6)"));
      }
      vocab.types.push_back(static_cast<TokenType>(types[i]));
    }
  } else {
    vocab.types.reserve(n);
    for (const std::string& piece : vocab.pieces) {
      vocab.types.push_back(ParseByteToken(piece) >= 0 ? TokenType::kByte
                                                       : TokenType::kNormal);
    }
  }
  ASSIGN_OR_RETURN(vocab.bos_id,
                   OptionalId(file, "tokenizer.ggml.bos_token_id", 1));
  ASSIGN_OR_RETURN(vocab.eos_id,
                   OptionalId(file, "tokenizer.ggml.eos_token_id", 2));
  ASSIGN_OR_RETURN(vocab.unk_id,
                   OptionalId(file, "tokenizer.ggml.unknown_token_id", 0));
  if (file.FindValue("tokenizer.ggml.add_space_prefix") != nullptr) {
    ASSIGN_OR_RETURN(vocab.add_space_prefix,
                     file.GetBool("tokenizer.ggml.add_space_prefix"));
  }
  return SpmTokenizer::Create(std::move(vocab), path);
}

absl::StatusOr<std::unique_ptr<SpmTokenizer>> LoadGgufTokenizer(
    const std::string& path) {
  ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  return TokenizerFromGguf(*file);
}

}  // namespace kvasir::engine
