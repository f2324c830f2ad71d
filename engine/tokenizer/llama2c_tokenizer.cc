#include "engine/tokenizer/llama2c_tokenizer.h"

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "engine/model/mapped_file.h"

namespace kvasir::engine {

absl::StatusOr<std::unique_ptr<SpmTokenizer>> ParseLlama2cTokenizer(
    absl::string_view bytes, absl::string_view source) {
  size_t pos = 0;
  auto truncated = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(
        source, ": truncated llama2.c tokenizer: ", what, " at offset ", pos,
        " runs past the end of the file (", bytes.size(), " bytes)"));
  };
  auto read_i32 = [&](int32_t* out) {
    std::memcpy(out, bytes.data() + pos, sizeof(*out));
    pos += sizeof(*out);
  };
  if (bytes.size() < 4) return truncated("the header");
  int32_t max_token_length = 0;
  read_i32(&max_token_length);
  if (max_token_length <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a llama2.c tokenizer: max_token_length ",
                     max_token_length, " must be positive"));
  }

  SpmVocab vocab;
  while (pos < bytes.size()) {
    const size_t id = vocab.pieces.size();
    if (bytes.size() - pos < 8) {
      return truncated(absl::StrCat("the header of token ", id));
    }
    float score = 0;
    std::memcpy(&score, bytes.data() + pos, sizeof(score));
    pos += sizeof(score);
    int32_t len = 0;
    read_i32(&len);
    if (len < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": token ", id, " has a negative length ", len));
    }
    if (static_cast<size_t>(len) > bytes.size() - pos) {
      return truncated(absl::StrCat("token ", id, " (", len, " bytes)"));
    }
    std::string piece(bytes.substr(pos, len));
    pos += len;

    TokenType type = TokenType::kNormal;
    if (id == 0) {
      type = TokenType::kUnknown;
    } else if (id == 1 || id == 2) {
      type = TokenType::kControl;
      if (piece == "\n<s>\n") piece = "<s>";
      if (piece == "\n</s>\n") piece = "</s>";
    } else if (ParseByteToken(piece) >= 0) {
      type = TokenType::kByte;
    } else {
      piece = absl::StrReplaceAll(piece, {{" ", "\xE2\x96\x81"}});
    }
    vocab.pieces.push_back(std::move(piece));
    vocab.scores.push_back(score);
    vocab.types.push_back(type);
  }
  if (vocab.pieces.size() < 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": llama2.c tokenizer has ", vocab.pieces.size(),
                     " tokens; it needs at least <unk>, <s> and </s>"));
  }
  vocab.unk_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  return SpmTokenizer::Create(std::move(vocab), source);
}

absl::StatusOr<std::unique_ptr<SpmTokenizer>> LoadLlama2cTokenizer(
    const std::string& path) {
  ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  return ParseLlama2cTokenizer(file->bytes(), path);
}

}  // namespace kvasir::engine
