#include "tests/testing/ascii_tokenizer.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvasir::testing {

AsciiTokenizer::AsciiTokenizer() : bytes_(kVocabSize), pieces_(kVocabSize) {
  pieces_[0] = "<unk>";
  pieces_[1] = "<s>";
  pieces_[2] = "</s>";
  for (int c = 0; c < 128; ++c) {
    bytes_[3 + c] = std::string(1, static_cast<char>(c));
    if (c == ' ') {
      pieces_[3 + c] = "\xe2\x96\x81";  // "▁"
    } else if (c < 0x20 || c == 0x7f) {
      pieces_[3 + c] = absl::StrFormat("<0x%02X>", c);
    } else {
      pieces_[3 + c] = std::string(1, static_cast<char>(c));
    }
  }
}

absl::StatusOr<std::vector<int32_t>> AsciiTokenizer::Encode(
    absl::string_view text, const engine::EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_special) ids.push_back(kBos);
  if (text.empty()) return ids;
  ids.push_back(TokenOf(' '));
  for (size_t i = 0; i < text.size(); ++i) {
    if (options.parse_special) {
      const absl::string_view rest = text.substr(i);
      if (absl::StartsWith(rest, "<s>")) {
        ids.push_back(kBos);
        i += 2;
        continue;
      }
      if (absl::StartsWith(rest, "</s>")) {
        ids.push_back(kEos);
        i += 3;
        continue;
      }
    }
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 128) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "byte 0x%02X at offset %d has no token in this vocabulary", c, i));
    }
    ids.push_back(3 + c);
  }
  return ids;
}

absl::string_view AsciiTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= kVocabSize) return {};
  return bytes_[id];
}

absl::string_view AsciiTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= kVocabSize) return {};
  return pieces_[id];
}

}  // namespace kvasir::testing
