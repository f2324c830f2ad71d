#include "engine/tokenizer/byte_tokenizer.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvasir::engine {

ByteTokenizer::ByteTokenizer(int32_t vocab_size) : vocab_size_(vocab_size) {
  pieces_.reserve(vocab_size);
  pieces_.push_back("<unk>");
  pieces_.push_back("<s>");
  pieces_.push_back("</s>");
  for (int b = 0; b < 256; ++b)
    pieces_.push_back(absl::StrFormat("<0x%02X>", b));
  for (int32_t id = kMinVocabSize; id < vocab_size; ++id) {
    pieces_.push_back(absl::StrCat("<unused_", id - kMinVocabSize, ">"));
  }
  bytes_.resize(256);
  for (int b = 0; b < 256; ++b) bytes_[b] = static_cast<char>(b);
}

absl::StatusOr<std::unique_ptr<ByteTokenizer>> ByteTokenizer::Create(
    int32_t vocab_size) {
  if (vocab_size < kMinVocabSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "byte tokenizer: vocab_size ", vocab_size, " is below the minimum ",
        kMinVocabSize, " (3 special tokens + 256 bytes)"));
  }
  return std::unique_ptr<ByteTokenizer>(new ByteTokenizer(vocab_size));
}

absl::StatusOr<std::vector<int32_t>> ByteTokenizer::Encode(
    absl::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() + 1);
  if (options.add_special) ids.push_back(kBosId);
  for (char c : text) {
    ids.push_back(kFirstByteId + static_cast<unsigned char>(c));
  }
  return ids;
}

absl::string_view ByteTokenizer::TokenBytes(int32_t id) const {
  if (id < kFirstByteId || id >= kMinVocabSize) return {};
  return absl::string_view(bytes_).substr(id - kFirstByteId, 1);
}

absl::string_view ByteTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_size_) return {};
  return pieces_[id];
}

}  // namespace kvasir::engine
