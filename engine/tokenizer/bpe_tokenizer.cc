#include "engine/tokenizer/bpe_tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "engine/tokenizer/spm_tokenizer.h"
#include "engine/tokenizer/utf8.h"

namespace kvasir::engine {
namespace {

// GPT-2's alphabet (openai/gpt-2 encoder.py, bytes_to_unicode): the bytes
// '!'..'~', 0xA1..0xAC and 0xAE..0xFF are their own code point; the other
// 68 bytes, in increasing order, become U+0100, U+0101, ...
struct ByteAlphabet {
  std::array<std::string, 256> spelling;  // byte -> UTF-8 of its code point
  std::array<int16_t, 0x144> byte_of;     // code point -> byte, or -1

  ByteAlphabet() {
    byte_of.fill(-1);
    int next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      const int cp = printable ? b : next++;
      byte_of[cp] = static_cast<int16_t>(b);
      std::string& s = spelling[b];
      if (cp < 0x80) {
        s.push_back(static_cast<char>(cp));
      } else {  // U+0080..U+0143: two bytes
        s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
      }
    }
  }
};

const ByteAlphabet& Alphabet() {
  static const ByteAlphabet* const alphabet = new ByteAlphabet();
  return *alphabet;
}

// The bytes a normal piece stands for. A character outside the alphabet
// (hand-made vocabularies) stands for its own UTF-8 bytes.
std::string DecodePiece(absl::string_view piece) {
  const ByteAlphabet& a = Alphabet();
  std::string out;
  out.reserve(piece.size());
  for (size_t i = 0; i < piece.size();) {
    const auto lead = static_cast<unsigned char>(piece[i]);
    if (lead < 0x80) {
      const int16_t b = a.byte_of[lead];
      if (b >= 0) {
        out.push_back(static_cast<char>(b));
      } else {
        out.push_back(static_cast<char>(lead));
      }
      ++i;
      continue;
    }
    if ((lead & 0xE0) == 0xC0 && i + 1 < piece.size()) {
      const int cp = ((lead & 0x1F) << 6) |
                     (static_cast<unsigned char>(piece[i + 1]) & 0x3F);
      if (cp < static_cast<int>(a.byte_of.size()) && a.byte_of[cp] >= 0) {
        out.push_back(static_cast<char>(a.byte_of[cp]));
        i += 2;
        continue;
      }
    }
    const size_t len =
        std::min<size_t>(utf8::SequenceLength(lead), piece.size() - i);
    out.append(piece.data() + i, len);
    i += len;
  }
  return out;
}

// A symbol of the word being merged; id -1 once merged into its left
// neighbour.
struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
};

// A candidate merge of adjacent symbols `left` and `right`, valid while
// both still hold the ids they had when it was queued.
struct Candidate {
  int32_t rank;
  int32_t left;
  int32_t right;
  int32_t left_id;
  int32_t right_id;
  int32_t result;
};

// Lowest rank first; among equal ranks the leftmost pair.
struct CandidateOrder {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

absl::string_view ByteToUnicode(uint8_t b) { return Alphabet().spelling[b]; }

BpeTokenizer::BpeTokenizer(BpeVocab vocab, std::string source,
                           std::unique_ptr<PreTokenizer> pre)
    : vocab_(std::move(vocab)),
      source_(std::move(source)),
      pre_(std::move(pre)),
      special_(vocab_.pieces, vocab_.types) {}

absl::StatusOr<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(
    BpeVocab vocab, absl::string_view source) {
  const size_t n = vocab.pieces.size();
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": invalid tokenizer vocabulary: ", what));
  };
  if (n == 0) return bad("tokenizer.ggml.tokens is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return bad("too many tokens");
  if (vocab.types.size() != n) {
    return bad(absl::StrCat("tokenizer.ggml.tokens has ", n,
                            " entries but tokenizer.ggml.token_type has ",
                            vocab.types.size()));
  }
  const auto size = static_cast<int32_t>(n);
  for (const auto& [key, id] :
       {std::pair<absl::string_view, int32_t>{"bos_token_id", vocab.bos_id},
        {"eos_token_id", vocab.eos_id},
        {"eot_token_id", vocab.eot_id},
        {"eom_token_id", vocab.eom_id}}) {
    if (id < -1 || id >= size) {
      return bad(absl::StrCat("tokenizer.ggml.", key, " ", id,
                              " is outside [0, ", size, ")"));
    }
  }
  absl::StatusOr<std::unique_ptr<PreTokenizer>> pre_or =
      PreTokenizer::Create(vocab.pre);
  if (!pre_or.ok()) {
    return absl::Status(pre_or.status().code(),
                        absl::StrCat(source, ": ", pre_or.status().message()));
  }
  std::unique_ptr<PreTokenizer> pre = *std::move(pre_or);
  const bool add_bos = vocab.add_bos.value_or(pre->traits().add_bos);
  if (add_bos && vocab.bos_id < 0) {
    return bad(
        "the vocabulary adds BOS (tokenizer.ggml.add_bos_token or its "
        "pre-tokenizer's default) but has no tokenizer.ggml.bos_token_id");
  }

  std::unique_ptr<BpeTokenizer> tok(
      new BpeTokenizer(std::move(vocab), std::string(source), std::move(pre)));
  tok->add_bos_ = add_bos;
  const BpeVocab& v = tok->vocab_;
  tok->eog_ = EndOfGenerationSet(v.eos_id, v.eot_id, v.eom_id, v.more_eog);
  tok->token_bytes_.resize(n);
  tok->piece_to_id_.reserve(n);
  for (int32_t id = 0; id < size; ++id) {
    const std::string& piece = v.pieces[id];
    switch (v.types[id]) {
      case TokenType::kUndefined:
      case TokenType::kNormal:
        tok->token_bytes_[id] = DecodePiece(piece);
        tok->piece_to_id_.emplace(piece, id);  // the first of duplicates
        break;
      case TokenType::kUserDefined:
        tok->token_bytes_[id] = piece;  // stored as the text itself
        break;
      case TokenType::kByte: {
        const int byte = ParseByteToken(piece);
        if (byte >= 0) {
          tok->token_bytes_[id] = std::string(1, static_cast<char>(byte));
        }
        break;
      }
      case TokenType::kUnknown:
      case TokenType::kControl:
      case TokenType::kUnused:
        break;  // contribute no text
    }
  }
  for (int b = 0; b < 256; ++b) {
    auto it = tok->piece_to_id_.find(ByteToUnicode(static_cast<uint8_t>(b)));
    tok->byte_to_id_[b] = it == tok->piece_to_id_.end() ? -1 : it->second;
  }

  if (v.merges.size() > static_cast<size_t>(INT32_MAX)) {
    return bad("tokenizer.ggml.merges has too many entries");
  }
  tok->merges_.reserve(v.merges.size());
  for (size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& merge = v.merges[i];
    const auto where = [&] {
      return absl::StrCat("tokenizer.ggml.merges[", i, "] '", merge, "'");
    };
    // The separator is the first space after the first character, as in
    // llama.cpp (a piece never contains a raw space).
    const size_t space = merge.find(' ', 1);
    if (space == std::string::npos || space + 1 == merge.size()) {
      return bad(
          absl::StrCat(where(), " is not two pieces separated by a space"));
    }
    const std::string left = merge.substr(0, space);
    const std::string right = merge.substr(space + 1);
    const std::string merged = left + right;
    int32_t ids[3];
    const std::string* names[3] = {&left, &right, &merged};
    for (int k = 0; k < 3; ++k) {
      auto it = tok->piece_to_id_.find(*names[k]);
      if (it == tok->piece_to_id_.end()) {
        return bad(absl::StrCat(where(), ": ",
                                k == 2 ? "the merged piece '" : "'", *names[k],
                                "' is not a normal token of "
                                "tokenizer.ggml.tokens"));
      }
      ids[k] = it->second;
    }
    // A repeated merge keeps its first (best) rank.
    tok->merges_.emplace(PairKey(ids[0], ids[1]),
                         Merge{static_cast<int32_t>(i), ids[2]});
  }
  return tok;
}

absl::StatusOr<std::vector<int32_t>> BpeTokenizer::Encode(
    absl::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  if (options.add_special && add_bos_) ids.push_back(vocab_.bos_id);
  if (text.empty()) return ids;
  ids.reserve(ids.size() + text.size() / 3 + 1);
  if (!options.parse_special) {
    RETURN_IF_ERROR(EncodePlain(text, &ids));
    return ids;
  }
  for (const TextFragment& f : special_.Split(text)) {
    if (f.token >= 0) {
      ids.push_back(f.token);
    } else {
      RETURN_IF_ERROR(EncodePlain(f.text, &ids));
    }
  }
  return ids;
}

absl::Status BpeTokenizer::EncodePlain(absl::string_view text,
                                       std::vector<int32_t>* ids) const {
  std::vector<absl::string_view> words;
  RETURN_IF_ERROR(pre_->Split(text, &words));
  for (absl::string_view word : words) {
    absl::Status status = EncodeWord(word, ids);
    if (!status.ok()) {
      const size_t offset = static_cast<size_t>(word.data() - text.data());
      return absl::InvalidArgumentError(absl::StrCat(
          status.message(), " (in the word at byte offset ", offset, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::EncodeWord(absl::string_view word,
                                      std::vector<int32_t>* ids) const {
  if (pre_->traits().ignore_merges) {
    std::string spelled;
    spelled.reserve(word.size() * 2);
    for (char c : word) {
      const absl::string_view s = ByteToUnicode(static_cast<uint8_t>(c));
      spelled.append(s.data(), s.size());
    }
    auto it = piece_to_id_.find(spelled);
    if (it != piece_to_id_.end()) {
      ids->push_back(it->second);
      return absl::OkStatus();
    }
  }

  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto byte = static_cast<unsigned char>(word[i]);
    const int32_t id = byte_to_id_[byte];
    if (id < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "cannot encode byte 0x%02X: its byte-level piece '%s' is not a "
          "token of %s",
          byte, ByteToUnicode(byte), source_));
    }
    const auto index = static_cast<int32_t>(i);
    symbols.push_back({id, index - 1, index + 1});
  }
  symbols.back().next = -1;

  std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> queue;
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    auto it = merges_.find(PairKey(symbols[left].id, symbols[right].id));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, right, symbols[left].id,
                symbols[right].id, it->second.result});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) {
    try_add(i - 1, i);
  }
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = symbols[c.left];
    Symbol& right = symbols[c.right];
    // Skip pairs one of whose symbols changed since the pair was queued.
    if (left.id != c.left_id || right.id != c.right_id ||
        left.next != c.right) {
      continue;
    }
    left.id = c.result;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = c.left;
    right.id = -1;
    try_add(left.prev, c.left);
    try_add(c.left, left.next);
  }
  for (int32_t i = 0; i != -1; i = symbols[i].next) {
    ids->push_back(symbols[i].id);
  }
  return absl::OkStatus();
}

absl::string_view BpeTokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return token_bytes_[id];
}

absl::string_view BpeTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return {};
  return vocab_.pieces[id];
}

bool BpeTokenizer::IsEndOfGeneration(int32_t id) const {
  return std::binary_search(eog_.begin(), eog_.end(), id);
}

}  // namespace kvasir::engine
