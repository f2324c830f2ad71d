#include "engine/tokenizer/special_tokens.h"

#include <algorithm>
#include <functional>

namespace kvasir::engine {

SpecialTokenMatcher::SpecialTokenMatcher(absl::Span<const std::string> pieces,
                                         absl::Span<const TokenType> types) {
  const size_t n = std::min(pieces.size(), types.size());
  for (size_t id = 0; id < n; ++id) {
    if (types[id] != TokenType::kControl &&
        types[id] != TokenType::kUserDefined) {
      continue;
    }
    const std::string& piece = pieces[id];
    if (piece.empty()) continue;
    if (!by_piece_.emplace(piece, static_cast<int32_t>(id)).second) continue;
    first_byte_[static_cast<unsigned char>(piece[0])] = true;
    lengths_.push_back(piece.size());
  }
  std::sort(lengths_.begin(), lengths_.end(), std::greater<>());
  lengths_.erase(std::unique(lengths_.begin(), lengths_.end()), lengths_.end());
}

std::vector<TextFragment> SpecialTokenMatcher::Split(
    absl::string_view text) const {
  std::vector<TextFragment> out;
  size_t plain_start = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    int32_t token = -1;
    size_t length = 0;
    // Few distinct lengths (tens) and a first-byte filter keep this a
    // handful of hash lookups at the rare positions that could match.
    if (first_byte_[static_cast<unsigned char>(text[pos])]) {
      for (size_t len : lengths_) {
        if (len > text.size() - pos) continue;
        auto it = by_piece_.find(text.substr(pos, len));
        if (it != by_piece_.end()) {
          token = it->second;
          length = len;
          break;
        }
      }
    }
    if (token < 0) {
      ++pos;
      continue;
    }
    if (pos > plain_start) {
      out.push_back({text.substr(plain_start, pos - plain_start), -1});
    }
    out.push_back({text.substr(pos, length), token});
    pos += length;
    plain_start = pos;
  }
  if (plain_start < text.size()) {
    out.push_back({text.substr(plain_start), -1});
  }
  return out;
}

}  // namespace kvasir::engine
