#include "engine/tokenizer/spm_tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "engine/tokenizer/utf8.h"

namespace kvasir::engine {
namespace {

constexpr absl::string_view kSpaceMark = "\xE2\x96\x81";  // "▁" U+2581

// A piece of the text being encoded: bytes [start, start + len) of the
// escaped buffer, linked to its neighbours. len == 0 once merged away.
struct Symbol {
  int32_t prev;
  int32_t next;
  uint32_t start;
  uint32_t len;
};

// A candidate merge of symbols `left` and `right` (adjacent when pushed).
struct Bigram {
  float score;
  int32_t left;
  int32_t right;
  uint32_t len;  // bytes of the merged piece, to detect stale entries
};

// Best score first; among equal scores the leftmost pair.
struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

// Maps a byte offset in the escaped buffer (" " -> "▁", optional leading
// "▁") back to the offset in the caller's text.
size_t OriginalOffset(absl::string_view text, size_t escaped_pos, bool prefix) {
  size_t e = prefix ? kSpaceMark.size() : 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (e >= escaped_pos) return i;
    e += text[i] == ' ' ? kSpaceMark.size() : 1;
  }
  return text.size();
}

}  // namespace

int ParseByteToken(absl::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') {
    return -1;
  }
  int value = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = piece[k];
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return -1;
    }
    value = value * 16 + digit;
  }
  return value;
}

SpmTokenizer::SpmTokenizer(SpmVocab vocab, std::string source)
    : vocab_(std::move(vocab)),
      source_(std::move(source)),
      special_(vocab_.pieces, vocab_.types) {}

absl::StatusOr<std::unique_ptr<SpmTokenizer>> SpmTokenizer::Create(
    SpmVocab vocab, absl::string_view source) {
  const size_t n = vocab.pieces.size();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid tokenizer vocabulary: ", what));
  };
  if (n == 0) return bad("it has no tokens");
  if (n > static_cast<size_t>(INT32_MAX)) return bad("too many tokens");
  if (vocab.scores.size() != n) {
    return bad(absl::StrCat(n, " tokens but ", vocab.scores.size(), " scores"));
  }
  if (vocab.types.size() != n) {
    return bad(
        absl::StrCat(n, " tokens but ", vocab.types.size(), " token types"));
  }
  const auto size = static_cast<int32_t>(n);
  if (vocab.bos_id < 0 || vocab.bos_id >= size) {
    return bad(
        absl::StrCat("BOS id ", vocab.bos_id, " is outside [0, ", size, ")"));
  }
  if (vocab.eos_id < 0 || vocab.eos_id >= size) {
    return bad(
        absl::StrCat("EOS id ", vocab.eos_id, " is outside [0, ", size, ")"));
  }
  if (vocab.unk_id < -1 || vocab.unk_id >= size) {
    return bad(absl::StrCat("unknown-token id ", vocab.unk_id,
                            " is outside [0, ", size, ")"));
  }
  if (vocab.eot_id < -1 || vocab.eot_id >= size) {
    return bad(absl::StrCat("end-of-turn id ", vocab.eot_id, " is outside [0, ",
                            size, ")"));
  }
  if (vocab.eom_id < -1 || vocab.eom_id >= size) {
    return bad(absl::StrCat("end-of-message id ", vocab.eom_id,
                            " is outside [0, ", size, ")"));
  }

  std::unique_ptr<SpmTokenizer> tok(
      new SpmTokenizer(std::move(vocab), std::string(source)));
  const SpmVocab& v = tok->vocab_;
  tok->eog_ = EndOfGenerationSet(v.eos_id, v.eot_id, v.eom_id, v.more_eog);
  tok->token_bytes_.resize(n);
  tok->byte_to_id_.fill(-1);
  tok->piece_to_id_.reserve(n);
  for (int32_t id = 0; id < size; ++id) {
    const std::string& piece = v.pieces[id];
    switch (v.types[id]) {
      case TokenType::kByte: {
        const int byte = ParseByteToken(piece);
        if (byte < 0) {
          return bad(absl::StrCat("token ", id,
                                  " is a byte token but its "
                                  "piece '",
                                  piece, "' is not <0xNN>"));
        }
        tok->token_bytes_[id] = std::string(1, static_cast<char>(byte));
        if (tok->byte_to_id_[byte] < 0) tok->byte_to_id_[byte] = id;
        break;
      }
      case TokenType::kUndefined:
      case TokenType::kNormal:
      case TokenType::kUserDefined:
        tok->token_bytes_[id] = absl::StrReplaceAll(piece, {{kSpaceMark, " "}});
        // A later duplicate wins, as in llama.cpp.
        tok->piece_to_id_.insert_or_assign(piece, id);
        break;
      case TokenType::kUnknown:
      case TokenType::kControl:
      case TokenType::kUnused:
        break;  // contribute no text
    }
  }
  tok->has_byte_fallback_ =
      std::none_of(tok->byte_to_id_.begin(), tok->byte_to_id_.end(),
                   [](int32_t id) { return id < 0; });
  return tok;
}

absl::StatusOr<std::vector<int32_t>> SpmTokenizer::Encode(
    absl::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_special && vocab_.add_bos) ids.push_back(vocab_.bos_id);
  if (text.empty()) return ids;
  // Symbol offsets are 32-bit; no prompt comes near this.
  constexpr size_t kMaxTextBytes = size_t{1} << 30;
  if (text.size() > kMaxTextBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text of ", text.size(), " bytes is too long to encode (limit ",
        kMaxTextBytes, " bytes)"));
  }
  if (!options.parse_special) {
    RETURN_IF_ERROR(EncodeRun(text, text, vocab_.add_space_prefix, &ids));
    return ids;
  }
  bool after_special = true;  // the first run gets the prefix too
  for (const TextFragment& f : special_.Split(text)) {
    if (f.token >= 0) {
      ids.push_back(f.token);
      after_special = true;
      continue;
    }
    RETURN_IF_ERROR(EncodeRun(text, f.text,
                              vocab_.add_space_prefix && after_special, &ids));
    after_special = false;
  }
  return ids;
}

absl::Status SpmTokenizer::EncodeRun(absl::string_view text,
                                     absl::string_view run, bool prefix,
                                     std::vector<int32_t>* ids) const {
  const size_t base = static_cast<size_t>(run.data() - text.data());
  // Escape spaces and add the dummy prefix.
  std::string buf;
  buf.reserve(run.size() + 3 * (run.size() / 4 + 1));
  if (prefix) buf.append(kSpaceMark.data(), kSpaceMark.size());
  for (char c : run) {
    if (c == ' ') {
      buf.append(kSpaceMark.data(), kSpaceMark.size());
    } else {
      buf.push_back(c);
    }
  }

  // One symbol per UTF-8 character.
  std::vector<Symbol> symbols;
  symbols.reserve(buf.size());
  for (size_t i = 0; i < buf.size();) {
    const size_t len =
        std::min<size_t>(utf8::SequenceLength(buf[i]), buf.size() - i);
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({index - 1, index + 1, static_cast<uint32_t>(i),
                       static_cast<uint32_t>(len)});
    i += len;
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const uint32_t len = symbols[left].len + symbols[right].len;
    auto it = piece_to_id_.find(
        absl::string_view(buf.data() + symbols[left].start, len));
    if (it == piece_to_id_.end()) return;
    queue.push({vocab_.scores[it->second], left, right, len});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) {
    try_add(i - 1, i);
  }
  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    // Skip pairs one of whose symbols changed since the pair was queued.
    if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) {
      continue;
    }
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    const absl::string_view piece(buf.data() + s.start, s.len);
    auto it = piece_to_id_.find(piece);
    if (it != piece_to_id_.end()) {
      ids->push_back(it->second);
      continue;
    }
    for (char c : piece) {
      const int32_t id = byte_to_id_[static_cast<unsigned char>(c)];
      if (id < 0) {
        if (prefix && s.start == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "cannot encode the dummy-prefix space: '▁' has no token in the "
              "vocabulary of ",
              source_, " and it has no byte fallback"));
        }
        const size_t offset = base + OriginalOffset(run, s.start, prefix);
        return absl::InvalidArgumentError(
            absl::StrCat("cannot encode ", utf8::DescribeCharAt(text, offset),
                         " at byte offset ", offset,
                         ": it has no token in the vocabulary "
                         "of ",
                         source_, " and the vocabulary has no byte fallback"));
      }
      ids->push_back(id);
    }
  }
  return absl::OkStatus();
}

absl::string_view SpmTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return token_bytes_[id];
}

absl::string_view SpmTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return vocab_.pieces[id];
}

bool SpmTokenizer::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(eog_.begin(), eog_.end(), id);
}

}  // namespace kvasir::engine
