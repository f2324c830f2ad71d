#include "engine/tokenizer/gguf_tokenizer.h"

#include <algorithm>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/spm_tokenizer.h"

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

absl::StatusOr<bool> OptionalBool(const GgufFile& file, absl::string_view key,
                                  bool fallback) {
  if (file.FindValue(key) == nullptr) return fallback;
  return file.GetBool(key);
}

absl::Status CheckSize(const GgufFile& file, absl::string_view key, size_t got,
                       size_t want) {
  if (got == want) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(file.path(), ": metadata key '", key, "' has ", got,
                   " entries but tokenizer.ggml.tokens has ", want));
}

// tokenizer.ggml.token_type, or `infer(piece)` for each token when absent.
template <typename Infer>
absl::StatusOr<std::vector<TokenType>> ReadTypes(
    const GgufFile& file, const std::vector<std::string>& pieces, Infer infer) {
  constexpr absl::string_view kKey = "tokenizer.ggml.token_type";
  std::vector<TokenType> out;
  out.reserve(pieces.size());
  if (file.FindValue(kKey) == nullptr) {
    for (const std::string& piece : pieces) out.push_back(infer(piece));
    return out;
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> types, file.GetIntArray(kKey));
  RETURN_IF_ERROR(CheckSize(file, kKey, types.size(), pieces.size()));
  for (size_t i = 0; i < types.size(); ++i) {
    if (types[i] < 0 || types[i] > static_cast<int64_t>(TokenType::kByte)) {
      return absl::InvalidArgumentError(
          absl::StrCat(file.path(), ": tokenizer.ggml.token_type[", i, "] is ",
                       types[i], " (valid types are 0 to 6)"));
    }
    out.push_back(static_cast<TokenType>(types[i]));
  }
  return out;
}

// The id of the first special (control or user-defined) token spelled as
// one of `names`, tried in order; -1 when none is.
int32_t FindSpecialByName(const std::vector<std::string>& pieces,
                          const std::vector<TokenType>& types,
                          std::initializer_list<absl::string_view> names) {
  for (absl::string_view name : names) {
    for (size_t id = 0; id < pieces.size(); ++id) {
      if (pieces[id] == name && (types[id] == TokenType::kControl ||
                                 types[id] == TokenType::kUserDefined)) {
        return static_cast<int32_t>(id);
      }
    }
  }
  return -1;
}

struct EndIds {
  int32_t eot = -1;
  int32_t eom = -1;
  std::vector<int32_t> named;  // every special token with an end name
};

// The pieces llama.cpp treats as end of generation wherever a vocabulary
// has them as special tokens (an instruct model may end a turn with any:
// Qwen2.5 with <|im_end|> or <|endoftext|>, Llama 3 with <|eot_id|> or
// <|end_of_text|>).
constexpr absl::string_view kEndNames[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
    "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<|eom_id|>", "<EOT>",
    "_<EOT>",
    // DeepSeek's "<｜end▁of▁sentence｜>".
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81"
    "of\xE2\x96\x81"
    "sentence\xEF\xBD\x9C>"};

// tokenizer.ggml.eot_token_id / eom_token_id, or the token found by name.
absl::StatusOr<EndIds> ReadEndIds(const GgufFile& file,
                                  const std::vector<std::string>& pieces,
                                  const std::vector<TokenType>& types) {
  EndIds ids;
  constexpr absl::string_view kEot = "tokenizer.ggml.eot_token_id";
  constexpr absl::string_view kEom = "tokenizer.ggml.eom_token_id";
  if (file.FindValue(kEot) != nullptr) {
    ASSIGN_OR_RETURN(ids.eot, OptionalId(file, kEot, -1));
  } else {
    ids.eot = FindSpecialByName(pieces, types,
                                {"<|eot_id|>", "<|im_end|>", "<|end|>",
                                 "<end_of_turn>", "<|endoftext|>", "<EOT>"});
  }
  if (file.FindValue(kEom) != nullptr) {
    ASSIGN_OR_RETURN(ids.eom, OptionalId(file, kEom, -1));
  } else {
    ids.eom = FindSpecialByName(pieces, types, {"<|eom_id|>"});
  }
  for (size_t id = 0; id < pieces.size(); ++id) {
    if ((types[id] == TokenType::kControl ||
         types[id] == TokenType::kUserDefined) &&
        std::find(std::begin(kEndNames), std::end(kEndNames), pieces[id]) !=
            std::end(kEndNames)) {
      ids.named.push_back(static_cast<int32_t>(id));
    }
  }
  return ids;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> SpmFromGguf(const GgufFile& file) {
  SpmVocab vocab;
  ASSIGN_OR_RETURN(vocab.pieces, file.GetStringArray("tokenizer.ggml.tokens"));
  const size_t n = vocab.pieces.size();
  if (file.FindValue("tokenizer.ggml.scores") != nullptr) {
    ASSIGN_OR_RETURN(vocab.scores, file.GetFloatArray("tokenizer.ggml.scores"));
    RETURN_IF_ERROR(
        CheckSize(file, "tokenizer.ggml.scores", vocab.scores.size(), n));
  } else {
    vocab.scores.assign(n, 0.0f);
  }
  ASSIGN_OR_RETURN(
      vocab.types, ReadTypes(file, vocab.pieces, [](const std::string& p) {
        return ParseByteToken(p) >= 0 ? TokenType::kByte : TokenType::kNormal;
      }));
  ASSIGN_OR_RETURN(vocab.bos_id,
                   OptionalId(file, "tokenizer.ggml.bos_token_id", 1));
  ASSIGN_OR_RETURN(vocab.eos_id,
                   OptionalId(file, "tokenizer.ggml.eos_token_id", 2));
  ASSIGN_OR_RETURN(vocab.unk_id,
                   OptionalId(file, "tokenizer.ggml.unknown_token_id", 0));
  ASSIGN_OR_RETURN(const EndIds end,
                   ReadEndIds(file, vocab.pieces, vocab.types));
  vocab.eot_id = end.eot;
  vocab.eom_id = end.eom;
  vocab.more_eog = end.named;
  ASSIGN_OR_RETURN(vocab.add_space_prefix,
                   OptionalBool(file, "tokenizer.ggml.add_space_prefix", true));
  ASSIGN_OR_RETURN(vocab.add_bos,
                   OptionalBool(file, "tokenizer.ggml.add_bos_token", true));
  ASSIGN_OR_RETURN(std::unique_ptr<SpmTokenizer> tok,
                   SpmTokenizer::Create(std::move(vocab), file.path()));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> BpeFromGguf(const GgufFile& file) {
  BpeVocab vocab;
  ASSIGN_OR_RETURN(vocab.pieces, file.GetStringArray("tokenizer.ggml.tokens"));
  ASSIGN_OR_RETURN(vocab.types,
                   ReadTypes(file, vocab.pieces, [](const std::string&) {
                     return TokenType::kNormal;
                   }));
  if (file.FindValue("tokenizer.ggml.merges") == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        file.path(),
        ": the byte-level BPE tokenizer (tokenizer.ggml.model 'gpt2') needs "
        "its merges, but metadata key 'tokenizer.ggml.merges' is missing"));
  }
  ASSIGN_OR_RETURN(vocab.merges, file.GetStringArray("tokenizer.ggml.merges"));
  if (file.FindValue("tokenizer.ggml.pre") != nullptr) {
    ASSIGN_OR_RETURN(vocab.pre, file.GetString("tokenizer.ggml.pre"));
  }
  ASSIGN_OR_RETURN(vocab.bos_id,
                   OptionalId(file, "tokenizer.ggml.bos_token_id", -1));
  ASSIGN_OR_RETURN(vocab.eos_id,
                   OptionalId(file, "tokenizer.ggml.eos_token_id", -1));
  ASSIGN_OR_RETURN(const EndIds end,
                   ReadEndIds(file, vocab.pieces, vocab.types));
  vocab.eot_id = end.eot;
  vocab.eom_id = end.eom;
  vocab.more_eog = end.named;
  if (file.FindValue("tokenizer.ggml.add_bos_token") != nullptr) {
    ASSIGN_OR_RETURN(vocab.add_bos,
                     file.GetBool("tokenizer.ggml.add_bos_token"));
  }
  ASSIGN_OR_RETURN(std::unique_ptr<BpeTokenizer> tok,
                   BpeTokenizer::Create(std::move(vocab), file.path()));
  return std::unique_ptr<Tokenizer>(std::move(tok));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> TokenizerFromGguf(
    const GgufFile& file) {
  const std::string& path = file.path();
  if (file.FindValue("tokenizer.ggml.model") == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path,
                     ": the file has no tokenizer (metadata key "
                     "'tokenizer.ggml.model' is missing)"));
  }
  ASSIGN_OR_RETURN(std::string model, file.GetString("tokenizer.ggml.model"));
  if (model == "llama") return SpmFromGguf(file);
  if (model == "gpt2") return BpeFromGguf(file);
  return absl::InvalidArgumentError(absl::StrCat(
      path, ": tokenizer.ggml.model '", model,
      "' is not supported (supported: llama, the SentencePiece BPE vocab; "
      "gpt2, the byte-level BPE vocab)"));
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(
    const std::string& path) {
  ASSIGN_OR_RETURN(auto file, GgufFile::Open(path));
  return TokenizerFromGguf(*file);
}

}  // namespace kvasir::engine
